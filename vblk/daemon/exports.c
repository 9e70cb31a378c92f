/* exports.c - vblkd's NBD export table (vblk/nbd/table.h): filled from the
 * start-time export specs, changed at run time by the control socket, and
 * synced when the daemon stops.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"

/* How long a restarted daemon waits for its predecessor's last writes. */
#define IMAGE_CLAIM_TIMEOUT_MS 10000

/* Claim every writable image before opening any, so an image exported
 * twice does not wait for this daemon's own lock. */
static int claim_images(const struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_exports; i++) {
		const struct vp_nbd_export_spec *s = &d->specs[i];
		int ret;

		if (s->flags & VP_IMAGE_READONLY)
			continue;
		ret = vp_image_claim_at(d->image_root, s->path, IMAGE_CLAIM_TIMEOUT_MS, err);
		if (ret) {
			vp_error_prefix(err, "export %s", s->name);
			return ret;
		}
	}
	return 0;
}

int vp_vblkd_exports_open(struct daemon *d, struct vp_error *err)
{
	unsigned shards = (unsigned)d->n_listen * d->n_workers;
	int ret = vp_nbd_table_init(&d->table, shards ? shards : 1, err);

	if (ret)
		return ret;
	d->table.events = (struct vp_event_sink){ vp_vblkd_log_event, NULL };
	d->table_ready = true;
	d->table.image_root = d->image_root;
	ret = claim_images(d, err);
	for (size_t i = 0; i < d->n_exports && !ret; i++) {
		const struct vp_nbd_export_spec *s = &d->specs[i];

		ret = vp_nbd_table_add(&d->table, s, err);
		if (ret == 0)
			vp_log(VP_LOG_INFO, "export.added", "name=%s image=%s readonly=%d direct=%d",
			       s->name, s->path, !!(s->flags & VP_IMAGE_READONLY),
			       !!(s->flags & VP_IMAGE_DIRECT));
	}
	return ret;
}

void vp_vblkd_exports_close(struct daemon *d)
{
	/* With the workers gone the table holds the last references: each
	 * image is synced and closed, and the result logged (table.h). */
	if (d->table_ready)
		vp_nbd_table_fini(&d->table);
}

const struct vp_nbd_export_spec *vp_vblkd_exports_find(const struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_exports; i++)
		if (strcmp(d->specs[i].name, name) == 0)
			return &d->specs[i];
	return NULL;
}

void vp_vblkd_image_sync(const char *name, const struct vp_image *img)
{
	int ret = img ? vp_image_sync(img) : 0;

	if (ret)
		vp_log(VP_LOG_ERROR, "export.sync-failed", "name=%s errno=%d error=\"%s\"", name, -ret,
		       strerror(-ret));
}
