/* config.c - vnet-ptp options from the config on stdin.
 */
#include <errno.h>

#include "cni/plumb/pod_iface.h"
#include "cni/ptp/ptp.h"
#include "common/json.h"

int vp_ptp_netconf_parse(const struct vp_cni_request *req, struct vp_ptp_netconf *nc,
			 struct vp_error *err)
{
	int64_t mtu;
	int ret;

	*nc = (struct vp_ptp_netconf){0};
	ret = vp_json_opt_bool(req->config, "", "ipMasq", false, &nc->ip_masq, err);
	if (ret == 0)
		ret = vp_json_opt_bool(req->config, "", "enabledad", false, &nc->enable_dad, err);
	if (ret == 0)
		ret = vp_json_opt_int(req->config, "", "mtu", 0, 0, 65535, &mtu, err);
	if (ret < 0)
		return ret;
	nc->mtu = (unsigned)mtu;
	if (!vp_pod_iface_has_ipam(req))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "ipam: required by vnet-ptp");
	return 0;
}
