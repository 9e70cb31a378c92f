/* reply.c - request unpacking and reply packing for the services
 * (service.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi/service.h"

void *csi_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		 struct vp_grpc_reply *r)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, buf);

	if (!m) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "malformed %s message", d->short_name);
		return NULL;
	}
	if (protobuf_c_message_get_packed_size(m) != len) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "%s: a string holds a NUL byte, or a field "
			 "is repeated or encoded in a non-canonical way", d->short_name);
		protobuf_c_message_free_unpacked(m, NULL);
		return NULL;
	}
	return m;
}

void csi_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

void csi_pack(const void *m, struct vp_grpc_reply *r)
{
	size_t len = protobuf_c_message_get_packed_size(m);

	r->body = malloc(len ? len : 1);
	if (!r->body) {
		csi_fail(r, VP_GRPC_INTERNAL, "out of memory packing the reply");
		return;
	}
	r->len = protobuf_c_message_pack(m, r->body);
	r->code = VP_GRPC_OK;
}

void csi_fail(struct vp_grpc_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->code = code;
}

void csi_note(struct vp_grpc_reply *r, const char *what)
{
	/* Log-safe: names are checked UTF-8 but may hold spaces or quotes. */
	size_t i;

	for (i = 0; what[i] && i < sizeof(r->volume) - 1; i++)
		r->volume[i] = (what[i] == ' ' || what[i] == '"' || (unsigned char)what[i] < 0x20) ?
			       '_' : what[i];
	r->volume[i] = '\0';
}
