/* plugin.c - vnet-ptp: a routed veth pair per pod, no bridge.
 */
#include "cni/ptp/ptp.h"

const struct vp_cni_plugin vp_ptp_plugin = {
	.name = "vnet-ptp",
	.add = vp_ptp_cmd_add,
	.del = vp_ptp_cmd_teardown,
	.check = vp_ptp_cmd_check,
	.status = vp_ptp_cmd_teardown,
	.gc = vp_ptp_cmd_teardown,
};
