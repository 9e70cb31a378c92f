/* server.c - unary gRPC calls on one completion queue polled by
 * VP_GRPC_WORKERS threads (server.h).
 *
 * Each call is a struct call whose address is the tag of its batches; its
 * phase says what the completed batch was: the call arrived (REQUESTED),
 * its request message arrived (RECEIVED), or the reply went out (ANSWERED).
 */
#include "csi/grpc/server.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include "common/log.h"

enum phase { REQUESTED, RECEIVED, ANSWERED };

struct call {
	enum phase phase;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *request;
	grpc_byte_buffer *response;
	grpc_slice status_details;
	int cancelled;
	struct timespec start;
	struct vp_grpc_reply reply;
};

struct vp_grpc_server {
	grpc_server *server;
	grpc_completion_queue *cq;
	const struct vp_grpc_method *methods;
	size_t n_methods;
	void *ctx;
	pthread_t workers[VP_GRPC_WORKERS];
	size_t n_workers;
	pthread_mutex_t lock;
	bool stopping;
	unsigned active;   /* calls received and not yet answered (under lock) */
	int shutdown_tag;  /* its address tags the shutdown notification */
};

static void call_free(struct call *c)
{
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->request)
		grpc_byte_buffer_destroy(c->request);
	if (c->response)
		grpc_byte_buffer_destroy(c->response);
	grpc_slice_unref(c->status_details);
	free(c->reply.body);
	free(c);
}

/* Post one more grpc_server_request_call, unless stopping. */
static void request_next(struct vp_grpc_server *s)
{
	struct call *c;
	bool stopping;

	pthread_mutex_lock(&s->lock);
	stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	if (stopping)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		vp_log(VP_LOG_ERROR, "csi.grpc", "error=\"out of memory: one fewer pending call\"");
		return;
	}
	c->phase = REQUESTED;
	c->status_details = grpc_empty_slice();
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq, c) !=
	    GRPC_CALL_OK) {
		vp_log(VP_LOG_ERROR, "csi.grpc", "error=\"grpc_server_request_call failed\"");
		call_free(c);
	}
}

static void start_receive(struct call *c)
{
	grpc_op op = { .op = GRPC_OP_RECV_MESSAGE };

	op.data.recv_message.recv_message = &c->request;
	c->phase = RECEIVED;
	if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) {
		vp_log(VP_LOG_ERROR, "csi.grpc", "error=\"cannot receive a request\"");
		call_free(c);
	}
}

/* The request's bytes, flattened into one malloc'd buffer (NULL, 0 for an
 * empty message).  -ENOMEM on failure. */
static int request_bytes(grpc_byte_buffer *bb, uint8_t **buf, size_t *len)
{
	grpc_byte_buffer_reader reader;
	grpc_slice slice;

	*buf = NULL;
	*len = 0;
	if (!bb)
		return 0;
	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return -ENOMEM;
	slice = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	*len = GRPC_SLICE_LENGTH(slice);
	if (*len) {
		*buf = malloc(*len);
		if (*buf)
			memcpy(*buf, GRPC_SLICE_START_PTR(slice), *len);
	}
	grpc_slice_unref(slice);
	return *len && !*buf ? -ENOMEM : 0;
}

static const struct vp_grpc_method *find_method(const struct vp_grpc_server *s, grpc_slice path)
{
	size_t len = GRPC_SLICE_LENGTH(path);

	for (size_t i = 0; i < s->n_methods; i++)
		if (strlen(s->methods[i].path) == len &&
		    !memcmp(s->methods[i].path, GRPC_SLICE_START_PTR(path), len))
			return &s->methods[i];
	return NULL;
}

static void reply_error(struct vp_grpc_reply *r, int code, const char *msg)
{
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

/* Run the handler of c's method on its request (or answer for it). */
static void dispatch(struct vp_grpc_server *s, struct call *c)
{
	const struct vp_grpc_method *m = find_method(s, c->details.method);
	uint8_t *buf;
	size_t len;

	if (!m) {
		reply_error(&c->reply, VP_GRPC_UNIMPLEMENTED, "unknown method");
		return;
	}
	if (request_bytes(c->request, &buf, &len)) {
		reply_error(&c->reply, VP_GRPC_INTERNAL, "out of memory reading the request");
		return;
	}
	if (len > VP_GRPC_MAX_MESSAGE) {
		reply_error(&c->reply, VP_GRPC_RESOURCE_EXHAUSTED, "request too large");
	} else {
		m->handler(s->ctx, buf, len, &c->reply);
		if (c->reply.code != VP_GRPC_OK) {
			free(c->reply.body);
			c->reply.body = NULL;
			c->reply.len = 0;
		}
	}
	free(buf);
}

static void start_answer(struct call *c)
{
	grpc_op ops[4] = { { .op = GRPC_OP_SEND_INITIAL_METADATA }, { .op = GRPC_OP_RECV_CLOSE_ON_SERVER },
			   { .op = GRPC_OP_SEND_STATUS_FROM_SERVER }, { .op = GRPC_OP_SEND_MESSAGE } };
	size_t n = 3;

	ops[1].data.recv_close_on_server.cancelled = &c->cancelled;
	ops[2].data.send_status_from_server.status = (grpc_status_code)c->reply.code;
	if (c->reply.code != VP_GRPC_OK) {
		c->status_details = grpc_slice_from_copied_string(c->reply.msg);
		ops[2].data.send_status_from_server.status_details = &c->status_details;
	} else {
		grpc_slice body = grpc_slice_from_copied_buffer((const char *)c->reply.body, c->reply.len);

		c->response = grpc_raw_byte_buffer_create(&body, 1);
		grpc_slice_unref(body);
		ops[3].data.send_message.send_message = c->response;
		n = 4;
	}
	c->phase = ANSWERED;
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
		vp_log(VP_LOG_ERROR, "csi.grpc", "error=\"cannot send a reply\"");
		call_free(c);
	}
}

static long elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000000L + (now.tv_nsec - start->tv_nsec) / 1000;
}

static void log_call(const struct call *c)
{
	grpc_slice m = c->details.method;

	vp_log(c->reply.code == VP_GRPC_OK ? VP_LOG_INFO : VP_LOG_WARN, "csi.rpc",
	       "method=%.*s volume=%s code=%d duration_us=%ld%s%s%s",
	       (int)GRPC_SLICE_LENGTH(m), (const char *)GRPC_SLICE_START_PTR(m),
	       c->reply.volume[0] ? c->reply.volume : "-", c->reply.code, elapsed_us(&c->start),
	       c->reply.code ? " error=\"" : "", c->reply.code ? c->reply.msg : "",
	       c->reply.code ? "\"" : "");
}

/* One completed batch of call c. */
static void on_event(struct vp_grpc_server *s, struct call *c, bool ok)
{
	switch (c->phase) {
	case REQUESTED:
		if (!ok) {  /* the server is shutting down */
			call_free(c);
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &c->start);
		pthread_mutex_lock(&s->lock);
		s->active++;
		pthread_mutex_unlock(&s->lock);
		request_next(s);
		start_receive(c);
		return;
	case RECEIVED:
		if (!ok)
			reply_error(&c->reply, VP_GRPC_INVALID_ARGUMENT, "no request message");
		else
			dispatch(s, c);
		start_answer(c);
		return;
	case ANSWERED:
		log_call(c);
		call_free(c);
		pthread_mutex_lock(&s->lock);
		s->active--;
		pthread_mutex_unlock(&s->lock);
		return;
	}
}

static void *worker(void *arg)
{
	struct vp_grpc_server *s = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == &s->shutdown_tag)
			grpc_completion_queue_shutdown(s->cq);  /* every call is answered */
		else
			on_event(s, ev.tag, ev.success);
	}
}

static int add_port(struct vp_grpc_server *s, const char *addr, struct vp_error *err)
{
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(s->server, addr, creds);

	grpc_server_credentials_release(creds);
	if (port == 0)
		return vp_error_set(err, EADDRNOTAVAIL, "grpc: cannot listen on %s", addr);
	return 0;
}

static void server_free(struct vp_grpc_server *s)
{
	if (s->server)
		grpc_server_destroy(s->server);
	if (s->cq)
		grpc_completion_queue_destroy(s->cq);
	pthread_mutex_destroy(&s->lock);
	free(s);
	grpc_shutdown();
}

static int start_workers(struct vp_grpc_server *s, struct vp_error *err)
{
	for (size_t i = 0; i < VP_GRPC_WORKERS; i++) {
		int e = pthread_create(&s->workers[i], NULL, worker, s);

		if (e)
			return vp_error_set(err, e, "grpc: worker thread");
		s->n_workers++;
		request_next(s);
	}
	return 0;
}

int vp_grpc_server_start(const char *addr, const struct vp_grpc_method *methods, size_t n,
			 void *ctx, struct vp_grpc_server **out, struct vp_error *err)
{
	struct vp_grpc_server *s = calloc(1, sizeof(*s));
	grpc_arg max_rx = { .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			    .value.integer = VP_GRPC_MAX_MESSAGE };
	grpc_channel_args args = { .num_args = 1, .args = &max_rx };
	int ret;

	if (!s)
		return vp_error_set(err, ENOMEM, "grpc server");
	pthread_mutex_init(&s->lock, NULL);
	grpc_init();
	s->methods = methods;
	s->n_methods = n;
	s->ctx = ctx;
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->server = grpc_server_create(&args, NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	ret = add_port(s, addr, err);
	if (ret) {
		server_free(s);
		return ret;
	}
	grpc_server_start(s->server);
	ret = start_workers(s, err);
	if (ret) {
		vp_grpc_server_stop(s);
		vp_grpc_server_wait(s);
		return ret;
	}
	*out = s;
	return 0;
}

void vp_grpc_server_stop(struct vp_grpc_server *s)
{
	bool first;

	pthread_mutex_lock(&s->lock);
	first = !s->stopping;
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	if (first)
		grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
}

static unsigned active_calls(struct vp_grpc_server *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->active;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Wait for the calls in flight to be answered (up to VP_GRPC_DRAIN_MS),
 * then cancel what is left: gRPC's shutdown would otherwise also wait for
 * idle client connections to go away. */
static void drain(struct vp_grpc_server *s)
{
	struct timespec tick = { .tv_nsec = 10 * 1000000L };

	for (unsigned ms = 0; ms < VP_GRPC_DRAIN_MS && active_calls(s); ms += 10)
		nanosleep(&tick, NULL);
	grpc_server_cancel_all_calls(s->server);
}

void vp_grpc_server_wait(struct vp_grpc_server *s)
{
	drain(s);
	for (size_t i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i], NULL);
	if (!s->n_workers) {
		/* No worker ever ran: drain the queue here. */
		s->n_workers = 1;
		worker(s);
	}
	server_free(s);
}
