/* plugin.c - vnet-tap: a persistent tap for a VM, standalone or chained after
 * a veth plugin (tc redirect between the veth and the tap).
 */
#include "cni/tap/tap.h"

const struct vp_cni_plugin vp_tap_plugin = {
	.name = "vnet-tap",
	.add = vp_tap_cmd_add,
	.del = vp_tap_cmd_del,
	.check = vp_tap_cmd_check,
	.status = vp_tap_cmd_status,
	.gc = vp_tap_cmd_gc,
};
