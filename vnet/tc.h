/* tc.h - traffic control: ingress qdisc + u32 match-all + mirred redirect,
 * the way tc-redirect-tap and Kata wire a veth to a VM's tap.
 */
#ifndef VP_VNET_TC_H
#define VP_VNET_TC_H

#include <stdbool.h>

#include "common/error.h"

struct vp_nl;

/* Redirect everything arriving on a to egress of b and vice versa: an ingress
 * qdisc on each plus one u32 filter each way.  Idempotent. */
int vp_tc_redirect_pair(struct vp_nl *nl, int a, int b, struct vp_error *err) VP_MUST_CHECK;

/* True when ifindex has the ingress filter redirecting to target. */
int vp_tc_redirect_check(struct vp_nl *nl, int ifindex, int target, bool *ok,
			 struct vp_error *err) VP_MUST_CHECK;

/* Remove the ingress qdisc (and with it its filters).  Absent is not an error. */
int vp_tc_ingress_clear(struct vp_nl *nl, int ifindex, struct vp_error *err) VP_MUST_CHECK;

#endif
