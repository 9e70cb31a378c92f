/* route.c - routes: add, delete and look for one (RTM_*ROUTE).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include "vnet/addr.h"
#include "vnet/nl.h"

struct vp_route vp_route_init(void)
{
	struct vp_route r;

	memset(&r, 0, sizeof(r));
	r.scope = -1;
	return r;
}

static unsigned table_of(const struct vp_route *r)
{
	return r->table ? r->table : RT_TABLE_MAIN;
}

static int scope_of(const struct vp_route *r)
{
	if (r->scope >= 0)
		return r->scope;
	return r->gw.family ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
}

static int check_route(const struct vp_route *r, struct vp_error *err)
{
	int fam = r->dst.ip.family;

	if (fam != AF_INET && fam != AF_INET6)
		return vp_error_set(err, EAFNOSUPPORT, "route: address family %d", fam);
	if (r->dst.len > vp_ip_bytes(&r->dst.ip) * 8)
		return vp_error_set(err, EINVAL, "route: prefix length %u too long", r->dst.len);
	if ((r->gw.family && r->gw.family != fam) || (r->src.family && r->src.family != fam))
		return vp_error_set(err, EINVAL, "route: gateway or source of another family");
	if (!r->gw.family && !r->ifindex)
		return vp_error_set(err, EINVAL, "route: needs a gateway or an interface");
	return 0;
}

static int put_metrics(struct nl_msg *msg, const struct vp_route *r)
{
	struct nlattr *mx;

	if (!r->mtu && !r->advmss)
		return 0;
	mx = nla_nest_start(msg, RTA_METRICS);
	if (!mx || (r->mtu && nla_put_u32(msg, RTAX_MTU, r->mtu) < 0) ||
	    (r->advmss && nla_put_u32(msg, RTAX_ADVMSS, r->advmss) < 0))
		return -1;
	nla_nest_end(msg, mx);
	return 0;
}

/* RTM_NEWROUTE/RTM_DELROUTE for r, or NULL on ENOMEM.  A delete leaves
 * type, protocol and scope open (as `ip route del` does) so any matching
 * route goes. */
static struct nl_msg *route_msg(int type, int flags, const struct vp_route *r)
{
	struct vp_prefix dst = vp_prefix_network(&r->dst);
	unsigned table = table_of(r);
	bool add = type == RTM_NEWROUTE;
	struct rtmsg rtm = {
		.rtm_family = dst.ip.family,
		.rtm_dst_len = dst.len,
		.rtm_table = table < 256 ? table : RT_TABLE_UNSPEC,
		.rtm_protocol = add ? RTPROT_BOOT : 0,
		.rtm_scope = add ? scope_of(r) : RT_SCOPE_NOWHERE,
		.rtm_type = add ? RTN_UNICAST : 0,
	};
	int n = vp_ip_bytes(&dst.ip);
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (!msg)
		return NULL;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, RTA_TABLE, table) < 0 ||
	    (dst.len && nla_put(msg, RTA_DST, n, dst.ip.addr) < 0) ||
	    (r->gw.family && nla_put(msg, RTA_GATEWAY, n, r->gw.addr) < 0) ||
	    (r->src.family && nla_put(msg, RTA_PREFSRC, n, r->src.addr) < 0) ||
	    (r->ifindex && nla_put_u32(msg, RTA_OIF, r->ifindex) < 0) ||
	    (r->priority && nla_put_u32(msg, RTA_PRIORITY, r->priority) < 0) ||
	    (add && put_metrics(msg, r) < 0)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* "10.0.0.0/8 via 10.1.0.1 dev 3" for messages. */
static const char *route_str(const struct vp_route *r, char *buf, size_t size)
{
	char d[VP_PREFIX_STRLEN], g[VP_IP_STRLEN];
	struct vp_prefix dst = vp_prefix_network(&r->dst);

	snprintf(buf, size, "%s%s%s dev %d", vp_prefix_str(&dst, d), r->gw.family ? " via " : "",
		 r->gw.family ? vp_ip_str(&r->gw, g) : "", r->ifindex);
	return buf;
}

static int route_send(struct vp_nl *nl, int type, int flags, const struct vp_route *r,
		      struct vp_error *err)
{
	char buf[128];
	struct nl_msg *msg;
	int ret;

	ret = check_route(r, err);
	if (ret < 0)
		return ret;
	msg = route_msg(type, flags, r);
	if (!msg)
		return vp_error_set(err, ENOMEM, "route %s", route_str(r, buf, sizeof(buf)));
	ret = nl_send_sync(vp_nl_sock(nl), msg);
	if (ret < 0 && type == RTM_NEWROUTE && ret == -NLE_EXIST)
		return -EEXIST;
	/* The kernel says ESRCH (IPv4, IPv6) or ENOENT; libnl folds both into
	 * NLE_OBJ_NOTFOUND.  A missing device is NLE_NODEV. */
	if (ret < 0 && type == RTM_DELROUTE && ret == -NLE_OBJ_NOTFOUND)
		return -ESRCH;
	if (ret < 0)
		return vp_nl_error(err, ret, "%s route %s", type == RTM_NEWROUTE ? "adding" :
				   "deleting", route_str(r, buf, sizeof(buf)));
	return 0;
}

int vp_route_add(struct vp_nl *nl, const struct vp_route *r, struct vp_error *err)
{
	return route_send(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r, err);
}

int vp_route_del(struct vp_nl *nl, const struct vp_route *r, struct vp_error *err)
{
	return route_send(nl, RTM_DELROUTE, 0, r, err);
}

struct route_match {
	const struct vp_route *r;
	struct vp_prefix dst;
	bool found;
};

static bool attr_is(struct nlattr *a, const struct vp_ip *ip)
{
	int n = vp_ip_bytes(ip);

	return a && nla_len(a) == n && !memcmp(nla_data(a), ip->addr, n);
}

static int route_match(struct nlmsghdr *nlh, void *arg)
{
	struct route_match *m = arg;
	const struct vp_route *r = m->r;
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm;
	unsigned table;

	if (m->found || nlh->nlmsg_type != RTM_NEWROUTE ||
	    nlmsg_parse(nlh, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return 0;
	rtm = nlmsg_data(nlh);
	table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (rtm->rtm_family != m->dst.ip.family || rtm->rtm_dst_len != m->dst.len ||
	    rtm->rtm_type != RTN_UNICAST || table != table_of(r))
		return 0;
	if (m->dst.len && !attr_is(tb[RTA_DST], &m->dst.ip))
		return 0;
	if (r->gw.family ? !attr_is(tb[RTA_GATEWAY], &r->gw) : tb[RTA_GATEWAY] != NULL)
		return 0;
	if (r->ifindex && (!tb[RTA_OIF] || (int)nla_get_u32(tb[RTA_OIF]) != r->ifindex))
		return 0;
	if (r->priority && (!tb[RTA_PRIORITY] || nla_get_u32(tb[RTA_PRIORITY]) != r->priority))
		return 0;
	m->found = true;
	return 0;
}

int vp_route_exists(struct vp_nl *nl, const struct vp_route *r, bool *exists,
		    struct vp_error *err)
{
	struct route_match m = { .r = r, .dst = vp_prefix_network(&r->dst) };
	unsigned table = table_of(r);
	struct rtmsg rtm = {
		.rtm_family = r->dst.ip.family,
		.rtm_table = table < 256 ? table : RT_TABLE_UNSPEC,
	};
	char buf[128];
	struct nl_msg *msg;
	int ret;

	*exists = false;
	ret = check_route(r, err);
	if (ret < 0)
		return ret;
	/* With strict checking the kernel filters on table and device. */
	msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, RTA_TABLE, table) < 0 ||
	    (r->ifindex && nla_put_u32(msg, RTA_OIF, r->ifindex) < 0)) {
		nlmsg_free(msg);
		return vp_error_set(err, ENOMEM, "looking up route");
	}
	ret = vp_nl_dump(nl, msg, route_match, &m);
	nlmsg_free(msg);
	if (ret < 0)
		return vp_error_set(err, -ret, "looking up route %s", route_str(r, buf, sizeof(buf)));
	*exists = m.found;
	return 0;
}
