/* bridge.c - Linux bridges: create-or-reuse under concurrent callers, port
 * flags (hairpin, isolation) and port VLANs.
 *
 * The messages are built by hand: libnl 3.7 has no setter for
 * IFLA_BR_VLAN_FILTERING or IFLA_BRPORT_ISOLATED.
 */
#include <errno.h>
#include <string.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>

#include "vnet/link.h"
#include "vnet/nl.h"

/* A link message for ifindex (0: by name) of family, or NULL on ENOMEM. */
static struct nl_msg *link_msg(int type, int flags, int family, int ifindex,
			       unsigned ifi_flags)
{
	struct ifinfomsg ifi = {
		.ifi_family = family,
		.ifi_index = ifindex,
		.ifi_flags = ifi_flags,
		.ifi_change = ifi_flags,
	};
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);

	if (msg && nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Put cfg's name (when creating), MTU, MAC and kind/VLAN filtering. */
static int put_bridge_attrs(struct nl_msg *msg, const struct vp_bridge_config *cfg, bool create)
{
	struct nlattr *info, *data;

	if (create && nla_put_string(msg, IFLA_IFNAME, cfg->name) < 0)
		return -NLE_NOMEM;
	if (cfg->mtu && nla_put_u32(msg, IFLA_MTU, cfg->mtu) < 0)
		return -NLE_NOMEM;
	if (cfg->mac && nla_put(msg, IFLA_ADDRESS, sizeof(cfg->mac->addr), cfg->mac->addr) < 0)
		return -NLE_NOMEM;
	info = nla_nest_start(msg, IFLA_LINKINFO);
	if (!info || nla_put_string(msg, IFLA_INFO_KIND, "bridge") < 0)
		return -NLE_NOMEM;
	if (cfg->vlan_filtering) {
		data = nla_nest_start(msg, IFLA_INFO_DATA);
		if (!data || nla_put_u8(msg, IFLA_BR_VLAN_FILTERING, 1) < 0)
			return -NLE_NOMEM;
		nla_nest_end(msg, data);
	}
	nla_nest_end(msg, info);
	return 0;
}

/* Create (ifindex 0, NLM_F_EXCL) or update (ifindex > 0) the bridge in one
 * RTM_NEWLINK that also sets it up.  Returns 0 or -NLE_*. */
static int bridge_send(struct vp_nl *nl, const struct vp_bridge_config *cfg, int ifindex)
{
	unsigned flags = IFF_UP | (cfg->promisc ? IFF_PROMISC : 0);
	int nlflags = ifindex ? 0 : NLM_F_CREATE | NLM_F_EXCL;
	struct nl_msg *msg;
	int ret;

	msg = link_msg(RTM_NEWLINK, nlflags, AF_UNSPEC, ifindex, flags);
	if (!msg)
		return -NLE_NOMEM;
	ret = put_bridge_attrs(msg, cfg, !ifindex);
	if (ret < 0) {
		nlmsg_free(msg);
		return ret;
	}
	return nl_send_sync(vp_nl_sock(nl), msg);
}

static int bridge_send_error(const struct vp_bridge_config *cfg, int nle, struct vp_error *err)
{
	if (cfg->vlan_filtering && vp_nl_errno(nle) == -EOPNOTSUPP)
		return vp_error_set(err, EOPNOTSUPP, "bridge %s: VLAN filtering requested but "
				    "this kernel does not support it (CONFIG_BRIDGE_VLAN_FILTERING)",
				    cfg->name);
	return vp_nl_error(err, nle, "configuring bridge %s", cfg->name);
}

/* Does the existing bridge already look like cfg asks?  VLAN filtering is
 * not reported by the lookup, so asking for it always means an update. */
static bool bridge_matches(const struct vp_bridge_config *cfg, const struct vp_link_info *br)
{
	return br->up && (!cfg->promisc || br->promisc) && (!cfg->mtu || br->mtu == cfg->mtu) &&
	       (!cfg->mac || !memcmp(cfg->mac->addr, br->mac.addr, sizeof(br->mac.addr))) &&
	       !cfg->vlan_filtering;
}

/* The bridge exists (we lost a creation race, or it was there before):
 * check it is a bridge and bring it to cfg. */
static int bridge_reuse(struct vp_nl *nl, const struct vp_bridge_config *cfg,
			struct vp_link_info *out, struct vp_error *err)
{
	int ret;

	ret = vp_link_by_name(nl, cfg->name, out, err);
	if (ret == -ENODEV)
		return vp_error_set(err, EAGAIN, "bridge %s was deleted while being set up",
				    cfg->name);
	if (ret < 0)
		return ret;
	if (strcmp(out->kind, "bridge"))
		return vp_error_set(err, EEXIST, "link %s exists and is not a bridge (kind \"%s\")",
				    cfg->name, out->kind);
	if (bridge_matches(cfg, out))
		return 0;
	ret = bridge_send(nl, cfg, out->ifindex);
	if (ret < 0)
		return bridge_send_error(cfg, ret, err);
	out->up = true;
	out->promisc |= cfg->promisc;
	if (cfg->mtu)
		out->mtu = cfg->mtu;
	if (cfg->mac)
		out->mac = *cfg->mac;
	return 0;
}

int vp_bridge_ensure(struct vp_nl *nl, const struct vp_bridge_config *cfg,
		     struct vp_link_info *out, struct vp_error *err)
{
	struct vp_link_info tmp;
	int ret;

	if (!out)
		out = &tmp;
	if (!cfg->name || !cfg->name[0] || strlen(cfg->name) >= IFNAMSIZ)
		return vp_error_set(err, EINVAL, "invalid bridge name \"%s\"",
				    cfg->name ? cfg->name : "");
	ret = bridge_send(nl, cfg, 0);
	/* EEXIST: it was there, or a concurrent caller just made it. */
	if (ret == -NLE_EXIST)
		return bridge_reuse(nl, cfg, out, err);
	if (ret < 0)
		return bridge_send_error(cfg, ret, err);
	ret = vp_link_by_name(nl, cfg->name, out, err);
	if (ret == -ENODEV)
		return vp_error_set(err, EAGAIN, "bridge %s vanished right after creation",
				    cfg->name);
	return ret;
}

/* Send msg (consumed) as an AF_BRIDGE setlink on a port; what names it. */
static int port_send(struct vp_nl *nl, struct nl_msg *msg, int ifindex, const char *what,
		     struct vp_error *err)
{
	int ret = nl_send_sync(vp_nl_sock(nl), msg);

	if (ret >= 0)
		return 0;
	if (vp_nl_errno(ret) == -EOPNOTSUPP)
		return vp_error_set(err, EOPNOTSUPP, "%s on link %d: not supported (the kernel "
				    "lacks it, or the link is not a bridge port)", what, ifindex);
	return vp_nl_error(err, ret, "%s on link %d", what, ifindex);
}

int vp_bridge_port_set(struct vp_nl *nl, int ifindex, const struct vp_bridge_port_config *cfg,
		       struct vp_error *err)
{
	struct nlattr *pi;
	struct nl_msg *msg;

	msg = link_msg(RTM_SETLINK, 0, AF_BRIDGE, ifindex, 0);
	if (!msg)
		return vp_error_set(err, ENOMEM, "bridge port flags on link %d", ifindex);
	/* NLA_F_NESTED: without it the kernel reads IFLA_PROTINFO as a bare
	 * port state (the pre-3.x format). */
	pi = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED);
	if (!pi || nla_put_u8(msg, IFLA_BRPORT_MODE, cfg->hairpin) < 0 ||
	    nla_put_u8(msg, IFLA_BRPORT_ISOLATED, cfg->isolated) < 0) {
		nlmsg_free(msg);
		return vp_error_set(err, ENOMEM, "bridge port flags on link %d", ifindex);
	}
	nla_nest_end(msg, pi);
	return port_send(nl, msg, ifindex, "setting bridge port flags", err);
}

int vp_bridge_vlan_add(struct vp_nl *nl, int ifindex, unsigned vid, bool untagged,
		       struct vp_error *err)
{
	struct bridge_vlan_info vi = {
		.flags = untagged ? BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED : 0,
		.vid = vid,
	};
	struct nlattr *spec;
	struct nl_msg *msg;

	if (vid < 1 || vid > 4094)
		return vp_error_set(err, EINVAL, "invalid VLAN id %u (1-4094)", vid);
	msg = link_msg(RTM_SETLINK, 0, AF_BRIDGE, ifindex, 0);
	if (!msg)
		return vp_error_set(err, ENOMEM, "adding VLAN %u on link %d", vid, ifindex);
	spec = nla_nest_start(msg, IFLA_AF_SPEC);
	if (!spec || nla_put(msg, IFLA_BRIDGE_VLAN_INFO, sizeof(vi), &vi) < 0) {
		nlmsg_free(msg);
		return vp_error_set(err, ENOMEM, "adding VLAN %u on link %d", vid, ifindex);
	}
	nla_nest_end(msg, spec);
	return port_send(nl, msg, ifindex, "adding bridge VLAN", err);
}
