/* tap.h - vnet-tap internals: its options and its verb handlers.
 */
#ifndef VP_CNI_TAP_TAP_H
#define VP_CNI_TAP_TAP_H

#include <net/if.h>
#include <stdbool.h>

#include "common/inet.h"
#include "cni/core/cni.h"

/* The options of a vnet-tap config. */
struct vp_tap_netconf {
	char name[IFNAMSIZ];   /* chained mode's tap: "tapName", else "tap" + CNI_IFNAME's digits */
	bool has_mac;
	struct vp_mac mac;     /* default: the veth's (chained) or kernel-chosen */
	unsigned mtu;          /* 0: the veth's (chained) or kernel default */
	bool multi_queue;      /* also implied by queues > 1 */
	unsigned queues;       /* default 1 */
	bool vnet_hdr;         /* default true */
	long owner, group;     /* -1: unset */
	const char *bridge;    /* standalone: bridge in the netns to attach to, NULL: none */
	bool has_ipam;         /* standalone only */
};

/* Read req's config into *nc.  Unknown keys are ignored; a bad value fails
 * with code 7 naming its JSON path. */
int vp_tap_netconf_parse(const struct vp_cni_request *req, struct vp_tap_netconf *nc,
			 struct vp_error *err) VP_MUST_CHECK;

/* The plugin as the vnet-cni executable runs it (cni/multicall). */
extern const struct vp_cni_plugin vp_tap_plugin;

/* Its verb handlers (see vp_cni_handler in cni/core/cni.h). */
int vp_tap_cmd_add(const struct vp_cni_request *req, struct vp_cni_result *result,
		   struct vp_error *err);
int vp_tap_cmd_del(const struct vp_cni_request *req, struct vp_cni_result *result,
		   struct vp_error *err);
int vp_tap_cmd_check(const struct vp_cni_request *req, struct vp_cni_result *result,
		     struct vp_error *err);
int vp_tap_cmd_status(const struct vp_cni_request *req, struct vp_cni_result *result,
		      struct vp_error *err);
int vp_tap_cmd_gc(const struct vp_cni_request *req, struct vp_cni_result *result,
		  struct vp_error *err);

#endif
