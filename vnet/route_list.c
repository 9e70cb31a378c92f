/* route_list.c - list the unicast routes of a table (RTM_GETROUTE dump).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include "vnet/addr.h"
#include "vnet/nl.h"

struct route_list {
	unsigned table;
	struct vp_route *v;
	size_t n, cap;
};

static void ip_from(struct nlattr *a, int family, struct vp_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (!a || nla_len(a) != (family == AF_INET ? 4 : 16))
		return;
	ip->family = family;
	memcpy(ip->addr, nla_data(a), nla_len(a));
}

static int route_list_add(struct nlmsghdr *nlh, void *arg)
{
	struct route_list *l = arg;
	struct nlattr *tb[RTA_MAX + 1];
	struct vp_route *r, *grown;
	struct rtmsg *rtm;
	unsigned table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlmsg_parse(nlh, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return 0;
	rtm = nlmsg_data(nlh);
	table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (rtm->rtm_type != RTN_UNICAST || table != l->table ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		grown = realloc(l->v, l->cap * sizeof(*l->v));
		if (!grown)
			return -ENOMEM;
		l->v = grown;
	}
	r = &l->v[l->n++];
	*r = vp_route_init();
	ip_from(tb[RTA_DST], rtm->rtm_family, &r->dst.ip);
	r->dst.ip.family = rtm->rtm_family;
	r->dst.len = rtm->rtm_dst_len;
	ip_from(tb[RTA_GATEWAY], rtm->rtm_family, &r->gw);
	ip_from(tb[RTA_PREFSRC], rtm->rtm_family, &r->src);
	r->ifindex = tb[RTA_OIF] ? (int)nla_get_u32(tb[RTA_OIF]) : 0;
	r->priority = tb[RTA_PRIORITY] ? nla_get_u32(tb[RTA_PRIORITY]) : 0;
	r->table = table;
	r->scope = rtm->rtm_scope;
	return 0;
}

static int dump_family(struct vp_nl *nl, int family, struct route_list *l)
{
	struct rtmsg rtm = { .rtm_family = family };
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP);
	int ret;

	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = vp_nl_dump(nl, msg, route_list_add, l);
	nlmsg_free(msg);
	return ret;
}

int vp_route_list(struct vp_nl *nl, unsigned table, struct vp_route **out, size_t *n,
		  struct vp_error *err)
{
	struct route_list l = { .table = table ? table : RT_TABLE_MAIN };
	int ret;

	ret = dump_family(nl, AF_INET, &l);
	if (ret == 0)
		ret = dump_family(nl, AF_INET6, &l);
	if (ret < 0) {
		free(l.v);
		return vp_error_set(err, -ret, "listing routes");
	}
	*out = l.v;
	*n = l.n;
	return 0;
}
