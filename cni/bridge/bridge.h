/* bridge.h - vnet-bridge internals: its options and its verb handlers.
 */
#ifndef VP_CNI_BRIDGE_BRIDGE_H
#define VP_CNI_BRIDGE_BRIDGE_H

#include <stdbool.h>

#include "common/inet.h"
#include "cni/core/cni.h"

/* The options of a vnet-bridge config (as the reference bridge plugin's). */
struct vp_bridge_netconf {
	const char *bridge;          /* default "cni0" */
	bool is_gw, is_default_gw, force_address;
	bool ip_masq, hairpin, promisc, macspoofchk;
	bool enable_dad, disable_container_iface, port_isolation;
	bool has_ipam;               /* no "ipam": layer 2 only */
	unsigned mtu;                /* 0: kernel default */
	unsigned vlan;               /* 0: none */
	bool has_mac;
	struct vp_mac mac;           /* pod MAC from mac / CNI_ARGS MAC / args / runtimeConfig */
};

/* Read req's config into *nc (strings borrowed from req).  Unknown keys are
 * ignored; a bad value fails with code 7 naming its JSON path. */
int vp_bridge_netconf_parse(const struct vp_cni_request *req, struct vp_bridge_netconf *nc,
			    struct vp_error *err) VP_MUST_CHECK;

/* The plugin as the vnet-cni executable runs it (cni/multicall). */
extern const struct vp_cni_plugin vp_bridge_plugin;

/* Its verb handlers (see vp_cni_handler in cni/core/cni.h). */
int vp_bridge_cmd_add(const struct vp_cni_request *req, struct vp_cni_result *result,
		      struct vp_error *err);
int vp_bridge_cmd_check(const struct vp_cni_request *req, struct vp_cni_result *result,
			struct vp_error *err);
/* DEL, STATUS and GC (by req->command). */
int vp_bridge_cmd_teardown(const struct vp_cni_request *req, struct vp_cni_result *result,
			struct vp_error *err);

#endif
