/* vblkd.c - the vplumb disk daemon: serves raw images and block devices
 * over NBD from io_uring workers, managed at run time through a control
 * socket (vblk/control.h, driven by vblkctl).
 *
 *   vblkd [--config FILE] --nbd unix:PATH|tcp:HOST:PORT [--nbd ...]
 *         --export name=NAME,image=PATH[,readonly=on][,cache=none][,description=TEXT]
 *         [--export ...] [--control PATH] [--workers N] [--conn-mem SIZE]
 *         [--vhost-user name=NAME,socket=PATH[,queues=N] ...]
 *         [--ublk name=NAME[,queues=N][,depth=D] ...]
 *
 * --workers defaults to one per CPU; --conn-mem (default 64M) caps the request
 * buffers one NBD connection may hold.
 * --vhost-user serves export NAME (from --export or the config) to one
 * vhost-user-blk front end (QEMU) at a time on PATH; --nbd is then optional.
 * --ublk exposes export NAME as the local block device /dev/ublkbN through
 * the kernel's ublk driver (vblk/ublk/dev.h); without /dev/ublk-control the
 * daemon fails at start.
 * FILE is JSON {"nbd":[...],"control":"PATH","workers":N,"exports":[{...}],
 * "vhost":[{"name":..,"socket":..,"queues":N}]}; command-line options add to
 * it (--control and --workers override it).  vhost-user servers are also
 * added and removed at run time through the control socket (vhost-add,
 * vhost-remove); they are kept in one registry (struct vhost_registry).
 * SIGTERM/SIGINT drain: no new connections, in-flight requests finish and
 * are answered, images are synced, then the daemon exits 0.  With
 * $NOTIFY_SOCKET set it reports READY=1 and STOPPING=1 (Type=notify).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/size.h"
#include "common/statefile.h"
#include "vblk/control.h"
#include "vblk/image.h"
#include "vblk/nbd/server.h"
#include "vblk/nbd/table.h"
#include "vblk/vhost/server.h"
#include "vblk/ublk/dev.h"

#define MAX_EXPORTS 64
#define MAX_WORKERS 64
/* How long a restarted daemon waits for its predecessor's last writes. */
#define IMAGE_CLAIM_TIMEOUT_MS 10000
#define MAX_LISTEN 8
#define MAX_VHOST 64

#define MAX_UBLK 16

/* A --ublk export: its own fd on the image, served as /dev/ublkbN. */
struct ublk_export {
	const char *name;                        /* points into argv */
	unsigned queues, depth;
	struct vp_image *img;
	struct vp_ublk_dev *dev;
};

/* A --vhost-user option or a config "vhost" entry (strings not owned). */
struct vhost_spec {
	const char *name, *socket;
	unsigned queues;
};

/* One running vhost-user server. */
struct vhost_export {
	char *name, *socket;
	unsigned queues;
	struct vp_image *img;                    /* its own fd on the export's image */
	struct vp_vhost_server *srv;
	bool started;
	bool connected;                          /* atomic: set by the server's events */
};

/* Every vhost-user server of the daemon.  main fills it at start and
 * empties it at shutdown (after joining the control thread); in between
 * only the control thread adds and removes.  lock guards n and v[]; the
 * servers' own threads touch only their entry's connected flag. */
struct vhost_registry {
	pthread_mutex_t lock;
	struct vhost_export *v[MAX_VHOST];
	size_t n;
};

struct worker_thread {
	pthread_t tid;
	struct vp_nbd_worker *w;
};

struct daemon {
	const char *config_path, *control_path;
	json_t *config;                          /* strings of specs may point into it */
	const char *listen_specs[MAX_LISTEN];
	int listen_fds[MAX_LISTEN];
	size_t n_listen;
	struct vp_nbd_export_spec specs[MAX_EXPORTS];
	size_t n_exports;
	unsigned n_workers;                      /* per listening socket; 0: one per CPU */
	uint64_t conn_mem;                       /* payload buffer budget per connection; 0: default */
	struct worker_thread threads[MAX_WORKERS];
	struct vp_nbd_table table;
	bool table_ready;
	struct vp_control *ctl;
	struct vhost_spec vhost[MAX_VHOST];
	size_t n_vhost;
	struct vhost_registry vhosts;
	struct ublk_export ublk[MAX_UBLK];
	size_t n_ublk;
};

/* One worker per online CPU, within MAX_WORKERS over all listeners. */
static unsigned default_workers(size_t n_listen)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned cap = MAX_WORKERS / (unsigned)(n_listen ? n_listen : 1);

	return cpus < 1 ? 1 : (unsigned)cpus < cap ? (unsigned)cpus : cap;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vblkd [--config FILE] --nbd unix:PATH|tcp:HOST:PORT [--nbd ...]\n"
		   "             --export name=NAME,image=PATH[,readonly=on][,cache=none][,description=TEXT]\n"
		   "             [--export ...] [--control PATH] [--workers N] [--conn-mem SIZE]\n"
		   "             [--vhost-user name=NAME,socket=PATH[,queues=N] ...]\n"
		   "             [--ublk name=NAME[,queues=N][,depth=D] ...]\n");
}

/* Parse one --export value into spec (which points into the modified arg). */
static int parse_export(char *arg, struct vp_nbd_export_spec *spec, struct vp_error *err)
{
	char *save = NULL;

	memset(spec, 0, sizeof(*spec));
	for (char *kv = strtok_r(arg, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v)
			return vp_error_set(err, EINVAL, "--export: '%s' is not key=value", kv);
		*v++ = 0;
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
	if (!spec->name || !*spec->name || strlen(spec->name) > 4096 || !spec->path)
		return vp_error_set(err, EINVAL, "--export: name= (1-4096 bytes) and image= are required");
	return 0;
}

/* Parse one --vhost-user value (points into the modified arg). */
static int parse_vhost(char *arg, struct vhost_spec *spec, struct vp_error *err)
{
	char *save = NULL, *end;

	memset(spec, 0, sizeof(*spec));
	spec->queues = 1;
	for (char *kv = strtok_r(arg, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');

		if (!v)
			return vp_error_set(err, EINVAL, "--vhost-user: '%s' is not key=value", kv);
		*v++ = 0;
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
	if (!spec->name || !spec->socket || !*spec->socket)
		return vp_error_set(err, EINVAL, "--vhost-user: name= and socket= are required");
	return 0;
}

static void on_event(void *ctx, const char *event, const char *detail)
{
	(void)ctx;
	vp_log(strstr(event, "error") ? VP_LOG_WARN : VP_LOG_INFO, event, "%s", detail);
}

/* Tell systemd (Type=notify) about a state change; no-op without
 * $NOTIFY_SOCKET.  "@name" is an abstract socket. */
static void sd_notify_state(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (path[0] == '@')
		sa.sun_path[0] = 0;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		vp_log(VP_LOG_WARN, "vblkd.notify-failed", "state=%s errno=%d", state, errno);
	close(fd);
}

static void *worker_main(void *arg)
{
	struct worker_thread *t = arg;
	struct vp_error err = { 0 };

	if (vp_nbd_worker_run(t->w, &err)) {
		vp_log(VP_LOG_ERROR, "worker.failed", "error=\"%s\"", err.msg);
		kill(getpid(), SIGTERM); /* let main shut the others down */
	}
	return NULL;
}

static int add_listen(struct daemon *d, const char *spec, struct vp_error *err)
{
	if (d->n_listen == MAX_LISTEN)
		return vp_error_set(err, E2BIG, "at most %d --nbd addresses", MAX_LISTEN);
	d->listen_specs[d->n_listen++] = spec;
	return 0;
}

static int add_spec(struct daemon *d, const struct vp_nbd_export_spec *spec, struct vp_error *err)
{
	if (d->n_exports == MAX_EXPORTS)
		return vp_error_set(err, E2BIG, "at most %d exports at start", MAX_EXPORTS);
	d->specs[d->n_exports++] = *spec;
	return 0;
}

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
	if (d->n_vhost == MAX_VHOST)
		return vp_error_set(err, E2BIG, "at most %d vhost-user exports at start", MAX_VHOST);
	spec.queues = (unsigned)queues;
	d->vhost[d->n_vhost++] = spec;
	return 0;
}

static int load_config(struct daemon *d, struct vp_error *err)
{
	json_t *nbd, *exports, *vhost, *v;
	const char *key, *control;
	char *text = NULL, path[64];
	int64_t workers;
	size_t len, i;
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
		    strcmp(key, "workers") && strcmp(key, "vhost"))
			return vp_error_set(err, EINVAL, "%s: unknown field", key);
	ret = vp_json_opt_array(d->config, "", "nbd", &nbd, err);
	ret = ret ?: vp_json_opt_array(d->config, "", "exports", &exports, err);
	ret = ret ?: vp_json_opt_array(d->config, "", "vhost", &vhost, err);
	ret = ret ?: vp_json_opt_str(d->config, "", "control", NULL, &control, err);
	ret = ret ?: vp_json_opt_int(d->config, "", "workers", d->n_workers, 1, MAX_WORKERS, &workers, err);
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
	json_array_foreach(exports, i, v) {
		vp_json_path(path, sizeof(path), "exports", NULL, (long)i);
		ret = json_is_object(v) ? config_export(d, v, path, err) :
					  vp_error_set(err, EINVAL, "%s: expected an object", path);
		if (ret)
			return ret;
	}
	json_array_foreach(vhost, i, v) {
		vp_json_path(path, sizeof(path), "vhost", NULL, (long)i);
		ret = json_is_object(v) ? config_vhost(d, v, path, err) :
					  vp_error_set(err, EINVAL, "%s: expected an object", path);
		if (ret)
			return ret;
	}
	return 0;
}

/* The config's exports were appended after the n_cli command-line ones:
 * move them first, so the command line adds to the config. */
static void config_first(struct daemon *d, size_t n_cli)
{
	struct vp_nbd_export_spec cli[MAX_EXPORTS];

	memcpy(cli, d->specs, n_cli * sizeof(cli[0]));
	memmove(d->specs, d->specs + n_cli, (d->n_exports - n_cli) * sizeof(cli[0]));
	memcpy(d->specs + d->n_exports - n_cli, cli, n_cli * sizeof(cli[0]));
}

/* Parse one --ublk value (name points into the modified arg). */
static int parse_ublk(char *arg, struct ublk_export *u, struct vp_error *err)
{
	char *save = NULL, *end;

	memset(u, 0, sizeof(*u));
	u->queues = 1;
	u->depth = 128;
	for (char *kv = strtok_r(arg, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		unsigned long n;

		if (!v)
			return vp_error_set(err, EINVAL, "--ublk: '%s' is not key=value", kv);
		*v++ = 0;
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
	if (!u->name || !*u->name)
		return vp_error_set(err, EINVAL, "--ublk: name= is required");
	return 0;
}

static int parse_args(struct daemon *d, int argc, char **argv, struct vp_error *err)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "nbd", required_argument, NULL, 'n' },
		{ "export", required_argument, NULL, 'e' },
		{ "control", required_argument, NULL, 'c' },
		{ "workers", required_argument, NULL, 'w' },
		{ "conn-mem", required_argument, NULL, 'm' },
		{ "vhost-user", required_argument, NULL, 'v' },
		{ "ublk", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vp_nbd_export_spec spec;
	const char *control = NULL;
	unsigned workers = 0;
	size_t n_cli;
	int c, ret;
	char *end;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			d->config_path = optarg;
			break;
		case 'n':
			ret = add_listen(d, optarg, err);
			if (ret)
				return ret;
			break;
		case 'e':
			ret = parse_export(optarg, &spec, err);
			ret = ret ?: add_spec(d, &spec, err);
			if (ret)
				return ret;
			break;
		case 'c':
			control = optarg;
			break;
		case 'v':
			if (d->n_vhost == MAX_VHOST)
				return vp_error_set(err, E2BIG, "at most %d --vhost-user", MAX_VHOST);
			ret = parse_vhost(optarg, &d->vhost[d->n_vhost], err);
			if (ret)
				return ret;
			d->n_vhost++;
			break;
		case 'u':
			if (d->n_ublk == MAX_UBLK)
				return vp_error_set(err, E2BIG, "at most %d --ublk", MAX_UBLK);
			ret = parse_ublk(optarg, &d->ublk[d->n_ublk], err);
			if (ret)
				return ret;
			d->n_ublk++;
			break;
		case 'w':
			errno = 0;
			workers = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || workers < 1 || workers > MAX_WORKERS)
				return vp_error_set(err, EINVAL, "--workers: expected 1..%d", MAX_WORKERS);
			break;
		case 'm':
			if (vp_parse_size(optarg, &d->conn_mem) < 0 || d->conn_mem < VP_NBD_CONN_MEM_MIN)
				return vp_error_set(err, EINVAL, "--conn-mem: expected a size of at least %u bytes",
						    (unsigned)VP_NBD_CONN_MEM_MIN);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return vp_error_set(err, EINVAL, "bad arguments (see --help)");
		}
	}
	if (optind != argc)
		return vp_error_set(err, EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
	n_cli = d->n_exports;
	if (d->config_path) {
		ret = load_config(d, err);
		if (ret) {
			vp_error_prefix(err, "--config %s", d->config_path);
			return ret;
		}
		config_first(d, n_cli);
	}
	d->control_path = control ? control : d->control_path;
	d->n_workers = workers ? workers : d->n_workers;
	if (d->n_workers == 0)
		d->n_workers = default_workers(d->n_listen);
	/* With --control alone, exports and vhost-user servers come at run time. */
	if ((d->n_listen == 0 && d->n_vhost == 0 && d->n_ublk == 0 && !d->control_path) ||
	    (d->n_exports == 0 && !d->control_path))
		return vp_error_set(err, EINVAL, "--nbd (or --vhost-user or --control) and at least one --export (or --control) are required");
	if (d->n_listen * d->n_workers > MAX_WORKERS)
		return vp_error_set(err, EINVAL, "--nbd addresses x --workers must not exceed %d",
				    MAX_WORKERS);
	return 0;
}

static int open_exports(struct daemon *d, struct vp_error *err)
{
	unsigned shards = (unsigned)d->n_listen * d->n_workers;
	int ret = vp_nbd_table_init(&d->table, shards ? shards : 1, err);

	if (ret)
		return ret;
	d->table_ready = true;
	/* Claim every writable image before opening any, so an image exported
	 * twice does not wait for this daemon's own lock. */
	for (size_t i = 0; i < d->n_exports; i++) {
		const struct vp_nbd_export_spec *s = &d->specs[i];

		if (s->flags & VP_IMAGE_READONLY)
			continue;
		ret = vp_image_claim(s->path, IMAGE_CLAIM_TIMEOUT_MS, err);
		if (ret) {
			vp_error_prefix(err, "export %s", s->name);
			return ret;
		}
	}
	for (size_t i = 0; i < d->n_exports; i++) {
		const struct vp_nbd_export_spec *s = &d->specs[i];

		ret = vp_nbd_table_add(&d->table, s, err);
		if (ret)
			return ret;
		vp_log(VP_LOG_INFO, "export.added", "name=%s image=%s readonly=%d direct=%d", s->name,
		       s->path, !!(s->flags & VP_IMAGE_READONLY), !!(s->flags & VP_IMAGE_DIRECT));
	}
	return 0;
}

static int open_listeners(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_listen; i++) {
		int ret = vp_nbd_listen(d->listen_specs[i], &d->listen_fds[i], err);

		if (ret)
			return ret;
	}
	return 0;
}

static void close_listeners(struct daemon *d)
{
	for (size_t i = 0; i < d->n_listen; i++) {
		if (d->listen_fds[i] < 0)
			continue;
		close(d->listen_fds[i]);
		if (strncmp(d->listen_specs[i], "unix:", 5) == 0)
			unlink(d->listen_specs[i] + 5);
	}
}

static void kick_workers(void *ctx)
{
	struct daemon *d = ctx;

	for (size_t i = 0; i < d->n_listen * d->n_workers; i++)
		vp_nbd_worker_kick(d->threads[i].w);
}

static int start_workers(struct daemon *d, unsigned *started, struct vp_error *err)
{
	struct vp_nbd_server_config cfg = {
		.on_event = on_event,
		.table = &d->table,
		.conn_mem = d->conn_mem,
	};

	for (*started = 0; *started < d->n_listen * d->n_workers; (*started)++) {
		struct worker_thread *t = &d->threads[*started];
		int ret;

		cfg.listen_fd = d->listen_fds[*started / d->n_workers];
		cfg.worker_index = *started;
		ret = vp_nbd_worker_new(&cfg, &t->w, err);
		if (ret)
			return ret;
		ret = pthread_create(&t->tid, NULL, worker_main, t);
		if (ret) {
			vp_nbd_worker_free(t->w);
			return vp_error_set(err, ret, "start worker thread");
		}
	}
	return 0;
}

static void stop_workers(struct daemon *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vp_nbd_worker_stop(d->threads[i].w);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(d->threads[i].tid, NULL);
		vp_nbd_worker_free(d->threads[i].w);
	}
}

/* ---- vhost-user registry ---- */

/* Server events: keep the entry's connected flag, then log. */
static void vhost_event(void *ctx, const char *event, const char *detail)
{
	struct vhost_export *x = ctx;

	if (strcmp(event, "vhost.connected") == 0)
		__atomic_store_n(&x->connected, true, __ATOMIC_RELAXED);
	else if (strcmp(event, "vhost.disconnected") == 0)
		__atomic_store_n(&x->connected, false, __ATOMIC_RELAXED);
	on_event(NULL, event, detail);
}

/* Stop x's server (its front end drains), sync and close its image. */
static void vhost_free(struct vhost_export *x)
{
	if (!x)
		return;
	vp_vhost_server_free(x->srv);
	if (x->img && !x->img->readonly && fdatasync(x->img->fd))
		vp_log(VP_LOG_ERROR, "export.sync-failed", "name=%s errno=%d", x->name, errno);
	vp_image_close(x->img);
	free(x->name);
	free(x->socket);
	free(x);
}

/* Index of name's server in the registry (lock held), or -1. */
static ssize_t vhost_find(const struct vhost_registry *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* -EEXIST when sock is one of ours or not a socket, -EADDRINUSE when a
 * server answers on it (a stale socket file is fine: the server replaces
 * it).  Lock held. */
static int vhost_socket_free(const struct vhost_registry *r, const char *sock,
			     struct vp_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, live;

	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i]->socket, sock) == 0)
			return vp_error_code(err, 0, EEXIST, "socket %s is already served by export %s",
					     sock, r->v[i]->name);
	if (lstat(sock, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return vp_error_code(err, 0, EEXIST, "socket %s: exists and is not a socket", sock);
	if (strlen(sock) >= sizeof(sa.sun_path))
		return vp_error_code(err, 0, ENAMETOOLONG, "socket path '%s'", sock);
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vp_error_set(err, errno, "socket");
	live = connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live ? vp_error_code(err, 0, EADDRINUSE, "socket %s: another server answers there",
				    sock) : 0;
}

/* Open x's image and bind its server (lock held); start it when start. */
static int vhost_open(struct vhost_export *x, const char *path, unsigned flags, bool start,
		      struct vp_error *err)
{
	struct vp_vhost_server_config cfg = { .name = x->name, .socket_path = x->socket,
					      .queues = x->queues, .on_event = vhost_event,
					      .event_ctx = x };
	int ret;

	ret = vp_image_open(path, flags, &x->img, err);
	cfg.img = x->img;
	ret = ret ?: vp_vhost_server_new(&cfg, &x->srv, err);
	ret = ret ?: start ? vp_vhost_server_start(x->srv, err) : 0;
	x->started = ret == 0 && start;
	return ret;
}

/* Create and register a server for export spec->name whose image is path
 * (VP_IMAGE_* flags); started at once when start. */
static int vhost_add(struct daemon *d, const struct vhost_spec *spec, const char *path,
		     unsigned flags, bool start, struct vp_error *err)
{
	struct vhost_registry *r = &d->vhosts;
	struct vhost_export *x = NULL;
	int ret;

	pthread_mutex_lock(&r->lock);
	if (vhost_find(r, spec->name) >= 0)
		ret = vp_error_code(err, 0, EEXIST, "export %s already has a vhost-user server",
				    spec->name);
	else if (r->n == MAX_VHOST)
		ret = vp_error_code(err, 0, E2BIG, "at most %d vhost-user servers", MAX_VHOST);
	else
		ret = vhost_socket_free(r, spec->socket, err);
	if (ret == 0 && (!(x = calloc(1, sizeof(*x))) || !(x->name = strdup(spec->name)) ||
			 !(x->socket = strdup(spec->socket))))
		ret = vp_error_set(err, ENOMEM, "vhost-user export %s", spec->name);
	if (ret == 0) {
		x->queues = spec->queues;
		ret = vhost_open(x, path, flags, start, err);
		if (ret)
			vp_error_prefix(err, "vhost-user export %s", spec->name);
	}
	if (ret == 0)
		r->v[r->n++] = x;
	pthread_mutex_unlock(&r->lock);
	if (ret) {
		vhost_free(x);
		return ret;
	}
	vp_log(VP_LOG_INFO, "vhost.export-added", "name=%s socket=%s queues=%u", spec->name,
	       spec->socket, spec->queues);
	return 0;
}

/* Open each --vhost-user / config server on its export's image (from the
 * --export specs) and bind its socket; they start later, with the other
 * threads. */
static int open_vhost(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_vhost; i++) {
		const struct vhost_spec *v = &d->vhost[i];
		const struct vp_nbd_export_spec *s = NULL;
		int ret;

		for (size_t j = 0; j < d->n_exports && !s; j++)
			if (strcmp(d->specs[j].name, v->name) == 0)
				s = &d->specs[j];
		if (!s)
			return vp_error_set(err, ENOENT, "--vhost-user: no --export named '%s'", v->name);
		ret = vhost_add(d, v, s->path, s->flags, false, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* Start the servers opened at start (vhost-add starts its own). */
static int start_vhost(struct daemon *d, struct vp_error *err)
{
	struct vhost_registry *r = &d->vhosts;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !ret; i++) {
		if (r->v[i]->started)
			continue;
		ret = vp_vhost_server_start(r->v[i]->srv, err);
		r->v[i]->started = ret == 0;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* Drain and stop every vhost-user server, then sync and close its image;
 * the control thread is no longer running. */
static void close_vhost(struct daemon *d)
{
	struct vhost_registry *r = &d->vhosts;

	pthread_mutex_lock(&r->lock);
	while (r->n)
		vhost_free(r->v[--r->n]);
	pthread_mutex_unlock(&r->lock);
}

/* Control callbacks (vp_control_vhost_ops), on the control thread. */
static int ctl_vhost_add(void *ctx, const struct vp_control_vhost *v, const char *path,
			 unsigned flags, struct vp_error *err)
{
	struct vhost_spec spec = { .name = v->name, .socket = v->socket, .queues = v->queues };

	return vhost_add(ctx, &spec, path, flags, true, err);
}

static int ctl_vhost_remove(void *ctx, const char *name, struct vp_error *err)
{
	struct vhost_registry *r = &((struct daemon *)ctx)->vhosts;
	struct vhost_export *x = NULL;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = vhost_find(r, name);
	if (i >= 0) {
		x = r->v[i];
		r->v[i] = r->v[--r->n];
	}
	pthread_mutex_unlock(&r->lock);
	if (!x)
		return vp_error_code(err, 0, ENOENT, "export %s has no vhost-user server", name);
	vhost_free(x); /* outside the lock: waits for in-flight requests */
	vp_log(VP_LOG_INFO, "vhost.export-removed", "name=%s", name);
	return 0;
}

static int ctl_vhost_get(void *ctx, const char *name, struct vp_control_vhost *out)
{
	struct vhost_registry *r = &((struct daemon *)ctx)->vhosts;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = vhost_find(r, name);
	if (i >= 0)
		*out = (struct vp_control_vhost){
			.name = r->v[i]->name, .socket = r->v[i]->socket, .queues = r->v[i]->queues,
			.connected = __atomic_load_n(&r->v[i]->connected, __ATOMIC_RELAXED) };
	pthread_mutex_unlock(&r->lock);
	return i >= 0 ? 0 : -ENOENT;
}

/* Publish the new size to the server at once (its poll would notice
 * within a second) and have it notify the front end. */
static void ctl_vhost_resized(void *ctx, const char *name)
{
	struct vhost_registry *r = &((struct daemon *)ctx)->vhosts;
	struct stat st;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = vhost_find(r, name);
	if (i >= 0 && !r->v[i]->img->blockdev && fstat(r->v[i]->img->fd, &st) == 0) {
		__atomic_store_n(&r->v[i]->img->size, (uint64_t)st.st_size, __ATOMIC_RELAXED);
		vp_vhost_server_notify_resize(r->v[i]->srv);
	}
	pthread_mutex_unlock(&r->lock);
}

static const struct vp_control_vhost_ops vhost_ops = {
	.add = ctl_vhost_add,
	.remove = ctl_vhost_remove,
	.get = ctl_vhost_get,
	.resized = ctl_vhost_resized,
};

static int open_control(struct daemon *d, struct vp_error *err)
{
	struct vp_control_config cfg = {
		.path = d->control_path, .table = &d->table, .kick = kick_workers, .kick_ctx = d,
		.on_event = on_event, .vhost = &vhost_ops, .vhost_ctx = d,
	};

	return d->control_path ? vp_control_new(&cfg, &d->ctl, err) : 0;
}

/* fdatasync every writable image still published, then drop the table. */
static void close_exports(struct daemon *d)
{
	struct vp_nbd_snapshot *snap;

	if (!d->table_ready)
		return;
	snap = vp_nbd_table_acquire(&d->table);
	for (size_t i = 0; i < snap->n; i++)
		if (!snap->exports[i].img->readonly && fdatasync(snap->exports[i].img->fd))
			vp_log(VP_LOG_ERROR, "export.sync-failed", "name=%s errno=%d",
			       snap->exports[i].name, errno);
	vp_nbd_snapshot_put(snap);
	vp_nbd_table_fini(&d->table);
}

/* Add each --ublk device on its own fd of its --export's image (queue
 * threads start later, with the other threads). */
static int open_ublk(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_ublk; i++) {
		struct ublk_export *u = &d->ublk[i];
		const struct vp_nbd_export_spec *s = NULL;
		struct vp_ublk_dev_config cfg = { .name = u->name, .queues = u->queues, .depth = u->depth };
		int ret;

		for (size_t j = 0; j < d->n_exports && !s; j++)
			if (strcmp(d->specs[j].name, u->name) == 0)
				s = &d->specs[j];
		if (!s)
			return vp_error_set(err, ENOENT, "--ublk: no --export named '%s'", u->name);
		ret = vp_image_open(s->path, s->flags, &u->img, err);
		cfg.img = u->img;
		ret = ret ?: vp_ublk_dev_new(&cfg, &u->dev, err);
		if (ret)
			return ret;
	}
	return 0;
}

static int start_ublk(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_ublk; i++) {
		struct ublk_export *u = &d->ublk[i];
		int ret = vp_ublk_dev_start(u->dev, err);

		if (ret) {
			vp_error_prefix(err, "ublk export %s", u->name);
			return ret;
		}
		vp_log(VP_LOG_INFO, "ublk.export-added", "name=%s dev=/dev/ublkb%u queues=%u depth=%u",
		       u->name, vp_ublk_dev_id(u->dev), u->queues, u->depth);
	}
	return 0;
}

/* Remove every ublk device (in-flight requests are served first), then
 * sync and close its image. */
static void close_ublk(struct daemon *d)
{
	for (size_t i = 0; i < d->n_ublk; i++) {
		struct ublk_export *u = &d->ublk[i];

		vp_ublk_dev_free(u->dev);
		if (u->img && !u->img->readonly && fdatasync(u->img->fd))
			vp_log(VP_LOG_ERROR, "export.sync-failed", "name=%s errno=%d", u->name, errno);
		vp_image_close(u->img);
	}
}

int main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct vp_error err = { 0 };
	unsigned started = 0;
	sigset_t sigs;
	int sig = 0, ret = 1;

	if (!d)
		return 1;
	pthread_mutex_init(&d->vhosts.lock, NULL);
	for (size_t i = 0; i < MAX_LISTEN; i++)
		d->listen_fds[i] = -1;
	/* The control socket is created first: it sets the umask for its bind
	 * while the process is still single-threaded. */
	if (parse_args(d, argc, argv, &err) || open_exports(d, &err) || open_ublk(d, &err) || open_control(d, &err) ||
	    open_listeners(d, &err) || open_vhost(d, &err))
		goto out;
	/* Workers inherit the mask; only main takes the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start_workers(d, &started, &err) || (d->ctl && vp_control_start(d->ctl, &err)) ||
	    start_vhost(d, &err) || start_ublk(d, &err)) {
		stop_workers(d, started);
		goto out;
	}
	vp_log(VP_LOG_INFO, "vblkd.ready", "listen=%s%s exports=%zu workers=%u control=%s",
	       d->n_listen ? d->listen_specs[0] : "none", d->n_listen > 1 ? ",..." : "", d->n_exports, started,
	       d->control_path ? d->control_path : "none");
	sd_notify_state("READY=1");
	sigwait(&sigs, &sig);
	vp_log(VP_LOG_INFO, "vblkd.draining", "signal=%d", sig);
	sd_notify_state("STOPPING=1");
	vp_control_stop(d->ctl);
	stop_workers(d, started);
	ret = 0;
out:
	if (ret)
		vp_log(VP_LOG_ERROR, "vblkd.failed", "error=\"%s\"", err.msg);
	vp_control_stop(d->ctl); /* a failed start may have left it running */
	vp_control_free(d->ctl);
	close_ublk(d);
	close_vhost(d);
	close_listeners(d);
	close_exports(d);
	if (!ret)
		vp_log(VP_LOG_INFO, "vblkd.stopped", "exports=%zu", d->n_exports);
	json_decref(d->config);
	pthread_mutex_destroy(&d->vhosts.lock);
	free(d);
	return ret;
}
