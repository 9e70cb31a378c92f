/* exports.c - the control commands on the export table: export-add,
 * export-remove, export-list and stats, and the JSON view of an export
 * that other commands answer with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "vblk/control/internal.h"
#include "vblk/image.h"
#include "vblk/image_path.h"
#include "vblk/stats.h"

const struct vp_nbd_export *vp_control_find_export(const struct vp_nbd_snapshot *snap,
						   const char *name)
{
	for (size_t i = 0; i < snap->n; i++)
		if (strcmp(snap->exports[i].name, name) == 0)
			return &snap->exports[i];
	return NULL;
}

/* An export, with its vhost-user server ("vhost") and ublk device
 * ("ublk") when it has them. */
static json_t *export_json(struct vp_control *ctl, const struct vp_nbd_export *e)
{
	const struct vp_nbd_shared *sh = e->entry->sh;
	struct vp_control_vhost v;
	struct vp_control_ublk u;
	json_t *o;

	o = json_pack("{s:s, s:s, s:I, s:b, s:s, s:s?, s:i}", "name", e->name, "image", sh->path,
		      "size", (json_int_t)e->img->size, "readonly", e->img->readonly, "cache",
		      e->img->direct ? "none" : "writeback", "description", e->description,
		      "connections", (int)atomic_load(&sh->conns));
	if (o && vp_control_vhost_get(ctl, e->name, &v) == 0)
		json_object_set_new(o, "vhost", json_pack("{s:s, s:i, s:b}", "socket", v.socket,
							  "queues", (int)v.queues, "connected",
							  v.connected));
	if (o && vp_control_ublk_get(ctl, e->name, &u) == 0)
		json_object_set_new(o, "ublk", vp_control_ublk_json(&u));
	return o;
}

void vp_control_set_export(struct vp_control *ctl, json_t *resp, const char *name)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	const struct vp_nbd_export *e = vp_control_find_export(snap, name);

	if (e)
		json_object_set_new(resp, "export", export_json(ctl, e));
	vp_nbd_snapshot_put(snap);
}

json_t *vp_control_exported_as(struct vp_control *ctl, const struct stat *st)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	json_t *names = json_array();
	struct stat est;

	for (size_t i = 0; names && i < snap->n; i++)
		if (fstat(snap->exports[i].img->fd, &est) == 0 && est.st_dev == st->st_dev &&
		    est.st_ino == st->st_ino)
			json_array_append_new(names, json_string(snap->exports[i].name));
	vp_nbd_snapshot_put(snap);
	return names;
}

/* Make sure no other process writes path (see vp_image_claim), without
 * waiting on the control path.  An image this daemon already exports is its
 * own to share. */
static int claim_unless_ours(struct vp_control *ctl, const char *path, struct vp_error *err)
{
	const struct vp_image_root *root = ctl->cfg.table->image_root;
	struct stat st;
	json_t *names;
	size_t n;
	int fd = vp_image_path_open(root, path, O_RDONLY, &st, err);

	if (fd < 0)
		return fd;
	close(fd);
	names = vp_control_exported_as(ctl, &st);
	n = json_array_size(names);
	json_decref(names);
	return n ? 0 : vp_image_claim_at(root, path, 0, err);
}

/* -EEXIST when an export called name is published. */
static int check_name_free(struct vp_control *ctl, const char *name, struct vp_error *err)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	bool taken = vp_control_find_export(snap, name) != NULL;

	vp_nbd_snapshot_put(snap);
	return taken ? vp_error_code(err, 0, EEXIST, "export %s already exists", name) : 0;
}

/* The fields of an export-add request into *spec, *ro and *cache. */
static int get_spec(const json_t *req, struct vp_nbd_export_spec *spec, bool *ro,
		    const char **cache, struct vp_error *err)
{
	int ret;

	ret = vp_json_req_str(req, "", "name", &spec->name, err);
	ret = ret ?: vp_control_get_path(req, "image", true, &spec->path, err);
	ret = ret ?: vp_json_opt_bool(req, "", "readonly", false, ro, err);
	ret = ret ?: vp_json_opt_str(req, "", "cache", "writeback", cache, err);
	ret = ret ?: vp_json_opt_str(req, "", "description", NULL, &spec->description, err);
	if (ret)
		return ret;
	if (strcmp(*cache, "none") && strcmp(*cache, "writeback"))
		return vp_error_code(err, 0, EINVAL, "cache: expected \"none\" or \"writeback\"");
	spec->flags = (*ro ? VP_IMAGE_READONLY : 0) | (strcmp(*cache, "none") ? 0 : VP_IMAGE_DIRECT);
	return 0;
}

static int cmd_export_add(struct vp_control *ctl, const json_t *req, json_t *resp,
			  struct vp_error *err)
{
	struct vp_nbd_export_spec spec = { 0 };
	const char *cache;
	bool ro;
	int ret;

	ret = get_spec(req, &spec, &ro, &cache, err);
	/* A taken name is reported as such, not as the claim on its image. */
	ret = ret ?: check_name_free(ctl, spec.name, err);
	ret = ret ?: (ro ? 0 : claim_unless_ours(ctl, spec.path, err));
	ret = ret ?: vp_nbd_table_add(ctl->cfg.table, &spec, err);
	if (ret)
		return ret;
	vp_control_set_export(ctl, resp, spec.name);
	vp_event(&ctl->cfg.events, "export.added", "name=%s image=%s readonly=%d cache=%s", spec.name,
			 spec.path, ro, cache);
	return 0;
}

/* fdatasync the image of the export just removed and put the result in
 * the reply: "synced", and on failure "sync_errno" and "sync_error" (also
 * an event).  Connections still draining may write after it: the image is
 * synced once more when the last one ends (export.closed). */
static void sync_removed(struct vp_control *ctl, json_t *resp, const char *name,
			 const struct vp_image *img)
{
	int ret = vp_image_sync(img);

	json_object_set_new(resp, "synced", json_boolean(ret == 0));
	if (ret == 0)
		return;
	json_object_set_new(resp, "sync_errno", json_integer(-ret));
	json_object_set_new(resp, "sync_error", json_string(strerror(-ret)));
	vp_event(&ctl->cfg.events, "export.sync-failed", "name=%s errno=%d error=\"%s\"", name, -ret,
		 strerror(-ret));
}

static int cmd_export_remove(struct vp_control *ctl, const json_t *req, json_t *resp,
			     struct vp_error *err)
{
	const struct vp_nbd_export *e;
	struct vp_nbd_snapshot *snap;
	struct vp_control_vhost v;
	struct vp_control_ublk u;
	const char *name;
	unsigned attached = 0;
	bool force;
	int ret;

	ret = vp_json_req_str(req, "", "name", &name, err);
	ret = ret ?: vp_json_opt_bool(req, "", "force", false, &force, err);
	if (ret == 0 && vp_control_vhost_get(ctl, name, &v) == 0)
		return vp_error_code(err, 0, EBUSY, "export %s has a vhost-user server on %s: "
				     "vhost-remove it first", name, v.socket);
	if (ret == 0 && vp_control_ublk_get(ctl, name, &u) == 0)
		return vp_error_code(err, 0, EBUSY, "export %s has the ublk device /dev/ublkb%u: "
				     "ublk-remove it first", name, u.id);
	if (ret)
		return ret;
	/* This snapshot keeps the image open for the sync below. */
	snap = vp_nbd_table_acquire(ctl->cfg.table);
	e = vp_control_find_export(snap, name);
	ret = vp_nbd_table_remove(ctl->cfg.table, name, force, &attached, err);
	if (ret == 0 && attached && ctl->cfg.kick)
		ctl->cfg.kick(ctl->cfg.kick_ctx);
	if (ret == 0 && e)
		sync_removed(ctl, resp, name, e->img);
	vp_nbd_snapshot_put(snap); /* closes the image (synced again) unless connections drain */
	if (ret)
		return ret;
	json_object_set_new(resp, "draining", json_integer(attached));
	vp_event(&ctl->cfg.events, "export.removed", "name=%s draining=%u", name, attached);
	return 0;
}

static int cmd_export_list(struct vp_control *ctl, const json_t *req, json_t *resp,
			   struct vp_error *err)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	json_t *list = json_array();

	(void)req;
	for (size_t i = 0; list && i < snap->n; i++)
		json_array_append_new(list, export_json(ctl, &snap->exports[i]));
	vp_nbd_snapshot_put(snap);
	if (!list)
		return vp_error_set(err, ENOMEM, "export-list");
	json_object_set_new(resp, "exports", list);
	return 0;
}

static json_t *latency_json(const uint64_t *hist)
{
	uint64_t count = 0;

	for (unsigned b = 0; b < VP_STATS_BUCKETS; b++)
		count += hist[b];
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "count", (json_int_t)count,
			 "p50", vp_stats_quantile(hist, 0.50) / 1e3, "p90",
			 vp_stats_quantile(hist, 0.90) / 1e3, "p99", vp_stats_quantile(hist, 0.99) / 1e3,
			 "p99.9", vp_stats_quantile(hist, 0.999) / 1e3);
}

/* Stats of one export; t is scratch space for the merged totals. */
static json_t *stats_json(const struct vp_nbd_export *e, struct vp_stats_totals *t)
{
	json_t *o = json_object(), *ops = json_object(), *bytes = json_object(), *iops = json_object(),
	       *bw = json_object(), *lat = json_object();
	double ops_s[VP_STATS_NOPS], bytes_s[VP_STATS_NOPS], iops_total = 0;
	uint64_t all[VP_STATS_BUCKETS] = { 0 }, span;

	vp_stats_read(e->stats, t);
	span = vp_stats_rates(e->stats, ops_s, bytes_s);
	for (unsigned op = 0; op < VP_STATS_NOPS; op++) {
		const char *n = vp_stats_op_name(op);

		json_object_set_new(ops, n, json_integer((json_int_t)t->ops[op]));
		json_object_set_new(bytes, n, json_integer((json_int_t)t->bytes[op]));
		json_object_set_new(iops, n, json_real(ops_s[op]));
		json_object_set_new(bw, n, json_real(bytes_s[op]));
		json_object_set_new(lat, n, latency_json(t->hist[op]));
		iops_total += ops_s[op];
		for (unsigned b = 0; b < VP_STATS_BUCKETS; b++)
			all[b] += t->hist[op][b];
	}
	json_object_set_new(iops, "total", json_real(iops_total));
	json_object_set_new(lat, "all", latency_json(all));
	json_object_set_new(o, "name", json_string(e->name));
	json_object_set_new(o, "interval_ms", json_integer((json_int_t)(span / 1000000)));
	json_object_set_new(o, "errors", json_integer((json_int_t)t->errors));
	json_object_set_new(o, "ops", ops);
	json_object_set_new(o, "bytes", bytes);
	json_object_set_new(o, "iops", iops);
	json_object_set_new(o, "bytes_per_s", bw);
	json_object_set_new(o, "latency_us", lat);
	return o;
}

static int cmd_stats(struct vp_control *ctl, const json_t *req, json_t *resp, struct vp_error *err)
{
	struct vp_stats_totals *t = malloc(sizeof(*t));
	struct vp_nbd_snapshot *snap;
	json_t *list = json_array();
	const char *name;
	int ret;

	ret = vp_json_opt_str(req, "", "name", NULL, &name, err);
	if (!ret && (!t || !list))
		ret = vp_error_set(err, ENOMEM, "stats");
	if (ret)
		goto out;
	snap = vp_nbd_table_acquire(ctl->cfg.table);
	for (size_t i = 0; i < snap->n; i++)
		if (!name || strcmp(name, snap->exports[i].name) == 0)
			json_array_append_new(list, stats_json(&snap->exports[i], t));
	vp_nbd_snapshot_put(snap);
	if (name && json_array_size(list) == 0) {
		ret = vp_error_set(err, ENOENT, "no export named %s", name);
		goto out;
	}
	json_object_set_new(resp, "exports", list);
	list = NULL;
out:
	json_decref(list);
	free(t);
	return ret;
}

const struct vp_control_cmd vp_control_export_cmds[] = {
	{ "export-add", (const char *const[]){ "name", "image", "readonly", "cache", "description",
					       NULL }, cmd_export_add },
	{ "export-remove", (const char *const[]){ "name", "force", NULL }, cmd_export_remove },
	{ "export-list", (const char *const[]){ NULL }, cmd_export_list },
	{ "stats", (const char *const[]){ "name", NULL }, cmd_stats },
	{ NULL, NULL, NULL },
};
