/* workers.c - vblkd's NBD front end: the --nbd listening sockets and, per
 * socket, n_workers io_uring worker threads (vblk/nbd/server.h) serving the
 * export table.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"
#include "vblk/nbd/server.h"

int vp_vblkd_listeners_open(struct daemon *d, struct vp_error *err)
{
	for (size_t i = 0; i < d->n_listen; i++) {
		int ret = vp_nbd_listen(d->listen_specs[i], &d->listen_fds[i], err);

		if (ret)
			return ret;
	}
	return 0;
}

void vp_vblkd_listeners_close(struct daemon *d)
{
	for (size_t i = 0; i < d->n_listen; i++) {
		if (d->listen_fds[i] < 0)
			continue;
		close(d->listen_fds[i]);
		if (strncmp(d->listen_specs[i], "unix:", 5) == 0)
			unlink(d->listen_specs[i] + 5);
	}
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

int vp_vblkd_workers_start(struct daemon *d, unsigned *started, struct vp_error *err)
{
	struct vp_nbd_server_config cfg = {
		.events = { vp_vblkd_log_event, NULL },
		.table = &d->table,
		.conn_mem = d->conn_mem,
		.limits = d->nbd_limits,
		.shared = &d->nbd_count,
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

void vp_vblkd_workers_stop(struct daemon *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		vp_nbd_worker_stop(d->threads[i].w);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(d->threads[i].tid, NULL);
		vp_nbd_worker_free(d->threads[i].w);
	}
}

void vp_vblkd_workers_kick(void *ctx)
{
	struct daemon *d = ctx;

	for (size_t i = 0; i < d->n_listen * d->n_workers; i++)
		vp_nbd_worker_kick(d->threads[i].w);
}
