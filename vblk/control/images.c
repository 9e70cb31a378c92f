/* images.c - the control commands on image files: image-create,
 * image-resize (a file no export uses, or a published export) and
 * image-info.
 */
#include <errno.h>
#include <string.h>

#include "common/json.h"
#include "vblk/control/internal.h"
#include "vblk/image.h"
#include "vblk/image_path.h"

/* The image-info view of the file at path. */
static int image_info_json(struct vp_control *ctl, const char *path, json_t **out,
			   struct vp_error *err)
{
	struct vp_image *img = NULL;
	struct stat st;
	int ret;

	*out = NULL;
	ret = vp_image_open_at(ctl->cfg.table->image_root, path, VP_IMAGE_READONLY, &img, err);
	if (ret)
		return ret;
	if (fstat(img->fd, &st) < 0) {
		ret = vp_error_set(err, errno, "image %s", path);
		vp_image_close(img);
		return ret;
	}
	*out = json_pack("{s:s, s:I, s:I, s:s, s:o}", "path", path, "size", (json_int_t)img->size,
			 "allocated", (json_int_t)(img->blockdev ? img->size : (uint64_t)st.st_blocks * 512),
			 "type", img->blockdev ? "block-device" : "raw-file", "exports",
			 vp_control_exported_as(ctl, &st));
	vp_image_close(img);
	return *out ? 0 : vp_error_set(err, ENOMEM, "image %s", path);
}

/* Set resp's "image" to the image-info view of path. */
static int set_image(struct vp_control *ctl, json_t *resp, const char *path, struct vp_error *err)
{
	json_t *info;
	int ret = image_info_json(ctl, path, &info, err);

	if (ret == 0)
		json_object_set_new(resp, "image", info);
	return ret;
}

static int cmd_image_create(struct vp_control *ctl, const json_t *req, json_t *resp,
			    struct vp_error *err)
{
	const char *path;
	uint64_t size;
	bool sparse;
	int ret;

	ret = vp_control_get_path(req, "path", true, &path, err);
	ret = ret ?: vp_control_get_size(req, "size", &size, err);
	ret = ret ?: vp_json_opt_bool(req, "", "sparse", true, &sparse, err);
	ret = ret ?: vp_image_path_create(ctl->cfg.table->image_root, path, size, !sparse, err);
	ret = ret ?: set_image(ctl, resp, path, err);
	if (ret)
		return ret;
	vp_event(&ctl->cfg.events, "image.created", "path=%s size=%llu sparse=%d", path,
			 (unsigned long long)size, sparse);
	return 0;
}

/* Resize an image file that no export uses.  The file checked is the one
 * opened (no second lookup of path that a rename could redirect). */
static int resize_file(struct vp_control *ctl, const char *path, uint64_t size, struct vp_error *err)
{
	struct vp_image *img = NULL;
	json_t *names;
	struct stat st;
	int ret;

	ret = vp_image_open_at(ctl->cfg.table->image_root, path, 0, &img, err);
	if (ret)
		return ret;
	if (fstat(img->fd, &st) < 0) {
		ret = vp_error_set(err, errno, "image %s", path);
		goto out;
	}
	names = vp_control_exported_as(ctl, &st);
	if (json_array_size(names))
		ret = vp_error_code(err, 0, EBUSY, "image %s is exported as %s: resize the export instead",
				   path, json_string_value(json_array_get(names, 0)));
	json_decref(names);
	ret = ret ?: vp_image_resize(img, size, err);
out:
	vp_image_close(img);
	return ret;
}

/* Resize a published export's image; a vhost-user front end is told at
 * once (not at the next size poll).  Shrinking under a connected front end
 * is refused like shrinking under NBD clients. */
static int resize_export(struct vp_control *ctl, const char *name, uint64_t size,
			 struct vp_error *err)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	const struct vp_nbd_export *e = vp_control_find_export(snap, name);
	uint64_t cur = e ? e->img->size : size;
	struct vp_control_vhost v;
	struct vp_control_ublk u;
	int ret;

	vp_nbd_snapshot_put(snap);
	if (vp_control_vhost_get(ctl, name, &v) == 0 && v.connected && size < cur)
		return vp_error_code(err, 0, EBUSY, "export %s: cannot shrink while a vhost-user "
				     "front end is connected", name);
	/* A ublk device keeps the size it was added with (vblk/ublk/ has no
	 * UBLK_CMD_UPDATE_SIZE; Debian's 6.1 kernel has none): growing is
	 * harmless, shrinking would cut off its end. */
	if (vp_control_ublk_get(ctl, name, &u) == 0 && size < cur)
		return vp_error_code(err, 0, EBUSY, "export %s: cannot shrink while it is the ublk "
				     "device /dev/ublkb%u", name, u.id);
	ret = vp_nbd_table_resize(ctl->cfg.table, name, size, err);
	if (ret == 0 && vp_control_vhost_get(ctl, name, &v) == 0)
		ctl->cfg.vhost->resized(ctl->cfg.vhost_ctx, name);
	return ret;
}

static int cmd_image_resize(struct vp_control *ctl, const json_t *req, json_t *resp,
			    struct vp_error *err)
{
	const char *path, *name;
	uint64_t size;
	int ret;

	ret = vp_control_get_path(req, "path", false, &path, err);
	ret = ret ?: vp_json_opt_str(req, "", "export", NULL, &name, err);
	ret = ret ?: vp_control_get_size(req, "size", &size, err);
	if (ret == 0 && !path == !name)
		ret = vp_error_code(err, 0, EINVAL, "give exactly one of path and export");
	if (ret)
		return ret;
	if (path) {
		ret = resize_file(ctl, path, size, err);
		ret = ret ?: set_image(ctl, resp, path, err);
	} else {
		ret = resize_export(ctl, name, size, err);
		if (ret == 0)
			vp_control_set_export(ctl, resp, name);
	}
	if (ret)
		return ret;
	vp_event(&ctl->cfg.events, "image.resized", "%s=%s size=%llu", path ? "path" : "export",
			 path ? path : name, (unsigned long long)size);
	return 0;
}

static int cmd_image_info(struct vp_control *ctl, const json_t *req, json_t *resp,
			  struct vp_error *err)
{
	const char *path;
	int ret;

	ret = vp_control_get_path(req, "path", true, &path, err);
	return ret ?: set_image(ctl, resp, path, err);
}

const struct vp_control_cmd vp_control_image_cmds[] = {
	{ "image-create", (const char *const[]){ "path", "size", "sparse", NULL }, cmd_image_create },
	{ "image-resize", (const char *const[]){ "path", "export", "size", NULL }, cmd_image_resize },
	{ "image-info", (const char *const[]){ "path", NULL }, cmd_image_info },
	{ NULL, NULL, NULL },
};
