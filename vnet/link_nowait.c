/* link_nowait.c - delete a link without sitting through the kernel's
 * deferred teardown.
 *
 * RTM_DELLINK unlists the device under RTNL within about a millisecond (the
 * name, addresses and bridge port are gone, the RTM_DELLINK notification is
 * out), then, after dropping RTNL, netdev_run_todo() runs rcu_barrier() and
 * waits for the last references in the context of the task that sent the
 * request: 10-25 ms here, most of a CNI DEL.  So a short-lived child process
 * sends the request, and the caller returns as soon as it sees the
 * notification (or the kernel's answer, whichever comes first); the child
 * finishes the kernel's bookkeeping alone and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>

#include "vnet/link.h"
#include "vnet/nl.h"

/* rtnetlink always answers; this only bounds a kernel gone badly wrong. */
#define NOWAIT_TIMEOUT_MS 30000

/* The child: keep only the request socket (so the caller's stdout, stderr
 * and locks are not held open by it), make the request, leave. */
static void __attribute__((noreturn)) child_delete(int req_fd, struct nl_msg *msg)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (req_fd <= STDERR_FILENO) /* started without stdio: move it clear */
		req_fd = fcntl(req_fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	if (req_fd > STDERR_FILENO + 1)
		close_range(STDERR_FILENO + 1, (unsigned)req_fd - 1, 0);
	close_range((unsigned)req_fd + 1, ~0U, 0);
	(void)!send(req_fd, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, 0);
	_exit(0);
}

/* Read what is queued on fd: 1 when it says ifindex is gone (its
 * RTM_DELLINK, or the ACK of request seq), 0 when not yet, -errno when the
 * kernel refused the request. */
static int read_answer(int fd, int ifindex, uint32_t seq)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR || errno == ENOBUFS ? 0 : -errno;
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == RTM_DELLINK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg))) {
			const struct ifinfomsg *ifi = NLMSG_DATA(h);

			if (ifi->ifi_index == ifindex)
				return 1;
		} else if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq &&
			   h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			return e->error ? e->error : 1;
		}
	}
	return 0;
}

/* Wait until the listener sees ifindex go or the request is answered. */
static int wait_gone(int listen_fd, int req_fd, int ifindex, uint32_t seq)
{
	struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN },
			       { .fd = req_fd, .events = POLLIN } };

	for (;;) {
		int ret = poll(p, 2, NOWAIT_TIMEOUT_MS);

		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			return ret == 0 ? -ETIMEDOUT : -errno;
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			ret = read_answer(p[i].fd, ifindex, seq);
			if (ret)
				return ret < 0 ? ret : 0;
		}
	}
}

static struct nl_msg *delete_request(struct vp_nl *req, int ifindex, struct vp_error *err)
{
	struct rtnl_link *link = rtnl_link_alloc();
	struct nl_msg *msg = NULL;
	int ret;

	if (!link) {
		vp_error_set(err, ENOMEM, "deleting link %d", ifindex);
		return NULL;
	}
	rtnl_link_set_ifindex(link, ifindex);
	ret = rtnl_link_build_delete_request(link, &msg);
	rtnl_link_put(link);
	if (ret < 0) {
		vp_nl_error(err, ret, "deleting link %d", ifindex);
		return NULL;
	}
	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	nl_complete_msg(vp_nl_sock(req), msg); /* seq and port, before the fork */
	return msg;
}

/* A deletion under way: the listener, the request socket (the child's
 * answer arrives there) and the request's sequence number. */
struct vp_link_deletion {
	struct vp_nl *listen, *req;
	int ifindex;
	uint32_t seq;
};

static void deletion_free(struct vp_link_deletion *d)
{
	vp_nl_close(d->req);
	vp_nl_close(d->listen);
	free(d);
}

/* Open both sockets in the namespace, the listener subscribed to links. */
static int deletion_open(struct vp_link_deletion *d, int netns_fd, struct vp_error *err)
{
	int ret;

	ret = vp_nl_open_netns(netns_fd, &d->listen, err);
	if (ret == 0)
		ret = vp_nl_open_netns(netns_fd, &d->req, err);
	if (ret == 0 && (ret = nl_socket_add_membership(vp_nl_sock(d->listen), RTNLGRP_LINK)) < 0)
		ret = vp_nl_error(err, ret, "watching links");
	return ret;
}

int vp_link_delete_start(int netns_fd, int ifindex, struct vp_link_deletion **out,
			 struct vp_error *err)
{
	struct vp_link_deletion *d = calloc(1, sizeof(*d));
	struct nl_msg *msg = NULL;
	pid_t pid = -1;
	int ret;

	*out = NULL;
	if (!d)
		return vp_error_set(err, ENOMEM, "deleting link %d", ifindex);
	d->ifindex = ifindex;
	ret = deletion_open(d, netns_fd, err);
	if (ret == 0 && !(msg = delete_request(d->req, ifindex, err)))
		ret = -ENOMEM;
	if (ret == 0 && (pid = fork()) < 0)
		ret = vp_error_set(err, errno, "deleting link %d", ifindex);
	if (ret == 0 && pid == 0)
		child_delete(nl_socket_get_fd(vp_nl_sock(d->req)), msg);
	if (ret == 0) {
		d->seq = nlmsg_hdr(msg)->nlmsg_seq;
		*out = d;
	} else {
		deletion_free(d);
	}
	nlmsg_free(msg);
	return ret;
}

int vp_link_delete_finish(struct vp_link_deletion *d, struct vp_error *err)
{
	int ret = wait_gone(nl_socket_get_fd(vp_nl_sock(d->listen)),
			    nl_socket_get_fd(vp_nl_sock(d->req)), d->ifindex, d->seq);

	if (ret < 0 && ret != -ENODEV)
		vp_error_set(err, -ret, "deleting link %d", d->ifindex);
	deletion_free(d);
	return ret;
}

int vp_link_delete_nowait(int netns_fd, int ifindex, struct vp_error *err)
{
	struct vp_link_deletion *d;
	int ret;

	ret = vp_link_delete_start(netns_fd, ifindex, &d, err);
	return ret < 0 ? ret : vp_link_delete_finish(d, err);
}
