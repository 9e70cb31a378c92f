/* tap.c - vnet-tap ADD, DEL, CHECK, STATUS and GC.
 *
 * Chained (ADD with a prevResult, e.g. after vnet-bridge): the veth
 * CNI_IFNAME in the pod stays as it is, addresses included; a persistent
 * tap ("tapName", default "tap" + the digits of CNI_IFNAME) is created next to it
 * with the veth's MAC and MTU, and tc redirects everything arriving on one
 * to the other, so the VM behind the tap owns the pod's MAC and IPs.  The
 * result is prevResult plus the tap.
 *
 * Standalone (no prevResult): the tap itself is CNI_IFNAME, optionally
 * attached to "bridge" inside the pod (created if missing, then kept).  With
 * "ipam", the addresses are reported for the guest and configured nowhere
 * in the netns (they are the VM's to use).
 *
 * tun ioctls act in the caller's namespace, so the plugin enters the pod's
 * netns around vp_tap_create()/vp_tap_inspect() and always returns.
 */
#include <errno.h>
#include <string.h>

#include "cni/plumb/pod_iface.h"
#include "cni/tap/tap.h"
#include "vnet/link.h"
#include "vnet/netns.h"
#include "vnet/tap.h"
#include "vnet/tc.h"

struct tap_call {
	const struct vp_cni_request *req;
	struct vp_tap_netconf nc;
	struct vp_pod_iface_ns pod;
	struct vp_link_info veth, tap, br;
};

static int call_open(const struct vp_cni_request *req, struct tap_call *c, struct vp_error *err)
{
	int ret;

	*c = (struct tap_call){ .req = req, .pod = VP_POD_IFACE_NS_INIT };
	ret = vp_tap_netconf_parse(req, &c->nc, err);
	if (ret == 0)
		ret = vp_pod_iface_ns_open(req, &c->pod, err);
	return ret;
}

/* Create the tap name in the pod (entering its netns) and push its undo. */
static int create_tap(struct tap_call *c, const char *name, unsigned mtu,
		      const struct vp_mac *mac, struct vp_undo *undo, struct vp_error *err)
{
	struct vp_tap_config tc = {
		.name = name,
		.queues = c->nc.queues,
		.multi_queue = c->nc.multi_queue,
		.vnet_hdr = c->nc.vnet_hdr,
		.owner = c->nc.owner,
		.group = c->nc.group,
		.mtu = mtu,
		.mac = mac,
	};
	int saved;
	int ret;

	ret = vp_netns_enter(c->pod.fd, &saved, err);
	if (ret < 0)
		return ret;
	ret = vp_tap_create(c->pod.nl, &tc, &c->tap, err);
	vp_netns_return(saved);
	if (ret < 0)
		return ret;
	return vp_link_push_undo(c->pod.nl, c->tap.ifindex, undo, err);
}

struct tc_undo {
	struct vp_nl *nl;
	int ifindex;
};

static void tc_undo(void *arg)
{
	const struct tc_undo *u = arg;
	struct vp_error ignored = {0};

	(void)!vp_tc_ingress_clear(u->nl, u->ifindex, &ignored);
}

/* Redirect veth <-> tap; the veth's ingress qdisc is cleared on undo (the
 * tap's goes with the tap). */
static int redirect(struct tap_call *c, struct vp_undo *undo, struct vp_error *err)
{
	struct tc_undo u = { c->pod.nl, c->veth.ifindex };
	int ret;

	ret = vp_undo_push(undo, tc_undo, &u, sizeof(u));
	if (ret < 0)
		return vp_error_set(err, -ret, "recording tc undo");
	return vp_tc_redirect_pair(c->pod.nl, c->veth.ifindex, c->tap.ifindex, err);
}

static int add_tap_iface(struct tap_call *c, struct vp_cni_result *res, struct vp_error *err)
{
	return vp_pod_iface_result_iface(res, c->tap.name, &c->tap.mac, c->tap.mtu, c->req->netns, err);
}

static int add_chained(struct tap_call *c, struct vp_undo *undo, struct vp_cni_result *res,
		       struct vp_error *err)
{
	const struct vp_cni_request *req = c->req;
	int ret;

	if (c->nc.bridge || c->nc.has_ipam)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "%s: only for a standalone tap (this config has a prevResult)",
				     c->nc.bridge ? "bridge" : "ipam");
	if (vp_cni_result_find_interface(req->prev, req->ifname, req->netns) < 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, ENOENT,
				     "prevResult: no interface %s in %s to redirect to a tap",
				     req->ifname, req->netns);
	ret = vp_link_by_name(c->pod.nl, req->ifname, &c->veth, err);
	if (ret == -ENODEV)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, ENOENT,
				     "interface %s of prevResult is not in the pod", req->ifname);
	if (ret == 0)
		ret = vp_pod_iface_ensure_absent(&c->pod, c->nc.name, err);
	if (ret == 0)
		ret = create_tap(c, c->nc.name, c->nc.mtu ? c->nc.mtu : c->veth.mtu,
				 c->nc.has_mac ? &c->nc.mac : &c->veth.mac, undo, err);
	if (ret == 0)
		ret = redirect(c, undo, err);
	if (ret == 0 && (ret = vp_cni_result_copy(res, req->prev)) < 0)
		return vp_error_set(err, -ret, "copying prevResult");
	if (ret == 0)
		ret = add_tap_iface(c, res, err);
	return ret < 0 ? ret : 0;
}

static int attach_bridge(struct tap_call *c, struct vp_error *err)
{
	struct vp_bridge_config bc = { .name = c->nc.bridge };
	int ret;

	ret = vp_bridge_ensure(c->pod.nl, &bc, &c->br, err);
	if (ret == 0)
		ret = vp_link_set_master(c->pod.nl, c->tap.ifindex, c->br.ifindex, err);
	return ret;
}

static int add_standalone(struct tap_call *c, struct vp_undo *undo, struct vp_cni_result *ipam,
			  struct vp_cni_result *res, struct vp_error *err)
{
	int idx;
	int ret;

	ret = vp_pod_iface_ensure_absent(&c->pod, c->req->ifname, err);
	if (ret == 0 && c->nc.has_ipam)
		ret = vp_pod_iface_ipam_add(c->req, undo, ipam, err);
	if (ret == 0)
		ret = create_tap(c, c->req->ifname, c->nc.mtu, c->nc.has_mac ? &c->nc.mac : NULL,
				 undo, err);
	if (ret == 0 && c->nc.bridge)
		ret = attach_bridge(c, err);
	if (ret < 0)
		return ret;
	idx = add_tap_iface(c, res, err);
	if (idx < 0)
		return idx;
	return vp_pod_iface_result_ipam(res, c->req, ipam, idx, err);
}

static int add_steps(void *call, struct vp_undo *undo, struct vp_cni_result *ipam,
		     struct vp_cni_result *res, struct vp_error *err)
{
	struct tap_call *c = call;

	return c->req->prev ? add_chained(c, undo, res, err)
			    : add_standalone(c, undo, ipam, res, err);
}

int vp_tap_cmd_add(const struct vp_cni_request *req, struct vp_cni_result *result,
		   struct vp_error *err)
{
	struct tap_call c;
	int ret;

	ret = call_open(req, &c, err);
	if (ret == 0)
		ret = vp_pod_iface_add_atomically(add_steps, &c, result, err);
	vp_pod_iface_ns_close(&c.pod);
	return ret;
}

/* Delete name in the pod if it is a tun device; absent is success. */
static int del_tap(struct tap_call *c, const char *name, struct vp_error *err)
{
	struct vp_link_info info;
	int ret;

	ret = vp_link_by_name(c->pod.nl, name, &info, err);
	if (ret == 0 && strcmp(info.kind, "tun"))
		return 0;
	if (ret == 0)
		ret = vp_link_delete_nowait(c->pod.fd, info.ifindex, err);
	return ret == -ENODEV ? 0 : ret;
}

/* The pod's part of DEL.  CNI_IFNAME a tun: standalone, delete it.  Else
 * chained when the veth is there or prevResult lists our tap: delete the
 * tap and the veth's ingress qdisc. */
static int del_in_pod(struct tap_call *c, struct vp_error *err)
{
	const struct vp_cni_request *req = c->req;
	bool veth, chained;
	int ret;

	ret = vp_link_by_name(c->pod.nl, req->ifname, &c->veth, err);
	if (ret < 0 && ret != -ENODEV)
		return ret;
	veth = ret == 0;
	if (veth && !strcmp(c->veth.kind, "tun"))
		return del_tap(c, req->ifname, err);
	chained = veth || (req->prev && vp_cni_result_find_interface(req->prev, c->nc.name, req->netns) >= 0);
	if (!chained)
		return 0;
	ret = del_tap(c, c->nc.name, err);
	if (ret == 0 && veth)
		ret = vp_tc_ingress_clear(c->pod.nl, c->veth.ifindex, err);
	return ret;
}

int vp_tap_cmd_del(const struct vp_cni_request *req, struct vp_cni_result *result,
		   struct vp_error *err)
{
	struct vp_error ignored = {0};
	struct tap_call c;
	int first = 0;
	int ret;

	(void)result;
	ret = vp_tap_netconf_parse(req, &c.nc, err);
	if (ret < 0)
		return ret;
	if (c.nc.has_ipam)
		first = vp_pod_iface_ipam_run(req, VP_CNI_DEL, err);
	if (!req->netns || call_open(req, &c, &ignored) < 0)
		return first;
	ret = del_in_pod(&c, first ? &ignored : err);
	vp_pod_iface_ns_close(&c.pod);
	return first ? first : ret;
}

/* The tap's flags against the config (inspected from inside the pod). */
static int check_flags(struct tap_call *c, const char *name, struct vp_error *err)
{
	struct vp_tap_state st;
	int saved;
	int ret;

	ret = vp_netns_enter(c->pod.fd, &saved, err);
	if (ret < 0)
		return ret;
	ret = vp_tap_inspect(name, &st, err);
	vp_netns_return(saved);
	if (ret < 0)
		return ret;
	if (st.vnet_hdr != c->nc.vnet_hdr || st.multi_queue != c->nc.multi_queue ||
	    (c->nc.owner >= 0 && st.owner != c->nc.owner) ||
	    (c->nc.group >= 0 && st.group != c->nc.group))
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
				     "tap %s: flags, owner or group differ from the config", name);
	return 0;
}

/* The tap of res at idx: present, a tun, with its MAC and MTU, flags. */
static int check_tap(struct tap_call *c, const struct vp_cni_result *res, int idx,
		     struct vp_error *err)
{
	const struct vp_cni_interface *want = &res->interfaces[idx];
	char mac[VP_MAC_STRLEN];
	int ret;

	ret = vp_link_by_name(c->pod.nl, want->name, &c->tap, err);
	if (ret == -ENODEV || (ret == 0 && strcmp(c->tap.kind, "tun")))
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "tap %s is missing", want->name);
	if (ret < 0)
		return ret;
	if ((want->mac[0] && strcasecmp(want->mac, vp_mac_str(&c->tap.mac, mac))) ||
	    (want->mtu && want->mtu != c->tap.mtu))
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "tap %s: MAC or MTU changed",
				     want->name);
	return check_flags(c, want->name, err);
}

static int check_redirect(struct tap_call *c, struct vp_error *err)
{
	bool there = false, back = false;
	int ret;

	ret = vp_tc_redirect_check(c->pod.nl, c->veth.ifindex, c->tap.ifindex, &there, err);
	if (ret == 0)
		ret = vp_tc_redirect_check(c->pod.nl, c->tap.ifindex, c->veth.ifindex, &back, err);
	if (ret == 0 && !(there && back))
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "tc redirect between %s and %s is missing",
				    c->veth.name, c->tap.name);
	return ret;
}

static int check_in_pod(struct tap_call *c, struct vp_error *err)
{
	const struct vp_cni_request *req = c->req;
	const char *tap;
	int idx;
	int ret;

	ret = vp_link_by_name(c->pod.nl, req->ifname, &c->veth, err);
	if (ret == -ENODEV)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "interface %s is missing",
				     req->ifname);
	if (ret < 0)
		return ret;
	tap = strcmp(c->veth.kind, "tun") ? c->nc.name : req->ifname;
	idx = vp_cni_result_find_interface(req->prev, tap, req->netns);
	if (idx < 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, ENOENT,
				     "prevResult: no tap %s in %s", tap, req->netns);
	ret = check_tap(c, req->prev, idx, err);
	if (ret < 0 || tap == req->ifname)
		return ret;
	return check_redirect(c, err);
}

int vp_tap_cmd_check(const struct vp_cni_request *req, struct vp_cni_result *result,
		     struct vp_error *err)
{
	struct tap_call c;
	int ret;

	(void)result;
	if (!req->prev)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "prevResult: required for CHECK");
	ret = call_open(req, &c, err);
	if (ret == 0 && c.nc.has_ipam)
		ret = vp_pod_iface_ipam_run(req, VP_CNI_CHECK, err);
	if (ret == 0)
		ret = check_in_pod(&c, err);
	if (ret == 0 && c.nc.bridge) {
		ret = vp_link_by_name(c.pod.nl, c.nc.bridge, &c.br, err);
		if (ret == -ENODEV || (ret == 0 && c.tap.master != c.br.ifindex))
			ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
					    "tap %s is not attached to bridge %s", c.tap.name, c.nc.bridge);
	}
	vp_pod_iface_ns_close(&c.pod);
	return ret;
}

int vp_tap_cmd_status(const struct vp_cni_request *req, struct vp_cni_result *result,
		      struct vp_error *err)
{
	struct vp_tap_netconf nc;
	int ret;

	(void)result;
	ret = vp_tap_netconf_parse(req, &nc, err);
	if (ret < 0 || !nc.has_ipam)
		return ret;
	return vp_pod_iface_ipam_run(req, VP_CNI_STATUS, err);
}

int vp_tap_cmd_gc(const struct vp_cni_request *req, struct vp_cni_result *result,
		  struct vp_error *err)
{
	struct vp_tap_netconf nc;
	int ret;

	(void)result;
	ret = vp_tap_netconf_parse(req, &nc, err);
	if (ret < 0 || !nc.has_ipam)
		return ret;
	return vp_pod_iface_ipam_run(req, VP_CNI_GC, err);
}
