/* pod_iface.h - the pod side of a veth attachment, shared by vnet-bridge and
 * vnet-ptp (and the netns handling of vnet-tap): open CNI_NETNS with one
 * consistent error mapping, delegate IPAM with its undo, configure the
 * container interface from a result (addresses, routes, link up) and check
 * it, and the common DEL, GC and STATUS steps.
 *
 * Error codes for CNI_NETNS, the same in every plugin:
 *   missing path (ADD)                 code 3  (unknown container: the pod is gone)
 *   missing path (CHECK)               code 100 (not 3: DEL is still needed)
 *   not a network namespace            code 4  (invalid CNI_NETNS)
 *   the plugin's own namespace         code 4  (would plumb the host itself)
 *   DEL treats all three as "nothing left in the netns" and succeeds.
 */
#ifndef VP_CNI_POD_IFACE_H
#define VP_CNI_POD_IFACE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/undo.h"
#include "cni/core/cni.h"
#include "vnet/link.h"
#include "vnet/nft.h"

struct vp_nl;
struct vp_cni_delegation;

/* An open pod network namespace and a netlink handle living in it. */
struct vp_pod_iface_ns {
	int fd;                 /* -1 when closed */
	struct vp_nl *nl;
};

#define VP_POD_IFACE_NS_INIT { -1, NULL }

/* Open req->netns and a netlink handle in it.  Errors use the codes above;
 * on failure ns stays closed. */
int vp_pod_iface_ns_open(const struct vp_cni_request *req, struct vp_pod_iface_ns *ns,
			 struct vp_error *err) VP_MUST_CHECK;

/* Close both; accepts a closed ns. */
void vp_pod_iface_ns_close(struct vp_pod_iface_ns *ns);

/* 0 when no link called name exists in ns; code VP_CNI_ERR_IFACE_EXISTS
 * (-EEXIST) when one does. */
int vp_pod_iface_ensure_absent(const struct vp_pod_iface_ns *ns, const char *name,
			       struct vp_error *err) VP_MUST_CHECK;

/* The body of an ADD: call is the plugin's own context; every change the
 * body makes pushes its undo onto undo; ipam is scratch space for the IPAM
 * result (cleared afterwards). */
typedef int (*vp_pod_iface_add_fn)(void *call, struct vp_undo *undo, struct vp_cni_result *ipam,
				   struct vp_cni_result *result, struct vp_error *err);

/* Run body as one all-or-nothing ADD: on failure its undo list runs in
 * reverse and result is cleared, so nothing is left half-done. */
int vp_pod_iface_add_atomically(vp_pod_iface_add_fn body, void *call, struct vp_cni_result *result,
				struct vp_error *err) VP_MUST_CHECK;

/* Run the config's IPAM plugin (ADD) into *ipam and push its DEL onto undo.
 * req must outlive the undo list. */
int vp_pod_iface_ipam_add(const struct vp_cni_request *req, struct vp_undo *undo,
			  struct vp_cni_result *ipam, struct vp_error *err) VP_MUST_CHECK;

/* An IPAM ADD running in the background. */
struct vp_pod_iface_ipam {
	struct vp_cni_delegation *d;   /* NULL: none running */
	const char *type;
	bool refused;                  /* it reported an error: allocated nothing */
};

/* Start the config's IPAM plugin (ADD) into *ia and push its DEL onto undo
 * at once (the undo first waits for a still-running ADD); the caller works
 * meanwhile and then calls vp_pod_iface_ipam_add_finish().  req and ia must
 * outlive the undo list.  On failure nothing is running.  An ADD that
 * reported an error (error JSON) allocated nothing, and the undo then sends
 * no DEL: the key may hold another attachment's addresses (a repeated ADD
 * that IPAM refused); one that crashed or timed out is DELed. */
int vp_pod_iface_ipam_add_start(const struct vp_cni_request *req, struct vp_undo *undo,
				struct vp_pod_iface_ipam *ia, struct vp_error *err) VP_MUST_CHECK;

/* Wait for the ADD of ia (none running: returns ret) and parse its result
 * into *ipam.  ret is the outcome of the caller's work meanwhile: IPAM's
 * own error replaces it (IPAM is the first step of an ADD), else ret is
 * returned, else 0 when ipam has an IP address. */
int vp_pod_iface_ipam_add_finish(struct vp_pod_iface_ipam *ia, int ret,
				 struct vp_cni_result *ipam, struct vp_error *err) VP_MUST_CHECK;

/* Give each ip of ipam without a gateway the first address of its subnet. */
int vp_pod_iface_default_gateways(struct vp_cni_result *ipam, struct vp_error *err) VP_MUST_CHECK;

/* The pod end of a veth pair. */
struct vp_pod_iface_veth {
	const char *ifname;         /* CNI_IFNAME */
	unsigned mtu;               /* 0: kernel default */
	const struct vp_mac *mac;   /* NULL: kernel-chosen */
};

/* Create a veth (host end with a random "veth" name, via host) whose peer is
 * born in ns as v->ifname, push its deletion onto undo, bring the host end
 * up, and describe both ends. */
int vp_pod_iface_veth_create(struct vp_nl *host, const struct vp_pod_iface_ns *ns,
			     const struct vp_pod_iface_veth *v, struct vp_undo *undo,
			     struct vp_link_info *hveth, struct vp_link_info *pveth,
			     struct vp_error *err) VP_MUST_CHECK;

/* Install a's rules (nothing when it has neither masquerade nor spoof check)
 * and push their removal onto undo. */
int vp_pod_iface_nft_attach(const struct vp_nft_attachment *a, struct vp_undo *undo,
			    struct vp_error *err) VP_MUST_CHECK;

/* How the container interface is configured. */
struct vp_pod_iface_opts {
	bool enable_dad;    /* false: IPv6 addresses with NODAD and accept_dad=0 */
	bool host_prefix;   /* ptp: addresses as /32 or /128 (no subnet route), then an
			     * on-link route to each gateway and the subnet via it */
	bool keep_down;     /* disableContainerInterface: addresses only, link stays
			     * down, so no routes can be added */
};

/* Configure link ifindex (named ifname) in ns from res: the addresses of the
 * ips whose interface is iface_idx, link up, then every route of res (a
 * route without gw goes via the gateway of the same family, if any); with
 * keep_down only the addresses.  Never
 * waits for DAD.  On failure some of it may be done; the caller deletes the
 * link (its undo) to roll back. */
int vp_pod_iface_configure(const struct vp_pod_iface_ns *ns, const char *ifname, int ifindex,
			   const struct vp_pod_iface_opts *opts, const struct vp_cni_result *res,
			   int iface_idx, struct vp_error *err) VP_MUST_CHECK;

/* CHECK counterpart: the interface iface_idx of res exists in ns (with its
 * MAC when res has one) and is up, carries every address and route
 * vp_pod_iface_configure() would add.  -ENOENT with err naming the first
 * thing missing.  *link (may be NULL) describes the pod's link. */
int vp_pod_iface_check(const struct vp_pod_iface_ns *ns, const struct vp_pod_iface_opts *opts,
		       const struct vp_cni_result *res, int iface_idx, struct vp_link_info *link,
		       struct vp_error *err) VP_MUST_CHECK;

/* CHECK: the host end of the pod's veth among prev's host-side interfaces:
 * the veth whose ifindex is pod->link (the pod end's peer).  Other host-side
 * interfaces are not ours and are skipped: a later plugin of the chain may
 * add its own (bandwidth's ifb).  -ENOENT (code 100) when none is. */
int vp_pod_iface_host_veth(struct vp_nl *host, const struct vp_cni_result *prev,
			   const struct vp_link_info *pod, struct vp_link_info *out,
			   struct vp_error *err) VP_MUST_CHECK;

/* The nft owner of req's attachment (borrows req's strings). */
struct vp_nft_owner vp_pod_iface_owner(const struct vp_cni_request *req);

/* Masquerade entries for the ips of res on interface iface_idx: each pod
 * address, excluding its own subnet.  *out is malloc'd (caller frees; NULL
 * when *n is 0). */
int vp_pod_iface_masq(const struct vp_cni_result *res, int iface_idx, struct vp_nft_masq **out,
		      size_t *n) VP_MUST_CHECK;

/* Append interface name/mac/sandbox to res and return its index (or -ENOMEM
 * with err set). */
int vp_pod_iface_result_iface(struct vp_cni_result *res, const char *name,
			      const struct vp_mac *mac, unsigned mtu, const char *sandbox,
			      struct vp_error *err) VP_MUST_CHECK;

/* Copy ipam's ips (pointed at iface_idx), routes and dns into res; the
 * config's "dns" object, when set, replaces IPAM's. */
int vp_pod_iface_result_ipam(struct vp_cni_result *res, const struct vp_cni_request *req,
			     const struct vp_cni_result *ipam, int iface_idx,
			     struct vp_error *err) VP_MUST_CHECK;

/* Best-effort DEL: IPAM DEL (when ipam), delete ifname in the netns if the
 * netns and the link still exist (which takes a veth peer with it), remove
 * the attachment's nft rules.  Every step runs; the first hard failure is
 * returned.  A missing netns, link, allocation or rule is success. */
int vp_pod_iface_del(const struct vp_cni_request *req, bool ipam, struct vp_error *err) VP_MUST_CHECK;

/* GC: IPAM GC, then the nft rules of attachments of req->network not in
 * req->valid.  Both run; the first failure is returned. */
int vp_pod_iface_gc(const struct vp_cni_request *req, bool ipam, struct vp_error *err) VP_MUST_CHECK;

/* DEL, STATUS or GC (by req->command) of a veth plugin: vp_pod_iface_del,
 * IPAM STATUS (when ipam), or vp_pod_iface_gc. */
int vp_pod_iface_teardown_verb(const struct vp_cni_request *req, bool ipam,
			       struct vp_error *err) VP_MUST_CHECK;

/* Run the config's IPAM plugin for command (DEL, CHECK, STATUS or GC). */
int vp_pod_iface_ipam_run(const struct vp_cni_request *req, enum vp_cni_command command,
			  struct vp_error *err) VP_MUST_CHECK;

/* Turn on IPv4 / IPv6 forwarding in the caller's netns for the families of
 * res's addresses (only written when not already on). */
int vp_pod_iface_enable_forward(const struct vp_cni_result *res, struct vp_error *err) VP_MUST_CHECK;

/* True when the config has an "ipam" key (its "type" is checked when used). */
bool vp_pod_iface_has_ipam(const struct vp_cni_request *req);

#endif
