/* msg.h - vhost-user message framing: one header + payload + SCM_RIGHTS fds
 * per message, with size and fd-count validation before any handler runs.
 */
#ifndef VP_VBLK_VHOST_MSG_H
#define VP_VBLK_VHOST_MSG_H

#include <stddef.h>

#include "common/error.h"
#include "vblk/vhost/proto.h"

struct vp_vhost_msg {
	struct vp_vhost_hdr hdr;
	union vp_vhost_payload p;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
};

/* Receive one message from the connected socket fd (blocking).  The
 * payload size is checked against the largest known payload and the
 * version bits against 1; received fds are owned by msg (close them with
 * vp_vhost_msg_close_fds).  Returns 0, -ECONNRESET on orderly EOF before a
 * header, or -errno (-EPROTO for a malformed message; no fds are left open). */
VP_MUST_CHECK int vp_vhost_msg_recv(int fd, struct vp_vhost_msg *msg, struct vp_error *err);

/* Send hdr + hdr.size payload bytes and nfds fds (may be 0). */
VP_MUST_CHECK int vp_vhost_msg_send(int fd, const struct vp_vhost_msg *msg, struct vp_error *err);

/* Check that msg carries exactly `size` payload bytes (or at least `size`
 * when at_least) and exactly nfds fds.  Returns 0 or -EPROTO (err names the
 * request).  Does not close anything. */
VP_MUST_CHECK int vp_vhost_msg_expect(const struct vp_vhost_msg *msg, size_t size, int at_least,
				      unsigned nfds, struct vp_error *err);

/* Close and forget every fd still held by msg (entries set to -1 are skipped). */
void vp_vhost_msg_close_fds(struct vp_vhost_msg *msg);

/* Take fd i out of msg (the caller owns it afterwards); -1 if absent. */
int vp_vhost_msg_take_fd(struct vp_vhost_msg *msg, unsigned i);

#endif
