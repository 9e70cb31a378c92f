/* plugin.c - vnet-ipam: vplumb's host-local compatible IPAM plugin.  Each
 * verb parses the "ipam" config and hands it to the allocator. */
#include <errno.h>

#include "cni/core/cni.h"
#include "cni/ipam/allocator.h"
#include "cni/ipam/config.h"
#include "cni/ipam/plugin.h"

/* The one handler behind every verb: config first, then the allocator. */
static int ipam_verb(const struct vp_cni_request *req, struct vp_cni_result *result,
		     struct vp_error *err)
{
	struct vp_ipam_config cfg;
	int ret;

	if ((ret = vp_ipam_config_parse(req->config, &cfg, err)))
		return ret;
	switch (req->command) {
	case VP_CNI_ADD:
		ret = vp_ipam_config_requested(&cfg, req->runtime_config, req->args,
					       vp_cni_env_arg(req, "IP"), err);
		if (ret == 0)
			ret = vp_ipam_add(&cfg, req->container_id, req->ifname, result, err);
		break;
	case VP_CNI_DEL:
		ret = vp_ipam_del(&cfg, req->container_id, req->ifname, err);
		break;
	case VP_CNI_CHECK:
		ret = vp_ipam_check(&cfg, req->container_id, req->ifname, req->prev, err);
		break;
	case VP_CNI_STATUS:
		ret = vp_ipam_status(&cfg, err);
		break;
	case VP_CNI_GC:
		ret = vp_ipam_gc(&cfg, req->valid, req->n_valid, err);
		break;
	default:
		ret = vp_error_set(err, EINVAL, "vnet-ipam: no handler for %s",
				   vp_cni_command_name(req->command));
	}
	vp_ipam_config_free(&cfg);
	return ret;
}

const struct vp_cni_plugin vp_ipam_plugin = {
	.name = "vnet-ipam",
	.ipam = true,
	.add = ipam_verb,
	.del = ipam_verb,
	.check = ipam_verb,
	.status = ipam_verb,
	.gc = ipam_verb,
};
