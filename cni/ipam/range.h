/* range.h - address ranges and range sets of the IPAM allocator.
 *
 * A range is [start, end] inside one subnet, with a gateway that is never
 * handed out.  A range set is one or more ranges of one family; a container
 * gets one address per range set (used.h finds a free one).
 */
#ifndef VP_IPAM_RANGE_H
#define VP_IPAM_RANGE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"

struct vp_ipam_range {
	struct vp_prefix subnet;   /* the network address and its prefix length */
	struct vp_ip start, end;   /* inclusive */
	struct vp_ip gateway;      /* never allocated; defaults to network + 1 */
};

struct vp_ipam_rangeset {
	struct vp_ipam_range *ranges;
	size_t n;
};

/* Fill r from parsed parts, applying host-local's defaults: start = network+1,
 * end = broadcast-1 (IPv4) or the last address (IPv6), gateway = network+1.
 * Absent parts have family 0.  Errors name path (code 7); r is then unusable. */
int vp_ipam_range_init(struct vp_ipam_range *r, const struct vp_prefix *subnet,
		       const struct vp_ip *start, const struct vp_ip *end,
		       const struct vp_ip *gateway, const char *path,
		       struct vp_error *err) VP_MUST_CHECK;

/* Whether ip lies in [r->start, r->end]. */
bool vp_ipam_range_contains(const struct vp_ipam_range *r, const struct vp_ip *ip);

/* Check a set: one family, no two ranges overlapping (code 7, naming path). */
int vp_ipam_rangeset_validate(const struct vp_ipam_rangeset *set, const char *path,
			      struct vp_error *err) VP_MUST_CHECK;

/* The range of set holding ip, or NULL. */
const struct vp_ipam_range *vp_ipam_rangeset_find(const struct vp_ipam_rangeset *set,
						  const struct vp_ip *ip);

/* Whether any range of a overlaps any range of b. */
bool vp_ipam_rangeset_overlaps(const struct vp_ipam_rangeset *a, const struct vp_ipam_rangeset *b);

/* Describe set as "10.1.0.1-10.1.0.254,..." into buf; returns buf. */
const char *vp_ipam_rangeset_str(const struct vp_ipam_rangeset *set, char *buf, size_t size);

#endif
