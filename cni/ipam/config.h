/* config.h - the "ipam" section of a CNI config, host-local compatible:
 * ranges (or the legacy top-level subnet), routes, dataDir, resolvConf, and
 * the addresses a runtime requests (runtimeConfig.ips, args.cni.ips,
 * CNI_ARGS IP=).
 */
#ifndef VP_IPAM_CONFIG_H
#define VP_IPAM_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"
#include "cni/core/result.h"
#include "cni/ipam/range.h"

#define VP_IPAM_DEFAULT_DATA_DIR "/var/lib/cni/networks"

struct vp_ipam_config {
	char *network;                   /* config "name": one directory under data_dir */
	char *data_dir;
	struct vp_ipam_rangeset *sets;   /* one address per set */
	size_t n_sets;
	struct vp_cni_route *routes;
	size_t n_routes;
	json_t *dns;                     /* from resolvConf; NULL when not configured */
	struct vp_ip *requested;         /* n_sets entries; family 0: none requested */
};

/* Parse and validate config (the whole plugin config; "name" and "ipam" are
 * read).  Errors name the JSON path and carry code 7.  On failure *out is
 * left empty; on success free it with vp_ipam_config_free(). */
int vp_ipam_config_parse(const json_t *config, struct vp_ipam_config *out,
			 struct vp_error *err) VP_MUST_CHECK;

/* Record requested addresses from runtime_config "ips", args "cni.ips" and
 * env_ips ("a,b" from CNI_ARGS IP=); each may be NULL.  An address may carry
 * a "/len" suffix, which is ignored.  Every address must lie in a range set
 * (not on its gateway), at most one per set; otherwise code 7. */
int vp_ipam_config_requested(struct vp_ipam_config *cfg, const json_t *runtime_config,
			     const json_t *args, const char *env_ips,
			     struct vp_error *err) VP_MUST_CHECK;

/* Free the contents; accepts a zeroed or partly filled config. */
void vp_ipam_config_free(struct vp_ipam_config *cfg);

#endif
