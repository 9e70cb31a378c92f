/* allocator.h - the IPAM verbs over a parsed config and the network's store.
 *
 * Reservations are keyed by (container ID, ifname).  Every verb takes the
 * store's lock for its whole run, and a changing verb makes its change
 * durable before it returns success.
 */
#ifndef VP_IPAM_ALLOCATOR_H
#define VP_IPAM_ALLOCATOR_H

#include <stddef.h>

#include "common/error.h"
#include "cni/core/cni.h"
#include "cni/core/result.h"
#include "cni/ipam/config.h"

/* Reserve one address per range set for (cid, ifname) and fill *out (ips
 * with subnet prefix and gateway, routes, dns; no interfaces).  A key that
 * already holds an address in a range set is refused (code 103): the same
 * key ADDed again without DEL may be another pod, which must not get the
 * same address.  All or nothing: on failure nothing is reserved.  Errors:
 * code 101 when a range set is exhausted, 11 when a requested address
 * belongs to someone else, 5 for store failures.
 * *out must be empty; it is left empty on failure. */
int vp_ipam_add(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		struct vp_cni_result *out, struct vp_error *err) VP_MUST_CHECK;

/* Release every address of (cid, ifname); holding none is success. */
int vp_ipam_del(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		struct vp_error *err) VP_MUST_CHECK;

/* Verify (cid, ifname) holds addresses and every address of prev that lies
 * in a range set of cfg; code 3 otherwise, 7 when prev is NULL. */
int vp_ipam_check(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		  const struct vp_cni_result *prev, struct vp_error *err) VP_MUST_CHECK;

/* Release every allocation whose key is not in valid[0..n_valid). */
int vp_ipam_gc(const struct vp_ipam_config *cfg, const struct vp_cni_attachment *valid,
	       size_t n_valid, struct vp_error *err) VP_MUST_CHECK;

/* Ready for ADD: the store opens and loads, and every range set has a free
 * address.  Failures carry code 50 and name the exhausted range set. */
int vp_ipam_status(const struct vp_ipam_config *cfg, struct vp_error *err) VP_MUST_CHECK;

#endif
