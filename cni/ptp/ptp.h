/* ptp.h - vnet-ptp internals: its options and its verb handlers.
 */
#ifndef VP_CNI_PTP_PTP_H
#define VP_CNI_PTP_PTP_H

#include <stdbool.h>

#include "cni/core/cni.h"

/* The options of a vnet-ptp config (as the reference ptp plugin's). */
struct vp_ptp_netconf {
	bool ip_masq;
	bool enable_dad;     /* default false: never wait for IPv6 DAD */
	unsigned mtu;        /* 0: kernel default */
};

/* Read req's config into *nc.  Unknown keys are ignored; a bad value fails
 * with code 7 naming its JSON path; "ipam" is required. */
int vp_ptp_netconf_parse(const struct vp_cni_request *req, struct vp_ptp_netconf *nc,
			 struct vp_error *err) VP_MUST_CHECK;

/* The plugin as the vnet-cni executable runs it (cni/multicall). */
extern const struct vp_cni_plugin vp_ptp_plugin;

/* Its verb handlers (see vp_cni_handler in cni/core/cni.h). */
int vp_ptp_cmd_add(const struct vp_cni_request *req, struct vp_cni_result *result,
		   struct vp_error *err);
int vp_ptp_cmd_check(const struct vp_cni_request *req, struct vp_cni_result *result,
		     struct vp_error *err);
/* DEL, STATUS and GC (by req->command). */
int vp_ptp_cmd_teardown(const struct vp_cni_request *req, struct vp_cni_result *result,
			struct vp_error *err);

#endif
