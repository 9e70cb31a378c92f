/* nl.c - the rtnetlink handle: one libnl NETLINK_ROUTE socket per handle,
 * bound to the network namespace it was opened in.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/errno.h>
#include <netlink/msg.h>

#include "vnet/netns.h"
#include "vnet/nl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct vp_nl {
	struct nl_sock *sk;
};

int vp_nl_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case 0: return 0;
	case NLE_EXIST: return -EEXIST;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV: return -ENODEV;
	case NLE_PERM: return -EPERM;
	case NLE_NOACCESS: return -EACCES;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_INVAL: return -EINVAL;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_BUSY: return -EBUSY;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_RANGE: return -ERANGE;
	default: return -EIO;
	}
}

int vp_nl_error(struct vp_error *err, int nle, const char *fmt, ...)
{
	char what[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return vp_error_set(err, -vp_nl_errno(nle), "%s: %s", what, nl_geterror(nle));
}

int vp_nl_open(struct vp_nl **out, struct vp_error *err)
{
	struct vp_nl *nl;
	int one = 1;
	int ret;

	*out = NULL;
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return vp_error_set(err, ENOMEM, "netlink handle");
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		free(nl);
		return vp_error_set(err, ENOMEM, "netlink socket");
	}
	ret = nl_connect(nl->sk, NETLINK_ROUTE);
	if (ret < 0) {
		ret = vp_nl_error(err, ret, "connecting rtnetlink socket");
		vp_nl_close(nl);
		return ret;
	}
	/* Let the kernel filter dumps by the header's ifindex/table (4.20+);
	 * older kernels ignore the filter and callers filter again anyway. */
	(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK,
			 &one, sizeof(one));
	*out = nl;
	return 0;
}

int vp_nl_open_netns(int netns_fd, struct vp_nl **out, struct vp_error *err)
{
	int saved;
	int ret;

	*out = NULL;
	ret = vp_netns_enter(netns_fd, &saved, err);
	if (ret < 0)
		return ret;
	ret = vp_nl_open(out, err);
	vp_netns_return(saved);
	return ret;
}

void vp_nl_close(struct vp_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

struct nl_sock *vp_nl_sock(struct vp_nl *nl)
{
	return nl->sk;
}

struct dump_ctx {
	int (*fn)(struct nlmsghdr *nlh, void *arg);
	void *arg;
	int ret;
};

static int dump_valid(struct nl_msg *msg, void *data)
{
	struct dump_ctx *ctx = data;

	if (ctx->ret == 0)
		ctx->ret = ctx->fn(nlmsg_hdr(msg), ctx->arg);
	return NL_OK;
}

int vp_nl_dump(struct vp_nl *nl, struct nl_msg *msg,
	       int (*fn)(struct nlmsghdr *nlh, void *arg), void *arg)
{
	struct dump_ctx ctx = { fn, arg, 0 };
	struct nl_cb *cb;
	int ret;

	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, dump_valid, &ctx);
	ret = nl_send_auto(nl->sk, msg);
	if (ret >= 0)
		ret = nl_recvmsgs(nl->sk, cb);
	nl_cb_put(cb);
	if (ret == -NLE_DUMP_INTR)
		return -EAGAIN;
	if (ret < 0)
		return vp_nl_errno(ret);
	return ctx.ret;
}
