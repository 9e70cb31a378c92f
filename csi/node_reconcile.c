/* node_reconcile.c - the start-up repair of node records (service.h):
 * what a reboot or a hand behind the driver's back undid is made again, or
 * dropped from the record when it cannot be.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csi/node/kpath.h"
#include "csi/node/record.h"
#include "csi/service.h"

struct reporter {
	vp_pool_report_fn fn;
	void *ctx;
};

/* Mount target i of rec again when it is not: true when it is mounted
 * now, false (with why in err) when it is to be dropped. */
static bool repair_target(struct csi_ctx *ctx, const struct vp_node_record *rec, size_t i,
			  const char *dev, const struct reporter *rep, struct vp_error *err)
{
	const struct vp_node_target *t = &rec->targets[i];
	char leaf[NAME_MAX + 1];
	int parent = vp_kpath_open_parent(ctx->kubelet_dir, t->path, leaf, err), fd, ret;
	bool was;

	if (parent < 0)
		return false;
	fd = openat(parent, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	was = fd >= 0 && csi_node_mounted(fd);
	if (fd >= 0)
		close(fd);
	if (vp_node_record_vmdisk_dir(rec))
		ret = csi_node_vmdisk_bind_dir(ctx, rec, parent, leaf, err);
	else if (rec->fs_type[0])
		ret = csi_node_bind_dir_target(ctx, parent, leaf, rec->staging, t->readonly,
					       t->mount_flags, err);
	else
		ret = csi_node_mount_target(parent, leaf, dev, t->readonly, err);
	/* A failed mount leaves the file it created; a mount not ours stays. */
	if (ret && ret != -EEXIST)
		unlinkat(parent, leaf, 0);
	close(parent);
	if (!ret && !was)
		rep->fn(rep->ctx, "node-target-remounted", t->path, dev);
	return !ret;
}

static void repair(struct csi_ctx *ctx, struct vp_node_record *rec, const char *file,
		   const struct reporter *rep)
{
	char dir[PATH_MAX], sock[PATH_MAX];
	struct vp_error err = { 0 };
	struct csi_device d;
	bool had, changed = false;
	const char *dev = d.dev;

	if (rec->vm_disk) {
		/* vblkd's export and vhost-user socket, made again when vblkd
		 * lost them (restarted). */
		if (csi_node_vmdisk_serve(ctx, rec, sock, &err)) {
			rep->fn(rep->ctx, "node-device-unavailable", file, err.msg);
			return;
		}
		dev = sock;
	} else {
		/* Of the kind the record names (loop, nbd or ublk). */
		had = csi_node_device_find(ctx, rec, &d, NULL) == 0;
		if (csi_node_attach(ctx, rec, NULL, &d, &err)) {
			rep->fn(rep->ctx, "node-device-unavailable", file, err.msg);
			return;
		}
		if (!had)
			rep->fn(rep->ctx, "node-device-reattached", file, d.dev);
	}
	/* A mount volume's filesystem first: its targets are binds of it. */
	if (vp_node_record_has_fs(rec) &&
	    csi_node_stage_mount(ctx, rec->volume, rec->staging, d.dev, rec->fs_type, rec->readonly,
				 &rec->mount, &err)) {
		rep->fn(rep->ctx, "node-staging-unavailable", file, err.msg);
		return;
	}
	for (size_t i = rec->n_targets; i-- > 0;) {
		vp_error_clear(&err);
		if (repair_target(ctx, rec, i, dev, rep, &err))
			continue;
		rep->fn(rep->ctx, "node-target-cleared", rec->targets[i].path, err.msg);
		rec->targets[i] = rec->targets[--rec->n_targets];
		changed = true;
	}
	csi_node_dir(ctx, dir);
	if (changed && vp_node_record_save(dir, rec, &err))
		rep->fn(rep->ctx, "node-record-unwritable", file, err.msg);
}

void csi_node_reconcile(struct csi_ctx *ctx, vp_pool_report_fn report, void *report_ctx)
{
	const struct reporter rep = { report, report_ctx };
	char dir[PATH_MAX], id[VP_POOL_ID_SIZE];
	struct vp_node_record *rec = malloc(sizeof(*rec));
	struct vp_error err = { 0 };
	struct vp_volume v;
	struct dirent *de;
	DIR *d;

	csi_node_dir(ctx, dir);
	d = opendir(dir);  /* none yet: nothing was ever staged */
	if (!d || !rec) {
		if (d)
			closedir(d);
		free(rec);
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n <= 5 || n - 5 >= sizeof(id) || strcmp(de->d_name + n - 5, ".json"))
			continue;
		memcpy(id, de->d_name, n - 5);
		id[n - 5] = '\0';
		if (!vp_pool_is_volume_id(id))
			continue;
		vp_error_clear(&err);
		if (vp_node_record_load(dir, id, rec, &err))
			report(report_ctx, "bad-node-record", de->d_name, err.msg);
		else if (vp_pool_find_id(ctx->pool, id, &v))
			report(report_ctx, "node-record-without-volume", de->d_name, "left in place");
		else
			repair(ctx, rec, de->d_name, &rep);
	}
	closedir(d);
	free(rec);
}
