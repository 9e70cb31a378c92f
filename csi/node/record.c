/* record.c - node records (record.h). */
#include "csi/node/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/statefile.h"

#define RECORD_MODE 0600

static int record_path(char *buf, size_t size, const char *node_dir, const char *id,
		       struct vp_error *err)
{
	if (snprintf(buf, size, "%s/%s.json", node_dir, id) >= (int)size)
		return vp_error_set(err, ENAMETOOLONG, "node record path of %s", id);
	return 0;
}

static int copy_str(char *dst, size_t size, const char *src, const char *what,
		    struct vp_error *err)
{
	if (strlen(src) >= size)
		return vp_error_code(err, 0, EINVAL, "node record: %s too long", what);
	strcpy(dst, src);
	return 0;
}

/* o's "mountFlags": MS_* bits within allowed, 0 when absent. */
static int decode_mount_flags(const json_t *o, const char *path, unsigned long allowed,
			      unsigned long *out, struct vp_error *err)
{
	int64_t bits;
	int ret = vp_json_opt_int(o, path, "mountFlags", 0, 0, (int64_t)allowed, &bits, err);

	if (ret)
		return ret;
	if ((unsigned long)bits & ~allowed)
		return vp_error_code(err, 0, EINVAL, "node record: %s.mountFlags %#llx: "
				     "bits no mount_flags give", path, (long long)bits);
	*out = (unsigned long)bits;
	return 0;
}

static int decode_target(const json_t *t, const char *path, struct vp_node_target *out,
			 struct vp_error *err)
{
	const char *p;
	int ret;

	if (!json_is_object(t))
		return vp_error_code(err, 0, EINVAL, "node record: %s is not an object", path);
	if ((ret = vp_json_req_str(t, path, "path", &p, err)) ||
	    (ret = vp_json_opt_bool(t, path, "readonly", false, &out->readonly, err)) ||
	    (ret = decode_mount_flags(t, path, VP_MOUNTOPT_PER_MOUNT, &out->mount_flags, err)))
		return ret;
	return copy_str(out->path, sizeof(out->path), p, "target path", err);
}

const char *vp_node_attach_name(enum vp_node_attach a)
{
	return a == VP_NODE_ATTACH_NBD ? "nbd" : a == VP_NODE_ATTACH_UBLK ? "ublk" : "loop";
}

static int decode_attach(const json_t *o, struct vp_node_record *r, struct vp_error *err)
{
	const char *a;
	int ret = vp_json_opt_str(o, "", "attach", "loop", &a, err);

	if (ret)
		return ret;
	if (!strcmp(a, "loop"))
		r->attach = VP_NODE_ATTACH_LOOP;
	else if (!strcmp(a, "nbd"))
		r->attach = VP_NODE_ATTACH_NBD;
	else if (!strcmp(a, "ublk"))
		r->attach = VP_NODE_ATTACH_UBLK;
	else
		return vp_error_code(err, 0, EINVAL, "node record: attach \"%.32s\": loop, nbd or "
				     "ublk", a);
	return 0;
}

static int decode(const json_t *o, struct vp_node_record *r, struct vp_error *err)
{
	const char *vol, *staging, *fs, *data;
	json_t *targets, *t;
	int64_t version;
	size_t i;
	char path[32];
	int ret;

	if ((ret = vp_json_req_int(o, "", "version", 1, VP_NODE_RECORD_VERSION, &version, err)) ||
	    (ret = vp_json_req_str(o, "", "volume", &vol, err)) ||
	    (ret = vp_json_req_str(o, "", "staging", &staging, err)) ||
	    (ret = vp_json_opt_bool(o, "", "readonly", false, &r->readonly, err)) ||
	    (ret = vp_json_opt_bool(o, "", "vmDisk", false, &r->vm_disk, err)) ||
	    (ret = vp_json_opt_str(o, "", "fsType", "", &fs, err)) ||
	    (ret = decode_attach(o, r, err)) ||
	    (ret = decode_mount_flags(o, "", VP_MOUNTOPT_ALL, &r->mount.flags, err)) ||
	    (ret = vp_json_opt_str(o, "", "mountData", "", &data, err)) ||
	    (ret = copy_str(r->mount.data, sizeof(r->mount.data), data, "mountData", err)) ||
	    (ret = vp_json_opt_array(o, "", "targets", &targets, err)) ||
	    (ret = copy_str(r->fs_type, sizeof(r->fs_type), fs, "fsType", err)) ||
	    (ret = copy_str(r->volume, sizeof(r->volume), vol, "volume", err)) ||
	    (ret = copy_str(r->staging, sizeof(r->staging), staging, "staging", err)))
		return ret;
	/* A vmDisk volume is served by vblkd, never mounted. */
	if (!strcmp(r->fs_type, VP_NODE_FS_VHOST_USER_BLK) != vp_node_record_vmdisk_dir(r))
		return vp_error_code(err, 0, EINVAL, "node record: fsType \"%s\" with vmDisk %s",
				     r->fs_type, r->vm_disk ? "true" : "false");
	r->n_targets = 0;
	if (!targets)
		return 0;
	if (json_array_size(targets) > VP_NODE_MAX_TARGETS)
		return vp_error_code(err, 0, EINVAL, "node record: more than %d targets",
				     VP_NODE_MAX_TARGETS);
	json_array_foreach(targets, i, t) {
		vp_json_path(path, sizeof(path), "targets", NULL, (long)i);
		if ((ret = decode_target(t, path, &r->targets[i], err)))
			return ret;
		r->n_targets = i + 1;
	}
	return 0;
}

int vp_node_record_load(const char *node_dir, const char *id, struct vp_node_record *r,
			struct vp_error *err)
{
	char path[PATH_MAX], *text;
	size_t len;
	json_t *o;
	int ret;

	if ((ret = record_path(path, sizeof(path), node_dir, id, err)))
		return ret;
	if ((ret = vp_statefile_read(path, &text, &len, err)))
		return ret;
	ret = vp_json_parse(text, len, &o, err);
	free(text);
	if (ret)
		return ret;
	memset(r, 0, sizeof(*r));
	ret = json_is_object(o) ? decode(o, r, err) :
				  vp_error_code(err, 0, EINVAL, "node record is not an object");
	json_decref(o);
	if (ret)
		vp_error_prefix(err, "%s", path);
	return ret;
}

static json_t *encode(const struct vp_node_record *r)
{
	json_t *targets = json_array();
	json_t *o = json_pack("{s:i, s:s, s:s, s:b, s:b, s:s, s:I, s:s, s:o}", "version",
			      VP_NODE_RECORD_VERSION, "volume", r->volume, "staging", r->staging,
			      "readonly", r->readonly, "vmDisk", r->vm_disk, "fsType", r->fs_type,
			      "mountFlags", (json_int_t)r->mount.flags, "mountData", r->mount.data,
			      "targets", targets);

	if (!o)
		return NULL;
	if (!r->vm_disk && json_object_set_new(o, "attach",
					       json_string(vp_node_attach_name(r->attach)))) {
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0; i < r->n_targets; i++) {
		json_t *t = json_pack("{s:s, s:b, s:I}", "path", r->targets[i].path, "readonly",
				      r->targets[i].readonly, "mountFlags",
				      (json_int_t)r->targets[i].mount_flags);

		if (!t || json_array_append_new(targets, t)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int vp_node_record_save(const char *node_dir, const struct vp_node_record *r,
			struct vp_error *err)
{
	char path[PATH_MAX], *text;
	json_t *o;
	int ret;

	if ((ret = record_path(path, sizeof(path), node_dir, r->volume, err)) ||
	    (ret = vp_mkdir_p(node_dir, 0700, err)))
		return ret;
	o = encode(r);
	text = o ? vp_json_dump(o) : NULL;
	json_decref(o);
	if (!text)
		return vp_error_set(err, ENOMEM, "node record of %s", r->volume);
	ret = vp_statefile_write(path, text, strlen(text), RECORD_MODE, err);
	free(text);
	return ret;
}

int vp_node_record_remove(const char *node_dir, const char *id, struct vp_error *err)
{
	char path[PATH_MAX];
	int ret = record_path(path, sizeof(path), node_dir, id, err), fd;

	if (ret)
		return ret;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : vp_error_set(err, errno, "unlink %s", path);
	/* The removal is durable before the caller reports success. */
	fd = open(node_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "open %s", node_dir);
	if (fsync(fd) < 0)
		ret = vp_error_set(err, errno, "fsync %s", node_dir);
	close(fd);
	return ret;
}

bool vp_node_record_has_fs(const struct vp_node_record *r)
{
	return r->fs_type[0] && !r->vm_disk;
}

bool vp_node_record_vmdisk_dir(const struct vp_node_record *r)
{
	return r->vm_disk && r->fs_type[0];
}

int vp_node_record_target(const struct vp_node_record *r, const char *path)
{
	for (size_t i = 0; i < r->n_targets; i++)
		if (!strcmp(r->targets[i].path, path))
			return (int)i;
	return -1;
}

bool vp_node_record_exists(const char *node_dir, const char *id)
{
	char path[PATH_MAX];

	return !record_path(path, sizeof(path), node_dir, id, NULL) && access(path, F_OK) == 0;
}
