/* node_volume.c - NodeStageVolume / NodeUnstageVolume and
 * NodePublishVolume / NodeUnpublishVolume over a kernel device, for both
 * access types.
 *
 * Stage attaches the volume's image as a kernel device of the kind the
 * attach order picks (node_attach.c: nbd through vblkd, else loop;
 * read-only for a reader-only access mode) and, for mount, mounts its
 * filesystem at the staging directory (node_mount.c); publish creates
 * target_path (a file for block, a directory for mount) and bind-mounts
 * the device node or the staged filesystem on it (remounted read-only for
 * readonly, which for block needs a device staged read-only); unpublish
 * unmounts and removes it; unstage unmounts and detaches.  The node record
 * (csi/node/record.h) is written before each device or mount is made and
 * updated after it is gone, so every call can be repeated after a crash.
 * Each call holds the volume's ID key, like the controller's calls on it.
 *
 * A vmDisk volume used as a VM's disk has no device: stage has vblkd serve
 * it as vhost-user-blk (node_vmdisk.c) and publish bind-mounts that socket
 * on the target file instead of a device node (block access type), or the
 * directory holding it, as disk.sock, on a target directory (mount access
 * type with fs_type vhost-user-blk: what kubelet can hand a pod).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "csi/node/kpath.h"
#include "csi/node/mountopt.h"
#include "csi/node/record.h"
#include "csi/service.h"
#include "csi/vblkd.h"

#define MODE(m) CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__##m

void csi_node_dir(const struct csi_ctx *ctx, char buf[PATH_MAX])
{
	snprintf(buf, PATH_MAX, "%s/node", ctx->pool->dir);
}

bool csi_node_volume(struct csi_ctx *ctx, const char *id, struct vp_volume *v,
			 struct vp_grpc_reply *r)
{
	csi_note(r, id);
	if (!*id) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume_id is required");
		return false;
	}
	if (!vp_pool_is_volume_id(id) || vp_pool_find_id(ctx->pool, id, v)) {
		csi_fail(r, VP_GRPC_NOT_FOUND, "volume %s does not exist", id);
		return false;
	}
	return true;
}

bool csi_node_required(const char *value, const char *field, struct vp_grpc_reply *r)
{
	if (*value)
		return true;
	csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "%s is required", field);
	return false;
}

/* cap is given and supported; fs gets "" for the block access type, else
 * the filesystem: the capability's fs_type, else the volume's, else ext4
 * (or vhost-user-blk, for a vmDisk volume's socket in a directory); mo
 * gets the capability's mount flags (none for block and vhost-user-blk). */
static bool node_capability(const Csi__V1__VolumeCapability *cap, const struct vp_volume *v,
			    char fs[VP_NODE_FS_TYPE_SIZE], struct vp_mountopt *mo,
			    struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	const char *want;
	char msg[256];

	if (!cap) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume_capability is required");
		return false;
	}
	if (!csi_caps_supported((Csi__V1__VolumeCapability *const *)&cap, 1, msg, sizeof(msg)) ||
	    !csi_caps_fit_volume((Csi__V1__VolumeCapability *const *)&cap, 1, v, msg,
				 sizeof(msg))) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "%s", msg);
		return false;
	}
	fs[0] = '\0';
	mo->flags = 0;
	mo->data[0] = '\0';
	if (cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK)
		return true;
	want = cap->mount && *cap->mount->fs_type ? cap->mount->fs_type :
	       *v->fs_type ? v->fs_type : "ext4";
	if (!strcmp(want, VP_NODE_FS_VHOST_USER_BLK) && cap->mount->n_mount_flags) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "fs_type %s: no mount_flags (nothing is "
			 "mounted but the socket's directory)", want);
		return false;
	}
	if (cap->mount && vp_mountopt_parse(cap->mount->mount_flags, cap->mount->n_mount_flags,
					    mo, &err)) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "%s", err.msg);
		return false;
	}
	strcpy(fs, want);
	return true;
}

/* A vmDisk volume is a VM's disk when used as a block volume or with
 * fs_type vhost-user-blk: vblkd serves it over vhost-user.  Its mount
 * access type with ext4 or xfs is a filesystem on a loop device like any
 * volume's, so one volume can be a container's first and a VM's afterwards
 * (the demo).  fs is node_capability's: empty for block. */
static bool vm_disk_use(const struct vp_volume *v, const char *fs)
{
	return v->vm_disk && (!fs[0] || !strcmp(fs, VP_NODE_FS_VHOST_USER_BLK));
}

static bool reader_only(const Csi__V1__VolumeCapability *cap)
{
	return cap->access_mode->mode == MODE(SINGLE_NODE_READER_ONLY) ||
	       cap->access_mode->mode == MODE(MULTI_NODE_READER_ONLY);
}

bool csi_node_record(struct csi_ctx *ctx, const char *id, struct vp_node_record *rec,
			struct vp_grpc_reply *r)
{
	char dir[PATH_MAX];
	struct vp_error err = { 0 };
	int ret;

	csi_node_dir(ctx, dir);
	ret = vp_node_record_load(dir, id, rec, &err);
	if (ret && ret != -ENOENT)
		csi_fail(r, VP_GRPC_INTERNAL, "%s", err.msg);
	return !ret;
}

static bool save_record(struct csi_ctx *ctx, const struct vp_node_record *rec,
			struct vp_grpc_reply *r)
{
	char dir[PATH_MAX];
	struct vp_error err = { 0 };

	csi_node_dir(ctx, dir);
	if (!vp_node_record_save(dir, rec, &err))
		return true;
	csi_fail(r, VP_GRPC_INTERNAL, "%s", err.msg);
	return false;
}

static bool ensure_device(struct csi_ctx *ctx, const struct vp_node_record *rec, const char *why,
			  struct csi_device *d, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };

	if (!csi_node_attach(ctx, rec, why, d, &err))
		return true;
	csi_fail(r, VP_GRPC_INTERNAL, "attach volume %s: %s", rec->volume, err.msg);
	return false;
}

/* Detach volume id's device, unmounting its staging directory first for
 * a mount volume: 0 or -errno with err set. */
static int release_device(struct csi_ctx *ctx, const struct vp_node_record *rec,
			  struct vp_error *err)
{
	int ret;

	if (rec->vm_disk)
		return csi_node_vmdisk_release(ctx, rec, err);
	ret = rec->fs_type[0] ? csi_node_unmount_dir(ctx, rec->staging, err) : 0;
	return ret ? ret : csi_node_detach(ctx, rec, err);
}

/* The device of the volume staged per rec (logged with why, the kinds
 * the attach order skipped; NULL for a stage made before), and for a
 * mount volume its filesystem at the staging directory, mounted with the
 * record's mount flags. */
static bool make_stage(struct csi_ctx *ctx, const struct vp_node_record *rec, const char *why,
		       struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	char sock[PATH_MAX];
	struct csi_device d;
	int ret;

	if (rec->vm_disk) {
		ret = csi_node_vmdisk_serve(ctx, rec, sock, &err);
		if (ret)
			csi_fail(r, VP_GRPC_INTERNAL, "stage volume %s: %s", rec->volume, err.msg);
		return !ret;
	}
	if (!ensure_device(ctx, rec, why, &d, r))
		return false;
	if (!rec->fs_type[0])
		return true;
	ret = csi_node_stage_mount(ctx, rec->volume, rec->staging, d.dev, rec->fs_type,
				   rec->readonly, &rec->mount, &err);
	if (!ret)
		return true;
	/* EINVAL from mount(2) with options given: the filesystem refused them. */
	csi_fail(r, ret == -EEXIST || ret == -EROFS ? VP_GRPC_FAILED_PRECONDITION :
		 ret == -EINVAL && (rec->mount.flags || rec->mount.data[0]) ?
		 VP_GRPC_INVALID_ARGUMENT :
		 VP_GRPC_INTERNAL, "stage volume %s: %s", rec->volume, err.msg);
	return false;
}

/* A vmDisk volume (or one to attach over nbd) not staged yet must not be
 * exported by vblkd already: such an export is someone else's (this
 * driver writes the record first), and a failed stage's undo would remove
 * it. */
static bool vmdisk_name_free(struct csi_ctx *ctx, const char *id, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	bool serves;

	if (csi_vblkd_serves(ctx->vblkd_control, id, &serves, &err)) {
		csi_fail(r, VP_GRPC_UNAVAILABLE, "stage volume %s: %s", id, err.msg);
		return false;
	}
	if (serves)
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is not staged, but vblkd "
			 "has an export of that name already (not made by this driver)", id);
	return !serves;
}

static void stage_locked(struct csi_ctx *ctx, const Csi__V1__NodeStageVolumeRequest *req,
			 const char *fs, const struct vp_mountopt *mo, bool vm_disk,
			 struct vp_node_record *rec, struct vp_grpc_reply *r)
{
	bool ro = reader_only(req->volume_capability), fresh = false;
	struct vp_error err = { 0 };
	char dir[PATH_MAX], why[512] = "";
	int fd;

	if (csi_node_record(ctx, req->volume_id, rec, r)) {
		if (strcmp(rec->staging, req->staging_target_path)) {
			csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is staged at %s",
				 req->volume_id, rec->staging);
			return;
		}
		if (rec->readonly != ro || strcmp(rec->fs_type, fs)) {
			csi_fail(r, VP_GRPC_ALREADY_EXISTS, "volume %s is staged %s as %s",
				 req->volume_id, rec->readonly ? "read-only" : "read-write",
				 rec->fs_type[0] ? rec->fs_type : "block");
			return;
		}
		if (rec->mount.flags != mo->flags || strcmp(rec->mount.data, mo->data)) {
			csi_fail(r, VP_GRPC_ALREADY_EXISTS, "volume %s is staged with other "
				 "mount_flags", req->volume_id);
			return;
		}
	} else if (r->code != VP_GRPC_OK) {
		return;
	} else {
		/* The CO creates the staging directory: it must be there, under
		 * the kubelet directory, reached without a symlink. */
		fd = vp_kpath_open(ctx->kubelet_dir, req->staging_target_path,
				   O_PATH | O_DIRECTORY, &err);
		if (fd < 0) {
			csi_fail(r, fd == -ENOENT ? VP_GRPC_NOT_FOUND : VP_GRPC_INVALID_ARGUMENT,
				 "staging_target_path: %s", err.msg);
			return;
		}
		close(fd);
		memset(rec, 0, sizeof(*rec));
		if (!vm_disk)
			csi_node_attach_choose(ctx, rec, why, sizeof(why));
		/* vmDisk, nbd and ublk stages make vblkd export the volume. */
		if ((vm_disk || rec->attach != VP_NODE_ATTACH_LOOP) &&
		    !vmdisk_name_free(ctx, req->volume_id, r))
			return;
		strcpy(rec->volume, req->volume_id);
		snprintf(rec->staging, sizeof(rec->staging), "%s", req->staging_target_path);
		rec->readonly = ro;
		rec->vm_disk = vm_disk;
		strcpy(rec->fs_type, fs);
		rec->mount = *mo;
		if (!save_record(ctx, rec, r))
			return;
		fresh = true;
	}
	/* A first stage that fails leaves no device and no record behind. */
	if (!make_stage(ctx, rec, fresh ? why : NULL, r) && fresh) {
		csi_node_dir(ctx, dir);
		if (release_device(ctx, rec, &err) || vp_node_record_remove(dir, rec->volume, &err))
			vp_log(VP_LOG_WARN, "csi.node.undo", "volume=%s error=\"%s\"",
			       rec->volume, err.msg);
	}
}

static void node_stage(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__NodeStageVolumeRequest *req =
		csi_unpack(&csi__v1__node_stage_volume_request__descriptor, buf, len, r);
	Csi__V1__NodeStageVolumeResponse resp = CSI__V1__NODE_STAGE_VOLUME_RESPONSE__INIT;
	struct vp_node_record *rec;
	char key[CSI_KEY_SIZE];
	char fs[VP_NODE_FS_TYPE_SIZE];
	struct vp_mountopt mo;
	struct vp_volume v;

	if (!req)
		return;
	if (csi_node_volume(ctx, req->volume_id, &v, r) &&
	    csi_node_required(req->staging_target_path, "staging_target_path", r) &&
	    node_capability(req->volume_capability, &v, fs, &mo, r)) {
		if (strlen(req->staging_target_path) >= PATH_MAX) {
			csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "staging_target_path too long");
		} else if (vm_disk_use(&v, fs) && !ctx->vblkd_control) {
			csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is a vmDisk volume: the "
				 "node service needs --vblkd-control (vblkd serves it over "
				 "vhost-user)", v.id);
		} else if ((rec = csi_node_lock(ctx, v.id, key, r))) {
			stage_locked(ctx, req, fs, &mo, vm_disk_use(&v, fs), rec, r);
			csi_node_unlock(ctx, key, rec);
		}
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);
	csi_free(req);
}

static void unstage_locked(struct csi_ctx *ctx, const char *id, const char *staging,
			   struct vp_node_record *rec, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	char dir[PATH_MAX];

	if (!csi_node_record(ctx, id, rec, r) || strcmp(rec->staging, staging))
		return;  /* not staged (there): nothing to undo */
	if (rec->n_targets) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is still published at %s", id,
			 rec->targets[0].path);
		return;
	}
	if (release_device(ctx, rec, &err)) {
		csi_fail(r, VP_GRPC_INTERNAL, "unstage volume %s: %s", id, err.msg);
		return;
	}
	csi_node_dir(ctx, dir);
	if (vp_node_record_remove(dir, id, &err))
		csi_fail(r, VP_GRPC_INTERNAL, "%s", err.msg);
}

static void node_unstage(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__NodeUnstageVolumeRequest *req =
		csi_unpack(&csi__v1__node_unstage_volume_request__descriptor, buf, len, r);
	Csi__V1__NodeUnstageVolumeResponse resp = CSI__V1__NODE_UNSTAGE_VOLUME_RESPONSE__INIT;
	struct vp_node_record *rec;
	char key[CSI_KEY_SIZE];
	struct vp_volume v;

	if (!req)
		return;
	if (csi_node_volume(ctx, req->volume_id, &v, r) &&
	    csi_node_required(req->staging_target_path, "staging_target_path", r)) {
		if ((rec = csi_node_lock(ctx, v.id, key, r))) {
			unstage_locked(ctx, v.id, req->staging_target_path, rec, r);
			csi_node_unlock(ctx, key, rec);
		}
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);
	csi_free(req);
}

struct vp_node_record *csi_node_lock(struct csi_ctx *ctx, const char *id,
				     char key[CSI_KEY_SIZE], struct vp_grpc_reply *r)
{
	struct vp_node_record *rec = malloc(sizeof(*rec));

	if (!rec) {
		csi_fail(r, VP_GRPC_INTERNAL, "out of memory");
		return NULL;
	}
	csi_key(key, "id", id);
	vp_keylock_acquire(&ctx->pool->keys, key);
	return rec;
}

void csi_node_unlock(struct csi_ctx *ctx, const char *key, struct vp_node_record *rec)
{
	vp_keylock_release(&ctx->pool->keys, key);
	free(rec);
}

bool csi_node_mounted(int fd)
{
	struct statx stx;

	return statx(fd, "", AT_EMPTY_PATH, 0, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Unmount what is mounted at parent/leaf (when anything is) and remove the
 * file: 0 or -errno with err set. */
static int remove_target(int parent, const char *leaf, struct vp_error *err)
{
	char path[VP_KPATH_PROC_SIZE + NAME_MAX + 1];
	bool mounted;
	int fd = openat(parent, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : vp_error_set(err, errno, "open target %s", leaf);
	mounted = csi_node_mounted(fd);
	/* An fd on the mount would keep it busy: unmounted by name, leaf
	 * (not followed) in the very directory parent refers to. */
	close(fd);
	if (mounted) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parent, leaf);
		if (umount2(path, UMOUNT_NOFOLLOW) < 0)
			ret = vp_error_set(err, errno, "umount target %s", leaf);
	}
	/* A file (block) or a directory (mount). */
	if (!ret && unlinkat(parent, leaf, 0) < 0 &&
	    (errno != EISDIR || unlinkat(parent, leaf, AT_REMOVEDIR) < 0) && errno != ENOENT)
		ret = vp_error_set(err, errno, "remove target %s", leaf);
	return ret;
}

int csi_node_mount_target(int parent, const char *leaf, const char *dev, bool readonly,
			struct vp_error *err)
{
	char proc[VP_KPATH_PROC_SIZE], path[VP_KPATH_PROC_SIZE + NAME_MAX + 1];
	int fd = openat(parent, leaf, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600), top;

	if (fd < 0 && errno == ENXIO)  /* a socket (vmDisk) bound there: not openable */
		fd = openat(parent, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "create target %s", leaf);
	if (csi_node_mounted(fd)) {
		/* Mounted before a crash, or by a repeated call: only the
		 * volume's own device (or vmDisk socket) counts. */
		struct stat here, want;
		bool ours = !fstat(fd, &here) && !stat(dev, &want) &&
			    (S_ISBLK(want.st_mode) ?
			     S_ISBLK(here.st_mode) && here.st_rdev == want.st_rdev :
			     here.st_dev == want.st_dev && here.st_ino == want.st_ino);

		bool stale = !ours && S_ISSOCK(want.st_mode) && S_ISSOCK(here.st_mode);

		close(fd);
		if (!stale)
			return ours ? 0 : vp_error_code(err, 0, EEXIST, "target %s: something "
						       "else is mounted there", leaf);
		/* The vmDisk socket of a vblkd that served the volume before
		 * (vhost-add made a new one since): bound again. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parent, leaf);
		if (umount2(path, UMOUNT_NOFOLLOW) < 0)
			return vp_error_set(err, errno, "umount stale socket on target %s", leaf);
		fd = openat(parent, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return vp_error_set(err, errno, "open target %s", leaf);
	}
	vp_kpath_proc(proc, fd);
	if (mount(dev, proc, NULL, MS_BIND, NULL) < 0) {
		close(fd);
		return vp_error_set(err, errno, "bind-mount %s on target %s", dev, leaf);
	}
	close(fd);
	if (!readonly)
		return 0;
	/* The bind mount's own root, to remount it read-only. */
	top = openat(parent, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (top < 0)
		return vp_error_set(err, errno, "open target %s", leaf);
	vp_kpath_proc(proc, top);
	if (mount(NULL, proc, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
		vp_error_set(err, errno, "remount target %s read-only", leaf);
		close(top);
		return -1;
	}
	close(top);
	return 0;
}

static bool target_allowed(const Csi__V1__NodePublishVolumeRequest *req, const char *fs,
			   const struct vp_mountopt *mo, const struct vp_node_record *rec, int at,
			   struct vp_grpc_reply *r)
{
	if (strcmp(rec->staging, req->staging_target_path)) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is staged at %s, not %s",
			 rec->volume, rec->staging, req->staging_target_path);
		return false;
	}
	if (at >= 0) {
		if (rec->targets[at].readonly != (bool)req->readonly) {
			csi_fail(r, VP_GRPC_ALREADY_EXISTS, "volume %s is published at %s %s",
				 rec->volume, req->target_path,
				 rec->targets[at].readonly ? "read-only" : "read-write");
			return false;
		}
		if (rec->targets[at].mount_flags != (mo->flags & VP_MOUNTOPT_PER_MOUNT)) {
			csi_fail(r, VP_GRPC_ALREADY_EXISTS, "volume %s is published at %s with "
				 "other mount_flags", rec->volume, req->target_path);
			return false;
		}
		return true;
	}
	/* A read-only bind mount does not stop writes through a device node:
	 * only a device attached read-only (a reader-only access mode) is. */
	if (strcmp(rec->fs_type, fs)) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is staged as %s", rec->volume,
			 rec->fs_type[0] ? rec->fs_type : "block");
		return false;
	}
	if (!fs[0] && req->readonly && !rec->readonly) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is staged read-write: a "
			 "read-only block publish needs a reader-only access mode", rec->volume);
		return false;
	}
	if (rec->n_targets && req->volume_capability->access_mode->mode ==
	    MODE(SINGLE_NODE_SINGLE_WRITER)) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s (SINGLE_NODE_SINGLE_WRITER) is "
			 "already published at %s", rec->volume, rec->targets[0].path);
		return false;
	}
	if (rec->n_targets == VP_NODE_MAX_TARGETS) {
		csi_fail(r, VP_GRPC_RESOURCE_EXHAUSTED, "volume %s is published at %d targets "
			 "already", rec->volume, VP_NODE_MAX_TARGETS);
		return false;
	}
	return true;
}

static void publish_locked(struct csi_ctx *ctx, const Csi__V1__NodePublishVolumeRequest *req,
			   const char *fs, const struct vp_mountopt *mo, struct vp_node_record *rec,
			   struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	char leaf[NAME_MAX + 1], sock[PATH_MAX];
	struct csi_device d;
	int at, parent, ret;

	if (!csi_node_record(ctx, req->volume_id, rec, r)) {
		if (r->code == VP_GRPC_OK)
			csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is not staged",
				 req->volume_id);
		return;
	}
	at = vp_node_record_target(rec, req->target_path);
	if (!target_allowed(req, fs, mo, rec, at, r))
		return;
	if (rec->vm_disk) {
		/* Served again when vblkd lost it (restarted meanwhile). */
		ret = csi_node_vmdisk_serve(ctx, rec, sock, &err);
		if (ret) {
			csi_fail(r, VP_GRPC_INTERNAL, "publish volume %s: %s", rec->volume, err.msg);
			return;
		}
	} else if (!ensure_device(ctx, rec, NULL, &d, r)) {
		return;
	}
	parent = vp_kpath_open_parent(ctx->kubelet_dir, req->target_path, leaf, &err);
	if (parent < 0) {
		csi_fail(r, parent == -ENOENT ? VP_GRPC_NOT_FOUND : VP_GRPC_INVALID_ARGUMENT,
			 "target_path: %s", err.msg);
		return;
	}
	if (at < 0) {
		at = (int)rec->n_targets++;
		snprintf(rec->targets[at].path, PATH_MAX, "%s", req->target_path);
		rec->targets[at].readonly = req->readonly;
		rec->targets[at].mount_flags = mo->flags & VP_MOUNTOPT_PER_MOUNT;
		if (!save_record(ctx, rec, r)) {
			close(parent);
			return;
		}
	}
	if (vp_node_record_vmdisk_dir(rec))
		ret = csi_node_vmdisk_bind_dir(ctx, rec, parent, leaf, &err);
	else if (fs[0])
		ret = csi_node_bind_dir_target(ctx, parent, leaf, rec->staging, req->readonly,
					       rec->targets[at].mount_flags, &err);
	else
		ret = csi_node_mount_target(parent, leaf, rec->vm_disk ? sock : d.dev, req->readonly,
					    &err);
	if (ret) {
		csi_fail(r, ret == -EEXIST ? VP_GRPC_FAILED_PRECONDITION : VP_GRPC_INTERNAL,
			 "publish volume %s: %s", rec->volume, err.msg);
		/* Undone, so the failure leaves nothing behind; the record
		 * keeps the target only if the undo fails too.  A mount that
		 * is not ours is not touched. */
		if (ret == -EEXIST || !remove_target(parent, leaf, &err)) {
			rec->targets[at] = rec->targets[--rec->n_targets];
			(void)save_record(ctx, rec, r);
		}
	}
	close(parent);
}

static void node_publish(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__NodePublishVolumeRequest *req =
		csi_unpack(&csi__v1__node_publish_volume_request__descriptor, buf, len, r);
	Csi__V1__NodePublishVolumeResponse resp = CSI__V1__NODE_PUBLISH_VOLUME_RESPONSE__INIT;
	struct vp_node_record *rec;
	char key[CSI_KEY_SIZE];
	char fs[VP_NODE_FS_TYPE_SIZE];
	struct vp_mountopt mo;
	struct vp_volume v;

	if (!req)
		return;
	if (csi_node_volume(ctx, req->volume_id, &v, r) &&
	    csi_node_required(req->staging_target_path, "staging_target_path", r) &&
	    csi_node_required(req->target_path, "target_path", r) &&
	    node_capability(req->volume_capability, &v, fs, &mo, r)) {
		if (strlen(req->target_path) >= PATH_MAX) {
			csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "target_path too long");
		} else if (vm_disk_use(&v, fs) && req->readonly) {
			/* A read-only mount does not stop writes through a socket. */
			csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume %s is a vmDisk volume: no "
				 "read-only publish", v.id);
		} else if ((rec = csi_node_lock(ctx, v.id, key, r))) {
			publish_locked(ctx, req, fs, &mo, rec, r);
			csi_node_unlock(ctx, key, rec);
		}
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);
	csi_free(req);
}

/* A target the record does not list was never mounted by this driver
 * (the record is written first): it is left alone. */
static void unpublish_locked(struct csi_ctx *ctx, const char *id, const char *target,
			     struct vp_node_record *rec, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	char leaf[NAME_MAX + 1];
	int at, parent, ret = 0;

	if (!csi_node_record(ctx, id, rec, r) || (at = vp_node_record_target(rec, target)) < 0)
		return;
	parent = vp_kpath_open_parent(ctx->kubelet_dir, target, leaf, &err);
	if (parent >= 0) {
		ret = remove_target(parent, leaf, &err);
		close(parent);
	} else if (parent != -ENOENT) {
		ret = parent;
	}
	if (ret) {
		csi_fail(r, VP_GRPC_INTERNAL, "unpublish volume %s: %s", id, err.msg);
		return;
	}
	rec->targets[at] = rec->targets[--rec->n_targets];
	save_record(ctx, rec, r);
}

static void node_unpublish(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__NodeUnpublishVolumeRequest *req =
		csi_unpack(&csi__v1__node_unpublish_volume_request__descriptor, buf, len, r);
	Csi__V1__NodeUnpublishVolumeResponse resp = CSI__V1__NODE_UNPUBLISH_VOLUME_RESPONSE__INIT;
	struct vp_node_record *rec;
	char key[CSI_KEY_SIZE];
	struct vp_volume v;

	if (!req)
		return;
	if (csi_node_volume(ctx, req->volume_id, &v, r) &&
	    csi_node_required(req->target_path, "target_path", r)) {
		if ((rec = csi_node_lock(ctx, v.id, key, r))) {
			unpublish_locked(ctx, v.id, req->target_path, rec, r);
			csi_node_unlock(ctx, key, rec);
		}
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);
	csi_free(req);
}

const struct vp_grpc_method csi_node_volume_methods[] = {
	{ "/csi.v1.Node/NodeStageVolume", node_stage },
	{ "/csi.v1.Node/NodeUnstageVolume", node_unstage },
	{ "/csi.v1.Node/NodePublishVolume", node_publish },
	{ "/csi.v1.Node/NodeUnpublishVolume", node_unpublish },
};
const size_t csi_node_volume_n_methods =
	sizeof(csi_node_volume_methods) / sizeof(csi_node_volume_methods[0]);
