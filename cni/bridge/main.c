/* main.c - vnet-bridge: pods on a Linux bridge through veth pairs.
 */
#include "cni/bridge/bridge.h"

static const struct vp_cni_plugin plugin = {
	.name = "vnet-bridge",
	.add = vp_bridge_cmd_add,
	.del = vp_bridge_cmd_del,
	.check = vp_bridge_cmd_check,
	.status = vp_bridge_cmd_status,
	.gc = vp_bridge_cmd_gc,
};

int main(void)
{
	return vp_cni_main(&plugin);
}
