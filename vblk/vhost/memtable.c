/* memtable.c - guest memory regions and bounds-checked address translation. */
#include "vblk/vhost/memtable.h"

#include <errno.h>
#include <string.h>

static int overlaps(const struct vp_memtable *mt, uint64_t gpa, uint64_t size)
{
	for (unsigned i = 0; i < VP_MEMTABLE_MAX; i++) {
		const struct vp_mem_region *r = &mt->r[i];

		if (r->host && gpa < r->gpa + r->size && r->gpa < gpa + size)
			return 1;
	}
	return 0;
}

static struct vp_mem_region *free_slot(struct vp_memtable *mt)
{
	for (unsigned i = 0; i < VP_MEMTABLE_MAX; i++)
		if (!mt->r[i].host)
			return &mt->r[i];
	return NULL;
}

static int check_range(const struct vp_memtable *mt, uint64_t gpa, uint64_t uva, uint64_t size)
{
	if (size == 0 || gpa + size < gpa || uva + size < uva || size > SIZE_MAX)
		return -EINVAL;
	return overlaps(mt, gpa, size) ? -EEXIST : 0;
}

int vp_memtable_add(struct vp_memtable *mt, const struct vp_vhost_region *desc, int fd,
		    struct vp_error *err)
{
	struct vp_mem_region *r = free_slot(mt);
	uint64_t len = desc->mmap_offset + desc->size;
	int ret = check_range(mt, desc->gpa, desc->uva, desc->size);

	if (ret || len < desc->size || len > SIZE_MAX)
		return vp_error_set(err, ret ? -ret : EINVAL,
				    "memory region gpa=0x%llx size=0x%llx: bad or overlapping range",
				    (unsigned long long)desc->gpa, (unsigned long long)desc->size);
	if (!r)
		return vp_error_set(err, ENOSPC, "memory table full (%d regions)", VP_MEMTABLE_MAX);
	if (len > VP_MEMTABLE_MAX_BYTES - mt->mapped)
		return vp_error_set(err, E2BIG, "memory regions would map more than %llu bytes",
				    (unsigned long long)VP_MEMTABLE_MAX_BYTES);
	/* Map from offset 0 like libvhost-user: mmap_offset need not be
	 * page-aligned; the fd must hold offset + size bytes. */
	ret = vp_guestmap_open(&r->map, fd, 0, len, mt->sink, "memory region", err);
	if (ret)
		return ret;
	r->gpa = desc->gpa;
	r->size = desc->size;
	r->uva = desc->uva;
	r->host = (unsigned char *)r->map.addr + desc->mmap_offset;
	mt->mapped += len;
	mt->n++;
	return 0;
}

int vp_memtable_add_host(struct vp_memtable *mt, uint64_t gpa, uint64_t uva, void *host,
			 uint64_t size)
{
	struct vp_mem_region *r = free_slot(mt);
	int ret = check_range(mt, gpa, uva, size);

	if (ret)
		return ret;
	if (!r)
		return -ENOSPC;
	*r = (struct vp_mem_region){ .gpa = gpa, .size = size, .uva = uva, .host = host,
				     .map = { .slot = -1 } };
	mt->n++;
	return 0;
}

static void drop(struct vp_memtable *mt, struct vp_mem_region *r)
{
	mt->mapped -= r->map.len;
	vp_guestmap_close(&r->map);
	memset(r, 0, sizeof(*r));
	mt->n--;
}

int vp_memtable_remove(struct vp_memtable *mt, const struct vp_vhost_region *desc)
{
	for (unsigned i = 0; i < VP_MEMTABLE_MAX; i++) {
		struct vp_mem_region *r = &mt->r[i];

		if (r->host && r->gpa == desc->gpa && r->size == desc->size && r->uva == desc->uva) {
			drop(mt, r);
			return 0;
		}
	}
	return -ENOENT;
}

void vp_memtable_clear(struct vp_memtable *mt)
{
	for (unsigned i = 0; i < VP_MEMTABLE_MAX; i++)
		if (mt->r[i].host)
			drop(mt, &mt->r[i]);
}

/* The region holding addr (by gpa or uva), with the bytes left in it. */
static const struct vp_mem_region *find(const struct vp_memtable *mt, uint64_t addr, int by_uva,
					uint64_t *off)
{
	for (unsigned i = 0; i < VP_MEMTABLE_MAX; i++) {
		const struct vp_mem_region *r = &mt->r[i];
		uint64_t base = by_uva ? r->uva : r->gpa;

		if (r->host && addr >= base && addr - base < r->size) {
			*off = addr - base;
			return r;
		}
	}
	return NULL;
}

static void *translate(const struct vp_memtable *mt, uint64_t addr, uint64_t len, int by_uva)
{
	uint64_t off;
	const struct vp_mem_region *r = find(mt, addr, by_uva, &off);

	if (!r || len > r->size - off)
		return NULL;
	return r->host + off;
}

void *vp_memtable_gpa(const struct vp_memtable *mt, uint64_t gpa, uint64_t len)
{
	return translate(mt, gpa, len, 0);
}

void *vp_memtable_uva(const struct vp_memtable *mt, uint64_t uva, uint64_t len)
{
	return translate(mt, uva, len, 1);
}

int vp_memtable_iov(const struct vp_memtable *mt, uint64_t gpa, uint32_t len, struct iovec *iov,
		    unsigned *n, unsigned max)
{
	if (gpa + len < gpa)
		return -EFAULT;
	while (len) {
		uint64_t off, chunk;
		const struct vp_mem_region *r = find(mt, gpa, 0, &off);

		if (!r)
			return -EFAULT;
		if (*n >= max)
			return -E2BIG;
		chunk = r->size - off < len ? r->size - off : len;
		iov[*n].iov_base = r->host + off;
		iov[*n].iov_len = (size_t)chunk;
		(*n)++;
		gpa += chunk;
		len -= (uint32_t)chunk;
	}
	return 0;
}
