/* image.h - disk images: raw files and block devices that vblkd exports.
 *
 * An image is opened once per process and shared read-only by every worker
 * (each worker registers img->fd in its own io_uring file table); data I/O
 * goes through the engine, not through this module.
 */
#ifndef VP_VBLK_IMAGE_H
#define VP_VBLK_IMAGE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vblk/image_file.h"

#define VP_IMAGE_READONLY (1U << 0) /* open O_RDONLY; writes are refused */
#define VP_IMAGE_DIRECT   (1U << 1) /* O_DIRECT (cache=none): I/O aligned to min_block */

struct vp_image {
	int fd;
	uint64_t size;       /* bytes */
	uint32_t min_block;  /* smallest I/O unit clients must respect (1 when cached) */
	bool readonly;
	bool direct;
	bool blockdev;       /* a block device (no resize, no SEEK_HOLE map) */
	/* The sticky writeback error, shared by every handle of the same file
	 * in the process (NBD, vhost-user and ublk each open their own):
	 * the errno of the first failed fdatasync or FUA (RWF_DSYNC) write, 0
	 * while there was none.  The kernel reports a lost writeback once per
	 * open file (the pages are then clean and their data gone), so a later
	 * sync would succeed; this keeps every later FLUSH and FUA write
	 * failing until the image is reopened (its last handle closed).  Read
	 * and set with vp_image_wb_error, vp_image_wb_fail. */
	struct vp_image_file *file;
};

/* -EIO once a writeback error was recorded on img, else 0: what a FLUSH or
 * FUA write must answer before it is even tried. */
static inline int vp_image_wb_error(const struct vp_image *img)
{
	return __atomic_load_n(&img->file->wb_err, __ATOMIC_ACQUIRE) ? -EIO : 0;
}

/* Record that a sync of img failed with -res (res < 0); the first error
 * sticks, for every handle of img's file.  Any thread: only the shared
 * record is written, atomically. */
void vp_image_wb_fail(const struct vp_image *img, int res);

/* fdatasync a writable img (read-only: nothing to do) before it is closed:
 * 0, or -errno of the failed sync (recorded as img's writeback error), or
 * -EIO when a writeback error was recorded before (data was lost).  Blocks
 * for as long as the sync takes. */
VP_MUST_CHECK int vp_image_sync(const struct vp_image *img);

/* Whether fd is a regular file on tmpfs or ramfs, whose I/O is a memory
 * copy that never waits for a device. */
bool vp_fd_memory_backed(int fd);

struct vp_image_root;

/* Open the raw file or block device at path with VP_IMAGE_* flags, resolved
 * beneath root (NULL: none) by vp_image_path_open (vblk/image_path.h: no
 * symlink, no FIFO or other non-image, never blocking on open).  On
 * success *out owns the fd (free with vp_image_close); on failure *out is
 * NULL and err says what failed.  Paths a user gave go through the
 * daemon's root: use the _at form for them. */
VP_MUST_CHECK int vp_image_open_at(const struct vp_image_root *root, const char *path,
				   unsigned flags, struct vp_image **out, struct vp_error *err);

/* vp_image_open_at without a root. */
VP_MUST_CHECK int vp_image_open(const char *path, unsigned flags, struct vp_image **out,
				struct vp_error *err);

/* Writable images are held with a shared flock on the fd that does their
 * I/O.  The kernel drops that lock only when the last reference to the open
 * file goes, and requests still in flight in an io_uring hold one, so the
 * lock outlives a SIGKILLed daemon until its last write has landed.
 *
 * Wait (up to timeout_ms) until no other process holds path that way, so a
 * restarted daemon cannot complete new writes that a stale write from its
 * predecessor would then overwrite; also keeps two daemons from serving one
 * image.  Call before opening the image in this process.  -EBUSY on timeout. */
VP_MUST_CHECK int vp_image_claim_at(const struct vp_image_root *root, const char *path,
				    unsigned timeout_ms, struct vp_error *err);

/* vp_image_claim_at without a root. */
VP_MUST_CHECK int vp_image_claim(const char *path, unsigned timeout_ms, struct vp_error *err);

/* Close the image and free it; NULL is accepted. */
void vp_image_close(struct vp_image *img);

/* Create a new sparse raw image of size bytes at path (fails with -EEXIST
 * when path exists; nothing is left behind on failure); no root: see
 * vp_image_path_create for one. */
VP_MUST_CHECK int vp_image_create(const char *path, uint64_t size, struct vp_error *err);

/* Grow or shrink a raw file image to size bytes (block devices: -ENOTSUP).
 * With O_DIRECT the size must stay a multiple of min_block. */
VP_MUST_CHECK int vp_image_resize(struct vp_image *img, uint64_t size, struct vp_error *err);

/* Allocation map: describe the extent that starts at offset (< img->size).
 * *len is its length, at most max_len (> 0); *hole is true when it is an
 * unallocated range that reads as zeroes.  Images without SEEK_HOLE support
 * report data.  Returns 0 or -errno. */
VP_MUST_CHECK int vp_image_extent(const struct vp_image *img, uint64_t offset, uint64_t max_len,
				  uint64_t *len, bool *hole);

#endif
