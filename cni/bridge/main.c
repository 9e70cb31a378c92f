/* main.c - vnet-bridge: pods on a Linux bridge through veth pairs.
 */
#include "cni/bridge/bridge.h"

static const struct vp_cni_plugin plugin = {
	.name = "vnet-bridge",
	.add = vp_bridge_cmd_add,
	.del = vp_bridge_cmd_teardown,
	.check = vp_bridge_cmd_check,
	.status = vp_bridge_cmd_teardown,
	.gc = vp_bridge_cmd_teardown,
};

int main(void)
{
	return vp_cni_main(&plugin);
}
