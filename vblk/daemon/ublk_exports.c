/* ublk_exports.c - vblkd's --ublk devices: each export named by --ublk is
 * served as the local block device /dev/ublkbN through the kernel's ublk
 * driver (vblk/ublk/dev.h), on its own fd of the export's image (which shares
 * the writeback error of the other handles of the file: image_file.h).
 */
#include <errno.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"
#include "vblk/ublk/dev.h"

int vp_vblkd_ublk_open(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_ublk; i++) {
		struct ublk_export *u = &d->ublk[i];
		const struct vp_nbd_export_spec *s = vp_vblkd_exports_find(d, u->name);
		struct vp_ublk_dev_config cfg = { .name = u->name, .queues = u->queues, .depth = u->depth };
		int ret;

		if (!s)
			return vp_error_set(err, ENOENT, "--ublk: no --export named '%s'", u->name);
		ret = vp_image_open_at(d->image_root, s->path, s->flags, &u->img, err);
		cfg.img = u->img;
		ret = ret ?: vp_ublk_dev_new(&cfg, &u->dev, err);
		if (ret)
			return ret;
	}
	return 0;
}

int vp_vblkd_ublk_start(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_ublk; i++) {
		struct ublk_export *u = &d->ublk[i];
		int ret = vp_ublk_dev_start(u->dev, err);

		if (ret) {
			vp_error_prefix(err, "ublk export %s", u->name);
			return ret;
		}
		vp_log(VP_LOG_INFO, "ublk.export-added", "name=%s dev=/dev/ublkb%u queues=%u depth=%u",
		       u->name, vp_ublk_dev_id(u->dev), u->queues, u->depth);
	}
	return 0;
}

void vp_vblkd_ublk_close(struct daemon *d)
{
	for (size_t i = 0; i < d->n_ublk; i++) {
		struct ublk_export *u = &d->ublk[i];

		vp_ublk_dev_free(u->dev);
		vp_vblkd_image_sync(u->name, u->img);
		vp_image_close(u->img);
	}
}
