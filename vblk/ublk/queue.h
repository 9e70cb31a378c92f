/* queue.h - one ublk hardware queue: a thread with its own io_uring
 * (vblk/engine.h) that carries both the UBLK_IO_* commands on /dev/ublkcN
 * and the image I/O.  Every tag owns a buffer of max_io_buf_bytes that the
 * kernel copies request data into (writes) or out of (reads).
 *
 * Per tag: FETCH_REQ; when it completes, read the descriptor from the
 * read-only mmap of /dev/ublkcN, decode it (vblk/ublk/desc.h), do the I/O,
 * then COMMIT_AND_FETCH_REQ with the result.  A tag ends when the kernel
 * answers UBLK_IO_RES_ABORT (device stopped) or its command fails.
 */
#ifndef VP_VBLK_UBLK_QUEUE_H
#define VP_VBLK_UBLK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vblk/image.h"

struct vp_ublk_queue_config {
	int cdev_fd;              /* /dev/ublkcN, owned by the caller */
	uint16_t qid;
	uint16_t depth;           /* tags 0..depth-1 */
	uint32_t buf_bytes;       /* per-tag buffer (the device's max_io_buf_bytes) */
	bool ioctl_encode;        /* command encoding (vblk/ublk/ctrl.h) */
	struct vp_image *img;     /* outlives the queue */
};

struct vp_ublk_queue;

/* Start the queue thread and wait until it has issued FETCH_REQ for every
 * tag (or failed to).  *out is NULL on failure, with nothing left. */
VP_MUST_CHECK int vp_ublk_queue_start(const struct vp_ublk_queue_config *cfg,
				      struct vp_ublk_queue **out, struct vp_error *err);

/* Tell the thread to finish once no image I/O is in flight (call after
 * STOP_DEV, when the kernel has no request left for it), join it and free
 * q.  Commands still outstanding are cancelled by the ring's teardown.
 * NULL is accepted. */
void vp_ublk_queue_free(struct vp_ublk_queue *q);

#endif
