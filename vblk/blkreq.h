/* blkreq.h - one block request on an image, with the semantics that the
 * NBD, vhost-user and ublk frontends share: read, write, flush, discard and
 * write-zeroes on the caller's engine, FUA, the sticky writeback error,
 * short I/O resumed, reads past the end of the file.  A frontend decodes
 * its protocol (and checks ranges, alignment, read-only), fills a struct
 * vp_blkreq embedded in its own request state and translates the result
 * back; the I/O decisions are made here only.
 *
 *   READ          data into buf or iov; bytes past the end of the file (it
 *                 shrank behind the daemon's back) read as zeroes
 *   WRITE         data from buf or iov; FUA writes with RWF_DSYNC
 *   FLUSH         fdatasync of the image (covers every connection's writes)
 *   DISCARD       punch a hole; advisory: unsupported is success
 *   WRITE_ZEROES  MAY_UNMAP: punch a hole, else (and when punching is not
 *                 supported) FALLOC_FL_ZERO_RANGE; a file that cannot
 *                 zero a range is punched and reallocated; a block device
 *                 whose ZERO_RANGE fails, or a file that can do neither, is
 *                 written with zero buffers.  FAST_ZERO fails with -ENOTSUP
 *                 instead of taking a slow path: only a punch (file or
 *                 block device, where it is the device's own write-zeroes
 *                 or unmap) or a file's ZERO_RANGE is fast.
 *   FUA           on WRITE, DISCARD and WRITE_ZEROES: durable when done.
 *
 * After a failed fdatasync, or a FUA write failing with EIO, the image's
 * writeback error is set (vp_image_wb_fail); from then on FLUSH and FUA
 * requests fail with -EIO before any I/O.
 *
 * No allocation and no syscall beyond the request's own I/O.  One thread
 * per engine, as the engine.
 */
#ifndef VP_VBLK_BLKREQ_H
#define VP_VBLK_BLKREQ_H

#include <stdint.h>
#include <sys/uio.h>

#include "vblk/engine.h"
#include "vblk/image.h"

enum vp_blkreq_type {
	VP_BLKREQ_READ,
	VP_BLKREQ_WRITE,
	VP_BLKREQ_FLUSH,
	VP_BLKREQ_DISCARD,
	VP_BLKREQ_WRITE_ZEROES,
};

#define VP_BLKREQ_FUA       (1U << 0) /* durable before completion */
#define VP_BLKREQ_MAY_UNMAP (1U << 1) /* WRITE_ZEROES: may leave a hole */
#define VP_BLKREQ_FAST_ZERO (1U << 2) /* WRITE_ZEROES: -ENOTSUP rather than a slow path */

struct vp_blkreq;
/* The request ended: res is 0 or -errno. */
typedef void (*vp_blkreq_done_fn)(struct vp_blkreq *r, int res);

struct vp_blkreq {
	/* set by the frontend before vp_blkreq_start */
	struct vp_engine *eng;
	const struct vp_image *img;
	int file;                  /* img->fd's registered index on eng */
	vp_blkreq_done_fn done;
	enum vp_blkreq_type type;
	unsigned flags;            /* VP_BLKREQ_* */
	uint64_t offset, len;      /* bytes, inside the image (the frontend checked) */
	/* READ/WRITE data: buf (registered with eng as buf_idx when >= 0), or
	 * when buf is NULL the iovcnt buffers at iov, which the request
	 * advances in place on short I/O.  len is their total. */
	unsigned char *buf;
	int buf_idx;
	struct iovec *iov;
	unsigned iovcnt;
	/* the layer's own */
	struct vp_engine_op op;
	uint64_t done_bytes;       /* READ/WRITE/zero buffers: bytes completed */
	int step;
};

/* Start r.  Returns 0 when it was queued (r->done runs once, from a later
 * engine turn), 1 when it is complete at once (nothing to do; done is not
 * called), or -errno when it failed before any I/O (done is not called). */
VP_MUST_CHECK int vp_blkreq_start(struct vp_blkreq *r);

#endif
