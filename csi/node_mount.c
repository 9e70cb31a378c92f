/* node_mount.c - the mount access type's part of staging and publishing:
 * the device formatted only when libblkid finds it blank, mounted at the
 * staging directory with the capability's mount flags (always nosuid and
 * nodev), bind-mounted on a target directory and the bind remounted with
 * the flags a mount point takes (a first bind mount ignores them).  Every
 * mount(2) and umount2(2) names a directory through an fd opened beneath
 * the kubelet directory (csi/node/kpath.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "csi/node/fs.h"
#include "csi/node/kpath.h"
#include "csi/node/mountopt.h"
#include "csi/service.h"

#define TARGET_DIR_MODE 0750

/* Format dev when it is blank; refuse (-EEXIST) when it holds anything but
 * an fstype filesystem, and (-EROFS) when it is blank but staged read-only:
 * a reader-only stage never writes, and there is nothing to mount. */
static int ready_filesystem(const char *id, const char *dev, const char *fstype,
			    bool readonly, struct vp_error *err)
{
	char held[VP_FS_TYPE_SIZE];
	int ret = vp_fs_probe(dev, held, err);

	if (ret)
		return ret;
	if (!held[0] && readonly)
		return vp_error_code(err, 0, EROFS, "%s is blank and staged read-only: neither "
				     "formatted nor mounted", dev);
	if (!held[0]) {
		if ((ret = vp_fs_make(dev, fstype, err)))
			return ret;
		vp_log(VP_LOG_INFO, "csi.node.mkfs", "volume=%s device=%s fs=%s", id, dev, fstype);
		return 0;
	}
	if (strcmp(held, fstype))
		return vp_error_code(err, 0, EEXIST, "%s holds %s, not %s: neither formatted nor "
				    "mounted", dev, held, fstype);
	return 0;
}

int csi_node_stage_mount(struct csi_ctx *ctx, const char *id, const char *staging,
			 const char *dev, const char *fstype, bool readonly,
			 const struct vp_mountopt *mo, struct vp_error *err)
{
	unsigned long flags = MS_NOSUID | MS_NODEV | (readonly ? MS_RDONLY : 0);
	const char *data = mo && mo->data[0] ? mo->data : NULL;
	char proc[VP_KPATH_PROC_SIZE];
	int fd = vp_kpath_open(ctx->kubelet_dir, staging, O_PATH | O_DIRECTORY | O_NOFOLLOW, err);
	int ret = 0;

	if (fd < 0)
		return fd;
	if (mo)
		flags |= mo->flags;
	if (!csi_node_mounted(fd)) {
		ret = ready_filesystem(id, dev, fstype, readonly, err);
		vp_kpath_proc(proc, fd);
		if (!ret && mount(dev, proc, fstype, flags, data) < 0)
			ret = vp_error_set(err, errno, "mount %s (%s%s%s) at %s", dev, fstype,
					   data ? ", options " : "", data ? data : "", staging);
		if (!ret)
			vp_log(VP_LOG_INFO, "csi.node.mount", "volume=%s device=%s fs=%s "
			       "flags=%#lx options=\"%s\"", id, dev, fstype, flags, data ? data : "");
	}
	close(fd);
	return ret;
}

/* Unmount what is mounted at path (a directory under the kubelet
 * directory): 0, also when nothing is or path is gone. */
int csi_node_unmount_dir(struct csi_ctx *ctx, const char *path, struct vp_error *err)
{
	char leaf[NAME_MAX + 1], name[VP_KPATH_PROC_SIZE + NAME_MAX + 1];
	int parent = vp_kpath_open_parent(ctx->kubelet_dir, path, leaf, err), fd, ret = 0;
	bool mounted;

	if (parent == -ENOENT)
		return 0;
	if (parent < 0)
		return parent;
	fd = openat(parent, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	mounted = fd >= 0 && csi_node_mounted(fd);
	if (fd >= 0)
		close(fd);
	/* By name in the parent's fd: an fd on the mount would keep it busy. */
	snprintf(name, sizeof(name), "/proc/self/fd/%d/%s", parent, leaf);
	if (mounted && umount2(name, UMOUNT_NOFOLLOW) < 0)
		ret = vp_error_set(err, errno, "umount %s", path);
	close(parent);
	return ret;
}

/* Whether fd (a mount root) shows the filesystem mounted at staging_fd. */
static bool same_filesystem(int fd, int staging_fd)
{
	struct stat a, b;

	return !fstat(fd, &a) && !fstat(staging_fd, &b) && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Remount the bind mount at parent/leaf with the per-mount bits flags:
 * 0 or -errno with err set. */
static int remount_bind(int parent, const char *leaf, unsigned long flags, struct vp_error *err)
{
	char dst[VP_KPATH_PROC_SIZE];
	/* The bind mount's own root, not the directory under it. */
	int top = openat(parent, leaf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret = 0;

	if (top < 0)
		return vp_error_set(err, errno, "open target %s", leaf);
	vp_kpath_proc(dst, top);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		ret = vp_error_set(err, errno, "remount target %s with flags %#lx", leaf, flags);
	close(top);
	return ret;
}

/* The per-mount bits of the mount at fd (statvfs's ST_* bits are the
 * MS_* ones). */
static unsigned long mount_flags_of(int fd)
{
	struct statvfs sv;

	return fstatvfs(fd, &sv) ? 0 : sv.f_flag & VP_MOUNTOPT_PER_MOUNT;
}

int csi_node_bind_dir(int parent, const char *leaf, int src, const char *src_name,
		      unsigned long flags, struct vp_error *err)
{
	char from[VP_KPATH_PROC_SIZE], dst[VP_KPATH_PROC_SIZE];
	int fd, ret = 0;

	if (mkdirat(parent, leaf, TARGET_DIR_MODE) < 0 && errno != EEXIST)
		return vp_error_set(err, errno, "create target directory %s", leaf);
	fd = openat(parent, leaf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "open target directory %s", leaf);
	if (csi_node_mounted(fd)) {
		if (!same_filesystem(fd, src))
			ret = vp_error_code(err, 0, EEXIST, "target %s: something else is mounted there",
					   leaf);
	} else {
		vp_kpath_proc(from, src);
		vp_kpath_proc(dst, fd);
		if (mount(from, dst, NULL, MS_BIND, NULL) < 0)
			ret = vp_error_set(err, errno, "bind-mount %s on target %s", src_name, leaf);
		else if (flags)
			ret = remount_bind(parent, leaf, flags | MS_NOSUID | MS_NODEV, err);
	}
	close(fd);
	return ret;
}

int csi_node_bind_dir_target(struct csi_ctx *ctx, int parent, const char *leaf,
			     const char *staging, bool readonly, unsigned long mount_flags,
			     struct vp_error *err)
{
	unsigned long flags = readonly ? MS_RDONLY : 0;
	int sfd = vp_kpath_open(ctx->kubelet_dir, staging, O_PATH | O_DIRECTORY | O_NOFOLLOW, err);
	int ret;

	if (sfd < 0)
		return sfd;
	if (!csi_node_mounted(sfd)) {
		ret = vp_error_code(err, 0, ENOENT, "nothing is mounted at the staging path %s",
				    staging);
	} else {
		flags |= mount_flags ? mount_flags & VP_MOUNTOPT_PER_MOUNT : mount_flags_of(sfd);
		ret = csi_node_bind_dir(parent, leaf, sfd, staging, flags, err);
	}
	close(sfd);
	return ret;
}
