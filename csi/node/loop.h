/* loop.h - loop devices over volume images, through /dev/loop-control and
 * the loop ioctls (no losetup).
 *
 * A device is found again by the device and inode number of its backing
 * file (LOOP_GET_STATUS64), so a driver restarted after a crash finds the
 * devices it attached before.
 */
#ifndef VP_CSI_NODE_LOOP_H
#define VP_CSI_NODE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define VP_LOOP_DEV_SIZE 32

struct vp_loop {
	int index;                      /* N of /dev/loopN */
	char dev[VP_LOOP_DEV_SIZE];     /* "/dev/loopN" */
	bool direct_io;                 /* the kernel accepted LO_FLAGS_DIRECT_IO */
};

/* Attach image as a free loop device: read-only when readonly, with
 * LO_FLAGS_AUTOCLEAR when autoclear (the kernel then detaches it at the
 * last close: only for devices something keeps open, such as a mounted
 * filesystem's).  Direct I/O is asked for and dropped when the backing
 * file's filesystem refuses it. */
int vp_loop_attach(const char *image, bool readonly, bool autoclear, struct vp_loop *out,
		   struct vp_error *err) VP_MUST_CHECK;

/* Detach /dev/loop<index> (LOOP_CLR_FD): 0, also when it is not attached
 * or does not exist. */
int vp_loop_detach(int index, struct vp_error *err) VP_MUST_CHECK;

/* The loop device backed by image into *out: 0, -ENOENT when none is, or
 * another -errno with err set.  An image removed while attached is still
 * found, by the name the kernel keeps for it. */
int vp_loop_find(const char *image, struct vp_loop *out, struct vp_error *err) VP_MUST_CHECK;

/* The backing file of block device dev as the kernel names it ("<path>
 * (deleted)" once removed) into buf: 0, or -ENOENT when dev is not an
 * attached loop device. */
int vp_loop_backing_of(dev_t dev, char *buf, size_t size) VP_MUST_CHECK;

/* Make /dev/loop<index> take its backing file's current size
 * (LOOP_SET_CAPACITY). */
int vp_loop_refresh_size(int index, struct vp_error *err) VP_MUST_CHECK;

#endif
