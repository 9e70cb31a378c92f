/* vblkd.c - the vplumb disk daemon: serves raw images and block devices
 * over NBD from io_uring workers.
 *
 *   vblkd --nbd unix:PATH|tcp:HOST:PORT
 *         --export name=NAME,image=PATH[,readonly=on][,cache=none][,description=TEXT]
 *         [--export ...] [--workers N]
 *
 * SIGTERM/SIGINT drain: no new connections, in-flight requests finish and
 * are answered, images are synced, then the daemon exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "vblk/image.h"
#include "vblk/nbd/server.h"

#define MAX_EXPORTS 64
#define MAX_WORKERS 64

struct export_spec {
	char *name, *image, *description;
	unsigned flags;
};

struct worker_thread {
	pthread_t tid;
	struct vp_nbd_worker *w;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vblkd --nbd unix:PATH|tcp:HOST:PORT\n"
		   "             --export name=NAME,image=PATH[,readonly=on][,cache=none][,description=TEXT]\n"
		   "             [--export ...] [--workers N]\n");
}

/* Parse one --export value into spec (which points into the modified arg). */
static int parse_export(char *arg, struct export_spec *spec, struct vp_error *err)
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
			spec->image = v;
		else if (strcmp(kv, "description") == 0)
			spec->description = v;
		else if (strcmp(kv, "readonly") == 0 && (!strcmp(v, "on") || !strcmp(v, "off")))
			spec->flags |= strcmp(v, "on") == 0 ? VP_IMAGE_READONLY : 0;
		else if (strcmp(kv, "cache") == 0 && (!strcmp(v, "none") || !strcmp(v, "writeback")))
			spec->flags |= strcmp(v, "none") == 0 ? VP_IMAGE_DIRECT : 0;
		else
			return vp_error_set(err, EINVAL, "--export: unknown option or value '%s=%s'", kv, v);
	}
	if (!spec->name || !*spec->name || strlen(spec->name) > 4096 || !spec->image)
		return vp_error_set(err, EINVAL, "--export: name= (1-4096 bytes) and image= are required");
	return 0;
}

static void on_event(void *ctx, const char *event, const char *detail)
{
	(void)ctx;
	vp_log(strstr(event, "error") ? VP_LOG_WARN : VP_LOG_INFO, event, "%s", detail);
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

struct daemon {
	const char *listen_spec;
	struct export_spec specs[MAX_EXPORTS];
	struct vp_nbd_export exports[MAX_EXPORTS];
	size_t n_exports;
	unsigned n_workers;
	struct worker_thread threads[MAX_WORKERS];
	int listen_fd;
};

static int parse_args(struct daemon *d, int argc, char **argv, struct vp_error *err)
{
	static const struct option opts[] = {
		{ "nbd", required_argument, NULL, 'n' },
		{ "export", required_argument, NULL, 'e' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, ret;
	char *end;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			d->listen_spec = optarg;
			break;
		case 'e':
			if (d->n_exports == MAX_EXPORTS)
				return vp_error_set(err, E2BIG, "at most %d exports", MAX_EXPORTS);
			ret = parse_export(optarg, &d->specs[d->n_exports], err);
			if (ret)
				return ret;
			for (size_t i = 0; i < d->n_exports; i++)
				if (strcmp(d->specs[i].name, d->specs[d->n_exports].name) == 0)
					return vp_error_set(err, EEXIST, "--export: name '%s' used twice",
							    d->specs[i].name);
			d->n_exports++;
			break;
		case 'w':
			errno = 0;
			d->n_workers = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || d->n_workers < 1 || d->n_workers > MAX_WORKERS)
				return vp_error_set(err, EINVAL, "--workers: expected 1..%d", MAX_WORKERS);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return vp_error_set(err, EINVAL, "bad arguments (see --help)");
		}
	}
	if (optind != argc || !d->listen_spec || d->n_exports == 0)
		return vp_error_set(err, EINVAL, "--nbd and at least one --export are required");
	return 0;
}

static int open_exports(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_exports; i++) {
		struct export_spec *s = &d->specs[i];
		int ret = vp_image_open(s->image, s->flags, &d->exports[i].img, err);

		if (ret) {
			vp_error_prefix(err, "export %s", s->name);
			return ret;
		}
		d->exports[i].name = s->name;
		d->exports[i].description = s->description;
		vp_log(VP_LOG_INFO, "export.added", "name=%s image=%s size=%llu readonly=%d direct=%d",
		       s->name, s->image, (unsigned long long)d->exports[i].img->size,
		       d->exports[i].img->readonly, d->exports[i].img->direct);
	}
	return 0;
}

static int start_workers(struct daemon *d, unsigned *started, struct vp_error *err)
{
	struct vp_nbd_server_config cfg = {
		.exports = d->exports, .n_exports = d->n_exports, .listen_fd = d->listen_fd,
		.on_event = on_event,
	};

	for (*started = 0; *started < d->n_workers; (*started)++) {
		struct worker_thread *t = &d->threads[*started];
		int ret = vp_nbd_worker_new(&cfg, &t->w, err);

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

int main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct vp_error err = { 0 };
	unsigned started = 0;
	sigset_t sigs;
	int sig = 0, ret = 1;

	if (!d)
		return 1;
	d->n_workers = 1;
	d->listen_fd = -1;
	if (parse_args(d, argc, argv, &err) || open_exports(d, &err) ||
	    vp_nbd_listen(d->listen_spec, &d->listen_fd, &err))
		goto out;
	/* Workers inherit the mask; only main takes the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start_workers(d, &started, &err)) {
		stop_workers(d, started);
		goto out;
	}
	vp_log(VP_LOG_INFO, "vblkd.ready", "listen=%s exports=%zu workers=%u", d->listen_spec,
	       d->n_exports, d->n_workers);
	sigwait(&sigs, &sig);
	vp_log(VP_LOG_INFO, "vblkd.draining", "signal=%d", sig);
	stop_workers(d, started);
	ret = 0;
out:
	if (ret)
		vp_log(VP_LOG_ERROR, "vblkd.failed", "error=\"%s\"", err.msg);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (strncmp(d->listen_spec, "unix:", 5) == 0)
			unlink(d->listen_spec + 5);
	}
	for (size_t i = 0; i < d->n_exports; i++) {
		if (d->exports[i].img && !d->exports[i].img->readonly && fdatasync(d->exports[i].img->fd))
			vp_log(VP_LOG_ERROR, "export.sync-failed", "name=%s", d->exports[i].name);
		vp_image_close(d->exports[i].img);
	}
	if (!ret)
		vp_log(VP_LOG_INFO, "vblkd.stopped", "exports=%zu", d->n_exports);
	free(d);
	return ret;
}
