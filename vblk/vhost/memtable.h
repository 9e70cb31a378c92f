/* memtable.h - the guest memory table: regions mmapped from the front end's
 * fds, and the one choke point that turns guest-physical or front-end
 * virtual addresses into our pointers, bounds-checked against the regions.
 */
#ifndef VP_VBLK_VHOST_MEMTABLE_H
#define VP_VBLK_VHOST_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "vblk/vhost/guestmap.h"
#include "vblk/vhost/proto.h"

#define VP_MEMTABLE_MAX 32   /* regions (GET_MAX_MEM_SLOTS) */
/* Bytes mapped for one table: each region maps its fd from offset 0, and a
 * sparse memfd can claim any size, so without a cap one front end could
 * take the daemon's address space (47 bits: 64 tables of 1 TiB fit). */
#define VP_MEMTABLE_MAX_BYTES (1ULL << 40)

struct vp_mem_region {
	uint64_t gpa, size, uva;
	unsigned char *host;     /* gpa maps to host; NULL = unused slot */
	struct vp_guestmap map;  /* the fd's mapping (not for add_host buffers) */
};

struct vp_memtable {
	struct vp_mem_region r[VP_MEMTABLE_MAX];
	unsigned n;
	uint64_t mapped;         /* bytes of all region mappings */
	const struct vp_guestmap_sink *sink; /* told when a region's fd shrinks */
};

/* Map region desc from fd (the fd is not kept; the caller closes it) and add
 * it.  Rejects empty or wrapping ranges, ranges overlapping an existing
 * region in guest-physical space, and fds that are not regular files
 * holding mmap_offset + size bytes (vblk/vhost/guestmap.h).  Returns 0,
 * -ENOSPC (table full), -E2BIG (past VP_MEMTABLE_MAX_BYTES mapped),
 * -EINVAL, or -errno from fstat/mmap. */
VP_MUST_CHECK int vp_memtable_add(struct vp_memtable *mt, const struct vp_vhost_region *desc,
				  int fd, struct vp_error *err);

/* Add an already mapped buffer (tests, and nothing else).  host must stay
 * valid while in the table; it is not unmapped. */
VP_MUST_CHECK int vp_memtable_add_host(struct vp_memtable *mt, uint64_t gpa, uint64_t uva,
				       void *host, uint64_t size);

/* Remove the region matching desc's gpa, size and uva.  0 or -ENOENT. */
VP_MUST_CHECK int vp_memtable_remove(struct vp_memtable *mt, const struct vp_vhost_region *desc);

/* Unmap and forget every region. */
void vp_memtable_clear(struct vp_memtable *mt);

/* Pointer to [gpa, gpa+len) when the whole range lies inside one region,
 * NULL otherwise (also for len 0 wrapping checks). */
void *vp_memtable_gpa(const struct vp_memtable *mt, uint64_t gpa, uint64_t len);

/* Same for a front-end virtual address (ring addresses of SET_VRING_ADDR). */
void *vp_memtable_uva(const struct vp_memtable *mt, uint64_t uva, uint64_t len);

/* Map guest range [gpa, gpa+len) to iovecs, splitting at region borders.
 * Appends to iov[*n], never past max.  Returns 0, -EFAULT (unmapped or
 * wrapping), or -E2BIG (needs more than max entries). */
VP_MUST_CHECK int vp_memtable_iov(const struct vp_memtable *mt, uint64_t gpa, uint32_t len,
				  struct iovec *iov, unsigned *n, unsigned max);

#endif
