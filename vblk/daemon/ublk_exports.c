/* ublk_exports.c - vblkd's ublk devices (vblk/ublk/dev.h): each serves an
 * export as the local block device /dev/ublkbN through the kernel's ublk
 * driver, on its own fd of the export's image (which shares the writeback
 * error of the other handles of the file: image_file.h).  Added at start
 * for --ublk and at run time by the control socket's ublk-add, both
 * through ublk_add, and kept in one struct ublk_registry.
 *
 * ublk's control commands need CAP_SYS_ADMIN (no UBLK_F_UNPRIVILEGED_DEV
 * here): a daemon that drops it (--user) or never had it refuses ublk-add
 * with EPERM and says why, decided before the sandbox since capget is not
 * in the seccomp allowlist.  A device added at run time needs nothing else
 * the sandbox forbids: /dev/ublk-control and /dev/ublkcN are opened with
 * openat, its rings set up with io_uring_setup and restricted
 * (vblk/ring_restrict.h: the queue rings like every data ring, the control
 * ring to URING_CMD alone), its descriptors mapped read-only.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"
#include "vblk/ublk/ctrl.h"
#include "vblk/ublk/dev.h"

/* One ublk device. */
struct ublk_export {
	char *name;
	unsigned queues, depth;
	struct vp_image *img;
	struct vp_ublk_dev *dev;
	bool started;
};

/* Remove x's device (in-flight requests are served first), sync and close
 * its image; NULL is accepted. */
static void ublk_free(struct ublk_export *x)
{
	if (!x)
		return;
	vp_ublk_dev_free(x->dev);
	vp_vblkd_image_sync(x->name, x->img);
	vp_image_close(x->img);
	free(x->name);
	free(x);
}

/* Index of name's device in the registry (lock held), or -1. */
static ssize_t ublk_find(const struct ublk_registry *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->u[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Start x's queue threads and the device, and log it. */
static int ublk_start(struct ublk_export *x, struct vp_error *err)
{
	int ret = vp_ublk_dev_start(x->dev, err);

	if (ret) {
		vp_error_prefix(err, "ublk export %s", x->name);
		return ret;
	}
	x->started = true;
	vp_log(VP_LOG_INFO, "ublk.export-added", "name=%s dev=/dev/ublkb%u queues=%u depth=%u",
	       x->name, vp_ublk_dev_id(x->dev), x->queues, x->depth);
	return 0;
}

/* A new entry for spec with its device added (lock held): its image
 * opened, ADD_DEV and SET_PARAMS done; *out is set even on failure, for
 * ublk_free. */
static int ublk_new(const struct ublk_registry *r, const struct ublk_spec *spec, const char *path,
		    unsigned flags, struct ublk_export **out, struct vp_error *err)
{
	struct ublk_export *x = calloc(1, sizeof(*x));
	struct vp_ublk_dev_config cfg = { .name = spec->name, .queues = spec->queues,
					  .depth = spec->depth };
	int ret;

	*out = x;
	if (!x || !(x->name = strdup(spec->name)))
		return vp_error_set(err, ENOMEM, "ublk export %s", spec->name);
	x->queues = spec->queues;
	x->depth = spec->depth;
	ret = vp_image_open_at(r->image_root, path, flags, &x->img, err);
	cfg.img = x->img;
	return ret ?: vp_ublk_dev_new(&cfg, &x->dev, err);
}

/* Add and register a device for export spec->name whose image is path
 * (VP_IMAGE_* flags), started at once when start; *id is its N.  Refused
 * before anything is opened: no privilege for it (-EPERM), no ublk in the
 * kernel (-ENODEV), a device for the export already (-EEXIST), the
 * registry full (-E2BIG).  Nothing is left behind on failure. */
static int ublk_add(struct ublk_registry *r, const struct ublk_spec *spec, const char *path,
		    unsigned flags, bool start, uint32_t *id, struct vp_error *err)
{
	struct ublk_export *x = NULL;
	int ret;

	pthread_mutex_lock(&r->lock);
	if (r->refused)
		ret = vp_error_code(err, 0, EPERM, "ublk: %s", r->refused);
	else
		ret = vp_ublk_ctrl_available(err);
	if (ret == 0 && ublk_find(r, spec->name) >= 0)
		ret = vp_error_code(err, 0, EEXIST, "export %s already has a ublk device", spec->name);
	else if (ret == 0 && r->n == VBLKD_MAX_UBLK)
		ret = vp_error_code(err, 0, E2BIG, "at most %d ublk devices", VBLKD_MAX_UBLK);
	ret = ret ?: ublk_new(r, spec, path, flags, &x, err);
	ret = ret ?: start ? ublk_start(x, err) : 0;
	if (ret == 0) {
		r->u[r->n++] = x;
		*id = vp_ublk_dev_id(x->dev);
	}
	pthread_mutex_unlock(&r->lock);
	if (ret)
		ublk_free(x);
	return ret;
}

/* Whether this process holds CAP_SYS_ADMIN in its effective set; true
 * when it cannot tell (capget filtered by a service manager): the kernel's
 * ADD_DEV then decides. */
static bool has_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2] = { { 0 } };

	if (syscall(SYS_capget, &hdr, caps) < 0)
		return true;
	return caps[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32));
}

void vp_vblkd_ublk_init(struct ublk_registry *r)
{
	pthread_mutex_init(&r->lock, NULL);
	r->n = 0;
}

int vp_vblkd_ublk_open(struct daemon *d, struct vp_error *err)
{
	struct ublk_registry *r = &d->ublks;
	uint32_t id;

	r->image_root = d->image_root;
	/* --user drops every capability in vp_sandbox_enter, after this. */
	if (d->sandbox.user)
		r->refused = "this daemon drops its privileges (--user), and ublk's control "
			     "commands need CAP_SYS_ADMIN for the device's whole life: run ublk "
			     "devices in a daemon without --user (deploy/vblkd-ublk.service)";
	else if (!has_sys_admin())
		r->refused = "this daemon lacks CAP_SYS_ADMIN, which ublk's control commands need "
			     "(deploy/vblkd-ublk.service holds it)";
	for (size_t i = 0; i < d->n_ublk; i++) {
		const struct ublk_spec *u = &d->ublk[i];
		const struct vp_nbd_export_spec *s = vp_vblkd_exports_find(d, u->name);
		int ret;

		if (!s)
			return vp_error_set(err, ENOENT, "--ublk: no --export named '%s'", u->name);
		ret = ublk_add(r, u, s->path, s->flags, false, &id, err);
		if (ret)
			return ret;
	}
	return 0;
}

int vp_vblkd_ublk_start(struct ublk_registry *r, struct vp_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !ret; i++)
		if (!r->u[i]->started)
			ret = ublk_start(r->u[i], err);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void vp_vblkd_ublk_close(struct ublk_registry *r)
{
	pthread_mutex_lock(&r->lock);
	while (r->n)
		ublk_free(r->u[--r->n]);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_destroy(&r->lock);
}

/* ---- control callbacks (vp_control_ublk_ops), on the control thread ---- */

static int ctl_ublk_add(void *ctx, struct vp_control_ublk *u, const char *path, unsigned flags,
			struct vp_error *err)
{
	struct ublk_spec spec = { .name = u->name, .queues = u->queues, .depth = u->depth };

	return ublk_add(ctx, &spec, path, flags, true, &u->id, err);
}

static int ctl_ublk_remove(void *ctx, const char *name, struct vp_error *err)
{
	struct ublk_registry *r = ctx;
	struct ublk_export *x = NULL;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = ublk_find(r, name);
	if (i >= 0) {
		x = r->u[i];
		r->u[i] = r->u[--r->n];
	}
	pthread_mutex_unlock(&r->lock);
	if (!x)
		return vp_error_code(err, 0, ENOENT, "export %s has no ublk device", name);
	ublk_free(x); /* outside the lock: waits for in-flight requests */
	vp_log(VP_LOG_INFO, "ublk.export-removed", "name=%s", name);
	return 0;
}

static int ctl_ublk_get(void *ctx, const char *name, struct vp_control_ublk *out)
{
	struct ublk_registry *r = ctx;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = ublk_find(r, name);
	if (i >= 0)
		*out = (struct vp_control_ublk){ .name = r->u[i]->name, .queues = r->u[i]->queues,
						 .depth = r->u[i]->depth,
						 .id = vp_ublk_dev_id(r->u[i]->dev) };
	pthread_mutex_unlock(&r->lock);
	return i >= 0 ? 0 : -ENOENT;
}

const struct vp_control_ublk_ops vp_vblkd_ublk_ops = {
	.add = ctl_ublk_add,
	.remove = ctl_ublk_remove,
	.get = ctl_ublk_get,
};
