/* bridge.c - vnet-bridge ADD, DEL, CHECK, STATUS and GC.
 *
 * ADD: the pod's interface must not exist yet (checked before IPAM so a
 * refused ADD allocates nothing) → IPAM ADD started, and while it runs:
 * bridge (shared, created on first use, kept) → veth with its peer born in
 * the pod → port settings; then IPAM's result (its error first) →
 * bridge gateway address and forwarding → pod addresses and routes → nft
 * (masquerade, MAC spoof check) in one batch.  Every step that creates
 * something pushes its undo, so a failure leaves nothing behind; deleting
 * the host veth takes the pod end, its addresses and routes with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cni/bridge/bridge.h"
#include "cni/plumb/pod_iface.h"
#include "vnet/addr.h"
#include "vnet/link.h"
#include "vnet/nft.h"
#include "vnet/nl.h"

/* Everything one ADD or CHECK works with. */
struct br_call {
	const struct vp_cni_request *req;
	struct vp_bridge_netconf nc;
	struct vp_nl *host;
	struct vp_pod_iface_ns pod;
	struct vp_pod_iface_ipam ipam;   /* IPAM ADD running during the host steps */
	struct vp_link_info br, hveth, pveth;
};

static int call_open(const struct vp_cni_request *req, struct br_call *c, struct vp_error *err)
{
	int ret;

	*c = (struct br_call){ .req = req, .pod = VP_POD_IFACE_NS_INIT };
	ret = vp_bridge_netconf_parse(req, &c->nc, err);
	if (ret < 0)
		return ret;
	ret = vp_nl_open(&c->host, err);
	if (ret < 0)
		return ret;
	return vp_pod_iface_ns_open(req, &c->pod, err);
}

static void call_close(struct br_call *c)
{
	vp_pod_iface_ns_close(&c->pod);
	vp_nl_close(c->host);
	c->host = NULL;
}

static struct vp_pod_iface_opts pod_opts(const struct vp_bridge_netconf *nc)
{
	struct vp_pod_iface_opts o = {
		.enable_dad = nc->enable_dad,
		.keep_down = nc->disable_container_iface,
	};
	return o;
}

/* isGateway: an IP without a gateway gets the subnet's first address;
 * isDefaultGateway: a default route via it unless IPAM gave one. */
static int fill_gateways(const struct vp_bridge_netconf *nc, struct vp_cni_result *ipam,
			 struct vp_error *err)
{
	int ret;

	if (!nc->is_gw)
		return 0;
	ret = vp_pod_iface_default_gateways(ipam, err);
	for (size_t i = 0; ret == 0 && nc->is_default_gw && i < ipam->n_ips; i++) {
		struct vp_cni_ip *ip = &ipam->ips[i];
		struct vp_cni_route def = { .scope = -1 };
		bool found = false;

		for (size_t r = 0; r < ipam->n_routes && !found; r++)
			found = ipam->routes[r].dst.len == 0 &&
				ipam->routes[r].dst.ip.family == ip->address.ip.family;
		if (found)
			continue;
		def.dst.ip.family = ip->address.ip.family;
		def.gw = ip->gateway;
		if ((ret = vp_cni_result_add_route(ipam, &def)) < 0)
			return vp_error_set(err, -ret, "adding the default route");
	}
	return ret;
}

static bool conflicts(const struct vp_prefix *have, const struct vp_prefix *want)
{
	if (want->ip.family == AF_INET)
		return true;  /* one IPv4 address per bridge, as the reference plugin */
	return vp_prefix_contains(have, &want->ip) || vp_prefix_contains(want, &have->ip);
}

/* Give the bridge its MAC explicitly, as the reference plugin does when it
 * adds a gateway address: an unset bridge MAC follows the lowest port MAC, so every
 * pod joining or leaving could change the gateway's MAC under the other
 * pods' ARP caches (a ~45 s blackout).  Once set, the kernel keeps it.  The
 * MAC it had before this ADD's port joined, unless that was none (a bridge
 * whose last port left has 00:00:00:00:00:00): then a random one. */
static int pin_mac(struct br_call *c, struct vp_error *err)
{
	static const struct vp_mac zero;
	struct vp_mac mac = c->br.mac;
	int ret;

	if (!memcmp(&mac, &zero, sizeof(mac)))
		vp_mac_random(&mac);
	ret = vp_link_set_mac(c->host, c->br.ifindex, &mac, err);
	if (ret == 0)
		c->br.mac = mac;   /* the result reports it */
	return ret;
}

/* Put gw on the bridge unless it is there; another address in the way is an
 * error, or replaced with forceAddress.  Concurrent ADDs may race here: the
 * loser's add sees EEXIST, which is success. */
static int ensure_gateway(struct br_call *c, const struct vp_prefix *gw, struct vp_error *err)
{
	char a[VP_PREFIX_STRLEN], b[VP_PREFIX_STRLEN];
	struct vp_prefix *have = NULL;
	size_t n = 0;
	int ret;

	ret = vp_addr_list(c->host, c->br.ifindex, gw->ip.family, &have, &n, err);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (have[i].len == gw->len && vp_ip_equal(&have[i].ip, &gw->ip))
			goto out;
		if (!conflicts(&have[i], gw))
			continue;
		if (!c->nc.force_address) {
			ret = vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EEXIST,
					    "bridge %s already has address %s, not gateway %s (set forceAddress to replace it)",
					    c->nc.bridge, vp_prefix_str(&have[i], a), vp_prefix_str(gw, b));
			goto out;
		}
		ret = vp_addr_del(c->host, c->br.ifindex, &have[i], err);
		if (ret == -EADDRNOTAVAIL)
			ret = 0;
	}
	/* MAC first: if that fails, the address is not there either, and the
	 * next ADD tries both again. */
	if (ret == 0)
		ret = pin_mac(c, err);
	if (ret == 0)
		ret = vp_addr_add(c->host, c->br.ifindex, gw, true, err);
	if (ret == -EEXIST)   /* a concurrent ADD added it */
		ret = 0;
out:
	free(have);
	return ret;
}

static int setup_gateways(struct br_call *c, const struct vp_cni_result *ipam, struct vp_error *err)
{
	int ret;

	for (size_t i = 0; i < ipam->n_ips; i++) {
		struct vp_prefix gw = { .ip = ipam->ips[i].gateway, .len = ipam->ips[i].address.len };

		if (!gw.ip.family)
			continue;
		ret = ensure_gateway(c, &gw, err);
		if (ret < 0)
			return ret;
	}
	return vp_pod_iface_enable_forward(ipam, err);
}

static int create_veth(struct br_call *c, struct vp_undo *undo, struct vp_error *err)
{
	struct vp_pod_iface_veth v = {
		.ifname = c->req->ifname,
		.mtu = c->nc.mtu,
		.mac = c->nc.has_mac ? &c->nc.mac : NULL,
	};

	return vp_pod_iface_veth_create(c->host, &c->pod, &v, undo, &c->hveth, &c->pveth, err);
}

/* Enslave the host veth with its port options. */
static int attach_port(struct br_call *c, struct vp_error *err)
{
	struct vp_bridge_port_config pc = { .hairpin = c->nc.hairpin, .isolated = c->nc.port_isolation };
	int ret;

	ret = vp_link_set_master(c->host, c->hveth.ifindex, c->br.ifindex, err);
	if (ret == 0 && (pc.hairpin || pc.isolated))
		ret = vp_bridge_port_set(c->host, c->hveth.ifindex, &pc, err);
	if (ret == 0 && c->nc.vlan) {
		ret = vp_bridge_vlan_add(c->host, c->hveth.ifindex, c->nc.vlan, true, err);
		if (ret == -EOPNOTSUPP)
			return vp_error_code(err, VP_CNI_ERR_UNSUPPORTED_FIELD, EOPNOTSUPP,
					     "vlan: this kernel has no bridge VLAN filtering");
	}
	return ret;
}

static int ensure_bridge(struct br_call *c, struct vp_error *err)
{
	struct vp_bridge_config bc = {
		.name = c->nc.bridge,
		.mtu = c->nc.mtu,
		.promisc = c->nc.promisc,
		.vlan_filtering = c->nc.vlan != 0,
	};
	int ret;

	ret = vp_bridge_ensure(c->host, &bc, &c->br, err);
	if (ret == -EOPNOTSUPP && bc.vlan_filtering)
		return vp_error_code(err, VP_CNI_ERR_UNSUPPORTED_FIELD, EOPNOTSUPP,
				     "vlan: this kernel has no bridge VLAN filtering");
	return ret;
}

/* The nft attachment of the pod on result interface pod_idx; *masq is
 * malloc'd (caller frees). */
static int nft_attachment(const struct br_call *c, const struct vp_cni_result *res, int pod_idx,
			  const char *hveth, const struct vp_mac *pod_mac,
			  struct vp_nft_attachment *a, struct vp_nft_masq **masq)
{
	int ret = 0;

	*a = (struct vp_nft_attachment){ .owner = vp_pod_iface_owner(c->req) };
	*masq = NULL;
	if (c->nc.ip_masq)
		ret = vp_pod_iface_masq(res, pod_idx, masq, &a->n_masq);
	a->masq = *masq;
	if (c->nc.macspoofchk) {
		a->spoof_ifname = hveth;
		a->spoof_mac = *pod_mac;
	}
	return ret;
}

static int setup_nft(struct br_call *c, const struct vp_cni_result *res, int pod_idx,
		     struct vp_undo *undo, struct vp_error *err)
{
	struct vp_nft_attachment a;
	struct vp_nft_masq *masq;
	int ret;

	ret = nft_attachment(c, res, pod_idx, c->hveth.name, &c->pveth.mac, &a, &masq);
	if (ret < 0)
		return vp_error_set(err, -ret, "building nft rules");
	ret = vp_pod_iface_nft_attach(&a, undo, err);
	free(masq);
	return ret;
}

static int build_result(struct br_call *c, const struct vp_cni_result *ipam,
			struct vp_cni_result *res, struct vp_error *err)
{
	int pod;
	int ret;

	ret = vp_pod_iface_result_iface(res, c->br.name, &c->br.mac, 0, NULL, err);
	if (ret >= 0)
		ret = vp_pod_iface_result_iface(res, c->hveth.name, &c->hveth.mac, 0, NULL, err);
	if (ret < 0)
		return ret;
	pod = vp_pod_iface_result_iface(res, c->req->ifname, &c->pveth.mac, c->nc.mtu, c->req->netns, err);
	if (pod < 0)
		return pod;
	ret = vp_pod_iface_result_ipam(res, c->req, ipam, pod, err);
	return ret < 0 ? ret : pod;
}

/* The steps after the pre-checks, each pushing its undo. */
static int add_steps(void *call, struct vp_undo *undo, struct vp_cni_result *ipam,
		     struct vp_cni_result *res, struct vp_error *err)
{
	struct br_call *c = call;
	struct vp_pod_iface_opts o = pod_opts(&c->nc);
	int pod;
	int ret;

	if (c->nc.has_ipam && (ret = vp_pod_iface_ipam_add_start(c->req, undo, &c->ipam, err)) < 0)
		return ret;
	if ((ret = ensure_bridge(c, err)) == 0 && (ret = create_veth(c, undo, err)) == 0)
		ret = attach_port(c, err);
	ret = vp_pod_iface_ipam_add_finish(&c->ipam, ret, ipam, err);
	if (ret == 0 && c->nc.has_ipam)
		ret = fill_gateways(&c->nc, ipam, err);
	if (ret < 0)
		return ret;
	if (c->nc.is_gw && (ret = setup_gateways(c, ipam, err)) < 0)
		return ret;
	pod = build_result(c, ipam, res, err);
	if (pod < 0)
		return pod;
	ret = vp_pod_iface_configure(&c->pod, c->req->ifname, c->pveth.ifindex, &o, res, pod, err);
	if (ret < 0)
		return ret;
	return setup_nft(c, res, pod, undo, err);
}

int vp_bridge_cmd_add(const struct vp_cni_request *req, struct vp_cni_result *result,
		      struct vp_error *err)
{
	struct br_call c;
	int ret;

	ret = call_open(req, &c, err);
	/* Refused in ADD only (DEL, GC and STATUS must still work with such a
	 * config), with the reference plugin's words. */
	if (ret == 0 && c.nc.hairpin && c.nc.promisc)
		ret = vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				    "cannot set hairpin mode and promiscuous mode at the same time.");
	if (ret == 0)
		ret = vp_pod_iface_ensure_absent(&c.pod, req->ifname, err);
	if (ret == 0)
		ret = vp_pod_iface_add_atomically(add_steps, &c, result, err);
	call_close(&c);
	return ret;
}

/* The bridge, and the host end of the pod's veth (found among prev's
 * host-side interfaces by being its peer) attached to it. */
static int check_host_side(struct br_call *c, const struct vp_cni_result *prev,
			   const struct vp_link_info *pod, struct vp_error *err)
{
	int ret;

	ret = vp_link_by_name(c->host, c->nc.bridge, &c->br, err);
	if (ret == -ENODEV || (ret == 0 && strcmp(c->br.kind, "bridge")))
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "bridge %s is missing", c->nc.bridge);
	if (ret == 0)
		ret = vp_pod_iface_host_veth(c->host, prev, pod, &c->hveth, err);
	if (ret == 0 && c->hveth.master != c->br.ifindex)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
				     "host veth %s is not attached to bridge %s", c->hveth.name,
				     c->nc.bridge);
	return ret;
}

static int check_nft(struct br_call *c, const struct vp_cni_result *prev, int pod,
		     struct vp_error *err)
{
	struct vp_nft_attachment a;
	struct vp_nft_masq *masq;
	struct vp_mac mac = {0};
	int ret;

	if (!c->nc.ip_masq && !c->nc.macspoofchk)
		return 0;
	if (c->nc.macspoofchk && vp_mac_parse(prev->interfaces[pod].mac, &mac) < 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "prevResult: interface %s has no valid MAC", c->req->ifname);
	ret = nft_attachment(c, prev, pod, c->hveth.name, &mac, &a, &masq);
	if (ret < 0)
		return vp_error_set(err, -ret, "building nft rules");
	if (a.n_masq || a.spoof_ifname)
		ret = vp_nft_verify(&a, err);
	free(masq);
	return ret;
}

int vp_bridge_cmd_check(const struct vp_cni_request *req, struct vp_cni_result *result,
			struct vp_error *err)
{
	struct vp_pod_iface_opts o;
	struct br_call c;
	int pod;
	int ret;

	(void)result;
	if (!req->prev)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "prevResult: required for CHECK");
	ret = call_open(req, &c, err);
	if (ret == 0 && c.nc.has_ipam)
		ret = vp_pod_iface_ipam_run(req, VP_CNI_CHECK, err);
	if (ret < 0)
		goto out;
	o = pod_opts(&c.nc);
	pod = vp_cni_result_find_interface(req->prev, req->ifname, req->netns);
	if (pod < 0) {
		ret = vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, ENOENT,
				    "prevResult: no interface %s in %s", req->ifname, req->netns);
		goto out;
	}
	ret = vp_pod_iface_check(&c.pod, &o, req->prev, pod, &c.pveth, err);
	if (ret == 0)
		ret = check_host_side(&c, req->prev, &c.pveth, err);
	if (ret == 0)
		ret = check_nft(&c, req->prev, pod, err);
out:
	call_close(&c);
	return ret;
}

/* DEL, STATUS and GC need only the options; the rest is shared plumbing. */
int vp_bridge_cmd_teardown(const struct vp_cni_request *req, struct vp_cni_result *result,
			   struct vp_error *err)
{
	struct vp_bridge_netconf nc;
	int ret;

	(void)result;
	ret = vp_bridge_netconf_parse(req, &nc, err);
	if (ret < 0)
		return ret;
	return vp_pod_iface_teardown_verb(req, nc.has_ipam, err);
}
