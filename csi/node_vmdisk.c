/* node_vmdisk.c - a vmDisk volume on the node: not a kernel device, but
 * an export of vblkd (named by the volume ID) served as vhost-user-blk on
 * a socket in the pool's node directory, which publish bind-mounts on the
 * target for a VM runtime (QEMU) to open: the socket itself on a target
 * file (block access type), or the volume's socket directory on a target
 * directory (mount access type, fs_type vhost-user-blk), for a runtime
 * that is handed a directory, as kubelet hands a pod a Filesystem volume.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/statefile.h"
#include "csi/node/record.h"
#include "csi/service.h"
#include "csi/vblkd.h"

#define SOCKET_DIR_MODE 0700

void csi_node_vmdisk_dir(const struct csi_ctx *ctx, const char *id, char buf[PATH_MAX])
{
	snprintf(buf, PATH_MAX, "%s/node/sockets/%s", ctx->pool->dir, id);
}

void csi_node_vmdisk_socket(const struct csi_ctx *ctx, const char *id, bool in_dir,
			    char buf[PATH_MAX])
{
	snprintf(buf, PATH_MAX, "%s/node/sockets/%s%s", ctx->pool->dir, id,
		 in_dir ? "/" CSI_VMDISK_SOCKET_NAME : ".sock");
}

static int need_vblkd(const struct csi_ctx *ctx, const char *id, struct vp_error *err)
{
	if (ctx->vblkd_control)
		return 0;
	return vp_error_code(err, 0, EOPNOTSUPP, "volume %s is a vmDisk volume: the node "
			     "service needs --vblkd-control (vblkd serves it over vhost-user)", id);
}

int csi_node_vmdisk_serve(struct csi_ctx *ctx, const struct vp_node_record *rec,
			  char sock[PATH_MAX], struct vp_error *err)
{
	char image[PATH_MAX], dir[PATH_MAX];
	int ret = need_vblkd(ctx, rec->volume, err);
	struct stat st;

	if (ret)
		return ret;
	csi_node_vmdisk_socket(ctx, rec->volume, vp_node_record_vmdisk_dir(rec), sock);
	if (vp_node_record_vmdisk_dir(rec))
		csi_node_vmdisk_dir(ctx, rec->volume, dir);
	else
		snprintf(dir, sizeof(dir), "%s/node/sockets", ctx->pool->dir);
	if ((ret = vp_mkdir_p(dir, SOCKET_DIR_MODE, err)))
		return ret;
	vp_pool_image_path(ctx->pool, rec->volume, image, sizeof(image));
	/* Served already (a repeated call, or one before a crash): kept. */
	ret = csi_vblkd_export_claim(ctx->vblkd_control, rec->volume, image, rec->readonly, err);
	if (ret && ret != -EEXIST)
		return ret;
	vp_error_clear(err);
	ret = csi_vblkd_vhost_add(ctx->vblkd_control, rec->volume, sock, err);
	if (ret && ret != -EEXIST)
		return ret;
	vp_error_clear(err);
	if (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))
		return vp_error_code(err, 0, EEXIST, "vblkd serves export %s, but not on %s",
				     rec->volume, sock);
	if (!ret)
		vp_log(VP_LOG_INFO, "csi.node.attach", "volume=%s socket=%s attach=vhost-user "
		       "readonly=%d", rec->volume, sock, rec->readonly);
	return 0;
}

/* The socket directory of a vmDisk volume published as a directory,
 * once vblkd serves it no more: removed, with the socket a vblkd that
 * lost the export (restarted) left behind. */
static int remove_socket_dir(const struct csi_ctx *ctx, const struct vp_node_record *rec,
			     struct vp_error *err)
{
	char dir[PATH_MAX], sock[PATH_MAX];

	if (!vp_node_record_vmdisk_dir(rec))
		return 0;
	csi_node_vmdisk_socket(ctx, rec->volume, true, sock);
	if (unlink(sock) < 0 && errno != ENOENT)
		return vp_error_set(err, errno, "unlink %s", sock);
	csi_node_vmdisk_dir(ctx, rec->volume, dir);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return vp_error_set(err, errno, "rmdir %s", dir);
	return 0;
}

int csi_node_vmdisk_release(struct csi_ctx *ctx, const struct vp_node_record *rec,
			    struct vp_error *err)
{
	const char *id = rec->volume;
	int ret = need_vblkd(ctx, id, err);
	bool synced;

	if (ret)
		return ret;
	ret = csi_vblkd_vhost_remove(ctx->vblkd_control, id, err);
	if (ret && ret != -ENOENT)
		return ret;
	vp_error_clear(err);
	ret = csi_vblkd_export_remove(ctx->vblkd_control, id, &synced, err);
	if (ret == -ENOENT) {
		vp_error_clear(err);
		return remove_socket_dir(ctx, rec, err);
	}
	if (ret)
		return ret;
	if (!synced)
		return -EIO;  /* err says why */
	vp_log(VP_LOG_INFO, "csi.node.detach", "volume=%s attach=vhost-user synced=1", id);
	return remove_socket_dir(ctx, rec, err);
}

int csi_node_vmdisk_bind_dir(struct csi_ctx *ctx, const struct vp_node_record *rec, int parent,
			     const char *leaf, struct vp_error *err)
{
	char dir[PATH_MAX];
	int src, ret;

	csi_node_vmdisk_dir(ctx, rec->volume, dir);
	src = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return vp_error_set(err, errno, "open %s", dir);
	/* Read-only: the pod can neither replace the socket nor leave files
	 * in the pool; connect(2) to a socket needs no writable mount. */
	ret = csi_node_bind_dir(parent, leaf, src, dir, MS_RDONLY | MS_NOEXEC, err);
	close(src);
	return ret;
}

int csi_node_vmdisk_resized(struct csi_ctx *ctx, const char *id, uint64_t size,
			    struct vp_error *err)
{
	int ret = need_vblkd(ctx, id, err);

	if (ret)
		return ret;
	ret = csi_vblkd_resized(ctx->vblkd_control, id, size, err);
	if (!ret)
		vp_log(VP_LOG_INFO, "csi.node.resize", "volume=%s attach=vhost-user size=%llu", id,
		       (unsigned long long)size);
	return ret;
}
