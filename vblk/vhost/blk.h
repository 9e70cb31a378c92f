/* blk.h - virtio-blk over vhost-user: feature bits, config space, and
 * request execution.  A request is decoded from a popped chain (header,
 * data, status byte; every length and sector checked against the image),
 * then runs on the queue thread's engine directly on the guest's pages
 * (readv/writev, no copy); when it ends the status byte is written and
 * r->complete() runs.
 */
#ifndef VP_VBLK_VHOST_BLK_H
#define VP_VBLK_VHOST_BLK_H

#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdint.h>

#include "vblk/blkreq.h"
#include "vblk/engine.h"
#include "vblk/image.h"
#include "vblk/vhost/vring.h"

#define VP_BLK_SEG_MAX 126             /* data segments per request (config seg_max) */
#define VP_BLK_SIZE_MAX (1U << 20)     /* bytes per segment (config size_max) */
#define VP_BLK_MAX_IOV 160             /* iovecs per chain: seg_max + header/status + splits */
#define VP_BLK_MAX_DISCARD_SECTORS (1U << 22)
#define VP_BLK_ID_BYTES 20

/* One export as the queues see it (shared by all queue threads). */
struct vp_blk_dev {
	struct vp_image *img;          /* img->size is re-read per request */
	const char *serial;            /* GET_ID answer (first 20 bytes) */
	uint16_t num_queues;
	uint8_t writeback;             /* config wce: 0 = writes are FUA; atomic access */
};

struct vp_blk_req;
typedef void (*vp_blk_complete_fn)(struct vp_blk_req *r);

struct vp_blk_req {
	struct vp_blkreq blk;          /* the request as the block layer runs it */
	const struct vp_blk_dev *bd;
	struct vp_engine *eng;
	int file;                      /* image's registered index on eng */
	vp_blk_complete_fn complete;   /* set by the owner */
	struct vp_vring_elem elem;     /* elem.iov = iov, elem.max_iov = VP_BLK_MAX_IOV */
	struct iovec iov[VP_BLK_MAX_IOV];
	/* decoded */
	uint32_t type;
	uint8_t *status;
	struct iovec *data;
	unsigned ndata;
	uint64_t offset;               /* bytes */
	uint64_t len;                  /* data bytes, or range bytes for discard/zeroes */
	uint32_t written;              /* bytes written into guest buffers (used len) */
};

/* Virtio feature bits this export offers (without transport bits). */
uint64_t vp_blk_features(const struct vp_blk_dev *bd);

/* Fill the config space as of now (capacity from img->size). */
void vp_blk_config(const struct vp_blk_dev *bd, struct virtio_blk_config *cfg);

/* Apply a config write of size bytes at offset: only `writeback` is
 * writable.  Returns 0 or -EINVAL. */
VP_MUST_CHECK int vp_blk_set_config(struct vp_blk_dev *bd, uint32_t offset, const uint8_t *data,
				    uint32_t size);

/* Run the request in r->elem (popped or recovered).  Always ends in exactly
 * one r->complete(r) call, possibly before returning; afterwards
 * r->written is the used length.  Returns 0, or -EPROTO when the chain has
 * no room for a status byte (nothing can be reported to the guest:
 * complete is not called and the caller should stop the device). */
VP_MUST_CHECK int vp_blk_start(struct vp_blk_req *r);

#endif
