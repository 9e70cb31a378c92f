/* main.c - vnet-tap: a persistent tap for a VM, standalone or chained after
 * a veth plugin (tc redirect between the veth and the tap).
 */
#include "cni/tap/tap.h"

static const struct vp_cni_plugin plugin = {
	.name = "vnet-tap",
	.add = vp_tap_cmd_add,
	.del = vp_tap_cmd_del,
	.check = vp_tap_cmd_check,
	.status = vp_tap_cmd_status,
	.gc = vp_tap_cmd_gc,
};

int main(void)
{
	return vp_cni_main(&plugin);
}
