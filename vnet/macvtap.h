/* macvtap.h - macvtap links: a tap character device (/dev/tapN) stacked on
 * a lower link, for VMs that attach straight to a host NIC.
 */
#ifndef VP_VNET_MACVTAP_H
#define VP_VNET_MACVTAP_H

#include "common/error.h"
#include "common/inet.h"
#include "vnet/link.h"

struct vp_nl;

/* Modes by their iproute2 names: "private", "vepa", "bridge", "passthru",
 * "source".  Returns the MACVLAN_MODE_* value or -EINVAL. */
int vp_macvtap_mode_parse(const char *name);
/* The name of a MACVLAN_MODE_* value ("?" when unknown). */
const char *vp_macvtap_mode_name(unsigned mode);

struct vp_macvtap_config {
	const char *name;
	int lower;                /* ifindex of the link it stacks on */
	unsigned mode;            /* MACVLAN_MODE_* */
	unsigned mtu;             /* 0: the lower link's */
	const struct vp_mac *mac; /* NULL: kernel-chosen */
};

/* Create it (left down).  -EEXIST when the name is taken. */
int vp_macvtap_create(struct vp_nl *nl, const struct vp_macvtap_config *cfg,
		      struct vp_link_info *out, struct vp_error *err) VP_MUST_CHECK;

/* The mode of macvtap ifindex; -EINVAL when it is not a macvtap. */
int vp_macvtap_get_mode(struct vp_nl *nl, int ifindex, unsigned *mode,
			struct vp_error *err) VP_MUST_CHECK;

#endif
