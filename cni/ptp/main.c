/* main.c - vnet-ptp: a routed veth pair per pod, no bridge.
 */
#include "cni/ptp/ptp.h"

static const struct vp_cni_plugin plugin = {
	.name = "vnet-ptp",
	.add = vp_ptp_cmd_add,
	.del = vp_ptp_cmd_teardown,
	.check = vp_ptp_cmd_check,
	.status = vp_ptp_cmd_teardown,
	.gc = vp_ptp_cmd_teardown,
};

int main(void)
{
	return vp_cni_main(&plugin);
}
