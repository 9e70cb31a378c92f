/* msg.c - vhost-user message framing over a Unix stream socket. */
#include "vblk/vhost/msg.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Read exactly len bytes (no fds).  Returns 0, -ECONNRESET on EOF, -errno. */
static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		got += (size_t)n;
	}
	return 0;
}

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

int vp_vhost_msg_recv(int fd, struct vp_vhost_msg *msg, struct vp_error *err)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
	struct iovec iov = { &msg->hdr, sizeof(msg->hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n;
	int ret;

	msg->nfds = 0;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vp_error_set(err, errno, "vhost-user: receive");
	if (n == 0)
		return -ECONNRESET;
	ret = take_rights(&mh, msg);
	if (ret == 0 && (size_t)n < sizeof(msg->hdr))
		ret = read_full(fd, (char *)&msg->hdr + n, sizeof(msg->hdr) - (size_t)n);
	if (ret) {
		vp_vhost_msg_close_fds(msg);
		return vp_error_set(err, -ret == ECONNRESET ? EPROTO : -ret,
				    "vhost-user: truncated header or bad ancillary data");
	}
	if ((msg->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    msg->hdr.size > sizeof(msg->p)) {
		vp_vhost_msg_close_fds(msg);
		return vp_error_set(err, EPROTO, "vhost-user: request %u: bad version or size %u",
				    msg->hdr.request, msg->hdr.size);
	}
	memset(&msg->p, 0, sizeof(msg->p));
	ret = read_full(fd, &msg->p, msg->hdr.size);
	if (ret) {
		vp_vhost_msg_close_fds(msg);
		return vp_error_set(err, EPROTO, "vhost-user: request %u: truncated payload",
				    msg->hdr.request);
	}
	return 0;
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
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return vp_error_set(err, errno, "vhost-user: send request %u", msg->hdr.request);
	/* Messages are small; a short send on a stream socket means the peer
	 * is gone or the buffer is full, and neither is recoverable here. */
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
