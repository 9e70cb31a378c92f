/* dev.c - a ublk export's lifecycle (see dev.h). */
#include "vblk/ublk/dev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vblk/ublk/ctrl.h"
#include "vblk/ublk/queue.h"

/* How long to wait for /dev/ublkcN to appear after ADD_DEV (udev). */
#define CDEV_WAIT_MS 5000

struct vp_ublk_dev {
	struct vp_ublk_dev_config cfg;
	struct vp_ublk_ctrl ctrl;
	struct ublksrv_ctrl_dev_info info;  /* as the kernel answered ADD_DEV */
	int cdev_fd;
	struct vp_ublk_queue *queues[VP_UBLK_MAX_QUEUES];
};

static unsigned ilog2(uint32_t v)
{
	unsigned s = 0;

	while (v > 1) {
		v >>= 1;
		s++;
	}
	return s;
}

/* Can holes be punched in img?  Probed past the end of the file, where it
 * changes nothing (block devices refuse the range: no discard for them). */
static bool can_punch(const struct vp_image *img)
{
	return !img->readonly && !img->blockdev &&
	       fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)img->size, 4096) == 0;
}

static void fill_params(const struct vp_ublk_dev *dev, struct ublk_params *p)
{
	const struct vp_image *img = dev->cfg.img;
	unsigned lbs = ilog2(img->min_block > 512 ? img->min_block : 512);

	memset(p, 0, sizeof(*p));
	p->len = sizeof(*p);
	p->types = UBLK_PARAM_TYPE_BASIC;
	p->basic = (struct ublk_param_basic){
		.attrs = img->readonly ? UBLK_ATTR_READ_ONLY : UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA,
		.logical_bs_shift = (uint8_t)lbs,
		.physical_bs_shift = (uint8_t)(lbs > 12 ? lbs : 12),
		.io_min_shift = (uint8_t)lbs,
		.io_opt_shift = (uint8_t)(lbs > 12 ? lbs : 12),
		.max_sectors = dev->info.max_io_buf_bytes >> 9,
		.dev_sectors = img->size >> 9,
	};
	if (!can_punch(img))
		return;
	p->types |= UBLK_PARAM_TYPE_DISCARD;
	p->discard = (struct ublk_param_discard){
		.discard_granularity = 4096,
		.max_discard_sectors = UINT32_MAX >> 9,
		.max_write_zeroes_sectors = UINT32_MAX >> 9,
		.max_discard_segments = 1,
	};
}

/* Open /dev/ublkcN, waiting for udev to create it, and for an unprivileged
 * daemon (deploy/vblkd-ublk.service) until udev gives it the vplumb group
 * (deploy/udev/70-vplumb-ublk.rules): devtmpfs makes the node root's 0600
 * first, so EACCES is transient too. */
static int open_cdev(struct vp_ublk_dev *dev, struct vp_error *err)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/ublkc%u", dev->info.dev_id);
	for (unsigned waited = 0;; waited += 10) {
		dev->cdev_fd = open(path, O_RDWR | O_CLOEXEC);
		if (dev->cdev_fd >= 0)
			return 0;
		if ((errno != ENOENT && errno != EACCES) || waited >= CDEV_WAIT_MS)
			return vp_error_set(err, errno, "ublk: open %s", path);
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
}

int vp_ublk_dev_new(const struct vp_ublk_dev_config *cfg, struct vp_ublk_dev **out,
		    struct vp_error *err)
{
	struct vp_ublk_dev *dev;
	struct ublk_params params;
	int ret;

	*out = NULL;
	if (cfg->queues < 1 || cfg->queues > VP_UBLK_MAX_QUEUES || cfg->depth < 1 ||
	    cfg->depth > VP_UBLK_MAX_DEPTH)
		return vp_error_set(err, EINVAL, "ublk: queues must be 1..%d and depth 1..%d",
				    VP_UBLK_MAX_QUEUES, VP_UBLK_MAX_DEPTH);
	if (cfg->img->size < 512)
		return vp_error_set(err, EINVAL, "ublk: image smaller than one sector");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return vp_error_set(err, ENOMEM, "ublk");
	dev->cfg = *cfg;
	dev->cdev_fd = -1;
	dev->info = (struct ublksrv_ctrl_dev_info){
		.nr_hw_queues = (uint16_t)cfg->queues,
		.queue_depth = (uint16_t)cfg->depth,
		.max_io_buf_bytes = VP_UBLK_IO_BUF_BYTES,
	};
	ret = vp_ublk_ctrl_open(&dev->ctrl, err);
	ret = ret ?: vp_ublk_ctrl_add(&dev->ctrl, &dev->info, err);
	if (!ret)
		fill_params(dev, &params);
	ret = ret ?: vp_ublk_ctrl_set_params(&dev->ctrl, &params, err);
	ret = ret ?: open_cdev(dev, err);
	if (ret) {
		vp_ublk_dev_free(dev);
		return ret;
	}
	*out = dev;
	return 0;
}

int vp_ublk_dev_start(struct vp_ublk_dev *dev, struct vp_error *err)
{
	struct vp_ublk_queue_config qc = {
		.cdev_fd = dev->cdev_fd,
		.depth = dev->info.queue_depth,
		.buf_bytes = dev->info.max_io_buf_bytes,
		.ioctl_encode = dev->ctrl.ioctl_encode,
		.img = dev->cfg.img,
	};

	for (unsigned i = 0; i < dev->info.nr_hw_queues; i++) {
		int ret;

		qc.qid = (uint16_t)i;
		ret = vp_ublk_queue_start(&qc, &dev->queues[i], err);
		if (ret)
			return ret;
	}
	return vp_ublk_ctrl_start(&dev->ctrl, err);
}

uint32_t vp_ublk_dev_id(const struct vp_ublk_dev *dev)
{
	return dev->info.dev_id;
}

void vp_ublk_dev_free(struct vp_ublk_dev *dev)
{
	if (!dev)
		return;
	(void)vp_ublk_ctrl_stop(&dev->ctrl);
	for (unsigned i = 0; i < VP_UBLK_MAX_QUEUES; i++)
		vp_ublk_queue_free(dev->queues[i]);
	if (dev->cdev_fd >= 0)
		close(dev->cdev_fd);
	vp_ublk_ctrl_close(&dev->ctrl);
	free(dev);
}
