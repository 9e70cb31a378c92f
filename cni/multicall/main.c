/* main.c - vnet-cni: every vplumb CNI plugin in one executable, chosen by
 * the name it runs as.  vnet-bridge, vnet-ptp, vnet-tap and vnet-ipam are
 * symlinks to it.  Being one file lets a plugin run vnet-ipam in-process
 * when the vnet-ipam on CNI_PATH is this very executable, which saves a
 * process start per verb (see cni/core/delegate.c).
 */
#include "cni/bridge/bridge.h"
#include "cni/core/cni.h"
#include "cni/ipam/plugin.h"
#include "cni/ptp/ptp.h"
#include "cni/tap/tap.h"

static const struct vp_cni_plugin *const plugins[] = {
	&vp_bridge_plugin,
	&vp_ptp_plugin,
	&vp_tap_plugin,
	&vp_ipam_plugin,
	NULL,
};

int main(int argc, char **argv)
{
	return vp_cni_main_multi(plugins, argc > 0 ? argv[0] : "");
}
