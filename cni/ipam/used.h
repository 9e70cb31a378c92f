/* used.h - which addresses of a range are taken, and the round-robin search
 * for a free one.
 *
 * A range of up to VP_IPAM_BITMAP_MAX addresses keeps a bitmap (a /8 costs
 * 2 MiB of address space, but calloc maps it lazily, so only the words near
 * allocations are ever touched); a larger one (IPv6) keeps a hash set of the
 * taken addresses.  Either way a lookup costs the same with 10 or 10,000
 * allocations, and the search scans the bitmap a word at a time.
 */
#ifndef VP_IPAM_USED_H
#define VP_IPAM_USED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/inet.h"
#include "cni/ipam/range.h"

#define VP_IPAM_BITMAP_MAX (1u << 24)

struct vp_ipam_used {
	const struct vp_ipam_range *r;   /* borrowed */
	uint64_t size;                   /* addresses in r when bitmapped */
	uint64_t *bits;                  /* NULL: the range uses the hash set */
	struct vp_ip *hash;              /* open addressing; family 0 = empty slot */
	size_t hash_cap, hash_n;
};

/* Prepare u for r (which must outlive u): empty.  -ENOMEM on failure. */
int vp_ipam_used_init(struct vp_ipam_used *u, const struct vp_ipam_range *r) VP_MUST_CHECK;

/* Free u's memory; accepts a zeroed u. */
void vp_ipam_used_exit(struct vp_ipam_used *u);

/* Whether ip (which must lie in u's range) is taken. */
bool vp_ipam_used_test(const struct vp_ipam_used *u, const struct vp_ip *ip);

/* Mark ip (in u's range) taken: 0, -EEXIST when it already was, -ENOMEM. */
int vp_ipam_used_set(struct vp_ipam_used *u, const struct vp_ip *ip) VP_MUST_CHECK;

/* Find a free address of a range set whose ranges' maps are used[0..n), in
 * the order of the set, starting after cursor (family 0 or outside the set:
 * at the first range's start) and wrapping around, skipping each range's
 * gateway.  0 with *out, or -ENOSPC when every address is taken. */
int vp_ipam_used_find_free(const struct vp_ipam_used *used, size_t n, const struct vp_ip *cursor,
			   struct vp_ip *out) VP_MUST_CHECK;

#endif
