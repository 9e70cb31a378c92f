/* dev.h - a ublk export: the image served as /dev/ublkbN by this process,
 * one queue thread per hardware queue (vblk/ublk/queue.h), set up and torn
 * down through the control device (vblk/ublk/ctrl.h).
 *
 * No zero copy, no user copy, no recovery: the kernel copies request data
 * into per-tag buffers, and the device goes away with the daemon.
 */
#ifndef VP_VBLK_UBLK_DEV_H
#define VP_VBLK_UBLK_DEV_H

#include <stdint.h>

#include "common/error.h"
#include "vblk/image.h"

#define VP_UBLK_MAX_QUEUES 16
#define VP_UBLK_MAX_DEPTH 1024
#define VP_UBLK_DEFAULT_DEPTH 128         /* --ublk and ublk-add without depth= */
#define VP_UBLK_IO_BUF_BYTES (512u << 10) /* per tag; also max_sectors */

struct vp_ublk_dev_config {
	const char *name;        /* export name, for messages */
	struct vp_image *img;    /* outlives the device; its own fd */
	unsigned queues;         /* 1..VP_UBLK_MAX_QUEUES */
	unsigned depth;          /* 1..VP_UBLK_MAX_DEPTH */
};

struct vp_ublk_dev;

/* Add the device (ADD_DEV, SET_PARAMS) and open /dev/ublkcN; nothing
 * serves it yet.  *out is NULL on failure, with the device deleted.
 * Without /dev/ublk-control: -ENODEV, "ublk: /dev/ublk-control not found:
 * this kernel has no ublk (CONFIG_BLK_DEV_UBLK)" (vp_ublk_ctrl_available). */
VP_MUST_CHECK int vp_ublk_dev_new(const struct vp_ublk_dev_config *cfg, struct vp_ublk_dev **out,
				  struct vp_error *err);

/* Start the queue threads, then START_DEV: /dev/ublkbN exists on return.
 * On failure the caller still frees dev. */
VP_MUST_CHECK int vp_ublk_dev_start(struct vp_ublk_dev *dev, struct vp_error *err);

/* The kernel's device number N (/dev/ublkbN, /dev/ublkcN). */
uint32_t vp_ublk_dev_id(const struct vp_ublk_dev *dev);

/* STOP_DEV (in-flight requests are served first), join the queue threads,
 * DEL_DEV and free dev.  NULL is accepted; works whether or not start ran
 * or succeeded. */
void vp_ublk_dev_free(struct vp_ublk_dev *dev);

#endif
