/* plugin.h - vnet-ipam as a CNI plugin, run by the vnet-cni executable
 * (cni/multicall) as its own program or in-process for another plugin.
 */
#ifndef VP_IPAM_PLUGIN_H
#define VP_IPAM_PLUGIN_H

#include "cni/core/cni.h"

extern const struct vp_cni_plugin vp_ipam_plugin;

#endif
