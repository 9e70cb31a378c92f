/* control.c - the control socket of vblkd: one thread, poll over the
 * listening socket and up to VP_CONTROL_MAX_CLIENTS clients, one JSON
 * request per line answered by one JSON line.  Commands change the export
 * table (nbd/table.h), manage image files and read the per-export stats.
 */
#include "vblk/control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/size.h"
#include "vblk/image.h"
#include "vblk/stats.h"

#define SEND_TIMEOUT_MS 2000

struct client {
	int fd;
	char *buf;
	size_t len;
};

struct vp_control {
	struct vp_control_config cfg;
	char *path;
	int fd, stop_fd;
	pthread_t tid;
	bool started, bound;
	struct client clients[VP_CONTROL_MAX_CLIENTS];
	uint64_t next_tick;
};

struct cmd {
	const char *name;
	const char *const *keys; /* allowed fields besides "command"; NULL-terminated */
	int (*fn)(struct vp_control *ctl, const json_t *req, json_t *resp, struct vp_error *err);
};

static void event(struct vp_control *ctl, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void event(struct vp_control *ctl, const char *name, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (!ctl->cfg.on_event)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (char *p = detail; *p; p++) /* client text must not forge log lines */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	ctl->cfg.on_event(ctl->cfg.event_ctx, name, detail);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- field getters ---- */

static int check_keys(const json_t *req, const char *const *keys, struct vp_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)req, key, v) {
		bool known = strcmp(key, "command") == 0;

		for (size_t i = 0; keys[i] && !known; i++)
			known = strcmp(key, keys[i]) == 0;
		if (!known)
			return vp_error_code(err, 0, EINVAL, "%s: unknown field", key);
	}
	return 0;
}

/* A required (or, with required false, optional: *out NULL when absent)
 * absolute path. */
static int get_path(const json_t *req, const char *key, bool required, const char **out,
		    struct vp_error *err)
{
	int ret;

	/* vp_json_parse already refuses \u0000, so strings have no NUL inside. */
	ret = required ? vp_json_req_str(req, "", key, out, err) :
			 vp_json_opt_str(req, "", key, NULL, out, err);
	if (ret || !*out)
		return ret;
	if (strlen(*out) >= PATH_MAX)
		return vp_error_code(err, 0, ENAMETOOLONG, "%s: longer than %d bytes", key, PATH_MAX - 1);
	if ((*out)[0] != '/')
		return vp_error_code(err, 0, EINVAL, "%s: '%s' is not an absolute path", key, *out);
	return 0;
}

/* A size in bytes, > 0: a JSON integer or a string like "10G". */
static int get_size(const json_t *req, const char *key, uint64_t *out, struct vp_error *err)
{
	json_t *v = json_object_get(req, key);
	int64_t n;
	int ret;

	if (json_is_string(v)) {
		ret = vp_parse_size(json_string_value(v), out);
		if (ret)
			return vp_error_set(err, -ret, "%s: '%s' is not a byte count like 4096, 64M or 10G",
					    key, json_string_value(v));
	} else {
		ret = vp_json_req_int(req, "", key, 0, INT64_MAX, &n, err);
		if (ret)
			return json_is_integer(v) ? vp_error_code(err, 0, EINVAL, "%s: must not be negative",
								   key) : ret;
		*out = (uint64_t)n;
	}
	if (*out == 0 || *out > INT64_MAX)
		return vp_error_code(err, 0, EINVAL, "%s: must be between 1 and 2^63-1 bytes", key);
	return 0;
}

/* ---- JSON views ---- */

/* name's vhost-user server, or -ENOENT (also without a registry). */
static int vhost_get(struct vp_control *ctl, const char *name, struct vp_control_vhost *out)
{
	return ctl->cfg.vhost ? ctl->cfg.vhost->get(ctl->cfg.vhost_ctx, name, out) : -ENOENT;
}

/* An export, with its vhost-user server ("vhost") when it has one. */
static json_t *export_json(struct vp_control *ctl, const struct vp_nbd_export *e)
{
	const struct vp_nbd_shared *sh = e->entry->sh;
	struct vp_control_vhost v;
	json_t *o;

	o = json_pack("{s:s, s:s, s:I, s:b, s:s, s:s?, s:i}", "name", e->name, "image", sh->path,
		      "size", (json_int_t)e->img->size, "readonly", e->img->readonly, "cache",
		      e->img->direct ? "none" : "writeback", "description", e->description,
		      "connections", (int)atomic_load(&sh->conns));
	if (o && vhost_get(ctl, e->name, &v) == 0)
		json_object_set_new(o, "vhost", json_pack("{s:s, s:i, s:b}", "socket", v.socket,
							  "queues", (int)v.queues, "connected",
							  v.connected));
	return o;
}

/* The exports of the current snapshot whose image is the file st describes. */
static json_t *exported_as(struct vp_control *ctl, const struct stat *st)
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
	struct stat st;
	json_t *names;
	size_t n;

	if (stat(path, &st) < 0)
		return vp_error_set(err, errno, "image %s", path);
	names = exported_as(ctl, &st);
	n = json_array_size(names);
	json_decref(names);
	return n ? 0 : vp_image_claim(path, 0, err);
}

static int image_info_json(struct vp_control *ctl, const char *path, json_t **out,
			   struct vp_error *err)
{
	struct vp_image *img = NULL;
	struct stat st;
	int ret;

	*out = NULL;
	if (stat(path, &st) < 0)
		return vp_error_set(err, errno, "image %s", path);
	if (S_ISDIR(st.st_mode))
		return vp_error_set(err, EISDIR, "image %s", path);
	ret = vp_image_open(path, VP_IMAGE_READONLY, &img, err);
	if (ret)
		return ret;
	*out = json_pack("{s:s, s:I, s:I, s:s, s:o}", "path", path, "size", (json_int_t)img->size,
			 "allocated", (json_int_t)(img->blockdev ? img->size : (uint64_t)st.st_blocks * 512),
			 "type", img->blockdev ? "block-device" : "raw-file", "exports",
			 exported_as(ctl, &st));
	vp_image_close(img);
	return *out ? 0 : vp_error_set(err, ENOMEM, "image %s", path);
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

/* ---- commands ---- */

static int cmd_export_add(struct vp_control *ctl, const json_t *req, json_t *resp,
			  struct vp_error *err)
{
	struct vp_nbd_export_spec spec = { 0 };
	struct vp_nbd_snapshot *snap;
	const char *cache;
	bool ro;
	int ret;

	ret = vp_json_req_str(req, "", "name", &spec.name, err);
	ret = ret ?: get_path(req, "image", true, &spec.path, err);
	ret = ret ?: vp_json_opt_bool(req, "", "readonly", false, &ro, err);
	ret = ret ?: vp_json_opt_str(req, "", "cache", "writeback", &cache, err);
	ret = ret ?: vp_json_opt_str(req, "", "description", NULL, &spec.description, err);
	if (ret)
		return ret;
	if (strcmp(cache, "none") && strcmp(cache, "writeback"))
		return vp_error_code(err, 0, EINVAL, "cache: expected \"none\" or \"writeback\"");
	spec.flags = (ro ? VP_IMAGE_READONLY : 0) | (strcmp(cache, "none") ? 0 : VP_IMAGE_DIRECT);
	/* A taken name is reported as such, not as the claim on its image. */
	snap = vp_nbd_table_acquire(ctl->cfg.table);
	for (size_t i = 0; i < snap->n && !ret; i++)
		if (strcmp(snap->exports[i].name, spec.name) == 0)
			ret = vp_error_code(err, 0, EEXIST, "export %s already exists", spec.name);
	vp_nbd_snapshot_put(snap);
	if (ret || (!ro && (ret = claim_unless_ours(ctl, spec.path, err)) != 0))
		return ret;
	ret = vp_nbd_table_add(ctl->cfg.table, &spec, err);
	if (ret)
		return ret;
	snap = vp_nbd_table_acquire(ctl->cfg.table);
	for (size_t i = 0; i < snap->n; i++)
		if (strcmp(snap->exports[i].name, spec.name) == 0)
			json_object_set_new(resp, "export", export_json(ctl, &snap->exports[i]));
	vp_nbd_snapshot_put(snap);
	event(ctl, "export.added", "name=%s image=%s readonly=%d cache=%s", spec.name, spec.path,
	      ro, cache);
	return 0;
}

static int cmd_export_remove(struct vp_control *ctl, const json_t *req, json_t *resp,
			     struct vp_error *err)
{
	struct vp_control_vhost v;
	const char *name;
	unsigned attached = 0;
	bool force;
	int ret;

	ret = vp_json_req_str(req, "", "name", &name, err);
	ret = ret ?: vp_json_opt_bool(req, "", "force", false, &force, err);
	if (ret == 0 && vhost_get(ctl, name, &v) == 0)
		return vp_error_code(err, 0, EBUSY, "export %s has a vhost-user server on %s: "
				     "vhost-remove it first", name, v.socket);
	ret = ret ?: vp_nbd_table_remove(ctl->cfg.table, name, force, &attached, err);
	if (ret)
		return ret;
	if (attached && ctl->cfg.kick)
		ctl->cfg.kick(ctl->cfg.kick_ctx);
	json_object_set_new(resp, "draining", json_integer(attached));
	event(ctl, "export.removed", "name=%s draining=%u", name, attached);
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

/* Allocate every block of a new image; unlinks it on failure. */
static int preallocate(const char *path, uint64_t size, struct vp_error *err)
{
	int fd = open(path, O_RDWR | O_CLOEXEC), ret;

	ret = fd < 0 ? errno : posix_fallocate(fd, 0, (off_t)size);
	ret = ret ?: (fsync(fd) < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
	if (ret) {
		unlink(path);
		return vp_error_set(err, ret, "create image %s: preallocate %llu bytes", path,
				    (unsigned long long)size);
	}
	return 0;
}

static int cmd_image_create(struct vp_control *ctl, const json_t *req, json_t *resp,
			    struct vp_error *err)
{
	const char *path;
	uint64_t size;
	json_t *info;
	bool sparse;
	int ret;

	ret = get_path(req, "path", true, &path, err);
	ret = ret ?: get_size(req, "size", &size, err);
	ret = ret ?: vp_json_opt_bool(req, "", "sparse", true, &sparse, err);
	ret = ret ?: vp_image_create(path, size, err);
	ret = ret ?: (sparse ? 0 : preallocate(path, size, err));
	ret = ret ?: image_info_json(ctl, path, &info, err);
	if (ret)
		return ret;
	json_object_set_new(resp, "image", info);
	event(ctl, "image.created", "path=%s size=%llu sparse=%d", path, (unsigned long long)size,
	      sparse);
	return 0;
}

/* Resize an image file that no export uses. */
static int resize_file(struct vp_control *ctl, const char *path, uint64_t size, struct vp_error *err)
{
	struct vp_image *img = NULL;
	json_t *names;
	struct stat st;
	int ret;

	if (stat(path, &st) < 0)
		return vp_error_set(err, errno, "image %s", path);
	names = exported_as(ctl, &st);
	if (json_array_size(names)) {
		ret = vp_error_code(err, 0, EBUSY, "image %s is exported as %s: resize the export instead",
				   path, json_string_value(json_array_get(names, 0)));
		json_decref(names);
		return ret;
	}
	json_decref(names);
	ret = vp_image_open(path, 0, &img, err);
	ret = ret ?: vp_image_resize(img, size, err);
	vp_image_close(img);
	return ret;
}

/* Resize a published export's image; a vhost-user front end is told at
 * once (not at the next size poll).  Shrinking under a connected front end
 * is refused like shrinking under NBD clients. */
static int resize_export(struct vp_control *ctl, const char *name, uint64_t size,
			 struct vp_error *err)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	struct vp_control_vhost v;
	uint64_t cur = size;
	int ret;

	for (size_t i = 0; i < snap->n; i++)
		if (strcmp(snap->exports[i].name, name) == 0)
			cur = snap->exports[i].img->size;
	vp_nbd_snapshot_put(snap);
	if (vhost_get(ctl, name, &v) == 0 && v.connected && size < cur)
		return vp_error_code(err, 0, EBUSY, "export %s: cannot shrink while a vhost-user "
				     "front end is connected", name);
	ret = vp_nbd_table_resize(ctl->cfg.table, name, size, err);
	if (ret == 0 && vhost_get(ctl, name, &v) == 0)
		ctl->cfg.vhost->resized(ctl->cfg.vhost_ctx, name);
	return ret;
}

static int cmd_image_resize(struct vp_control *ctl, const json_t *req, json_t *resp,
			    struct vp_error *err)
{
	const char *path, *name;
	struct vp_nbd_snapshot *snap;
	uint64_t size;
	json_t *info = NULL;
	int ret;

	ret = get_path(req, "path", false, &path, err);
	ret = ret ?: vp_json_opt_str(req, "", "export", NULL, &name, err);
	ret = ret ?: get_size(req, "size", &size, err);
	if (ret)
		return ret;
	if (!path == !name)
		return vp_error_code(err, 0, EINVAL, "give exactly one of path and export");
	if (path) {
		ret = resize_file(ctl, path, size, err);
		ret = ret ?: image_info_json(ctl, path, &info, err);
		if (ret)
			return ret;
		json_object_set_new(resp, "image", info);
	} else {
		ret = resize_export(ctl, name, size, err);
		if (ret)
			return ret;
		snap = vp_nbd_table_acquire(ctl->cfg.table);
		for (size_t i = 0; i < snap->n; i++)
			if (strcmp(snap->exports[i].name, name) == 0)
				json_object_set_new(resp, "export", export_json(ctl, &snap->exports[i]));
		vp_nbd_snapshot_put(snap);
	}
	event(ctl, "image.resized", "%s=%s size=%llu", path ? "path" : "export", path ? path : name,
	      (unsigned long long)size);
	return 0;
}

static int cmd_image_info(struct vp_control *ctl, const json_t *req, json_t *resp,
			  struct vp_error *err)
{
	const char *path;
	json_t *info;
	int ret;

	ret = get_path(req, "path", true, &path, err);
	ret = ret ?: image_info_json(ctl, path, &info, err);
	if (ret)
		return ret;
	json_object_set_new(resp, "image", info);
	return 0;
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

static int cmd_vhost_add(struct vp_control *ctl, const json_t *req, json_t *resp,
			 struct vp_error *err)
{
	struct vp_control_vhost v = { 0 };
	struct vp_nbd_snapshot *snap;
	const char *path = NULL;
	unsigned flags = 0;
	int64_t queues;
	int ret;

	ret = vp_json_req_str(req, "", "name", &v.name, err);
	ret = ret ?: get_path(req, "socket", true, &v.socket, err);
	ret = ret ?: vp_json_opt_int(req, "", "queues", 1, 1, VP_CONTROL_VHOST_MAX_QUEUES, &queues, err);
	if (ret)
		return ret;
	if (!ctl->cfg.vhost)
		return vp_error_code(err, 0, EOPNOTSUPP, "this daemon has no vhost-user support");
	v.queues = (unsigned)queues;
	snap = vp_nbd_table_acquire(ctl->cfg.table);
	for (size_t i = 0; i < snap->n; i++)
		if (strcmp(snap->exports[i].name, v.name) == 0) {
			path = snap->exports[i].entry->sh->path;
			flags = snap->exports[i].entry->sh->flags;
		}
	/* The snapshot keeps path alive; only this thread changes the table. */
	ret = path ? ctl->cfg.vhost->add(ctl->cfg.vhost_ctx, &v, path, flags, err) :
		     vp_error_code(err, 0, ENOENT, "no export named %s", v.name);
	vp_nbd_snapshot_put(snap);
	if (ret)
		return ret;
	json_object_set_new(resp, "vhost", json_pack("{s:s, s:s, s:i}", "name", v.name, "socket",
						     v.socket, "queues", (int)v.queues));
	event(ctl, "vhost.added", "name=%s socket=%s queues=%u", v.name, v.socket, v.queues);
	return 0;
}

static int cmd_vhost_remove(struct vp_control *ctl, const json_t *req, json_t *resp,
			    struct vp_error *err)
{
	const char *name;
	int ret;

	(void)resp;
	ret = vp_json_req_str(req, "", "name", &name, err);
	if (ret)
		return ret;
	ret = ctl->cfg.vhost ? ctl->cfg.vhost->remove(ctl->cfg.vhost_ctx, name, err) :
			       vp_error_code(err, 0, ENOENT, "export %s has no vhost-user server", name);
	if (ret)
		return ret;
	event(ctl, "vhost.removed", "name=%s", name);
	return 0;
}

static const char *const no_keys[] = { NULL };
static const char *const add_keys[] = { "name", "image", "readonly", "cache", "description", NULL };
static const char *const remove_keys[] = { "name", "force", NULL };
static const char *const create_keys[] = { "path", "size", "sparse", NULL };
static const char *const resize_keys[] = { "path", "export", "size", NULL };
static const char *const path_keys[] = { "path", NULL };
static const char *const name_keys[] = { "name", NULL };
static const char *const vhost_keys[] = { "name", "socket", "queues", NULL };

static const struct cmd commands[] = {
	{ "export-add", add_keys, cmd_export_add },
	{ "export-remove", remove_keys, cmd_export_remove },
	{ "export-list", no_keys, cmd_export_list },
	{ "image-create", create_keys, cmd_image_create },
	{ "image-resize", resize_keys, cmd_image_resize },
	{ "image-info", path_keys, cmd_image_info },
	{ "stats", name_keys, cmd_stats },
	{ "vhost-add", vhost_keys, cmd_vhost_add },
	{ "vhost-remove", name_keys, cmd_vhost_remove },
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Parse, validate and dispatch one request; fills resp on success and
 * copies the command name (for the log) into name. */
static int dispatch(struct vp_control *ctl, const char *text, size_t len, json_t *resp,
		    char *name, size_t namesz, struct vp_error *err)
{
	const struct cmd *c;
	const char *cmd;
	json_t *req = NULL;
	int ret;

	ret = vp_json_parse(text, len, &req, err);
	if (ret)
		return ret;
	if (!json_is_object(req)) {
		ret = vp_error_code(err, 0, EINVAL, "request: expected a JSON object");
		goto out;
	}
	ret = vp_json_req_str(req, "", "command", &cmd, err);
	if (ret)
		goto out;
	snprintf(name, namesz, "%s", cmd);
	c = find_cmd(cmd);
	if (!c) {
		ret = vp_error_code(err, 0, EOPNOTSUPP, "command: unknown command '%.64s' (see docs/vblkd.md)",
				   cmd);
		goto out;
	}
	ret = check_keys(req, c->keys, err);
	ret = ret ?: c->fn(ctl, req, resp, err);
out:
	json_decref(req);
	return ret;
}

char *vp_control_handle(struct vp_control *ctl, const char *text, size_t len)
{
	struct vp_error err = { 0 };
	json_t *resp = json_object();
	char name[64] = "?";
	char *out;
	int ret;

	if (!resp)
		return NULL;
	ret = dispatch(ctl, text, len, resp, name, sizeof(name), &err);
	if (ret) {
		json_object_clear(resp);
		json_object_set_new(resp, "error", json_string(err.msg));
		json_object_set_new(resp, "errno", json_integer(-ret));
		event(ctl, "control.error", "command=%s errno=%d error=\"%s\"", name, -ret, err.msg);
	}
	json_object_set_new(resp, "ok", json_boolean(ret == 0));
	out = vp_json_dump(resp);
	json_decref(resp);
	return out;
}

/* ---- socket and thread ---- */

/* Remove a stale socket file at path; -EADDRINUSE when a server answers on
 * it, -EEXIST when path is something else than a socket. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, struct vp_error *err)
{
	struct stat st;
	int s, live;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return vp_error_code(err, 0, EEXIST, "control socket %s: exists and is not a socket", path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return vp_error_set(err, errno, "control socket");
	live = connect(s, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(s);
	if (live)
		return vp_error_code(err, 0, EADDRINUSE, "control socket %s: another daemon is serving it",
				    path);
	unlink(path);
	return 0;
}

static int open_socket(struct vp_control *ctl, struct vp_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int ret, e;

	if (!*ctl->path || strlen(ctl->path) >= sizeof(sa.sun_path))
		return vp_error_set(err, ENAMETOOLONG, "control socket path '%s'", ctl->path);
	strcpy(sa.sun_path, ctl->path);
	ret = clear_stale(ctl->path, &sa, err);
	if (ret)
		return ret;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0)
		return vp_error_set(err, errno, "control socket");
	/* The file is born 0600: umask covers bind (the process is still
	 * single-threaded here), chmod makes it independent of the umask. */
	old = umask(0177);
	ret = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	umask(old);
	if (ret < 0)
		return vp_error_set(err, e, "bind control socket %s", ctl->path);
	ctl->bound = true;
	if (chmod(ctl->path, 0600) < 0 || listen(ctl->fd, 16) < 0)
		return vp_error_set(err, errno, "listen on control socket %s", ctl->path);
	return 0;
}

int vp_control_new(const struct vp_control_config *cfg, struct vp_control **out,
		   struct vp_error *err)
{
	struct vp_control *ctl = calloc(1, sizeof(*ctl));
	int ret;

	*out = NULL;
	if (!ctl || !(ctl->path = strdup(cfg->path))) {
		free(ctl);
		return vp_error_set(err, ENOMEM, "control socket");
	}
	ctl->cfg = *cfg;
	ctl->cfg.path = ctl->path;
	ctl->fd = ctl->stop_fd = -1;
	for (unsigned i = 0; i < VP_CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i].fd = -1;
	ret = open_socket(ctl, err);
	if (ret == 0 && (ctl->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		ret = vp_error_set(err, errno, "control socket: eventfd");
	if (ret) {
		vp_control_free(ctl);
		return ret;
	}
	*out = ctl;
	return 0;
}

static void client_close(struct client *c)
{
	close(c->fd);
	free(c->buf);
	*c = (struct client){ .fd = -1 };
}

/* Send all of buf, waiting at most SEND_TIMEOUT_MS for each stall. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno != EAGAIN) {
			return -errno;
		} else if (poll(&p, 1, SEND_TIMEOUT_MS) <= 0) {
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* Answer one request line; -errno when the client must be dropped. */
static int client_answer(struct vp_control *ctl, struct client *c, const char *line, size_t len)
{
	char *resp = vp_control_handle(ctl, line, len);
	int ret;

	if (!resp)
		return -ENOMEM;
	ret = send_all(c->fd, resp, strlen(resp));
	ret = ret ?: send_all(c->fd, "\n", 1);
	free(resp);
	return ret;
}

/* Answer every complete line in c's buffer; -errno to drop the client. */
static int client_lines(struct vp_control *ctl, struct client *c, bool eof)
{
	size_t start = 0;
	char *nl;
	int ret = 0;

	while (!ret && (nl = memchr(c->buf + start, '\n', c->len - start))) {
		ret = client_answer(ctl, c, c->buf + start, (size_t)(nl - (c->buf + start)));
		start = (size_t)(nl - c->buf) + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	if (!ret && eof && c->len) /* a last request without its newline */
		ret = client_answer(ctl, c, c->buf, c->len);
	if (!ret && c->len > VP_CONTROL_MAX_LINE) {
		static const char msg[] = "{\"errno\":90,\"error\":\"request longer than 65536 "
					  "bytes\",\"ok\":false}\n";

		(void)send_all(c->fd, msg, sizeof(msg) - 1);
		ret = -EMSGSIZE;
	}
	return ret;
}

static void client_read(struct vp_control *ctl, struct client *c)
{
	ssize_t n;

	if (!c->buf && !(c->buf = malloc(VP_CONTROL_MAX_LINE + 2))) {
		client_close(c);
		return;
	}
	n = recv(c->fd, c->buf + c->len, VP_CONTROL_MAX_LINE + 1 - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->len += (size_t)n;
	if (n <= 0 || client_lines(ctl, c, n == 0) || n == 0)
		client_close(c);
}

static void accept_client(struct vp_control *ctl)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	unsigned i;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		event(ctl, "control.refused", "reason=peer-uid uid=%d", (int)cred.uid);
		close(fd);
		return;
	}
	for (i = 0; i < VP_CONTROL_MAX_CLIENTS && ctl->clients[i].fd >= 0; i++)
		;
	if (i == VP_CONTROL_MAX_CLIENTS) { /* poll skips accept when full */
		close(fd);
		return;
	}
	ctl->clients[i].fd = fd;
}

/* Close a stats interval on every published export when one is due;
 * returns the ms until the next tick. */
static int tick(struct vp_control *ctl)
{
	uint64_t now = mono_ns();
	struct vp_nbd_snapshot *snap;

	if (now >= ctl->next_tick) {
		snap = vp_nbd_table_acquire(ctl->cfg.table);
		for (size_t i = 0; i < snap->n; i++)
			vp_stats_tick(snap->exports[i].stats, now);
		vp_nbd_snapshot_put(snap);
		ctl->next_tick = now + VP_CONTROL_TICK_MS * 1000000ULL;
	}
	return (int)((ctl->next_tick - now) / 1000000) + 1;
}

static void *control_main(void *arg)
{
	struct vp_control *ctl = arg;
	struct pollfd p[2 + VP_CONTROL_MAX_CLIENTS];
	struct client *who[2 + VP_CONTROL_MAX_CLIENTS];

	for (;;) {
		int timeout = tick(ctl);
		nfds_t n = 2;

		p[0] = (struct pollfd){ .fd = ctl->stop_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = ctl->fd, .events = POLLIN };
		for (unsigned i = 0; i < VP_CONTROL_MAX_CLIENTS; i++)
			if (ctl->clients[i].fd >= 0) {
				who[n] = &ctl->clients[i];
				p[n++] = (struct pollfd){ .fd = ctl->clients[i].fd, .events = POLLIN };
			}
		if (n == 2 + VP_CONTROL_MAX_CLIENTS)
			p[1].fd = -1; /* full: leave new clients in the backlog */
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		for (nfds_t i = 2; i < n; i++)
			if (p[i].revents)
				client_read(ctl, who[i]);
		if (p[1].revents & POLLIN)
			accept_client(ctl);
	}
	return NULL;
}

int vp_control_start(struct vp_control *ctl, struct vp_error *err)
{
	int ret = pthread_create(&ctl->tid, NULL, control_main, ctl);

	if (ret)
		return vp_error_set(err, ret, "start control thread");
	ctl->started = true;
	return 0;
}

void vp_control_stop(struct vp_control *ctl)
{
	uint64_t one = 1;

	if (!ctl || !ctl->started)
		return;
	(void)!write(ctl->stop_fd, &one, sizeof(one));
	pthread_join(ctl->tid, NULL);
	ctl->started = false;
}

void vp_control_free(struct vp_control *ctl)
{
	if (!ctl)
		return;
	for (unsigned i = 0; i < VP_CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].fd >= 0)
			client_close(&ctl->clients[i]);
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->bound)
		unlink(ctl->path);
	if (ctl->stop_fd >= 0)
		close(ctl->stop_fd);
	free(ctl->path);
	free(ctl);
}
