/* ctrl.h - the ublk control device (/dev/ublk-control): add, configure,
 * start, stop and delete one ublk device through IORING_OP_URING_CMD on a
 * small private io_uring (IORING_SETUP_SQE128: control commands are 32
 * bytes, beyond a plain SQE's 16), restricted to URING_CMD
 * (vp_ring_restrict_uring_cmd).
 *
 * Commands use the ioctl encoding when the kernel answers GET_FEATURES
 * (6.5+; kernels built without CONFIG_BLKDEV_UBLK_LEGACY_OPCODES need it),
 * else the legacy numbers that 6.0-6.4 kernels take.
 */
#ifndef VP_VBLK_UBLK_CTRL_H
#define VP_VBLK_UBLK_CTRL_H

#include <liburing.h>
#include <linux/ublk_cmd.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct vp_ublk_ctrl {
	int fd;                 /* /dev/ublk-control */
	struct io_uring ring;
	bool ioctl_encode;      /* kernel takes ioctl-encoded commands */
	uint64_t features;      /* GET_FEATURES answer (0 when unknown) */
	uint32_t dev_id;        /* valid once added */
	bool added;
};

/* 0 when /dev/ublk-control exists; -ENODEV with the message
 * "ublk: /dev/ublk-control not found: this kernel has no ublk
 * (CONFIG_BLK_DEV_UBLK)" when it does not. */
VP_MUST_CHECK int vp_ublk_ctrl_available(struct vp_error *err);

/* Open /dev/ublk-control and its ring, and probe the command encoding.
 * A missing control device is vp_ublk_ctrl_available's -ENODEV.  On
 * failure nothing is left open. */
VP_MUST_CHECK int vp_ublk_ctrl_open(struct vp_ublk_ctrl *c, struct vp_error *err);

/* ADD_DEV: a new device with the kernel's choice of id; info carries
 * nr_hw_queues, queue_depth and max_io_buf_bytes in and the kernel's
 * answer (dev_id) out. */
VP_MUST_CHECK int vp_ublk_ctrl_add(struct vp_ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info,
				   struct vp_error *err);

/* SET_PARAMS for the added device (params->len must be set). */
VP_MUST_CHECK int vp_ublk_ctrl_set_params(struct vp_ublk_ctrl *c, struct ublk_params *params,
					  struct vp_error *err);

/* START_DEV with this process as the server; returns once every queue has
 * fetched all its tags and /dev/ublkbN exists. */
VP_MUST_CHECK int vp_ublk_ctrl_start(struct vp_ublk_ctrl *c, struct vp_error *err);

/* STOP_DEV: remove /dev/ublkbN (its outstanding requests are served
 * first, so the queue threads must still run).  Harmless on a device that
 * never started.  Returns 0 or -errno. */
int vp_ublk_ctrl_stop(struct vp_ublk_ctrl *c);

/* DEL_DEV (after every /dev/ublkcN user closed it) when one was added,
 * then close the control device.  Accepts a zeroed or failed c. */
void vp_ublk_ctrl_close(struct vp_ublk_ctrl *c);

#endif
