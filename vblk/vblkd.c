/* vblkd.c - the vplumb disk daemon: serves raw images and block devices
 * over NBD from io_uring workers, managed at run time through a control
 * socket (vblk/control.h, driven by vblkctl).
 *
 *   vblkd [--config FILE] --nbd unix:PATH|tcp:HOST:PORT [--nbd ...]
 *         --export name=NAME,image=PATH[,readonly=on][,cache=none][,description=TEXT]
 *         [--export ...] [--control PATH] [--workers N] [--conn-mem SIZE]
 *         [--vhost-user name=NAME,socket=PATH[,queues=N] ...]
 *
 * --workers defaults to one per CPU; --conn-mem (default 64M) caps the request
 * buffers one NBD connection may hold.
 * --vhost-user serves export NAME (from --export or the config) to one
 * vhost-user-blk front end (QEMU) at a time on PATH; --nbd is then optional.
 * FILE is JSON {"nbd":[...],"control":"PATH","workers":N,"exports":[{...}]};
 * command-line options add to it (--control and --workers override it).
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

#define MAX_EXPORTS 64
#define MAX_WORKERS 64
/* How long a restarted daemon waits for its predecessor's last writes. */
#define IMAGE_CLAIM_TIMEOUT_MS 10000
#define MAX_LISTEN 8
#define MAX_VHOST 64

struct vhost_spec {
	const char *name, *socket;
	unsigned queues;
	struct vp_image *img;                    /* its own fd on the export's image */
	struct vp_vhost_server *srv;
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
		   "             [--vhost-user name=NAME,socket=PATH[,queues=N] ...]\n");
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

static int load_config(struct daemon *d, struct vp_error *err)
{
	json_t *nbd, *exports, *v;
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
		    strcmp(key, "workers"))
			return vp_error_set(err, EINVAL, "%s: unknown field", key);
	ret = vp_json_opt_array(d->config, "", "nbd", &nbd, err);
	ret = ret ?: vp_json_opt_array(d->config, "", "exports", &exports, err);
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
	if ((d->n_listen == 0 && d->n_vhost == 0) || (d->n_exports == 0 && !d->control_path))
		return vp_error_set(err, EINVAL, "--nbd (or --vhost-user) and at least one --export (or --control) are required");
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
	for (size_t i = 0; i < d->n_exports; i++) {
		const struct vp_nbd_export_spec *s = &d->specs[i];

		if (!(s->flags & VP_IMAGE_READONLY)) {
			ret = vp_image_claim(s->path, IMAGE_CLAIM_TIMEOUT_MS, err);
			if (ret)
				return ret;
		}
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

/* Open each --vhost-user export's image (from its --export spec) and bind
 * its socket; the servers start later, with the other threads. */
static int open_vhost(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_vhost; i++) {
		struct vhost_spec *v = &d->vhost[i];
		const struct vp_nbd_export_spec *s = NULL;
		struct vp_vhost_server_config cfg = { .name = v->name, .socket_path = v->socket,
						      .queues = v->queues, .on_event = on_event };
		int ret;

		for (size_t j = 0; j < d->n_exports && !s; j++)
			if (strcmp(d->specs[j].name, v->name) == 0)
				s = &d->specs[j];
		if (!s)
			return vp_error_set(err, ENOENT, "--vhost-user: no --export named '%s'", v->name);
		ret = vp_image_open(s->path, s->flags, &v->img, err);
		cfg.img = v->img;
		ret = ret ?: vp_vhost_server_new(&cfg, &v->srv, err);
		if (ret) {
			vp_error_prefix(err, "vhost-user export %s", v->name);
			return ret;
		}
		vp_log(VP_LOG_INFO, "vhost.export-added", "name=%s socket=%s queues=%u", v->name,
		       v->socket, v->queues);
	}
	return 0;
}

static int start_vhost(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_vhost; i++) {
		int ret = vp_vhost_server_start(d->vhost[i].srv, err);

		if (ret)
			return ret;
	}
	return 0;
}

/* Drain and stop every vhost-user export, then sync and close its image. */
static void close_vhost(struct daemon *d)
{
	for (size_t i = 0; i < d->n_vhost; i++) {
		struct vhost_spec *v = &d->vhost[i];

		vp_vhost_server_free(v->srv);
		if (v->img && !v->img->readonly && fdatasync(v->img->fd))
			vp_log(VP_LOG_ERROR, "export.sync-failed", "name=%s errno=%d", v->name, errno);
		vp_image_close(v->img);
	}
}

static int open_control(struct daemon *d, struct vp_error *err)
{
	struct vp_control_config cfg = {
		.path = d->control_path, .table = &d->table, .kick = kick_workers, .kick_ctx = d,
		.on_event = on_event,
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

int main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct vp_error err = { 0 };
	unsigned started = 0;
	sigset_t sigs;
	int sig = 0, ret = 1;

	if (!d)
		return 1;
	for (size_t i = 0; i < MAX_LISTEN; i++)
		d->listen_fds[i] = -1;
	/* The control socket is created first: it sets the umask for its bind
	 * while the process is still single-threaded. */
	if (parse_args(d, argc, argv, &err) || open_exports(d, &err) || open_control(d, &err) ||
	    open_listeners(d, &err) || open_vhost(d, &err))
		goto out;
	/* Workers inherit the mask; only main takes the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start_workers(d, &started, &err) || (d->ctl && vp_control_start(d->ctl, &err)) ||
	    start_vhost(d, &err)) {
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
	vp_control_free(d->ctl);
	close_vhost(d);
	close_listeners(d);
	close_exports(d);
	if (!ret)
		vp_log(VP_LOG_INFO, "vblkd.stopped", "exports=%zu", d->n_exports);
	json_decref(d->config);
	free(d);
	return ret;
}
