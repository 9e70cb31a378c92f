/* workers.c - vblkd's NBD front end: the --nbd listening sockets and, per
 * socket, n_workers io_uring worker threads (vblk/nbd/server.h) serving the
 * export table.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"
#include "vblk/nbd/server.h"

/* Whether fd is bound to a loopback address (unix sockets count as such). */
static bool bound_to_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_UNIX)
		return true;
	if (ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family != AF_INET6)
		return false;
	return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
	       (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
}

static bool tls_asked(const struct vp_nbd_tls_config *c)
{
	return c->mode != VP_NBD_TLS_OFF || c->cert_dir || c->psk_file || c->verify_peer;
}

int vp_vblkd_listeners_open(struct daemon *d, struct vp_error *err)
{
	if (tls_asked(&d->tls_cfg)) {
		int ret;

		d->tls_cfg.events = (struct vp_event_sink){ vp_vblkd_log_event, NULL };
		ret = vp_nbd_tls_new(&d->tls_cfg, &d->tls, err);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < d->n_listen; i++) {
		int ret = vp_nbd_listen(d->listen_specs[i], &d->data_socket, &d->listen_fds[i], err);

		if (ret)
			return ret;
		/* As qemu-nbd and nbdkit, serve it; unlike them, say so. */
		if (d->tls_cfg.mode != VP_NBD_TLS_REQUIRE && !bound_to_loopback(d->listen_fds[i]))
			vp_log(VP_LOG_WARN, "nbd.listen.plaintext",
			       "addr=%s detail=\"beyond loopback without --tls require: any host that reaches it may read and write the exports\"",
			       d->listen_specs[i]);
	}
	return 0;
}

void vp_vblkd_listeners_close(struct daemon *d)
{
	vp_nbd_tls_free(d->tls);
	d->tls = NULL;
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
		.tls = d->tls,
		.limits = d->nbd_limits,
		.shared = &d->nbd_count,
	};

	for (*started = 0; *started < d->n_listen * d->n_workers; (*started)++) {
		struct worker_thread *t = &d->threads[*started];
		int ret;

		const char *spec = d->listen_specs[*started / d->n_workers];

		cfg.listen_fd = d->listen_fds[*started / d->n_workers];
		cfg.peers = strncmp(spec, "unix:", 5) == 0 && (d->data_peers.n_uids || d->data_peers.n_gids) ?
				    &d->data_peers : NULL;
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
