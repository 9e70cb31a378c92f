/* plugin.c - vnet-bridge: pods on a Linux bridge through veth pairs.
 */
#include "cni/bridge/bridge.h"

const struct vp_cni_plugin vp_bridge_plugin = {
	.name = "vnet-bridge",
	.add = vp_bridge_cmd_add,
	.del = vp_bridge_cmd_teardown,
	.check = vp_bridge_cmd_check,
	.status = vp_bridge_cmd_teardown,
	.gc = vp_bridge_cmd_teardown,
};
