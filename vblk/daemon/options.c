/* options.c - vblkd's command line and JSON config file, read into the
 * option fields of struct daemon (the syntax is in vblk/vblkd.c's header
 * comment and docs/vblkd.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/size.h"
#include "common/statefile.h"
#include "vblk/daemon/daemon.h"
#include "vblk/nbd/server.h"
#include "vblk/ublk/dev.h"

/* Command-line values that override the config file's. */
struct cli_overrides {
	const char *control;
	unsigned workers;                        /* 0: not given */
	const char *socket_mode, *socket_group;  /* NULL: not given */
	const char *control_mode, *control_group;
	const char *image_root;
};

/* Long options without a short letter (kept clear of the letters). */
enum {
	OPT_SOCKET_MODE = 0x1100,
	OPT_SOCKET_GROUP,
	OPT_SOCKET_ALLOW,
	OPT_CONTROL_MODE,
	OPT_CONTROL_GROUP,
	OPT_CONTROL_ALLOW,
	OPT_IMAGE_ROOT,
};

/* One worker per online CPU, within VBLKD_MAX_WORKERS over all listeners. */
static unsigned default_workers(size_t n_listen)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned cap = VBLKD_MAX_WORKERS / (unsigned)(n_listen ? n_listen : 1);

	return cpus < 1 ? 1 : (unsigned)cpus < cap ? (unsigned)cpus : cap;
}

/* The next item of a comma-separated key=value option value, split in
 * place: call with *arg the value and *save NULL first (as strtok_r), then
 * with both as left.  1 with *key and *val set, 0 after the last item,
 * -EINVAL (err naming opt) for an item without '='. */
static int next_kv(char **arg, char **save, const char *opt, char **key, char **val,
		   struct vp_error *err)
{
	char *kv = strtok_r(*arg, ",", save);

	*arg = NULL;
	if (!kv)
		return 0;
	*val = strchr(kv, '=');
	if (!*val)
		return vp_error_set(err, EINVAL, "%s: '%s' is not key=value", opt, kv);
	*(*val)++ = 0;
	*key = kv;
	return 1;
}

/* Parse one --export value into spec (which points into the modified arg). */
static int parse_export(char *arg, struct vp_nbd_export_spec *spec, struct vp_error *err)
{
	char *save = NULL, *kv = NULL, *v = NULL;
	int ret;

	memset(spec, 0, sizeof(*spec));
	while ((ret = next_kv(&arg, &save, "--export", &kv, &v, err)) > 0) {
		if (strcmp(kv, "name") == 0)
			spec->name = v;
		else if (strcmp(kv, "image") == 0)
			spec->path = v;
		else if (strcmp(kv, "description") == 0)
			spec->description = v;
		else if (strcmp(kv, "readonly") == 0 && (!strcmp(v, "on") || !strcmp(v, "off")))
			spec->flags |= strcmp(v, "on") == 0 ? VP_IMAGE_READONLY : 0;
		else if (strcmp(kv, "cache") == 0 && (!strcmp(v, "none") || !strcmp(v, "writeback")))
			spec->flags |= strcmp(v, "none") == 0 ? VP_IMAGE_DIRECT : 0;
		else
			return vp_error_set(err, EINVAL, "--export: unknown option or value '%s=%s'", kv, v);
	}
	if (ret < 0)
		return ret;
	if (!spec->name || !*spec->name || strlen(spec->name) > 4096 || !spec->path)
		return vp_error_set(err, EINVAL, "--export: name= (1-4096 bytes) and image= are required");
	return 0;
}

/* Parse one --vhost-user value (points into the modified arg). */
static int parse_vhost(char *arg, struct vhost_spec *spec, struct vp_error *err)
{
	char *save = NULL, *kv = NULL, *v = NULL, *end;
	int ret;

	memset(spec, 0, sizeof(*spec));
	spec->queues = 1;
	while ((ret = next_kv(&arg, &save, "--vhost-user", &kv, &v, err)) > 0) {
		if (strcmp(kv, "name") == 0) {
			spec->name = v;
		} else if (strcmp(kv, "socket") == 0) {
			spec->socket = v;
		} else if (strcmp(kv, "queues") == 0) {
			errno = 0;
			spec->queues = (unsigned)strtoul(v, &end, 10);
			if (errno || *end || spec->queues < 1 || spec->queues > 16)
				return vp_error_set(err, EINVAL, "--vhost-user: queues= expects 1..16");
		} else {
			return vp_error_set(err, EINVAL, "--vhost-user: unknown option '%s'", kv);
		}
	}
	if (ret < 0)
		return ret;
	if (!spec->name || !spec->socket || !*spec->socket)
		return vp_error_set(err, EINVAL, "--vhost-user: name= and socket= are required");
	return 0;
}

/* Parse one --ublk value (name points into the modified arg). */
static int parse_ublk(char *arg, struct ublk_spec *u, struct vp_error *err)
{
	char *save = NULL, *kv = NULL, *v = NULL, *end;
	unsigned long n;
	int ret;

	memset(u, 0, sizeof(*u));
	u->queues = 1;
	u->depth = VP_UBLK_DEFAULT_DEPTH;
	while ((ret = next_kv(&arg, &save, "--ublk", &kv, &v, err)) > 0) {
		if (strcmp(kv, "name") == 0) {
			u->name = v;
			continue;
		}
		if (strcmp(kv, "queues") && strcmp(kv, "depth"))
			return vp_error_set(err, EINVAL, "--ublk: unknown option '%s'", kv);
		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno || *end || !*v || n < 1 ||
		    n > (strcmp(kv, "queues") ? VP_UBLK_MAX_DEPTH : VP_UBLK_MAX_QUEUES))
			return vp_error_set(err, EINVAL, "--ublk: queues= expects 1..%d, depth= 1..%d",
					    VP_UBLK_MAX_QUEUES, VP_UBLK_MAX_DEPTH);
		*(strcmp(kv, "queues") ? &u->depth : &u->queues) = (unsigned)n;
	}
	if (ret < 0)
		return ret;
	if (!u->name || !*u->name)
		return vp_error_set(err, EINVAL, "--ublk: name= is required");
	return 0;
}

static int add_listen(struct daemon *d, const char *spec, struct vp_error *err)
{
	if (d->n_listen == VBLKD_MAX_LISTEN)
		return vp_error_set(err, E2BIG, "at most %d --nbd addresses", VBLKD_MAX_LISTEN);
	d->listen_specs[d->n_listen++] = spec;
	return 0;
}

static int add_spec(struct daemon *d, const struct vp_nbd_export_spec *spec, struct vp_error *err)
{
	if (d->n_exports == VBLKD_MAX_EXPORTS)
		return vp_error_set(err, E2BIG, "at most %d exports at start", VBLKD_MAX_EXPORTS);
	d->specs[d->n_exports++] = *spec;
	return 0;
}

static int add_vhost(struct daemon *d, const struct vhost_spec *spec, const char *what,
		     struct vp_error *err)
{
	if (d->n_vhost == VBLKD_MAX_VHOST)
		return vp_error_set(err, E2BIG, "at most %d %s", VBLKD_MAX_VHOST, what);
	d->vhost[d->n_vhost++] = *spec;
	return 0;
}

/* ---- unix socket mode, group and allowed peers ---- */

/* Mode (octal text) and group (name or number) into o, either may be NULL
 * (keep o's); errors name opt. */
static int socket_perms(const char *mode, const char *group, const char *opt,
			struct vp_unix_listen_opts *o, struct vp_error *err)
{
	int ret = mode ? vp_unix_parse_mode(mode, &o->mode, err) : 0;

	ret = ret ?: group ? vp_unix_parse_group(group, &o->gid, err) : 0;
	if (ret)
		vp_error_prefix(err, "%s", opt);
	return ret;
}

/* A comma-separated list of user:X / group:X into peers (arg modified). */
static int parse_allow(char *arg, const char *opt, struct vp_unix_peers *peers,
		       struct vp_error *err)
{
	char *save = NULL;

	for (char *item = strtok_r(arg, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		int ret = vp_unix_peers_add(peers, item, err);

		if (ret) {
			vp_error_prefix(err, "%s", opt);
			return ret;
		}
	}
	return 0;
}

/* ---- NBD limits and timeouts (docs/vblkd.md, "Limits and timeouts") ---- */

/* One limit: its --option (getopt value 0x100 + index), its config key,
 * and its field in struct vp_nbd_server_limits: an unsigned count or
 * timeout (given in whole seconds, stored in ms: scale 1000) in min..max,
 * or a uint64_t size (scale 0: "64M" or, in the config, bytes) of at least
 * min bytes. */
struct limit_opt {
	const char *option, *key;
	size_t off;
	unsigned scale;
	uint64_t min, max;
};

#define LIMIT(opt, key, field, scale, min, max) \
	{ opt, key, offsetof(struct vp_nbd_server_limits, field), scale, min, max }

static const struct limit_opt limit_opts[] = {
	LIMIT("drain-timeout", "drain_timeout", drain_timeout_ms, 1000, 1, 3600),
	LIMIT("handshake-timeout", "handshake_timeout", handshake_timeout_ms, 1000, 1, 3600),
	LIMIT("idle-timeout", "idle_timeout", idle_timeout_ms, 1000, 0, 86400),
	LIMIT("send-timeout", "send_timeout", send_timeout_ms, 1000, 1, 86400),
	LIMIT("max-conns", "max_conns", max_conns, 1, 1, 65536),
	LIMIT("nbd-mem", "nbd_mem", mem_max, 0, VP_NBD_CONN_MEM_MIN, UINT64_MAX),
	LIMIT("conn-unsent", "conn_unsent", unsent_max, 0, 4096, UINT64_MAX),
};

#define N_LIMITS (sizeof(limit_opts) / sizeof(limit_opts[0]))
#define LIMIT_OPT_BASE 0x100

static uint64_t limit_get(const struct daemon *d, const struct limit_opt *l)
{
	const char *f = (const char *)&d->nbd_limits + l->off;

	return l->scale ? *(const unsigned *)f : *(const uint64_t *)f;
}

/* Store v (in the user's unit) after checking its range. */
static int limit_set(struct daemon *d, const struct limit_opt *l, uint64_t v, struct vp_error *err)
{
	char *f = (char *)&d->nbd_limits + l->off;

	if (v < l->min || v > l->max)
		return l->scale ? vp_error_set(err, EINVAL, "--%s: expected %llu..%llu", l->option,
					       (unsigned long long)l->min, (unsigned long long)l->max) :
				  vp_error_set(err, EINVAL, "--%s: expected a size of at least %llu bytes",
					       l->option, (unsigned long long)l->min);
	if (l->scale)
		*(unsigned *)f = (unsigned)v * l->scale;
	else
		*(uint64_t *)f = v;
	return 0;
}

static int parse_limit(struct daemon *d, const struct limit_opt *l, const char *arg,
		       struct vp_error *err)
{
	uint64_t v = 0;
	char *end;
	bool bad;

	errno = 0;
	if (l->scale) {
		v = strtoull(arg, &end, 10);
		bad = errno || *end || !*arg || *arg == '-';
	} else {
		bad = vp_parse_size(arg, &v) < 0;
	}
	if (bad)
		return vp_error_set(err, EINVAL, "--%s: '%s' is not a %s", l->option, arg,
				    l->scale ? "whole number" : "size");
	return limit_set(d, l, v, err);
}

/* The config's limit keys; the command line (parsed first) wins. */
static int config_limits(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < N_LIMITS; i++) {
		const struct limit_opt *l = &limit_opts[i];
		json_t *v = json_object_get(d->config, l->key);
		int ret;

		if (!v || limit_get(d, l))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return vp_error_set(err, EINVAL, "%s: expected a whole number%s", l->key,
					    l->scale ? "" : " of bytes");
		ret = limit_set(d, l, (uint64_t)json_integer_value(v), err);
		if (ret) {
			vp_error_prefix(err, "%s", l->key);
			return ret;
		}
	}
	return 0;
}

/* The config's array of user:X / group:X strings at key into peers. */
static int config_allow(const json_t *config, const char *key, struct vp_unix_peers *peers,
			struct vp_error *err)
{
	json_t *list, *v;
	size_t i;
	int ret = vp_json_opt_array(config, "", key, &list, err);

	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			return vp_error_set(err, EINVAL, "%s[%zu]: expected a string", key, i);
		ret = vp_unix_peers_add(peers, json_string_value(v), err);
		if (ret) {
			vp_error_prefix(err, "%s[%zu]", key, i);
			return ret;
		}
	}
	return ret;
}

/* The config's socket keys (the command line overrides mode and group,
 * and adds to the allow-lists). */
static int config_sockets(struct daemon *d, struct vp_error *err)
{
	const char *smode, *sgroup, *cmode, *cgroup;
	int ret;

	ret = vp_json_opt_str(d->config, "", "socket-mode", NULL, &smode, err);
	ret = ret ?: vp_json_opt_str(d->config, "", "socket-group", NULL, &sgroup, err);
	ret = ret ?: vp_json_opt_str(d->config, "", "control-mode", NULL, &cmode, err);
	ret = ret ?: vp_json_opt_str(d->config, "", "control-group", NULL, &cgroup, err);
	ret = ret ?: socket_perms(smode, sgroup, "socket-mode/socket-group", &d->data_socket, err);
	ret = ret ?: socket_perms(cmode, cgroup, "control-mode/control-group", &d->control_socket,
				  err);
	ret = ret ?: config_allow(d->config, "socket-allow", &d->data_peers, err);
	return ret ?: config_allow(d->config, "control-allow", &d->control_peers, err);
}

static bool is_limit_key(const char *key)
{
	for (size_t i = 0; i < N_LIMITS; i++)
		if (strcmp(key, limit_opts[i].key) == 0)
			return true;
	return false;
}

/* ---- config file ---- */

/* One entry of the config's "exports" array, as export-add takes it. */
static int config_export(struct daemon *d, const json_t *e, const char *path, struct vp_error *err)
{
	struct vp_nbd_export_spec spec = { 0 };
	const char *cache, *key;
	bool ro;
	json_t *v;
	int ret;

	json_object_foreach((json_t *)e, key, v)
		if (strcmp(key, "name") && strcmp(key, "image") && strcmp(key, "readonly") &&
		    strcmp(key, "cache") && strcmp(key, "description"))
			return vp_error_set(err, EINVAL, "%s.%s: unknown field", path, key);
	ret = vp_json_req_str(e, path, "name", &spec.name, err);
	ret = ret ?: vp_json_req_str(e, path, "image", &spec.path, err);
	ret = ret ?: vp_json_opt_str(e, path, "description", NULL, &spec.description, err);
	ret = ret ?: vp_json_opt_bool(e, path, "readonly", false, &ro, err);
	ret = ret ?: vp_json_opt_str(e, path, "cache", "writeback", &cache, err);
	if (ret)
		return ret;
	if (strcmp(cache, "none") && strcmp(cache, "writeback"))
		return vp_error_set(err, EINVAL, "%s.cache: expected \"none\" or \"writeback\"", path);
	spec.flags = (ro ? VP_IMAGE_READONLY : 0) | (strcmp(cache, "none") ? 0 : VP_IMAGE_DIRECT);
	return add_spec(d, &spec, err);
}

/* One entry of the config's "vhost" array, as vhost-add takes it. */
static int config_vhost(struct daemon *d, const json_t *e, const char *path, struct vp_error *err)
{
	struct vhost_spec spec = { 0 };
	const char *key;
	int64_t queues;
	json_t *v;
	int ret;

	json_object_foreach((json_t *)e, key, v)
		if (strcmp(key, "name") && strcmp(key, "socket") && strcmp(key, "queues"))
			return vp_error_set(err, EINVAL, "%s.%s: unknown field", path, key);
	ret = vp_json_req_str(e, path, "name", &spec.name, err);
	ret = ret ?: vp_json_req_str(e, path, "socket", &spec.socket, err);
	ret = ret ?: vp_json_opt_int(e, path, "queues", 1, 1, VP_CONTROL_VHOST_MAX_QUEUES, &queues, err);
	if (ret)
		return ret;
	if (!*spec.socket)
		return vp_error_set(err, EINVAL, "%s.socket: must not be empty", path);
	spec.queues = (unsigned)queues;
	return add_vhost(d, &spec, "vhost-user exports at start", err);
}

typedef int (*config_entry_fn)(struct daemon *d, const json_t *e, const char *path,
			       struct vp_error *err);

/* Feed each object of the config's array key (may be NULL) to fn. */
static int config_objects(struct daemon *d, const json_t *array, const char *key,
			  config_entry_fn fn, struct vp_error *err)
{
	char path[64];
	json_t *v;
	size_t i;

	json_array_foreach(array, i, v) {
		int ret;

		vp_json_path(path, sizeof(path), key, NULL, (long)i);
		ret = json_is_object(v) ? fn(d, v, path, err) :
					  vp_error_set(err, EINVAL, "%s: expected an object", path);
		if (ret)
			return ret;
	}
	return 0;
}

/* The config's fields, its top-level keys checked. */
static int config_fields(struct daemon *d, struct vp_error *err)
{
	json_t *nbd, *exports, *vhost, *v;
	const char *control;
	int64_t workers;
	size_t i;
	int ret;

	ret = vp_json_opt_array(d->config, "", "nbd", &nbd, err);
	ret = ret ?: vp_json_opt_array(d->config, "", "exports", &exports, err);
	ret = ret ?: vp_json_opt_array(d->config, "", "vhost", &vhost, err);
	ret = ret ?: vp_json_opt_str(d->config, "", "control", NULL, &control, err);
	ret = ret ?: vp_json_opt_int(d->config, "", "workers", d->n_workers, 1, VBLKD_MAX_WORKERS,
				     &workers, err);
	if (ret)
		return ret;
	d->control_path = control;
	d->n_workers = (unsigned)workers;
	json_array_foreach(nbd, i, v) {
		if (!json_is_string(v))
			return vp_error_set(err, EINVAL, "nbd[%zu]: expected a string", i);
		ret = add_listen(d, json_string_value(v), err);
		if (ret)
			return ret;
	}
	ret = config_objects(d, exports, "exports", config_export, err);
	ret = ret ?: config_sockets(d, err);
	ret = ret ?: config_objects(d, vhost, "vhost", config_vhost, err);
	return ret ?: config_limits(d, err);
}

static int load_config(struct daemon *d, struct vp_error *err)
{
	char *text = NULL;
	const char *key;
	size_t len;
	json_t *v;
	int ret;

	ret = vp_statefile_read(d->config_path, &text, &len, err);
	if (ret == -ENOENT)
		ret = vp_error_set(err, ENOENT, "read %s", d->config_path);
	ret = ret ?: vp_json_parse(text, len, &d->config, err);
	free(text);
	if (ret)
		return ret;
	if (!json_is_object(d->config))
		return vp_error_set(err, EINVAL, "expected a JSON object");
	json_object_foreach(d->config, key, v)
		if (strcmp(key, "nbd") && strcmp(key, "control") && strcmp(key, "exports") &&
		    strcmp(key, "workers") && strcmp(key, "vhost") && strcmp(key, "socket-mode") &&
		    strcmp(key, "socket-group") && strcmp(key, "socket-allow") &&
		    strcmp(key, "control-mode") && strcmp(key, "control-group") &&
		    strcmp(key, "control-allow") && strcmp(key, "image-root") && !is_limit_key(key))
			return vp_error_set(err, EINVAL, "%s: unknown field", key);
	return config_fields(d, err);
}

/* The config's exports were appended after the n_cli command-line ones:
 * move them first, so the command line adds to the config. */
static void config_first(struct daemon *d, size_t n_cli)
{
	struct vp_nbd_export_spec cli[VBLKD_MAX_EXPORTS];

	memcpy(cli, d->specs, n_cli * sizeof(cli[0]));
	memmove(d->specs, d->specs + n_cli, (d->n_exports - n_cli) * sizeof(cli[0]));
	memcpy(d->specs + d->n_exports - n_cli, cli, n_cli * sizeof(cli[0]));
}

/* ---- command line ---- */

/* --tls off|on|require. */
static int parse_tls_mode(const char *arg, enum vp_nbd_tls_mode *mode, struct vp_error *err)
{
	if (strcmp(arg, "off") == 0)
		*mode = VP_NBD_TLS_OFF;
	else if (strcmp(arg, "on") == 0)
		*mode = VP_NBD_TLS_ON;
	else if (strcmp(arg, "require") == 0)
		*mode = VP_NBD_TLS_REQUIRE;
	else
		return vp_error_set(err, EINVAL, "--tls: expected off, on or require");
	return 0;
}

/* One getopt_long result c with its argument. */
static int parse_option(struct daemon *d, int c, char *arg, struct cli_overrides *o,
			struct vp_error *err)
{
	struct vp_nbd_export_spec spec;
	struct vhost_spec vhost;
	char *end;
	int ret;

	switch (c) {
	case 'f':
		d->config_path = arg;
		return 0;
	case 'n':
		return add_listen(d, arg, err);
	case 'e':
		ret = parse_export(arg, &spec, err);
		return ret ?: add_spec(d, &spec, err);
	case 'c':
		o->control = arg;
		return 0;
	case 'v':
		ret = parse_vhost(arg, &vhost, err);
		return ret ?: add_vhost(d, &vhost, "--vhost-user", err);
	case 'u':
		if (d->n_ublk == VBLKD_MAX_UBLK)
			return vp_error_set(err, E2BIG, "at most %d --ublk", VBLKD_MAX_UBLK);
		ret = parse_ublk(arg, &d->ublk[d->n_ublk], err);
		d->n_ublk += ret == 0;
		return ret;
	case 'w':
		errno = 0;
		o->workers = (unsigned)strtoul(arg, &end, 10);
		if (errno || *end || o->workers < 1 || o->workers > VBLKD_MAX_WORKERS)
			return vp_error_set(err, EINVAL, "--workers: expected 1..%d", VBLKD_MAX_WORKERS);
		return 0;
	case 'T':
		return parse_tls_mode(arg, &d->tls_cfg.mode, err);
	case 'X':
		d->tls_cfg.cert_dir = arg;
		return 0;
	case 'P':
		d->tls_cfg.psk_file = arg;
		return 0;
	case 'V':
		d->tls_cfg.verify_peer = true;
		return 0;
	case 'm':
		if (vp_parse_size(arg, &d->conn_mem) < 0 || d->conn_mem < VP_NBD_CONN_MEM_MIN)
			return vp_error_set(err, EINVAL, "--conn-mem: expected a size of at least %u bytes",
					    (unsigned)VP_NBD_CONN_MEM_MIN);
		return 0;
	case OPT_SOCKET_MODE:
		o->socket_mode = arg;
		return 0;
	case OPT_SOCKET_GROUP:
		o->socket_group = arg;
		return 0;
	case OPT_CONTROL_MODE:
		o->control_mode = arg;
		return 0;
	case OPT_CONTROL_GROUP:
		o->control_group = arg;
		return 0;
	case OPT_IMAGE_ROOT:
		o->image_root = arg;
		return 0;
	case OPT_SOCKET_ALLOW:
		return parse_allow(arg, "--socket-allow", &d->data_peers, err);
	case OPT_CONTROL_ALLOW:
		return parse_allow(arg, "--control-allow", &d->control_peers, err);
	case 'U':
		d->sandbox.user = arg;
		return 0;
	case 'S':
		return vp_sandbox_parse_seccomp(arg, &d->sandbox.seccomp, err);
	default:
		if (c >= LIMIT_OPT_BASE && c < LIMIT_OPT_BASE + (int)N_LIMITS)
			return parse_limit(d, &limit_opts[c - LIMIT_OPT_BASE], arg, err);
		return vp_error_set(err, EINVAL, "bad arguments (see --help)");
	}
}

/* Open --image-root (or the config's "image-root"), if any. */
static int image_root(struct daemon *d, const struct cli_overrides *o, struct vp_error *err)
{
	const char *dir = o->image_root;
	int ret = dir || !d->config ? 0 :
		  vp_json_opt_str(d->config, "", "image-root", NULL, &dir, err);

	ret = ret ?: dir ? vp_image_root_open(dir, &d->image_root, err) : 0;
	if (ret)
		vp_error_prefix(err, "--image-root");
	return ret;
}

/* Merge the config file under the command line and check the whole. */
static int finish_options(struct daemon *d, const struct cli_overrides *o, struct vp_error *err)
{
	size_t n_cli = d->n_exports;
	int ret;

	if (d->config_path) {
		ret = load_config(d, err);
		if (ret) {
			vp_error_prefix(err, "--config %s", d->config_path);
			return ret;
		}
		config_first(d, n_cli);
	}
	d->control_path = o->control ? o->control : d->control_path;
	ret = socket_perms(o->socket_mode, o->socket_group, "--socket-mode/--socket-group",
			   &d->data_socket, err);
	ret = ret ?: socket_perms(o->control_mode, o->control_group,
				  "--control-mode/--control-group", &d->control_socket, err);
	ret = ret ?: image_root(d, o, err);
	if (ret)
		return ret;
	d->n_workers = o->workers ? o->workers : d->n_workers;
	if (d->n_workers == 0)
		d->n_workers = default_workers(d->n_listen);
	/* With --control alone, exports and vhost-user servers come at run time. */
	if ((d->n_listen == 0 && d->n_vhost == 0 && d->n_ublk == 0 && !d->control_path) ||
	    (d->n_exports == 0 && !d->control_path))
		return vp_error_set(err, EINVAL, "--nbd (or --vhost-user or --control) and at least one --export (or --control) are required");
	/* ublk's control commands need CAP_SYS_ADMIN until the devices are
	 * removed at exit: run it as its own unit (deploy/vblkd-ublk.service). */
	if (d->sandbox.user && d->n_ublk)
		return vp_error_set(err, EINVAL, "--user and --ublk: ublk devices need CAP_SYS_ADMIN for the daemon's whole life");
	d->sandbox.selftest = getenv("VBLKD_SECCOMP_SELFTEST") && strcmp(getenv("VBLKD_SECCOMP_SELFTEST"), "1") == 0;
	if (d->n_listen * d->n_workers > VBLKD_MAX_WORKERS)
		return vp_error_set(err, EINVAL, "--nbd addresses x --workers must not exceed %d",
				    VBLKD_MAX_WORKERS);
	return 0;
}

/* The options with a handler of their own in parse_option; the limits
 * (limit_opts) are appended to them at parse time. */
static const struct option base_opts[] = {
	{ "config", required_argument, NULL, 'f' },
	{ "nbd", required_argument, NULL, 'n' },
	{ "export", required_argument, NULL, 'e' },
	{ "control", required_argument, NULL, 'c' },
	{ "workers", required_argument, NULL, 'w' },
	{ "conn-mem", required_argument, NULL, 'm' },
	{ "tls", required_argument, NULL, 'T' },
	{ "tls-certificates", required_argument, NULL, 'X' },
	{ "tls-psk", required_argument, NULL, 'P' },
	{ "tls-verify-peer", no_argument, NULL, 'V' },
	{ "vhost-user", required_argument, NULL, 'v' },
	{ "ublk", required_argument, NULL, 'u' },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "socket-allow", required_argument, NULL, OPT_SOCKET_ALLOW },
	{ "control-mode", required_argument, NULL, OPT_CONTROL_MODE },
	{ "control-group", required_argument, NULL, OPT_CONTROL_GROUP },
	{ "control-allow", required_argument, NULL, OPT_CONTROL_ALLOW },
	{ "image-root", required_argument, NULL, OPT_IMAGE_ROOT },
	{ "user", required_argument, NULL, 'U' },
	{ "seccomp", required_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
};
#define N_BASE_OPTS (sizeof(base_opts) / sizeof(base_opts[0]))

int vp_vblkd_options_parse(struct daemon *d, int argc, char **argv, struct vp_error *err)
{
	struct option opts[N_BASE_OPTS + N_LIMITS + 1] = { 0 };
	struct cli_overrides o = { 0 };
	size_t n;
	int c;

	d->data_socket = (struct vp_unix_listen_opts){ .mode = VP_UNIX_MODE_DEFAULT,
						      .gid = VP_UNIX_GID_KEEP };
	d->control_socket = (struct vp_unix_listen_opts){ .mode = VP_CONTROL_MODE_DEFAULT,
							 .gid = VP_UNIX_GID_KEEP };
	d->control_peers.always_self = true;
	memcpy(opts, base_opts, sizeof(base_opts));
	n = N_BASE_OPTS;
	for (size_t i = 0; i < N_LIMITS; i++)
		opts[n++] = (struct option){ limit_opts[i].option, required_argument, NULL,
					     LIMIT_OPT_BASE + (int)i };

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int ret;

		if (c == 'h') {
			d->help = true;
			return 0;
		}
		ret = parse_option(d, c, optarg, &o, err);
		if (ret)
			return ret;
	}
	if (optind != argc)
		return vp_error_set(err, EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
	return finish_options(d, &o, err);
}
