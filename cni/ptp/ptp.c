/* ptp.c - vnet-ptp ADD, DEL, CHECK, STATUS and GC.
 *
 * Each pod gets a veth pair and is reached by routing, as the reference ptp
 * plugin does: the pod holds its addresses as host prefixes (/32, /128) with
 * an on-link route to its gateway and everything else via it; the host end
 * holds the gateway as a host prefix and a route to each pod address.  The
 * host end's addresses and routes die with the veth, so its undo (and DEL)
 * is deleting the veth.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>

#include "cni/plumb/pod_iface.h"
#include "cni/ptp/ptp.h"
#include "vnet/addr.h"
#include "vnet/link.h"
#include "vnet/nft.h"
#include "vnet/nl.h"

struct ptp_call {
	const struct vp_cni_request *req;
	struct vp_ptp_netconf nc;
	struct vp_nl *host;
	struct vp_pod_iface_ns pod;
	struct vp_pod_iface_ipam ipam;   /* IPAM ADD running while the veth is made */
	struct vp_link_info hveth, pveth;
};

static int call_open(const struct vp_cni_request *req, struct ptp_call *c, struct vp_error *err)
{
	int ret;

	*c = (struct ptp_call){ .req = req, .pod = VP_POD_IFACE_NS_INIT };
	ret = vp_ptp_netconf_parse(req, &c->nc, err);
	if (ret == 0)
		ret = vp_nl_open(&c->host, err);
	if (ret == 0)
		ret = vp_pod_iface_ns_open(req, &c->pod, err);
	return ret;
}

static void call_close(struct ptp_call *c)
{
	vp_pod_iface_ns_close(&c->pod);
	vp_nl_close(c->host);
	c->host = NULL;
}

static struct vp_pod_iface_opts pod_opts(const struct vp_ptp_netconf *nc)
{
	struct vp_pod_iface_opts o = { .enable_dad = nc->enable_dad, .host_prefix = true };

	return o;
}

static struct vp_prefix host_prefix(const struct vp_ip *ip)
{
	struct vp_prefix p = { .ip = *ip, .len = (uint8_t)(vp_ip_bytes(ip) * 8) };

	return p;
}

/* The host route to one pod address. */
static struct vp_route pod_route(const struct vp_cni_ip *ip, int hveth)
{
	struct vp_route r = vp_route_init();

	r.dst = host_prefix(&ip->address.ip);
	r.ifindex = hveth;
	r.scope = RT_SCOPE_LINK;
	return r;
}

/* Host end: gateway as a host prefix, a route to the pod address. */
static int setup_host(struct ptp_call *c, const struct vp_cni_result *ipam, struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];
	int ret;

	for (size_t i = 0; i < ipam->n_ips; i++) {
		struct vp_prefix gw = host_prefix(&ipam->ips[i].gateway);
		struct vp_route r = pod_route(&ipam->ips[i], c->hveth.ifindex);

		ret = vp_addr_add(c->host, c->hveth.ifindex, &gw, true, err);
		if (ret < 0 && ret != -EEXIST) {
			vp_error_prefix(err, "adding gateway %s to %s", vp_prefix_str(&gw, buf),
					c->hveth.name);
			return ret;
		}
		ret = vp_route_add(c->host, &r, err);
		if (ret < 0 && ret != -EEXIST) {
			vp_error_prefix(err, "adding host route to %s", vp_prefix_str(&r.dst, buf));
			return ret;
		}
	}
	return vp_pod_iface_enable_forward(ipam, err);
}

static int build_result(struct ptp_call *c, const struct vp_cni_result *ipam,
			struct vp_cni_result *res, struct vp_error *err)
{
	int pod;
	int ret;

	ret = vp_pod_iface_result_iface(res, c->hveth.name, &c->hveth.mac, 0, NULL, err);
	if (ret < 0)
		return ret;
	pod = vp_pod_iface_result_iface(res, c->req->ifname, &c->pveth.mac, c->nc.mtu, c->req->netns, err);
	if (pod < 0)
		return pod;
	ret = vp_pod_iface_result_ipam(res, c->req, ipam, pod, err);
	return ret < 0 ? ret : pod;
}

static int setup_nft(struct ptp_call *c, const struct vp_cni_result *res, int pod,
		     struct vp_undo *undo, struct vp_error *err)
{
	struct vp_nft_attachment a = { .owner = vp_pod_iface_owner(c->req) };
	struct vp_nft_masq *masq = NULL;
	int ret;

	if (!c->nc.ip_masq)
		return 0;
	ret = vp_pod_iface_masq(res, pod, &masq, &a.n_masq);
	if (ret < 0)
		return vp_error_set(err, -ret, "building nft rules");
	a.masq = masq;
	ret = vp_pod_iface_nft_attach(&a, undo, err);
	free(masq);
	return ret;
}

static int add_steps(void *call, struct vp_undo *undo, struct vp_cni_result *ipam,
		     struct vp_cni_result *res, struct vp_error *err)
{
	struct ptp_call *c = call;
	struct vp_pod_iface_veth v = { .ifname = c->req->ifname, .mtu = c->nc.mtu };
	struct vp_pod_iface_opts o = pod_opts(&c->nc);
	int pod;
	int ret;

	ret = vp_pod_iface_ipam_add_start(c->req, undo, &c->ipam, err);
	if (ret < 0)
		return ret;
	ret = vp_pod_iface_veth_create(c->host, &c->pod, &v, undo, &c->hveth, &c->pveth, err);
	ret = vp_pod_iface_ipam_add_finish(&c->ipam, ret, ipam, err);
	if (ret == 0)
		ret = vp_pod_iface_default_gateways(ipam, err);
	if (ret == 0)
		ret = setup_host(c, ipam, err);
	if (ret < 0)
		return ret;
	pod = build_result(c, ipam, res, err);
	if (pod < 0)
		return pod;
	ret = vp_pod_iface_configure(&c->pod, c->req->ifname, c->pveth.ifindex, &o, res, pod, err);
	if (ret < 0)
		return ret;
	return setup_nft(c, res, pod, undo, err);
}

int vp_ptp_cmd_add(const struct vp_cni_request *req, struct vp_cni_result *result,
		   struct vp_error *err)
{
	struct ptp_call c;
	int ret;

	ret = call_open(req, &c, err);
	if (ret == 0)
		ret = vp_pod_iface_ensure_absent(&c.pod, req->ifname, err);
	if (ret == 0)
		ret = vp_pod_iface_add_atomically(add_steps, &c, result, err);
	call_close(&c);
	return ret;
}

/* The host veth of prev (the pod end's peer) with a route to every pod
 * address. */
static int check_host(struct ptp_call *c, const struct vp_cni_result *prev, int pod,
		      struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];
	int ret;

	ret = vp_pod_iface_host_veth(c->host, prev, &c->pveth, &c->hveth, err);
	for (size_t i = 0; ret == 0 && i < prev->n_ips; i++) {
		struct vp_route r = pod_route(&prev->ips[i], c->hveth.ifindex);
		bool exists = false;

		if (prev->ips[i].interface != pod)
			continue;
		ret = vp_route_exists(c->host, &r, &exists, err);
		if (ret == 0 && !exists)
			ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "host route to %s is missing",
					    vp_prefix_str(&r.dst, buf));
	}
	return ret;
}

static int check_nft(struct ptp_call *c, const struct vp_cni_result *prev, int pod,
		     struct vp_error *err)
{
	struct vp_nft_attachment a = { .owner = vp_pod_iface_owner(c->req) };
	struct vp_nft_masq *masq = NULL;
	int ret;

	if (!c->nc.ip_masq)
		return 0;
	ret = vp_pod_iface_masq(prev, pod, &masq, &a.n_masq);
	if (ret < 0)
		return vp_error_set(err, -ret, "building nft rules");
	a.masq = masq;
	ret = vp_nft_verify(&a, err);
	free(masq);
	return ret;
}

int vp_ptp_cmd_check(const struct vp_cni_request *req, struct vp_cni_result *result,
		     struct vp_error *err)
{
	struct vp_pod_iface_opts o;
	struct ptp_call c;
	int pod = -1;
	int ret;

	(void)result;
	if (!req->prev)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "prevResult: required for CHECK");
	ret = call_open(req, &c, err);
	if (ret == 0)
		ret = vp_pod_iface_ipam_run(req, VP_CNI_CHECK, err);
	if (ret == 0) {
		pod = vp_cni_result_find_interface(req->prev, req->ifname, req->netns);
		if (pod < 0)
			ret = vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, ENOENT,
					    "prevResult: no interface %s in %s", req->ifname, req->netns);
	}
	o = pod_opts(&c.nc);
	if (ret == 0)
		ret = vp_pod_iface_check(&c.pod, &o, req->prev, pod, &c.pveth, err);
	if (ret == 0)
		ret = check_host(&c, req->prev, pod, err);
	if (ret == 0)
		ret = check_nft(&c, req->prev, pod, err);
	call_close(&c);
	return ret;
}

/* DEL, STATUS and GC need only the options; the rest is shared plumbing. */
int vp_ptp_cmd_teardown(const struct vp_cni_request *req, struct vp_cni_result *result,
			   struct vp_error *err)
{
	struct vp_ptp_netconf nc;
	int ret;

	(void)result;
	ret = vp_ptp_netconf_parse(req, &nc, err);
	if (ret < 0)
		return ret;
	return vp_pod_iface_teardown_verb(req, true, err);
}
