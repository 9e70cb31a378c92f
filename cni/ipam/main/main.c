/* main.c - vnet-ipam: vplumb's host-local compatible IPAM plugin.  Each verb
 * parses the "ipam" config and hands it to the allocator (cni/ipam). */
#include "cni/core/cni.h"
#include "cni/ipam/allocator.h"
#include "cni/ipam/config.h"

static int ipam_add(const struct vp_cni_request *req, struct vp_cni_result *result,
		    struct vp_error *err)
{
	struct vp_ipam_config cfg;
	int ret;

	if ((ret = vp_ipam_config_parse(req->config, &cfg, err)))
		return ret;
	ret = vp_ipam_config_requested(&cfg, req->runtime_config, req->args,
				       vp_cni_env_arg(req, "IP"), err);
	if (ret == 0)
		ret = vp_ipam_add(&cfg, req->container_id, req->ifname, result, err);
	vp_ipam_config_free(&cfg);
	return ret;
}

static int ipam_del(const struct vp_cni_request *req, struct vp_cni_result *result,
		    struct vp_error *err)
{
	struct vp_ipam_config cfg;
	int ret;

	(void)result;
	if ((ret = vp_ipam_config_parse(req->config, &cfg, err)))
		return ret;
	ret = vp_ipam_del(&cfg, req->container_id, req->ifname, err);
	vp_ipam_config_free(&cfg);
	return ret;
}

static int ipam_check(const struct vp_cni_request *req, struct vp_cni_result *result,
		      struct vp_error *err)
{
	struct vp_ipam_config cfg;
	int ret;

	(void)result;
	if ((ret = vp_ipam_config_parse(req->config, &cfg, err)))
		return ret;
	ret = vp_ipam_check(&cfg, req->container_id, req->ifname, req->prev, err);
	vp_ipam_config_free(&cfg);
	return ret;
}

static int ipam_status(const struct vp_cni_request *req, struct vp_cni_result *result,
		       struct vp_error *err)
{
	struct vp_ipam_config cfg;
	int ret;

	(void)result;
	if ((ret = vp_ipam_config_parse(req->config, &cfg, err)))
		return ret;
	ret = vp_ipam_status(&cfg, err);
	vp_ipam_config_free(&cfg);
	return ret;
}

static int ipam_gc(const struct vp_cni_request *req, struct vp_cni_result *result,
		   struct vp_error *err)
{
	struct vp_ipam_config cfg;
	int ret;

	(void)result;
	if ((ret = vp_ipam_config_parse(req->config, &cfg, err)))
		return ret;
	ret = vp_ipam_gc(&cfg, req->valid, req->n_valid, err);
	vp_ipam_config_free(&cfg);
	return ret;
}

static const struct vp_cni_plugin vnet_ipam = {
	.name = "vnet-ipam",
	.add = ipam_add,
	.del = ipam_del,
	.check = ipam_check,
	.status = ipam_status,
	.gc = ipam_gc,
};

int main(void)
{
	return vp_cni_main(&vnet_ipam);
}
