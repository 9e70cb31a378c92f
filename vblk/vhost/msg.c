/* msg.c - vhost-user message framing over a Unix stream socket. */
#include "vblk/vhost/msg.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Collect SCM_RIGHTS fds from mh into msg; fails (closing all) on too many
 * fds or truncated control data. */
static int take_rights(struct msghdr *mh, struct vp_vhost_msg *msg)
{
	int ret = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		int *fds = (int *)CMSG_DATA(c);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			if (msg->nfds < VHOST_USER_MAX_FDS)
				msg->fds[msg->nfds++] = fds[i];
			else {
				close(fds[i]);
				ret = -EPROTO;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	return ret;
}

void vp_vhost_rx_init(struct vp_vhost_rx *rx)
{
	rx->got = 0;
	rx->msg.nfds = 0;
}

bool vp_vhost_rx_partial(const struct vp_vhost_rx *rx)
{
	return rx->got || rx->msg.nfds;
}

void vp_vhost_rx_reset(struct vp_vhost_rx *rx)
{
	vp_vhost_msg_close_fds(&rx->msg);
	vp_vhost_rx_init(rx);
}

/* Where the next bytes of the message go, and how many are still due. */
static size_t next_piece(struct vp_vhost_rx *rx, void **at)
{
	const size_t hs = sizeof(rx->msg.hdr);

	if (rx->got < hs) {
		*at = (char *)&rx->msg.hdr + rx->got;
		return hs - rx->got;
	}
	*at = (char *)&rx->msg.p + (rx->got - hs);
	return rx->msg.hdr.size - (rx->got - hs);
}

/* The header just became complete: check it before reading a payload. */
static int check_header(struct vp_vhost_rx *rx, struct vp_error *err)
{
	const struct vp_vhost_hdr *h = &rx->msg.hdr;

	if ((h->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION || h->size > sizeof(rx->msg.p))
		return vp_error_set(err, EPROTO, "vhost-user: request %u: bad version or size %u",
				    h->request, h->size);
	memset(&rx->msg.p, 0, sizeof(rx->msg.p));
	return 0;
}

/* One recvmsg of the next piece: 1 when bytes came, 0 on EAGAIN, -errno. */
static int read_piece(int fd, struct vp_vhost_rx *rx, struct vp_error *err)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	iov.iov_len = next_piece(rx, &iov.iov_base);
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		return vp_error_set(err, errno, "vhost-user: receive");
	if (take_rights(&mh, &rx->msg))
		return vp_error_set(err, EPROTO, "vhost-user: bad ancillary data or too many fds");
	if (n == 0)
		return vp_vhost_rx_partial(rx) ?
			       vp_error_set(err, EPROTO, "vhost-user: connection closed inside a message") :
			       -ECONNRESET;
	rx->got += (size_t)n;
	return 1;
}

int vp_vhost_rx_read(int fd, struct vp_vhost_rx *rx, struct vp_error *err)
{
	const size_t hs = sizeof(rx->msg.hdr);

	for (;;) {
		bool had_header = rx->got >= hs;
		int ret = read_piece(fd, rx, err);

		if (ret == 1 && !had_header && rx->got == hs)
			ret = check_header(rx, err) ?: 1;
		if (ret < 0)
			vp_vhost_rx_reset(rx);
		if (ret <= 0)
			return ret;
		if (rx->got >= hs && rx->got == hs + rx->msg.hdr.size)
			return 1;
	}
}

int vp_vhost_msg_send(int fd, const struct vp_vhost_msg *msg, struct vp_error *err)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct iovec iov[2] = { { (void *)&msg->hdr, sizeof(msg->hdr) },
				{ (void *)&msg->p, msg->hdr.size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t total = sizeof(msg->hdr) + msg->hdr.size;
	ssize_t n;

	if (msg->hdr.size > sizeof(msg->p) || msg->nfds > VHOST_USER_MAX_FDS)
		return vp_error_set(err, EINVAL, "vhost-user: message too large");
	if (msg->nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * msg->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * msg->nfds);
		memcpy(CMSG_DATA(c), msg->fds, sizeof(int) * msg->nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vp_error_set(err, errno, "vhost-user: send request %u", msg->hdr.request);
	/* Messages are small; a short send on a stream socket means the peer
	 * is gone or leaves its buffer full, and neither is recoverable here. */
	if ((size_t)n != total)
		return vp_error_set(err, EPIPE, "vhost-user: short send of request %u",
				    msg->hdr.request);
	return 0;
}

int vp_vhost_msg_expect(const struct vp_vhost_msg *msg, size_t size, int at_least, unsigned nfds,
			struct vp_error *err)
{
	if (at_least ? msg->hdr.size < size : msg->hdr.size != size)
		return vp_error_set(err, EPROTO, "vhost-user: request %u: payload %u bytes, expected %s%zu",
				    msg->hdr.request, msg->hdr.size, at_least ? ">= " : "", size);
	if (msg->nfds != nfds)
		return vp_error_set(err, EPROTO, "vhost-user: request %u: %u fds, expected %u",
				    msg->hdr.request, msg->nfds, nfds);
	return 0;
}

void vp_vhost_msg_close_fds(struct vp_vhost_msg *msg)
{
	for (unsigned i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

int vp_vhost_msg_take_fd(struct vp_vhost_msg *msg, unsigned i)
{
	int fd;

	if (i >= msg->nfds)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}
