/* used.h - which addresses of a range are taken, and the round-robin search
 * for a free one.
 *
 * A bitmap covers the first VP_IPAM_BITMAP_MAX addresses of every range
 * (all of an IPv4 /8); the rest of a larger range (IPv6) keeps its taken
 * addresses in a hash set, which round-robin allocation reaches only after
 * that many addresses.  The bitmap is mapped anonymous memory: zero pages
 * the kernel provides only where allocations sit or a search passes, so a
 * lookup or a mark costs the same with 10 or 10,000 allocations and fresh
 * memory stays a few pages.  The search scans the bitmap a word at a time.
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
	uint64_t size;                   /* addresses the bitmap covers, from r->start */
	struct vp_ip last;               /* the last of them */
	bool beyond;                     /* r extends past last */
	uint64_t *bits;                  /* mmap'd, size bits rounded up to a page */
	size_t bits_len;
	struct vp_ip *hash;              /* taken addresses past last: open addressing, */
	size_t hash_cap, hash_n;         /* family 0 = empty slot */
};

/* Prepare u for r (which must outlive u): empty.  -ENOMEM on failure
 * (u is then zeroed). */
int vp_ipam_used_init(struct vp_ipam_used *u, const struct vp_ipam_range *r) VP_MUST_CHECK;

/* Free u's memory; accepts a zeroed u. */
void vp_ipam_used_exit(struct vp_ipam_used *u);

/* Whether ip lies in u's range (cheaper than vp_ipam_range_contains). */
bool vp_ipam_used_contains(const struct vp_ipam_used *u, const struct vp_ip *ip);

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
