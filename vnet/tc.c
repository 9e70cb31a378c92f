/* tc.c - traffic control for VM plumbing: an ingress qdisc plus one u32
 * match-all filter whose mirred action redirects every frame to the egress
 * of another link (tc-redirect-tap style), over libnl-route-3.
 */
#include <errno.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>

#include <netlink/errno.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

#include "vnet/nl.h"
#include "vnet/tc.h"

#define TC_INGRESS_PARENT TC_H_MAJ(TC_H_INGRESS)  /* "parent ffff:" */
#define TC_FILTER_PRIO 1
/* A fixed u32 handle (800::800) makes the filter replaceable in place, so
 * repeating the call never stacks a second filter. */
#define VP_TC_HTID 0x800
#define VP_TC_NODE 0x800

static int tc_fail(struct vp_error *err, int nle, const char *what, int ifindex)
{
	return vp_nl_error(err, nle, "%s on ifindex %d", what, ifindex);
}

/* The ingress qdisc object of ifindex (caller puts it). */
static int ingress_qdisc(int ifindex, struct rtnl_qdisc **out, struct vp_error *err)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int ret;

	if (!q)
		return vp_error_set(err, ENOMEM, "ingress qdisc");
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), TC_INGRESS_PARENT);
	ret = rtnl_tc_set_kind(TC_CAST(q), "ingress");
	if (ret < 0) {
		rtnl_qdisc_put(q);
		return vp_nl_error(err, ret, "ingress qdisc on ifindex %d", ifindex);
	}
	*out = q;
	return 0;
}

static int tc_ingress_add(struct nl_sock *sk, int ifindex, struct vp_error *err)
{
	struct rtnl_qdisc *q = NULL;
	int ret;

	ret = ingress_qdisc(ifindex, &q, err);
	if (ret < 0)
		return ret;
	ret = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_qdisc_put(q);
	if (ret < 0 && ret != -NLE_EXIST)
		return tc_fail(err, ret, "adding ingress qdisc", ifindex);
	return 0;
}

static int tc_mirred_new(int target, struct rtnl_act **out)
{
	struct rtnl_act *act;
	int ret;

	act = rtnl_act_alloc();
	if (!act)
		return -NLE_NOMEM;
	ret = rtnl_tc_set_kind(TC_CAST(act), "mirred");
	if (ret == 0)
		ret = rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
	if (ret == 0)
		ret = rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
	if (ret == 0)
		ret = rtnl_mirred_set_ifindex(act, (uint32_t)target);
	if (ret < 0) {
		rtnl_act_put(act);
		return ret;
	}
	*out = act;
	return 0;
}

/* Build the match-all u32 filter redirecting to target; libnl codes. */
static int tc_filter_build(struct rtnl_cls *cls, int ifindex, int target)
{
	struct rtnl_act *act = NULL;
	int ret;

	rtnl_tc_set_ifindex(TC_CAST(cls), ifindex);
	ret = rtnl_tc_set_kind(TC_CAST(cls), "u32");
	if (ret < 0)
		return ret;
	rtnl_tc_set_parent(TC_CAST(cls), TC_INGRESS_PARENT);
	rtnl_cls_set_prio(cls, TC_FILTER_PRIO);
	rtnl_cls_set_protocol(cls, ETH_P_ALL);
	rtnl_u32_set_handle(cls, VP_TC_HTID, 0, VP_TC_NODE);
	ret = rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0);
	if (ret == 0)
		ret = rtnl_u32_set_cls_terminal(cls);
	if (ret == 0)
		ret = tc_mirred_new(target, &act);
	if (ret == 0) {
		ret = rtnl_u32_add_action(cls, act);
		rtnl_act_put(act);
	}
	return ret;
}

static int tc_redirect_add(struct nl_sock *sk, int ifindex, int target, struct vp_error *err)
{
	struct rtnl_cls *cls;
	int ret;

	cls = rtnl_cls_alloc();
	if (!cls)
		return vp_error_set(err, ENOMEM, "u32 filter");
	ret = tc_filter_build(cls, ifindex, target);
	if (ret == 0)
		ret = rtnl_cls_add(sk, cls, NLM_F_CREATE | NLM_F_REPLACE);
	rtnl_cls_put(cls);
	if (ret < 0)
		return tc_fail(err, ret, "adding u32 mirred redirect filter", ifindex);
	return 0;
}

int vp_tc_redirect_pair(struct vp_nl *nl, int a, int b, struct vp_error *err)
{
	struct nl_sock *sk = vp_nl_sock(nl);
	int ret;

	if (a <= 0 || b <= 0 || a == b)
		return vp_error_set(err, EINVAL, "tc redirect between ifindex %d and %d", a, b);
	ret = tc_ingress_add(sk, a, err);
	if (ret == 0)
		ret = tc_ingress_add(sk, b, err);
	if (ret == 0)
		ret = tc_redirect_add(sk, a, b, err);
	if (ret == 0)
		ret = tc_redirect_add(sk, b, a, err);
	return ret;
}

static bool tc_is_redirect(struct rtnl_cls *cls, int target)
{
	struct rtnl_act *act;
	const char *kind = rtnl_tc_get_kind(TC_CAST(cls));

	if (!kind || strcmp(kind, "u32") != 0)
		return false;
	for (act = rtnl_u32_get_action(cls); act; act = rtnl_act_next(act)) {
		kind = rtnl_tc_get_kind(TC_CAST(act));
		if (kind && strcmp(kind, "mirred") == 0 &&
		    rtnl_mirred_get_action(act) == TCA_EGRESS_REDIR &&
		    rtnl_mirred_get_ifindex(act) == (uint32_t)target)
			return true;
	}
	return false;
}

int vp_tc_redirect_check(struct vp_nl *nl, int ifindex, int target, bool *ok,
			 struct vp_error *err)
{
	struct nl_cache *cache;
	struct nl_object *obj;
	int ret;

	*ok = false;
	ret = rtnl_cls_alloc_cache(vp_nl_sock(nl), ifindex, TC_INGRESS_PARENT, &cache);
	if (ret == -NLE_INVAL || ret == -NLE_OBJ_NOTFOUND)
		return 0;       /* no ingress qdisc: no filter */
	if (ret < 0)
		return tc_fail(err, ret, "listing ingress filters", ifindex);
	for (obj = nl_cache_get_first(cache); obj && !*ok; obj = nl_cache_get_next(obj))
		*ok = tc_is_redirect((struct rtnl_cls *)obj, target);
	nl_cache_free(cache);
	return 0;
}

int vp_tc_ingress_clear(struct vp_nl *nl, int ifindex, struct vp_error *err)
{
	struct rtnl_qdisc *q = NULL;
	int ret;

	ret = ingress_qdisc(ifindex, &q, err);
	if (ret < 0)
		return ret;
	ret = rtnl_qdisc_delete(vp_nl_sock(nl), q);
	rtnl_qdisc_put(q);
	/* Absent qdisc: EINVAL/ENOENT from the kernel, NLE_OBJ_NOTFOUND from libnl. */
	if (ret < 0 && ret != -NLE_OBJ_NOTFOUND && ret != -NLE_INVAL && ret != -NLE_NOADDR)
		return tc_fail(err, ret, "deleting ingress qdisc", ifindex);
	return 0;
}
