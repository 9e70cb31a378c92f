/* server.h - a unary gRPC server over gRPC's C core, reduced to
 * "method path + request bytes" in, "status code + message + response
 * bytes" out, so the CSI services stay plain C over protobuf-c structs.
 *
 * One completion queue, polled by a fixed pool of worker threads; a handler
 * runs on the worker that received its request, so RPCs run in parallel
 * (up to VP_GRPC_WORKERS at a time) and a handler may block.  An unknown
 * method gets UNIMPLEMENTED without reaching any handler.  The server loop
 * logs one line per RPC: method, volume (what the handler names), gRPC
 * code, duration.
 */
#ifndef VP_CSI_GRPC_SERVER_H
#define VP_CSI_GRPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define VP_GRPC_WORKERS 4
#define VP_GRPC_MAX_MESSAGE (4U << 20) /* largest request accepted */
#define VP_GRPC_DRAIN_MS 30000         /* longest wait for calls in flight at stop */

/* gRPC status codes (grpc/status.h), named here so handlers need not
 * include gRPC. */
enum vp_grpc_code {
	VP_GRPC_OK = 0,
	VP_GRPC_INVALID_ARGUMENT = 3,
	VP_GRPC_NOT_FOUND = 5,
	VP_GRPC_ALREADY_EXISTS = 6,
	VP_GRPC_RESOURCE_EXHAUSTED = 8,
	VP_GRPC_FAILED_PRECONDITION = 9,
	VP_GRPC_ABORTED = 10,
	VP_GRPC_OUT_OF_RANGE = 11,
	VP_GRPC_UNIMPLEMENTED = 12,
	VP_GRPC_INTERNAL = 13,
	VP_GRPC_UNAVAILABLE = 14,
};

/* What a handler answers.  body is malloc'd (the server frees it) and only
 * sent with code OK; msg is sent with any other code. */
struct vp_grpc_reply {
	int code;
	char msg[512];
	uint8_t *body;
	size_t len;
	char volume[136];  /* volume (or snapshot) ID or name, for the log */
};

typedef void (*vp_grpc_handler)(void *ctx, const uint8_t *req, size_t len,
				struct vp_grpc_reply *reply);

struct vp_grpc_method {
	const char *path;  /* "/csi.v1.Identity/Probe" */
	vp_grpc_handler handler;
};

struct vp_grpc_server;

/* Listen on addr (gRPC syntax: "unix:/path") and serve the n methods with
 * ctx, which must outlive the server.  The methods array is borrowed. */
int vp_grpc_server_start(const char *addr, const struct vp_grpc_method *methods, size_t n,
			 void *ctx, struct vp_grpc_server **out, struct vp_error *err) VP_MUST_CHECK;

/* Ask the server to stop (async-signal-safe is NOT promised: call it from a
 * thread).  Calls in flight complete and are answered; new ones are refused. */
void vp_grpc_server_stop(struct vp_grpc_server *s);

/* After vp_grpc_server_stop: wait until every call in flight has been
 * answered (calls still running after VP_GRPC_DRAIN_MS are cancelled), then
 * free the server. */
void vp_grpc_server_wait(struct vp_grpc_server *s);

#endif
