/* msg.h - vhost-user message framing: one header + payload + SCM_RIGHTS fds
 * per message, with size and fd-count validation before any handler runs.
 */
#ifndef VP_VBLK_VHOST_MSG_H
#define VP_VBLK_VHOST_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "vblk/vhost/proto.h"

struct vp_vhost_msg {
	struct vp_vhost_hdr hdr;
	union vp_vhost_payload p;
	int fds[VHOST_USER_MAX_FDS];
	unsigned nfds;
};

/* A message being received from a non-blocking socket, a piece at a time,
 * so that a front end that stops half-way through a message never blocks
 * the receiving thread (its caller puts a deadline on partial messages). */
struct vp_vhost_rx {
	struct vp_vhost_msg msg;
	size_t got;                   /* header + payload bytes received so far */
};

/* Start empty (no bytes, no fds). */
void vp_vhost_rx_init(struct vp_vhost_rx *rx);

/* Read what the socket fd has of the current message, never blocking.
 * Returns 1 when rx->msg is complete (the caller owns its fds and calls
 * vp_vhost_rx_init before the next message), 0 when more bytes are needed
 * (EAGAIN), -ECONNRESET on orderly EOF before a message, or -errno
 * (-EPROTO: bad version, a payload larger than any known one, too many
 * fds, EOF inside a message); on error no fds are left open.  The payload
 * past hdr.size is zeroed. */
VP_MUST_CHECK int vp_vhost_rx_read(int fd, struct vp_vhost_rx *rx, struct vp_error *err);

/* True when part of a message (a byte or an fd) has arrived. */
bool vp_vhost_rx_partial(const struct vp_vhost_rx *rx);

/* Forget a partial message, closing its fds. */
void vp_vhost_rx_reset(struct vp_vhost_rx *rx);

/* Send hdr + hdr.size payload bytes and nfds fds (may be 0), without
 * blocking: a peer that leaves its socket buffer full gets -EAGAIN (and
 * should be dropped) instead of holding the sending thread. */
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
