/* node_attach.c - the kernel device of a staged volume (not a vmDisk one),
 * chosen at stage by the attach order and kept for the staging's life
 * (the node record's "attach"):
 *
 *   1. ublk through vblkd, where /dev/ublk-control exists and the node
 *      service has --vblkd-control: vblkd exports the volume (named by its
 *      ID) and serves the export as /dev/ublkbN (ublk-add);
 *   2. the kernel NBD client (csi/node/nbd.h) on vblkd's export of the
 *      volume (named by its ID, on vblkd's --nbd unix socket given as
 *      --vblkd-nbd), where the kernel has the genetlink "nbd" family;
 *   3. a loop device over the image (csi/node/loop.h).
 *
 * Each new device is logged once (csi.node.attach) with why the earlier
 * kinds were skipped.  A device is found again by its image: the loop's
 * backing file, or the nbd device's backend identifier (the image path);
 * a ublk device in vblkd's export list, under the volume's export.  An nbd
 * device found while vblkd no longer has its export (vblkd restarted) gets
 * a new connection (csi.node.reconnect); a ublk device goes away with the
 * vblkd that served it, and is added again like a new one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "csi/node/loop.h"
#include "csi/node/nbd.h"
#include "csi/node/record.h"
#include "csi/service.h"
#include "csi/vblkd.h"
#include "vblk/nbd/proto.h"

#define UBLK_CONTROL "/dev/ublk-control"
#define WHY_STAGED "kind recorded at stage"

/* Whether ublk can be used; else why not, in why. */
static bool ublk_usable(const struct csi_ctx *ctx, char *why, size_t size)
{
	if (access(UBLK_CONTROL, F_OK) < 0)
		snprintf(why, size, "ublk: no " UBLK_CONTROL);
	else if (!ctx->vblkd_control)
		snprintf(why, size, "ublk: no --vblkd-control");
	else
		return true;
	return false;
}

void csi_node_attach_choose(struct csi_ctx *ctx, struct vp_node_record *rec, char *why,
			    size_t size)
{
	struct vp_error err = { 0 };
	size_t n;

	if (ublk_usable(ctx, why, size)) {
		snprintf(why, size, "ublk: " UBLK_CONTROL " and --vblkd-control present");
		rec->attach = VP_NODE_ATTACH_UBLK;
		return;
	}
	n = strlen(why);
	if (!ctx->vblkd_nbd) {
		snprintf(why + n, size - n, "; nbd: no --vblkd-nbd");
	} else if (vp_nbdc_available(&err)) {
		snprintf(why + n, size - n, "; nbd: %s", err.msg);
	} else {
		rec->attach = VP_NODE_ATTACH_NBD;
		return;
	}
	rec->attach = VP_NODE_ATTACH_LOOP;
}

static void take_loop(struct csi_device *d, const struct vp_loop *l)
{
	d->index = l->index;
	snprintf(d->dev, sizeof(d->dev), "%s", l->dev);
	d->direct_io = l->direct_io;
}

static void take_nbd(struct csi_device *d, const struct vp_nbdc_dev *n)
{
	d->index = n->index;
	snprintf(d->dev, sizeof(d->dev), "%s", n->dev);
	d->direct_io = false;
}

static void take_ublk(struct csi_device *d, uint32_t id)
{
	d->index = (int)id;
	snprintf(d->dev, sizeof(d->dev), "/dev/ublkb%u", id);
	d->direct_io = false;
}

/* The ublk device vblkd serves for the volume's export: 0, -ENOENT when
 * vblkd has none (or lost it: restarted), another -errno when vblkd cannot
 * be asked. */
static int find_ublk(struct csi_ctx *ctx, const struct vp_node_record *rec, struct csi_device *d,
		     struct vp_error *err)
{
	uint32_t id;
	int ret;

	if (!ctx->vblkd_control)
		return vp_error_code(err, 0, EOPNOTSUPP, "volume %s is staged over ublk: the node "
				     "service needs --vblkd-control", rec->volume);
	ret = csi_vblkd_ublk_find(ctx->vblkd_control, rec->volume, &id, err);
	if (ret == 0)
		take_ublk(d, id);
	return ret;
}

int csi_node_device_find(struct csi_ctx *ctx, const struct vp_node_record *rec,
			 struct csi_device *d, struct vp_error *err)
{
	char image[PATH_MAX];
	struct vp_nbdc_dev n;
	struct vp_loop l;
	int ret;

	if (rec->attach == VP_NODE_ATTACH_UBLK)
		return find_ublk(ctx, rec, d, err);
	vp_pool_image_path(ctx->pool, rec->volume, image, sizeof(image));
	if (rec->attach == VP_NODE_ATTACH_NBD) {
		if (!(ret = vp_nbdc_find(image, &n, err)))
			take_nbd(d, &n);
		return ret;
	}
	if (!(ret = vp_loop_find(image, &l, err)))
		take_loop(d, &l);
	return ret;
}

/* A stream socket connected to vblkd's NBD unix socket, without timeouts
 * (the kernel inherits the socket's): the fd or -errno. */
static int dial_nbd(const char *path, struct vp_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return vp_error_set(err, ENAMETOOLONG, "vblkd nbd socket %s", path);
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return vp_error_set(err, errno, "socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return s;
	e = errno;
	close(s);
	return vp_error_set(err, e, "connect to vblkd's nbd socket %s", path);
}

/* Remove vblkd's export of the volume once the kernel's connection to it
 * is gone (vblkd closes it a moment after NBD_CMD_DISCONNECT, or after a
 * failed attach closed the socket: EBUSY until then): 0, also when there
 * is none; -EIO when its final sync failed. */
static int remove_export(struct csi_ctx *ctx, const char *id, struct vp_error *err)
{
	const struct timespec step = { .tv_nsec = CSI_VBLKD_CLAIM_STEP_MS * 1000000L };
	bool synced = true;
	int ret;

	for (unsigned waited = 0;; waited += CSI_VBLKD_CLAIM_STEP_MS) {
		ret = csi_vblkd_export_remove(ctx->vblkd_control, id, &synced, err);
		if (ret != -EBUSY || waited >= CSI_VBLKD_CLAIM_WAIT_MS)
			break;
		vp_error_clear(err);
		nanosleep(&step, NULL);
	}
	if (ret == -ENOENT) {
		vp_error_clear(err);
		return 0;
	}
	return ret ? ret : synced ? 0 : -EIO;  /* err says why */
}

/* Remove the export when added (by this attach): a failed attach leaves
 * no export it made. */
static void undo_export(struct csi_ctx *ctx, const char *id, bool added)
{
	struct vp_error err = { 0 };

	if (added && remove_export(ctx, id, &err))
		vp_log(VP_LOG_WARN, "csi.node.undo", "volume=%s error=\"%s\"", id, err.msg);
}

/* vblkd exports the volume (read-only per rec) under its ID (*added when
 * the export is new; else it was made before a crash, or by a repeated
 * call: ours), and a socket to it is negotiated as that export: the
 * socket with e set, or -errno (an export it added is removed again). */
static int open_export(struct csi_ctx *ctx, const struct vp_node_record *rec, const char *image,
		       struct vp_nbdc_export *e, bool *added, struct vp_error *err)
{
	int ret, s;

	ret = csi_vblkd_export_claim(ctx->vblkd_control, rec->volume, image, rec->readonly, err);
	if (ret && ret != -EEXIST)
		return ret;
	*added = !ret;
	vp_error_clear(err);
	s = dial_nbd(ctx->vblkd_nbd, err);
	ret = s < 0 ? s : vp_nbdc_handshake(s, rec->volume, e, err);
	if (!ret)
		return s;
	if (s >= 0)
		close(s);
	undo_export(ctx, rec->volume, *added);
	return ret;
}

/* The kernel's NBD client on vblkd's export of the volume. */
static int attach_nbd(struct csi_ctx *ctx, const struct vp_node_record *rec, const char *image,
		      struct vp_nbdc_dev *n, struct vp_error *err)
{
	struct vp_nbdc_export e;
	bool added;
	int s = open_export(ctx, rec, image, &e, &added, err), ret;

	if (s < 0)
		return s;
	/* A reader-only stage is a read-only device, whatever vblkd says. */
	if (rec->readonly)
		e.flags |= NBD_FLAG_READ_ONLY;
	ret = vp_nbdc_attach(s, &e, image, n, err);
	close(s);  /* the kernel holds its own reference */
	if (ret)
		undo_export(ctx, rec->volume, added);
	return ret;
}

/* vblkd's ublk device of its export of the volume (read-only per rec):
 * 0 with *id, or -errno with no export or device added. */
static int attach_ublk(struct csi_ctx *ctx, const struct vp_node_record *rec, const char *image,
		       uint32_t *id, struct vp_error *err)
{
	int ret = csi_vblkd_export_claim(ctx->vblkd_control, rec->volume, image, rec->readonly, err);
	bool added = !ret;

	if (ret && ret != -EEXIST)
		return ret;
	vp_error_clear(err);
	ret = csi_vblkd_ublk_add(ctx->vblkd_control, rec->volume, id, err);
	if (ret)
		undo_export(ctx, rec->volume, added);
	return ret;
}

/* nbd device d of the volume, found attached: when vblkd no longer has
 * the export (it restarted), the device's connection is dead and a new
 * one takes its place (the kernel holds the device's I/O meanwhile, up to
 * VP_NBDC_DEAD_CONN_S). */
static int revive_nbd(struct csi_ctx *ctx, const struct vp_node_record *rec,
		      const struct csi_device *d, struct vp_error *err)
{
	char image[PATH_MAX];
	struct vp_nbdc_export e;
	bool serves, added;
	int ret, s;

	if (!ctx->vblkd_control || !ctx->vblkd_nbd)
		return 0;  /* nothing to reconnect with: kept as it is */
	if ((ret = csi_vblkd_serves(ctx->vblkd_control, rec->volume, &serves, err)))
		return ret;
	if (serves)
		return 0;
	vp_pool_image_path(ctx->pool, rec->volume, image, sizeof(image));
	if ((s = open_export(ctx, rec, image, &e, &added, err)) < 0)
		return s;
	ret = vp_nbdc_reconnect(d->index, s, image, err);
	close(s);
	if (ret) {
		undo_export(ctx, rec->volume, added);
		return ret;
	}
	vp_log(VP_LOG_INFO, "csi.node.reconnect", "volume=%s device=%s attach=nbd export=%s",
	       rec->volume, d->dev, rec->volume);
	return 0;
}

int csi_node_attach(struct csi_ctx *ctx, const struct vp_node_record *rec, const char *why,
		    struct csi_device *d, struct vp_error *err)
{
	char image[PATH_MAX];
	struct vp_nbdc_dev n;
	struct vp_loop l;
	uint32_t id;
	int ret = csi_node_device_find(ctx, rec, d, err);

	if (!ret && rec->attach == VP_NODE_ATTACH_NBD)
		return revive_nbd(ctx, rec, d, err);
	if (ret != -ENOENT)
		return ret;
	vp_error_clear(err);
	vp_pool_image_path(ctx->pool, rec->volume, image, sizeof(image));
	if (rec->attach == VP_NODE_ATTACH_UBLK) {
		if ((ret = attach_ublk(ctx, rec, image, &id, err)))
			return ret;
		take_ublk(d, id);
		vp_log(VP_LOG_INFO, "csi.node.attach", "volume=%s device=%s attach=ublk export=%s "
		       "readonly=%d why=\"%s\"", rec->volume, d->dev, rec->volume, rec->readonly,
		       why ? why : WHY_STAGED);
		return 0;
	}
	if (rec->attach == VP_NODE_ATTACH_NBD) {
		if (!ctx->vblkd_nbd || !ctx->vblkd_control)
			return vp_error_code(err, 0, EOPNOTSUPP, "volume %s is staged over nbd: "
					     "the node service needs --vblkd-nbd", rec->volume);
		if ((ret = attach_nbd(ctx, rec, image, &n, err)))
			return ret;
		take_nbd(d, &n);
		vp_log(VP_LOG_INFO, "csi.node.attach", "volume=%s device=%s attach=nbd export=%s "
		       "readonly=%d why=\"%s\"", rec->volume, d->dev, rec->volume, rec->readonly,
		       why ? why : WHY_STAGED);
		return 0;
	}
	if ((ret = vp_loop_attach(image, rec->readonly, false, &l, err)))
		return ret;
	take_loop(d, &l);
	vp_log(VP_LOG_INFO, "csi.node.attach", "volume=%s device=%s attach=loop direct_io=%d "
	       "readonly=%d why=\"%s\"", rec->volume, d->dev, d->direct_io, rec->readonly,
	       why ? why : WHY_STAGED);
	return 0;
}

/* Take away device d of rec's volume, of kind rec->attach: 0 also when
 * it went away meanwhile (a ublk device vblkd no longer has). */
static int detach_device(struct csi_ctx *ctx, const struct vp_node_record *rec,
			 const struct csi_device *d, struct vp_error *err)
{
	int ret;

	switch (rec->attach) {
	case VP_NODE_ATTACH_NBD:
		return vp_nbdc_detach(d->index, err);
	case VP_NODE_ATTACH_UBLK:
		ret = csi_vblkd_ublk_remove(ctx->vblkd_control, rec->volume, err);
		if (ret == -ENOENT)
			vp_error_clear(err);
		return ret == -ENOENT ? 0 : ret;
	default:
		return vp_loop_detach(d->index, err);
	}
}

int csi_node_detach(struct csi_ctx *ctx, const struct vp_node_record *rec, struct vp_error *err)
{
	bool loop = rec->attach == VP_NODE_ATTACH_LOOP;
	const char *kind = vp_node_attach_name(rec->attach);
	struct csi_device d;
	int ret = csi_node_device_find(ctx, rec, &d, err);

	if (!ret) {
		if ((ret = detach_device(ctx, rec, &d, err)))
			return ret;
		vp_log(VP_LOG_INFO, "csi.node.detach", "volume=%s device=%s%s%s", rec->volume, d.dev,
		       loop ? "" : " attach=", loop ? "" : kind);
	} else if (ret != -ENOENT) {
		return ret;
	}
	vp_error_clear(err);
	if (loop)
		return 0;
	/* nbd and ublk: vblkd's export of the volume goes too. */
	if (!ctx->vblkd_control)
		return vp_error_code(err, 0, EOPNOTSUPP, "volume %s is staged over %s: the node "
				     "service needs --vblkd-control to remove vblkd's export",
				     rec->volume, kind);
	return remove_export(ctx, rec->volume, err);
}
