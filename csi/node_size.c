/* node_size.c - NodeExpandVolume and NodeGetVolumeStats over the
 * volume's kernel device (loop or nbd, node_attach.c): the device's size
 * refreshed from its image (and a mount volume's filesystem grown online),
 * its size (a mount volume's bytes and inodes) and condition reported.  A
 * vmDisk volume has no device: vblkd is told the image grew (and tells a
 * connected VM), and its size is the image's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "csi/node/fs.h"
#include "csi/node/kpath.h"
#include "csi/node/loop.h"
#include "csi/node/record.h"
#include "csi/service.h"
#include "csi/vblkd.h"

/* Whether path is where volume rec is staged or published. */
static bool path_of(const struct vp_node_record *rec, const char *path)
{
	return !strcmp(rec->staging, path) || vp_node_record_target(rec, path) >= 0;
}

/* rec for a staged volume at volume_path: true, or r failed (NOT_FOUND for
 * a path the volume is not at, which includes a volume not staged). */
static bool staged_at(struct csi_ctx *ctx, const char *id, const char *volume_path,
		      struct vp_node_record *rec, struct vp_grpc_reply *r)
{
	if (!csi_node_record(ctx, id, rec, r)) {
		if (r->code == VP_GRPC_OK)
			csi_fail(r, VP_GRPC_NOT_FOUND, "volume %s is not staged on this node", id);
		return false;
	}
	if (!path_of(rec, volume_path)) {
		csi_fail(r, VP_GRPC_NOT_FOUND, "volume %s is not staged or published at %s", id,
			 volume_path);
		return false;
	}
	return true;
}

/* The size of block device dev in bytes: 0 or -errno. */
static int device_size(const char *dev, uint64_t *size)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLKGETSIZE64, size) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Make device d take its image's current size.  The kernel's NBD client
 * takes the size at connect only (NBD_CMD_RECONFIGURE has no size), a ublk
 * device the size it was added with (vblkd has no UBLK_CMD_UPDATE_SIZE;
 * Debian's 6.1 kernel has none). */
static int refresh_size(const struct vp_node_record *rec, const struct csi_device *d,
			struct vp_error *err)
{
	if (rec->attach == VP_NODE_ATTACH_LOOP)
		return vp_loop_refresh_size(d->index, err);
	return vp_error_code(err, 0, EOPNOTSUPP, "%s (%s) keeps the size it was %s with: "
			     "unstage and stage the volume again to see the new size", d->dev,
			     vp_node_attach_name(rec->attach),
			     rec->attach == VP_NODE_ATTACH_NBD ? "connected" : "added");
}

static void expand_locked(struct csi_ctx *ctx, const Csi__V1__NodeExpandVolumeRequest *req,
			  const struct vp_volume *v, struct vp_node_record *rec,
			  Csi__V1__NodeExpandVolumeResponse *resp, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	struct csi_device d;
	uint64_t size;
	int ret;

	if (!staged_at(ctx, v->id, req->volume_path, rec, r))
		return;
	if (req->capacity_range && (uint64_t)req->capacity_range->required_bytes > v->size) {
		csi_fail(r, VP_GRPC_OUT_OF_RANGE, "volume %s is %llu bytes: expand it with "
			 "ControllerExpandVolume first", v->id, (unsigned long long)v->size);
		return;
	}
	if (rec->vm_disk) {
		size = v->size;
		ret = csi_node_vmdisk_resized(ctx, v->id, size, &err);
		if (ret)
			csi_fail(r, ret == -ENOENT ? VP_GRPC_FAILED_PRECONDITION : VP_GRPC_INTERNAL,
				 "expand volume %s: %s", v->id, err.msg);
		else
			resp->capacity_bytes = (int64_t)size;
		return;
	}
	ret = csi_node_device_find(ctx, rec, &d, &err);
	if (!ret)
		ret = refresh_size(rec, &d, &err);
	if (!ret && (ret = device_size(d.dev, &size)))
		vp_error_set(&err, -ret, "size of %s", d.dev);
	if (!ret && rec->fs_type[0])
		ret = vp_fs_grow(d.dev, rec->fs_type, rec->staging, &err);
	if (ret) {
		csi_fail(r, ret == -ENOENT || ret == -EOPNOTSUPP ? VP_GRPC_FAILED_PRECONDITION :
			 VP_GRPC_INTERNAL,
			 "expand volume %s: %s", v->id, ret == -ENOENT ? "no device is attached" :
			 err.msg);
		return;
	}
	resp->capacity_bytes = (int64_t)size;
}

static void node_expand(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__NodeExpandVolumeRequest *req =
		csi_unpack(&csi__v1__node_expand_volume_request__descriptor, buf, len, r);
	Csi__V1__NodeExpandVolumeResponse resp = CSI__V1__NODE_EXPAND_VOLUME_RESPONSE__INIT;
	struct vp_node_record *rec;
	char key[CSI_KEY_SIZE];
	struct vp_volume v;

	if (!req)
		return;
	if (csi_node_volume(ctx, req->volume_id, &v, r) &&
	    csi_node_required(req->volume_path, "volume_path", r)) {
		if ((rec = csi_node_lock(ctx, v.id, key, r))) {
			expand_locked(ctx, req, &v, rec, &resp, r);
			csi_node_unlock(ctx, key, rec);
		}
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);
	csi_free(req);
}

/* Why vmDisk volume id is not healthy, or NULL: vblkd does not export it
 * (restarted, or the export removed behind the driver's back), or its
 * vhost-user socket is gone. */
static const char *vmdisk_condition(struct csi_ctx *ctx, const struct vp_node_record *rec,
				    char *msg, size_t msg_size)
{
	const char *id = rec->volume;
	char sock[PATH_MAX];
	struct vp_error err = { 0 };
	struct stat st;
	bool serves;

	csi_node_vmdisk_socket(ctx, id, vp_node_record_vmdisk_dir(rec), sock);
	if (!ctx->vblkd_control)
		snprintf(msg, msg_size, "a vmDisk volume, but the node service runs without "
			 "--vblkd-control");
	else if (csi_vblkd_serves(ctx->vblkd_control, id, &serves, &err))
		snprintf(msg, msg_size, "vblkd cannot be asked about its export: %s", err.msg);
	else if (!serves)
		snprintf(msg, msg_size, "vblkd does not export the volume (restarted, or the "
			 "export was removed)");
	else if (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))
		snprintf(msg, msg_size, "the volume's vhost-user socket %s is gone", sock);
	else
		return NULL;
	return msg;
}

/* Why volume v, staged per rec, is not healthy, or NULL: its image is
 * gone, or no device (no vblkd export, for vmDisk) serves it. */
static const char *condition(struct csi_ctx *ctx, const struct vp_volume *v,
			     const struct vp_node_record *rec, uint64_t *size, char *msg,
			     size_t msg_size)
{
	char image[PATH_MAX];
	struct vp_error err = { 0 };
	struct stat st;
	struct csi_device d;
	int ret;

	vp_pool_image_path(ctx->pool, v->id, image, sizeof(image));
	if (v->image_missing || stat(image, &st) < 0) {
		snprintf(msg, msg_size, v->image_missing || errno == ENOENT ?
			 "the volume's image %s is gone" : "the volume's image %s cannot be read",
			 image);
		return msg;
	}
	if (rec->vm_disk) {
		*size = (uint64_t)st.st_size;
		return vmdisk_condition(ctx, rec, msg, msg_size);
	}
	ret = csi_node_device_find(ctx, rec, &d, &err);
	if (ret == -ENOENT) {
		snprintf(msg, msg_size, "no %s device is attached over %s",
			 vp_node_attach_name(rec->attach), image);
		return msg;
	}
	if (ret || (ret = device_size(d.dev, size))) {
		snprintf(msg, msg_size, "the volume's device cannot be read: %s",
			 ret ? strerror(-ret) : err.msg);
		return msg;
	}
	return NULL;
}

/* A mount volume's bytes and inodes, from its filesystem at path. */
static int fs_usage(struct csi_ctx *ctx, const char *path, Csi__V1__VolumeUsage *u,
		    struct vp_error *err)
{
	struct statvfs sv;
	int fd = vp_kpath_open(ctx->kubelet_dir, path, O_PATH | O_DIRECTORY | O_NOFOLLOW, err);

	if (fd < 0)
		return fd;
	if (fstatvfs(fd, &sv) < 0) {
		close(fd);
		return vp_error_set(err, errno, "statvfs %s", path);
	}
	close(fd);
	u[0].unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
	u[0].total = (int64_t)(sv.f_blocks * sv.f_frsize);
	u[0].available = (int64_t)(sv.f_bavail * sv.f_frsize);
	u[0].used = (int64_t)((sv.f_blocks - sv.f_bfree) * sv.f_frsize);
	u[1].unit = CSI__V1__VOLUME_USAGE__UNIT__INODES;
	u[1].total = (int64_t)sv.f_files;
	u[1].available = (int64_t)sv.f_favail;
	u[1].used = (int64_t)(sv.f_files - sv.f_ffree);
	return 0;
}

static void node_stats(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__NodeGetVolumeStatsRequest *req =
		csi_unpack(&csi__v1__node_get_volume_stats_request__descriptor, buf, len, r);
	Csi__V1__NodeGetVolumeStatsResponse resp = CSI__V1__NODE_GET_VOLUME_STATS_RESPONSE__INIT;
	Csi__V1__VolumeUsage u[2] = { CSI__V1__VOLUME_USAGE__INIT, CSI__V1__VOLUME_USAGE__INIT };
	Csi__V1__VolumeUsage *usages[2] = { &u[0], &u[1] };
	struct vp_error err = { 0 };
	Csi__V1__VolumeCondition cond = CSI__V1__VOLUME_CONDITION__INIT;
	struct vp_node_record *rec = NULL;
	char msg[PATH_MAX + 128];
	uint64_t size = 0;
	struct vp_volume v;

	if (!req)
		return;
	if (csi_node_volume(ctx, req->volume_id, &v, r) &&
	    csi_node_required(req->volume_path, "volume_path", r)) {
		if (!(rec = malloc(sizeof(*rec))))
			csi_fail(r, VP_GRPC_INTERNAL, "out of memory");
		else if (staged_at(ctx, v.id, req->volume_path, rec, r)) {
			const char *why = condition(ctx, &v, rec, &size, msg, sizeof(msg));

			cond.abnormal = why != NULL;
			cond.message = (char *)(why ? why : "");
			resp.volume_condition = &cond;
			resp.usage = usages;
			if (why) {
				resp.n_usage = 0;
			} else if (!vp_node_record_has_fs(rec)) {
				u[0].unit = CSI__V1__VOLUME_USAGE__UNIT__BYTES;
				u[0].total = (int64_t)size;
				resp.n_usage = 1;
			} else if (!fs_usage(ctx, req->volume_path, u, &err)) {
				resp.n_usage = 2;
			} else {
				csi_fail(r, VP_GRPC_INTERNAL, "%s", err.msg);
			}
		}
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);
	free(rec);
	csi_free(req);
}

const struct vp_grpc_method csi_node_size_methods[] = {
	{ "/csi.v1.Node/NodeExpandVolume", node_expand },
	{ "/csi.v1.Node/NodeGetVolumeStats", node_stats },
};
const size_t csi_node_size_n_methods =
	sizeof(csi_node_size_methods) / sizeof(csi_node_size_methods[0]);
