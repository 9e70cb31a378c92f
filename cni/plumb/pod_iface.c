/* pod_iface.c - the pod side of a veth attachment: CNI_NETNS, IPAM
 * delegation, configuring and checking the container interface, and the
 * DEL/GC/STATUS steps vnet-bridge and vnet-ptp share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/rtnetlink.h>

#include "cni/core/delegate.h"
#include "cni/plumb/pod_iface.h"
#include "vnet/addr.h"
#include "vnet/link.h"
#include "vnet/netns.h"
#include "vnet/nl.h"
#include "vnet/sysctl.h"

int vp_pod_iface_ns_open(const struct vp_cni_request *req, struct vp_pod_iface_ns *ns,
			 struct vp_error *err)
{
	int ret;

	ns->fd = -1;
	ns->nl = NULL;
	if (!req->netns)
		return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, EINVAL, "CNI_NETNS is required");
	ret = vp_netns_open(req->netns, &ns->fd, err);
	/* Code 3 tells the runtime no cleanup is needed: true for an ADD that
	 * made nothing yet, not for a CHECK, whose attachment's host side and
	 * allocation DEL must still remove. */
	if (ret == -ENOENT)
		return vp_error_code(err, req->command == VP_CNI_CHECK ? VP_CNI_ERR_SYSTEM
								: VP_CNI_ERR_UNKNOWN_CONTAINER,
				     ENOENT, "CNI_NETNS %s does not exist", req->netns);
	if (ret == -EINVAL)
		return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, EINVAL,
				     "CNI_NETNS %s is not a network namespace", req->netns);
	if (ret < 0)
		return ret;
	if (vp_netns_is_current(ns->fd)) {
		ret = vp_error_code(err, VP_CNI_ERR_INVALID_ENV, EINVAL,
				    "CNI_NETNS %s is the plugin's own network namespace", req->netns);
		goto out;
	}
	ret = vp_nl_open_netns(ns->fd, &ns->nl, err);
out:
	if (ret < 0)
		vp_pod_iface_ns_close(ns);
	return ret;
}

void vp_pod_iface_ns_close(struct vp_pod_iface_ns *ns)
{
	vp_nl_close(ns->nl);
	ns->nl = NULL;
	if (ns->fd >= 0)
		close(ns->fd);
	ns->fd = -1;
}

int vp_pod_iface_ensure_absent(const struct vp_pod_iface_ns *ns, const char *name,
			       struct vp_error *err)
{
	struct vp_link_info info;
	int ret;

	ret = vp_link_by_name(ns->nl, name, &info, err);
	if (ret == -ENODEV)
		return 0;
	if (ret < 0)
		return ret;
	return vp_error_code(err, VP_CNI_ERR_IFACE_EXISTS, EEXIST,
			     "interface %s already exists in the pod's network namespace", name);
}

struct ipam_undo {
	const struct vp_cni_request *req;
	const char *type;
	struct vp_pod_iface_ipam *running;   /* NULL: synchronous ADD */
};

/* Release the allocation: wait for an ADD still running, then IPAM DEL,
 * which is idempotent; but none after an ADD that reported an error (it
 * allocated nothing, and the key's addresses may be another pod's). */
static void ipam_undo(void *arg)
{
	const struct ipam_undo *u = arg;
	struct vp_error ignored = {0};
	int ret;

	if (u->running && u->running->d) {
		ret = vp_cni_delegate_finish(u->running->d, NULL, &ignored);
		u->running->refused = ret == -EREMOTEIO;
		u->running->d = NULL;
	}
	if (u->running && u->running->refused)
		return;
	(void)!vp_cni_delegate(u->req, u->type, VP_CNI_DEL, NULL, &ignored);
}

static int no_ips(const struct vp_cni_result *ipam, const char *type, struct vp_error *err)
{
	if (ipam->n_ips == 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "IPAM plugin %s returned no IP address", type);
	return 0;
}

int vp_pod_iface_ipam_add(const struct vp_cni_request *req, struct vp_undo *undo,
			  struct vp_cni_result *ipam, struct vp_error *err)
{
	struct ipam_undo u = { .req = req };
	int ret;

	u.type = vp_cni_ipam_type(req, err);
	if (!u.type)
		return -EINVAL;
	ret = vp_cni_delegate(req, u.type, VP_CNI_ADD, ipam, err);
	if (ret < 0)
		return ret;
	ret = vp_undo_push(undo, ipam_undo, &u, sizeof(u));
	if (ret < 0) {
		ipam_undo(&u);
		vp_cni_result_clear(ipam);
		return vp_error_set(err, -ret, "recording IPAM undo");
	}
	return no_ips(ipam, u.type, err);
}

int vp_pod_iface_ipam_add_start(const struct vp_cni_request *req, struct vp_undo *undo,
				struct vp_pod_iface_ipam *ia, struct vp_error *err)
{
	struct ipam_undo u = { .req = req, .running = ia };
	int ret;

	*ia = (struct vp_pod_iface_ipam){ NULL, NULL, false };
	u.type = vp_cni_ipam_type(req, err);
	if (!u.type)
		return -EINVAL;
	ret = vp_cni_delegate_start(req, u.type, VP_CNI_ADD, &ia->d, err);
	if (ret < 0)
		return ret;
	ia->type = u.type;
	ret = vp_undo_push(undo, ipam_undo, &u, sizeof(u));
	if (ret < 0) {
		ipam_undo(&u);
		return vp_error_set(err, -ret, "recording IPAM undo");
	}
	return 0;
}

int vp_pod_iface_ipam_add_finish(struct vp_pod_iface_ipam *ia, int ret,
				 struct vp_cni_result *ipam, struct vp_error *err)
{
	struct vp_error e = {0};
	int ipam_ret;

	if (!ia->d)
		return ret;
	ipam_ret = vp_cni_delegate_finish(ia->d, ipam, &e);
	ia->d = NULL;
	ia->refused = ipam_ret == -EREMOTEIO;
	if (ipam_ret < 0) {
		*err = e;    /* IPAM comes first in an ADD: its error wins */
		return ipam_ret;
	}
	return ret < 0 ? ret : no_ips(ipam, ia->type, err);
}

int vp_pod_iface_default_gateways(struct vp_cni_result *ipam, struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];

	for (size_t i = 0; i < ipam->n_ips; i++) {
		struct vp_cni_ip *ip = &ipam->ips[i];
		struct vp_prefix net = vp_prefix_network(&ip->address);

		if (ip->gateway.family)
			continue;
		if (vp_ip_add(&net.ip, 1, &ip->gateway) < 0 || vp_ip_equal(&ip->gateway, &ip->address.ip))
			return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, ERANGE,
					     "%s: no address left for a gateway",
					     vp_prefix_str(&ip->address, buf));
	}
	return 0;
}

int vp_pod_iface_veth_create(struct vp_nl *host, const struct vp_pod_iface_ns *ns,
			     const struct vp_pod_iface_veth *v, struct vp_undo *undo,
			     struct vp_link_info *hveth, struct vp_link_info *pveth,
			     struct vp_error *err)
{
	struct vp_veth_config vc = {
		.peer_name = v->ifname,
		.peer_netns_fd = ns->fd,
		.mtu = v->mtu,
		.peer_mac = v->mac,
	};
	int ret;

	ret = vp_veth_create(host, &vc, hveth, err);
	if (ret == 0)
		ret = vp_link_push_undo(host, hveth->ifindex, undo, err);
	if (ret < 0)
		return ret;
	ret = vp_link_by_name(ns->nl, v->ifname, pveth, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "veth peer %s vanished from the pod", v->ifname);
	if (ret == 0)
		ret = vp_link_set_up(host, hveth->ifindex, err);
	return ret;
}

int vp_pod_iface_nft_attach(const struct vp_nft_attachment *a, struct vp_undo *undo,
			    struct vp_error *err)
{
	if (!a->n_masq && !a->spoof_ifname)
		return 0;
	return vp_nft_attach_undoable(a, undo, err);
}

/* The prefix to put on the link: the result's, or a host prefix. */
static struct vp_prefix iface_prefix(const struct vp_cni_ip *ip, const struct vp_pod_iface_opts *o)
{
	struct vp_prefix p = ip->address;

	if (o->host_prefix)
		p.len = (uint8_t)(vp_ip_bytes(&p.ip) * 8);
	return p;
}

static bool has_v6(const struct vp_cni_result *res, int iface_idx)
{
	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].interface == iface_idx && res->ips[i].address.ip.family == AF_INET6)
			return true;
	return false;
}

/* accept_dad=0 on the pod side, written from inside the pod's netns (the
 * /proc/sys/net view follows the opener's namespace). */
static int disable_dad(const struct vp_pod_iface_ns *ns, const char *ifname, struct vp_error *err)
{
	char key[96];
	int saved;
	int ret;

	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", ifname);
	ret = vp_netns_enter(ns->fd, &saved, err);
	if (ret < 0)
		return ret;
	ret = vp_sysctl_write(key, "0", err);
	vp_netns_return(saved);
	return ret;
}

static int add_addresses(const struct vp_pod_iface_ns *ns, int ifindex,
			 const struct vp_pod_iface_opts *o, const struct vp_cni_result *res,
			 int iface_idx, struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];

	for (size_t i = 0; i < res->n_ips; i++) {
		struct vp_prefix p = iface_prefix(&res->ips[i], o);
		int ret;

		if (res->ips[i].interface != iface_idx)
			continue;
		ret = vp_addr_add(ns->nl, ifindex, &p, !o->enable_dad, err);
		if (ret == -EEXIST)
			continue;
		if (ret < 0) {
			vp_error_prefix(err, "adding address %s", vp_prefix_str(&p, buf));
			return ret;
		}
	}
	return 0;
}

/* The gateway of the first ip of family on iface_idx (family 0 if none). */
static struct vp_ip family_gateway(const struct vp_cni_result *res, int iface_idx, int family)
{
	struct vp_ip none = {0};

	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].interface == iface_idx && res->ips[i].gateway.family == family)
			return res->ips[i].gateway;
	return none;
}

/* The ptp routes of one address: gateway on-link, subnet via gateway. */
static int host_prefix_routes(const struct vp_cni_ip *ip, int ifindex, struct vp_route out[2])
{
	if (!ip->gateway.family || ip->gateway.family != ip->address.ip.family)
		return 0;
	out[0] = vp_route_init();
	out[0].dst.ip = ip->gateway;
	out[0].dst.len = (uint8_t)(vp_ip_bytes(&ip->gateway) * 8);
	out[0].ifindex = ifindex;
	out[0].src = ip->address.ip;
	out[0].scope = RT_SCOPE_LINK;
	out[1] = vp_route_init();
	out[1].dst = vp_prefix_network(&ip->address);
	out[1].gw = ip->gateway;
	out[1].ifindex = ifindex;
	out[1].src = ip->address.ip;
	return 2;
}

static struct vp_route result_route(const struct vp_cni_result *res, size_t i, int ifindex,
				    int iface_idx)
{
	const struct vp_cni_route *cr = &res->routes[i];
	struct vp_route r = vp_route_init();

	r.dst = cr->dst;
	r.gw = cr->gw.family ? cr->gw : family_gateway(res, iface_idx, cr->dst.ip.family);
	r.ifindex = ifindex;
	r.mtu = cr->mtu;
	r.advmss = cr->advmss;
	r.priority = cr->priority;
	r.table = cr->table;
	r.scope = cr->scope;
	return r;
}

/* Call fn on every route configure() adds, in order; stops at the first error. */
typedef int (*route_fn)(const struct vp_pod_iface_ns *ns, const struct vp_route *r,
			struct vp_error *err);

static int each_route(const struct vp_pod_iface_ns *ns, int ifindex,
		      const struct vp_pod_iface_opts *o, const struct vp_cni_result *res,
		      int iface_idx, route_fn fn, struct vp_error *err)
{
	struct vp_route r[2];
	int ret;

	for (size_t i = 0; o->host_prefix && i < res->n_ips; i++) {
		if (res->ips[i].interface != iface_idx)
			continue;
		int n = host_prefix_routes(&res->ips[i], ifindex, r);

		for (int k = 0; k < n; k++)
			if ((ret = fn(ns, &r[k], err)) < 0)
				return ret;
	}
	for (size_t i = 0; i < res->n_routes; i++) {
		r[0] = result_route(res, i, ifindex, iface_idx);
		if ((ret = fn(ns, &r[0], err)) < 0)
			return ret;
	}
	return 0;
}

static int route_add(const struct vp_pod_iface_ns *ns, const struct vp_route *r,
		     struct vp_error *err)
{
	char dst[VP_PREFIX_STRLEN];
	int ret;

	ret = vp_route_add(ns->nl, r, err);
	if (ret == -EEXIST)
		return 0;
	if (ret < 0)
		vp_error_prefix(err, "adding route to %s in the pod", vp_prefix_str(&r->dst, dst));
	return ret;
}

int vp_pod_iface_configure(const struct vp_pod_iface_ns *ns, const char *ifname, int ifindex,
			   const struct vp_pod_iface_opts *opts, const struct vp_cni_result *res,
			   int iface_idx, struct vp_error *err)
{
	int ret;

	if (!opts->enable_dad && has_v6(res, iface_idx)) {
		ret = disable_dad(ns, ifname, err);
		if (ret < 0)
			return ret;
	}
	ret = add_addresses(ns, ifindex, opts, res, iface_idx, err);
	if (ret < 0)
		return ret;
	if (opts->keep_down)
		return 0;
	ret = vp_link_set_up(ns->nl, ifindex, err);
	if (ret < 0)
		return ret;
	return each_route(ns, ifindex, opts, res, iface_idx, route_add, err);
}

static int check_addresses(const struct vp_pod_iface_ns *ns, int ifindex,
			   const struct vp_pod_iface_opts *o, const struct vp_cni_result *res,
			   int iface_idx, struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];
	struct vp_prefix *have = NULL;
	size_t n = 0;
	int ret;

	ret = vp_addr_list(ns->nl, ifindex, AF_UNSPEC, &have, &n, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < res->n_ips && ret == 0; i++) {
		struct vp_prefix want = iface_prefix(&res->ips[i], o);
		bool found = false;

		if (res->ips[i].interface != iface_idx)
			continue;
		for (size_t k = 0; k < n && !found; k++)
			found = have[k].len == want.len && vp_ip_equal(&have[k].ip, &want.ip);
		if (!found)
			ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
					    "address %s is missing in the pod",
					    vp_prefix_str(&want, buf));
	}
	free(have);
	return ret;
}

static int route_present(const struct vp_pod_iface_ns *ns, const struct vp_route *r,
			 struct vp_error *err)
{
	char dst[VP_PREFIX_STRLEN];
	bool exists = false;
	int ret;

	ret = vp_route_exists(ns->nl, r, &exists, err);
	if (ret < 0)
		return ret;
	if (!exists)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "route to %s is missing in the pod",
				     vp_prefix_str(&r->dst, dst));
	return 0;
}

int vp_pod_iface_check(const struct vp_pod_iface_ns *ns, const struct vp_pod_iface_opts *opts,
		       const struct vp_cni_result *res, int iface_idx, struct vp_link_info *link,
		       struct vp_error *err)
{
	const struct vp_cni_interface *want = &res->interfaces[iface_idx];
	char mac[VP_MAC_STRLEN];
	struct vp_link_info info;
	int ret;

	ret = vp_link_by_name(ns->nl, want->name, &info, err);
	if (ret == -ENODEV)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
				     "interface %s is missing in the pod", want->name);
	if (ret < 0)
		return ret;
	if (want->mac[0] && strcasecmp(want->mac, vp_mac_str(&info.mac, mac)) != 0)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
				     "interface %s has MAC %s, expected %s", want->name, mac, want->mac);
	if (want->mtu && want->mtu != info.mtu)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "interface %s has MTU %u, expected %u",
				     want->name, info.mtu, want->mtu);
	if (!info.up && !opts->keep_down)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT, "interface %s is down", want->name);
	if (link)
		*link = info;
	ret = check_addresses(ns, info.ifindex, opts, res, iface_idx, err);
	if (ret < 0 || opts->keep_down)
		return ret;
	return each_route(ns, info.ifindex, opts, res, iface_idx, route_present, err);
}

int vp_pod_iface_host_veth(struct vp_nl *host, const struct vp_cni_result *prev,
			   const struct vp_link_info *pod, struct vp_link_info *out,
			   struct vp_error *err)
{
	for (size_t i = 0; i < prev->n_interfaces; i++) {
		int ret;

		if (prev->interfaces[i].sandbox)
			continue;
		ret = vp_link_by_name(host, prev->interfaces[i].name, out, err);
		if (ret == -ENODEV)
			continue;
		if (ret < 0)
			return ret;
		if (!strcmp(out->kind, "veth") && pod->link && out->ifindex == pod->link)
			return 0;
	}
	return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
			     "no host-side interface of prevResult is the peer of the pod's %s",
			     pod->name);
}

struct vp_nft_owner vp_pod_iface_owner(const struct vp_cni_request *req)
{
	struct vp_nft_owner o = {
		.network = req->network,
		.container_id = req->container_id,
		.ifname = req->ifname,
	};
	return o;
}

int vp_pod_iface_masq(const struct vp_cni_result *res, int iface_idx, struct vp_nft_masq **out,
		      size_t *n)
{
	struct vp_nft_masq *m = NULL;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (res->n_ips) {
		m = calloc(res->n_ips, sizeof(*m));
		if (!m)
			return -ENOMEM;
	}
	for (size_t i = 0; i < res->n_ips; i++) {
		if (res->ips[i].interface != iface_idx)
			continue;
		m[k].ip = res->ips[i].address.ip;
		m[k].net = vp_prefix_network(&res->ips[i].address);
		k++;
	}
	if (!k) {
		free(m);
		m = NULL;
	}
	*out = m;
	*n = k;
	return 0;
}

int vp_pod_iface_result_iface(struct vp_cni_result *res, const char *name,
			      const struct vp_mac *mac, unsigned mtu, const char *sandbox,
			      struct vp_error *err)
{
	char buf[VP_MAC_STRLEN];
	int idx;

	idx = vp_cni_result_add_interface(res, name, mac ? vp_mac_str(mac, buf) : "", sandbox);
	if (idx < 0)
		return vp_error_set(err, -idx, "building the result");
	res->interfaces[idx].mtu = mtu;
	return idx;
}

/* The config's "dns", when it says anything, else NULL. */
static json_t *config_dns(const struct vp_cni_request *req)
{
	json_t *dns = json_object_get(req->config, "dns");

	return json_is_object(dns) && json_object_size(dns) ? dns : NULL;
}

int vp_pod_iface_result_ipam(struct vp_cni_result *res, const struct vp_cni_request *req,
			     const struct vp_cni_result *ipam, int iface_idx,
			     struct vp_error *err)
{
	json_t *dns = config_dns(req);
	int ret;

	for (size_t i = 0; i < ipam->n_ips; i++) {
		struct vp_cni_ip ip = ipam->ips[i];

		ip.interface = iface_idx;
		if ((ret = vp_cni_result_add_ip(res, &ip)) < 0)
			return vp_error_set(err, -ret, "building the result");
	}
	for (size_t i = 0; i < ipam->n_routes; i++)
		if ((ret = vp_cni_result_add_route(res, &ipam->routes[i])) < 0)
			return vp_error_set(err, -ret, "building the result");
	if (!dns)
		dns = ipam->dns;
	json_decref(res->dns);
	res->dns = dns ? json_incref(dns) : NULL;
	return 0;
}

bool vp_pod_iface_has_ipam(const struct vp_cni_request *req)
{
	json_t *ipam = json_object_get(req->config, "ipam");

	return ipam && !json_is_null(ipam);
}

int vp_pod_iface_enable_forward(const struct vp_cni_result *res, struct vp_error *err)
{
	static const struct {
		int family;
		const char *key;
	} knobs[] = {
		{ AF_INET, "net/ipv4/ip_forward" },
		{ AF_INET6, "net/ipv6/conf/all/forwarding" },
	};
	char cur[8];
	int ret;

	for (size_t k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
		bool want = false;

		for (size_t i = 0; i < res->n_ips; i++)
			want |= res->ips[i].address.ip.family == knobs[k].family;
		if (!want)
			continue;
		ret = vp_sysctl_read(knobs[k].key, cur, sizeof(cur), err);
		if (ret == 0 && !strcmp(cur, "1"))
			continue;
		ret = vp_sysctl_write(knobs[k].key, "1", err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Start deleting ifname in the pod's netns if both still exist (*d stays
 * NULL when there is nothing to delete); see vp_link_delete_nowait(). */
static int del_link_start(const struct vp_cni_request *req, struct vp_link_deletion **d,
			  struct vp_error *err)
{
	struct vp_pod_iface_ns ns;
	struct vp_link_info info;
	struct vp_error ignored = {0};
	int ret;

	*d = NULL;
	if (!req->netns || vp_pod_iface_ns_open(req, &ns, &ignored) < 0)
		return 0;
	ret = vp_link_by_name(ns.nl, req->ifname, &info, err);
	if (ret == 0)
		ret = vp_link_delete_start(ns.fd, info.ifindex, d, err);
	vp_pod_iface_ns_close(&ns);
	return ret == -ENODEV ? 0 : ret;
}

static void keep_first(int *first, struct vp_error *err, int ret, const struct vp_error *e)
{
	if (ret < 0 && *first == 0) {
		*first = ret;
		*err = *e;
	}
}

int vp_pod_iface_del(const struct vp_cni_request *req, bool ipam, struct vp_error *err)
{
	struct vp_nft_owner owner = vp_pod_iface_owner(req);
	struct vp_error e = {0}, ipam_e = {0};
	struct vp_cni_delegation *d = NULL;
	struct vp_link_deletion *link;
	const char *type = NULL;
	int ipam_ret = 0, link_ret, first = 0;

	/* The kernel unlists the link while IPAM releases the address; IPAM's
	 * error still comes first, as if it had run first. */
	link_ret = del_link_start(req, &link, &e);
	if (ipam) {
		type = vp_cni_ipam_type(req, &ipam_e);
		ipam_ret = type ? vp_cni_delegate_start(req, type, VP_CNI_DEL, &d, &ipam_e) : -EINVAL;
	}
	if (link && (link_ret = vp_link_delete_finish(link, &e)) == -ENODEV)
		link_ret = 0;
	if (d)
		ipam_ret = vp_cni_delegate_finish(d, NULL, &ipam_e);
	keep_first(&first, err, ipam_ret, &ipam_e);
	keep_first(&first, err, link_ret, &e);
	vp_error_clear(&e);
	keep_first(&first, err, vp_nft_detach(&owner, &e), &e);
	return first;
}

int vp_pod_iface_gc(const struct vp_cni_request *req, bool ipam, struct vp_error *err)
{
	struct vp_nft_owner *valid = NULL;
	struct vp_error e = {0};
	int first = 0;

	if (ipam)
		keep_first(&first, err, vp_pod_iface_ipam_run(req, VP_CNI_GC, &e), &e);
	if (req->n_valid) {
		valid = calloc(req->n_valid, sizeof(*valid));
		if (!valid)
			return first ? first : vp_error_set(err, ENOMEM, "GC");
	}
	for (size_t i = 0; i < req->n_valid; i++) {
		valid[i].network = req->network;
		valid[i].container_id = req->valid[i].container_id;
		valid[i].ifname = req->valid[i].ifname;
	}
	vp_error_clear(&e);
	keep_first(&first, err, vp_nft_gc(req->network, valid, req->n_valid, &e), &e);
	free(valid);
	return first;
}

int vp_pod_iface_ipam_run(const struct vp_cni_request *req, enum vp_cni_command command,
			  struct vp_error *err)
{
	const char *type;

	type = vp_cni_ipam_type(req, err);
	if (!type)
		return -EINVAL;
	return vp_cni_delegate(req, type, command, NULL, err);
}

int vp_pod_iface_add_atomically(vp_pod_iface_add_fn body, void *call, struct vp_cni_result *result,
				struct vp_error *err)
{
	struct vp_cni_result ipam = {0};
	struct vp_undo undo = VP_UNDO_INIT;
	int ret;

	ret = body(call, &undo, &ipam, result, err);
	if (ret < 0) {
		vp_undo_run(&undo);
		vp_cni_result_clear(result);
	}
	vp_undo_forget(&undo);
	vp_cni_result_clear(&ipam);
	return ret;
}

int vp_pod_iface_teardown_verb(const struct vp_cni_request *req, bool ipam, struct vp_error *err)
{
	switch (req->command) {
	case VP_CNI_DEL:
		return vp_pod_iface_del(req, ipam, err);
	case VP_CNI_STATUS:
		return ipam ? vp_pod_iface_ipam_run(req, VP_CNI_STATUS, err) : 0;
	case VP_CNI_GC:
		return vp_pod_iface_gc(req, ipam, err);
	default:
		return vp_error_set(err, EINVAL, "no teardown for %s",
				    vp_cni_command_name(req->command));
	}
}
