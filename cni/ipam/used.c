/* used.c - taken addresses of a range (bitmap, and a hash set past it) and
 * the search for a free one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cni/ipam/used.h"

#define PAGE 4096u

int vp_ipam_used_init(struct vp_ipam_used *u, const struct vp_ipam_range *r)
{
	int64_t last;
	void *bits;

	memset(u, 0, sizeof(*u));
	u->r = r;
	u->beyond = vp_ip_diff(&r->start, &r->end, &last) || (uint64_t)last >= VP_IPAM_BITMAP_MAX;
	u->size = u->beyond ? VP_IPAM_BITMAP_MAX : (uint64_t)last + 1;
	u->last = r->end;
	if (u->beyond && vp_ip_add(&r->start, (int64_t)u->size - 1, &u->last))
		return -ERANGE;   /* cannot happen: the range goes further */
	/* Not calloc: it may memset (fault in) every page of a recycled chunk. */
	u->bits_len = ((size_t)(u->size + 63) / 64 * 8 + PAGE - 1) / PAGE * PAGE;
	bits = mmap(NULL, u->bits_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bits == MAP_FAILED) {
		memset(u, 0, sizeof(*u));
		return -ENOMEM;
	}
	u->bits = bits;
	return 0;
}

void vp_ipam_used_exit(struct vp_ipam_used *u)
{
	if (u->bits)
		munmap(u->bits, u->bits_len);
	free(u->hash);
	memset(u, 0, sizeof(*u));
}

/* The offset from the range start of ip, which lies under the bitmap.
 * That holds at most 2^24 addresses, so the low 32 bits of the difference
 * are all of it. */
static uint64_t offset(const struct vp_ipam_used *u, const struct vp_ip *ip)
{
	int k = ip->family == AF_INET ? 0 : 12;
	const uint8_t *a = ip->addr + k, *s = u->r->start.addr + k;
	uint32_t va = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	uint32_t vs = (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];

	return (uint32_t)(va - vs);
}

static size_t ip_hash(const struct vp_ip *ip)
{
	uint64_t a, b, h;

	memcpy(&a, ip->addr, 8);
	memcpy(&b, ip->addr + 8, 8);
	h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
	return (size_t)(h ^ (h >> 29));
}

/* The slot holding ip, or the empty slot where it would go (hash_cap > 0). */
static size_t slot(const struct vp_ip *hash, size_t cap, const struct vp_ip *ip)
{
	size_t i = ip_hash(ip) & (cap - 1);

	while (hash[i].family && !vp_ip_equal(&hash[i], ip))
		i = (i + 1) & (cap - 1);
	return i;
}

static int hash_grow(struct vp_ipam_used *u)
{
	size_t cap = u->hash_cap ? u->hash_cap * 2 : 64;
	struct vp_ip *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < u->hash_cap; i++)
		if (u->hash[i].family)
			n[slot(n, cap, &u->hash[i])] = u->hash[i];
	free(u->hash);
	u->hash = n;
	u->hash_cap = cap;
	return 0;
}

/* Whether ip, in u's range, lies under the bitmap. */
static bool in_bitmap(const struct vp_ipam_used *u, const struct vp_ip *ip)
{
	return !u->beyond || vp_ip_cmp(ip, &u->last) <= 0;
}

bool vp_ipam_used_contains(const struct vp_ipam_used *u, const struct vp_ip *ip)
{
	if (ip->family != u->r->start.family)
		return false;
	if (!u->beyond && ip->family == AF_INET)
		return offset(u, ip) < u->size;   /* below start wraps to a huge offset */
	return vp_ipam_range_contains(u->r, ip);
}

bool vp_ipam_used_test(const struct vp_ipam_used *u, const struct vp_ip *ip)
{
	uint64_t off;

	if (in_bitmap(u, ip)) {
		off = offset(u, ip);
		return u->bits[off / 64] >> (off % 64) & 1;
	}
	return u->hash_cap && u->hash[slot(u->hash, u->hash_cap, ip)].family;
}

int vp_ipam_used_set(struct vp_ipam_used *u, const struct vp_ip *ip)
{
	uint64_t off;
	size_t i;

	if (vp_ipam_used_test(u, ip))
		return -EEXIST;
	if (in_bitmap(u, ip)) {
		off = offset(u, ip);
		u->bits[off / 64] |= 1ULL << (off % 64);
		return 0;
	}
	if ((u->hash_n + 1) * 2 > u->hash_cap && hash_grow(u))
		return -ENOMEM;
	i = slot(u->hash, u->hash_cap, ip);
	u->hash[i] = *ip;
	u->hash_n++;
	return 0;
}

/* The first clear bit in [lo, hi] other than skip. */
static bool bitmap_next(const uint64_t *bits, uint64_t lo, uint64_t hi, uint64_t skip,
			uint64_t *out)
{
	while (lo <= hi) {
		uint64_t clear = ~bits[lo / 64] & (~0ULL << (lo % 64)), off;

		if (!clear) {
			lo = (lo / 64 + 1) * 64;
			continue;
		}
		off = lo / 64 * 64 + (uint64_t)__builtin_ctzll(clear);
		if (off > hi)
			return false;
		if (off != skip) {
			*out = off;
			return true;
		}
		lo = off + 1;
	}
	return false;
}

/* The first free address of u's range in [lo, hi], skipping the gateway:
 * under the bitmap word by word, past it in at most hash_n + 2 steps. */
static bool next_free(const struct vp_ipam_used *u, const struct vp_ip *lo, const struct vp_ip *hi,
		      struct vp_ip *out)
{
	const struct vp_ip *gw = &u->r->gateway;
	struct vp_ip ip = *lo;
	uint64_t off;

	if (in_bitmap(u, lo)) {
		bool gw_in = vp_ipam_range_contains(u->r, gw) && in_bitmap(u, gw);
		uint64_t skip = gw_in ? offset(u, gw) : UINT64_MAX;
		uint64_t top = in_bitmap(u, hi) ? offset(u, hi) : u->size - 1;

		if (bitmap_next(u->bits, offset(u, lo), top, skip, &off))
			return vp_ip_add(&u->r->start, (int64_t)off, out) == 0;
		if (in_bitmap(u, hi) || vp_ip_add(&u->last, 1, &ip))
			return false;
	}
	while (vp_ip_cmp(&ip, hi) <= 0) {
		if (!vp_ip_equal(&ip, gw) && !vp_ipam_used_test(u, &ip)) {
			*out = ip;
			return true;
		}
		if (vp_ip_equal(&ip, hi) || vp_ip_add(&ip, 1, &ip))
			break;
	}
	return false;
}

int vp_ipam_used_find_free(const struct vp_ipam_used *used, size_t n, const struct vp_ip *cursor,
			   struct vp_ip *out)
{
	size_t first = 0;
	bool resume = false;

	for (size_t i = 0; cursor->family && i < n; i++)
		if (vp_ipam_range_contains(used[i].r, cursor)) {
			first = i;
			resume = true;
		}
	/* After the cursor to its range's end, every other range in order, then
	 * the cursor's range up to the cursor itself. */
	for (size_t k = 0; k < n + resume; k++) {
		const struct vp_ipam_used *u = &used[(first + k) % n];
		struct vp_ip lo = u->r->start, hi = u->r->end;

		if (k == 0 && resume && (vp_ip_cmp(cursor, &hi) >= 0 || vp_ip_add(cursor, 1, &lo)))
			continue;
		if (k == n)
			hi = *cursor;
		if (next_free(u, &lo, &hi, out))
			return 0;
	}
	return -ENOSPC;
}
