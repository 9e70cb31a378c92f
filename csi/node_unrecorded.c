/* node_unrecorded.c - the start-up report of what this node holds for a
 * pool volume that no node record accounts for (service.h): a mount under
 * the kubelet directory of a volume's loop, nbd or ublk device or vmDisk
 * socket (or socket directory), and a vblkd export of a volume.  The
 * driver writes a record before it makes any of these, so such a thing is
 * someone else's (or left from a lost record): it is reported and left
 * alone, never undone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "csi/node/kpath.h"
#include "csi/node/loop.h"
#include "csi/node/mountinfo.h"
#include "csi/node/nbd.h"
#include "csi/node/record.h"
#include "csi/service.h"
#include "csi/vblkd.h"

#define DELETED_SUFFIX " (deleted)"

struct unrecorded {
	struct csi_ctx *ctx;
	vp_pool_report_fn report;
	void *report_ctx;
	struct vp_node_record rec;
};

/* The pool volume whose image backs device dev (a loop device's backing
 * file, an nbd device's backend identifier), into id: true when there is
 * one. */
static bool volume_of_device(const struct csi_ctx *ctx, dev_t dev, char id[VP_POOL_ID_SIZE])
{
	char shown[PATH_MAX + sizeof(DELETED_SUFFIX)], image[PATH_MAX];
	size_t n;
	char *base, *dot;

	if (vp_loop_backing_of(dev, shown, sizeof(shown)) &&
	    vp_nbdc_backend_of(dev, shown, sizeof(shown)))
		return false;
	n = strlen(shown);
	if (n > strlen(DELETED_SUFFIX) && !strcmp(shown + n - strlen(DELETED_SUFFIX), DELETED_SUFFIX))
		shown[n - strlen(DELETED_SUFFIX)] = '\0';
	base = strrchr(shown, '/');
	dot = base ? strrchr(base, '.') : NULL;
	if (!dot || (size_t)(dot - base - 1) >= VP_POOL_ID_SIZE)
		return false;
	memcpy(id, base + 1, (size_t)(dot - base - 1));
	id[dot - base - 1] = '\0';
	/* The pool's paths have no symlinks: the kernel's name is the same. */
	return vp_pool_is_volume_id(id) &&
	       !vp_pool_image_path(ctx->pool, id, image, sizeof(image)) && !strcmp(image, shown);
}

struct ublk_match {
	const struct csi_ctx *ctx;
	unsigned want;                 /* N of /dev/ublkbN */
	char *id;
	bool found;
};

static void match_ublk(void *vm, const char *name)
{
	struct ublk_match *m = vm;
	uint32_t got;

	if (!m->found && vp_pool_is_volume_id(name) &&
	    !csi_vblkd_ublk_find(m->ctx->vblkd_control, name, &got, NULL) && got == m->want) {
		snprintf(m->id, VP_POOL_ID_SIZE, "%s", name);
		m->found = true;
	}
}

/* The pool volume whose ublk device is dev, into id.  A ublk device names
 * no backing file in sysfs: vblkd's exports of pool volumes are asked which
 * one serves /dev/ublkb<N>. */
static bool volume_of_ublk(const struct csi_ctx *ctx, dev_t dev, char id[VP_POOL_ID_SIZE])
{
	char link[96], target[PATH_MAX];
	struct ublk_match m = { .ctx = ctx, .id = id };
	const char *base;
	ssize_t len;
	int end = 0;

	if (!ctx->vblkd_control)
		return false;
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(dev), minor(dev));
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		return false;
	target[len] = '\0';
	base = strrchr(target, '/');
	if (!base || sscanf(base + 1, "ublkb%u%n", &m.want, &end) != 1 || base[1 + end])
		return false;
	return !csi_vblkd_each_export(ctx->vblkd_control, match_ublk, &m, NULL) && m.found;
}

/* The vmDisk volume whose vhost-user socket, or socket directory, st is
 * (a bind of it), into id: DIR/node/sockets/<id>.sock or <id>/. */
static bool volume_of_socket(const struct csi_ctx *ctx, const struct stat *st,
			     char id[VP_POOL_ID_SIZE])
{
	bool in_dir = S_ISDIR(st->st_mode), found = false;
	size_t suffix = in_dir ? 0 : strlen(".sock");
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	struct stat here;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/node/sockets", ctx->pool->dir);
	if (!(d = opendir(dir)))
		return false;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n <= suffix || n - suffix >= VP_POOL_ID_SIZE ||
		    strcmp(de->d_name + n - suffix, in_dir ? "" : ".sock"))
			continue;
		memcpy(id, de->d_name, n - suffix);
		id[n - suffix] = '\0';
		if (in_dir)
			csi_node_vmdisk_dir(ctx, id, path);
		else
			csi_node_vmdisk_socket(ctx, id, false, path);
		found = vp_pool_is_volume_id(id) && !stat(path, &here) &&
			here.st_dev == st->st_dev && here.st_ino == st->st_ino;
	}
	closedir(d);
	return found;
}

/* The pool volume whose device (or vmDisk socket, or its directory) is mounted
 * at mp. */
static bool volume_at(const struct csi_ctx *ctx, const char *mp, char id[VP_POOL_ID_SIZE])
{
	int fd = vp_kpath_open(ctx->kubelet_dir, mp, O_PATH | O_NOFOLLOW, NULL);
	struct stat st;
	dev_t dev;
	bool ok;

	if (fd < 0)
		return false;
	ok = !fstat(fd, &st);
	close(fd);
	if (!ok)
		return false;
	/* A vmDisk volume's target is a bind of its socket or socket directory. */
	if (S_ISSOCK(st.st_mode))
		return volume_of_socket(ctx, &st, id);
	if (S_ISDIR(st.st_mode) && volume_of_socket(ctx, &st, id))
		return true;
	/* A block volume's target is a bind of the device node; a mount
	 * volume's staging path and targets show its filesystem. */
	dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	return volume_of_device(ctx, dev, id) || volume_of_ublk(ctx, dev, id);
}

static void check_mount(void *vu, const char *mp)
{
	struct unrecorded *u = vu;
	char id[VP_POOL_ID_SIZE], dir[PATH_MAX], detail[VP_POOL_ID_SIZE + 96];
	int ret;

	if (!volume_at(u->ctx, mp, id))
		return;
	csi_node_dir(u->ctx, dir);
	ret = vp_node_record_load(dir, id, &u->rec, NULL);
	if (ret == -ENOENT)
		snprintf(detail, sizeof(detail), "volume %s has no node record: left alone", id);
	else if (!ret && strcmp(u->rec.staging, mp) && vp_node_record_target(&u->rec, mp) < 0)
		snprintf(detail, sizeof(detail), "not in volume %s's node record: left alone", id);
	else
		return;  /* recorded, or a record reconcile reported unreadable */
	u->report(u->report_ctx, "node-mount-unrecorded", mp, detail);
}

static void check_export(void *vu, const char *name)
{
	struct unrecorded *u = vu;
	char dir[PATH_MAX];
	struct vp_volume v;

	csi_node_dir(u->ctx, dir);
	if (!vp_pool_is_volume_id(name) || vp_pool_find_id(u->ctx->pool, name, &v) ||
	    vp_node_record_exists(dir, name))
		return;
	u->report(u->report_ctx, "node-export-unrecorded", name,
		  "vblkd exports this pool volume, which has no node record: left alone");
}

void csi_node_report_unrecorded(struct csi_ctx *ctx, vp_pool_report_fn report, void *report_ctx)
{
	struct unrecorded *u = malloc(sizeof(*u));
	struct vp_error err = { 0 };

	if (!u) {
		report(report_ctx, "node-unrecorded-unchecked", ctx->kubelet_dir, "out of memory");
		return;
	}
	*u = (struct unrecorded){ .ctx = ctx, .report = report, .report_ctx = report_ctx };
	if (vp_mountinfo_under(ctx->kubelet_dir, check_mount, u, &err))
		report(report_ctx, "node-unrecorded-unchecked", ctx->kubelet_dir, err.msg);
	vp_error_clear(&err);
	if (ctx->vblkd_control && csi_vblkd_each_export(ctx->vblkd_control, check_export, u, &err))
		report(report_ctx, "node-unrecorded-unchecked", ctx->vblkd_control, err.msg);
	free(u);
}
