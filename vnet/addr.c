/* addr.c - interface addresses: add, delete, list (RTM_*ADDR).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include "vnet/addr.h"
#include "vnet/nl.h"

/* An RTM_NEWADDR/RTM_DELADDR for p on ifindex, or NULL on ENOMEM. */
static struct nl_msg *addr_msg(int type, int flags, int ifindex, const struct vp_prefix *p,
			       bool nodad)
{
	struct ifaddrmsg ifa = {
		.ifa_family = p->ip.family,
		.ifa_prefixlen = p->len,
		.ifa_flags = nodad && p->ip.family == AF_INET6 ? IFA_F_NODAD : 0,
		.ifa_index = ifindex,
	};
	int n = vp_ip_bytes(&p->ip);
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, IFA_LOCAL, n, p->ip.addr) < 0 ||
	    nla_put(msg, IFA_ADDRESS, n, p->ip.addr) < 0)
		goto fail;
	/* IPv4 gets the directed broadcast address, as `ip addr add ... brd +`
	 * and the reference plugins set it. */
	if (p->ip.family == AF_INET && p->len < 31) {
		struct vp_prefix net = vp_prefix_network(p);
		uint32_t host = p->len ? 0xffffffffu >> p->len : 0xffffffffu;
		uint32_t brd;

		memcpy(&brd, net.ip.addr, 4);
		brd |= htonl(host);
		if (nla_put(msg, IFA_BROADCAST, 4, &brd) < 0)
			goto fail;
	}
	return msg;
fail:
	nlmsg_free(msg);
	return NULL;
}

static int check_prefix(const struct vp_prefix *p, struct vp_error *err)
{
	if (p->ip.family != AF_INET && p->ip.family != AF_INET6)
		return vp_error_set(err, EAFNOSUPPORT, "address family %d", p->ip.family);
	if (p->len > vp_ip_bytes(&p->ip) * 8)
		return vp_error_set(err, EINVAL, "prefix length %u too long", p->len);
	return 0;
}

int vp_addr_add(struct vp_nl *nl, int ifindex, const struct vp_prefix *p, bool nodad,
		struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];
	struct nl_msg *msg;
	int ret;

	ret = check_prefix(p, err);
	if (ret < 0)
		return ret;
	msg = addr_msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, p, nodad);
	if (!msg)
		return vp_error_set(err, ENOMEM, "adding address %s", vp_prefix_str(p, buf));
	ret = nl_send_sync(vp_nl_sock(nl), msg);
	if (ret == -NLE_EXIST)
		return -EEXIST;
	if (ret < 0)
		return vp_nl_error(err, ret, "adding address %s to link %d",
				   vp_prefix_str(p, buf), ifindex);
	return 0;
}

int vp_addr_del(struct vp_nl *nl, int ifindex, const struct vp_prefix *p,
		struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];
	struct nl_msg *msg;
	int ret;

	ret = check_prefix(p, err);
	if (ret < 0)
		return ret;
	msg = addr_msg(RTM_DELADDR, 0, ifindex, p, false);
	if (!msg)
		return vp_error_set(err, ENOMEM, "deleting address %s", vp_prefix_str(p, buf));
	ret = nl_send_sync(vp_nl_sock(nl), msg);
	if (ret == -NLE_NOADDR)
		return -EADDRNOTAVAIL;
	if (ret < 0)
		return vp_nl_error(err, ret, "deleting address %s from link %d",
				   vp_prefix_str(p, buf), ifindex);
	return 0;
}

struct addr_list {
	int ifindex, family;
	struct vp_prefix *v;
	size_t n, cap;
};

/* One RTM_NEWADDR of the dump: keep it when it matches the filter. */
static int addr_collect(struct nlmsghdr *nlh, void *arg)
{
	struct addr_list *l = arg;
	struct nlattr *tb[IFA_MAX + 1];
	struct ifaddrmsg *ifa;
	struct nlattr *a;
	struct vp_prefix p = { 0 };

	if (nlh->nlmsg_type != RTM_NEWADDR || nlmsg_parse(nlh, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
		return 0;
	ifa = nlmsg_data(nlh);
	if ((int)ifa->ifa_index != l->ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE ||
	    (l->family != AF_UNSPEC && ifa->ifa_family != l->family) ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return 0;
	p.ip.family = ifa->ifa_family;
	p.len = ifa->ifa_prefixlen;
	/* IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on
	 * point-to-point links (IPv6 sends only IFA_ADDRESS). */
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!a || nla_len(a) != vp_ip_bytes(&p.ip))
		return 0;
	memcpy(p.ip.addr, nla_data(a), nla_len(a));
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct vp_prefix *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = p;
	return 0;
}

int vp_addr_list(struct vp_nl *nl, int ifindex, int family, struct vp_prefix **out,
		 size_t *n, struct vp_error *err)
{
	struct ifaddrmsg ifa = { .ifa_family = family, .ifa_index = ifindex };
	struct addr_list l = { .ifindex = ifindex, .family = family };
	struct nl_msg *msg;
	int ret;

	*out = NULL;
	*n = 0;
	msg = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_DUMP);
	if (!msg || nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return vp_error_set(err, ENOMEM, "listing addresses of link %d", ifindex);
	}
	ret = vp_nl_dump(nl, msg, addr_collect, &l);
	nlmsg_free(msg);
	if (ret < 0) {
		free(l.v);
		return vp_error_set(err, -ret, "listing addresses of link %d", ifindex);
	}
	*out = l.v;
	*n = l.n;
	return 0;
}
