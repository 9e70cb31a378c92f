/* server.c - vblkd's NBD server workers: each runs one io_uring loop that
 * accepts connections, carries all of their I/O (conn.h describes how) and,
 * when stopped or kicked, drains them; and the listening sockets they share.
 */
#include "vblk/nbd/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vblk/nbd/conn.h"

#define RING_DEPTH 256
#define MAX_FILES 1024
#define MAX_BUFS 4096             /* registered slot buffers per worker */
#define TICK_MS 200               /* timeouts are checked this often */

#define LOG_BURST 10              /* refused/accept-error events per LOG_INTERVAL_MS */
#define LOG_INTERVAL_MS 10000U

static void post_accept(struct vp_nbd_worker *w)
{
	if (vp_engine_accept(&w->eng, &w->accept_op, w->cfg.listen_fd) == 0)
		w->accept_pending = true;
}

/* Whether the peer of accepted fd passes cfg.peers (logged when not). */
static bool peer_allowed(struct vp_nbd_worker *w, int fd)
{
	uid_t uid;
	gid_t gid;

	if (!w->cfg.peers || vp_unix_peer_allowed(fd, w->cfg.peers, &uid, &gid))
		return true;
	vp_event(&w->cfg.events, "nbd.peer.refused", "uid=%d gid=%d", (int)uid, (int)gid);
	return false;
}

/* The fd kept open so that at the fd limit one can be freed to accept a
 * connection and close it (the client sees a close, not a hang in the
 * backlog).  Best effort: without it, accept backs off until the next tick. */
static void reserve_open(struct vp_nbd_worker *w)
{
	if (w->reserve_fd < 0)
		w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Out of fds or memory: the error would repeat at once, so do not spin on
 * it.  At the fd limit, spend the reserve fd on accepting one connection
 * to close it; otherwise try again at the next tick. */
static void accept_failed(struct vp_nbd_worker *w, int err)
{
	vp_event_limited(&w->cfg.events, &w->accept_log, "nbd.accept.error", "errno=%d", err);
	if (w->draining)
		return;
	if (err == EMFILE && w->reserve_fd >= 0 && !w->shedding) {
		close(w->reserve_fd);
		w->reserve_fd = -1;
		w->shedding = true;
		post_accept(w);
		return;
	}
	w->shedding = false;
	w->accept_backoff = true;
}

/* Why the new connection cannot be taken, or NULL (it is then counted).
 * Accepted on the reserve fd: taken only if fds were freed meanwhile (the
 * reserve can be had again besides it). */
static const char *accept_refusal(struct vp_nbd_worker *w)
{
	if (w->shedding) {
		w->shedding = false;
		reserve_open(w);
		if (w->reserve_fd < 0)
			return "fd-limit";
	}
	if (atomic_fetch_add(&w->shared->conns, 1) < w->cfg.limits.max_conns)
		return NULL;
	atomic_fetch_sub(&w->shared->conns, 1);
	return "connection-limit";
}

static void on_accept(struct vp_engine_op *op, int res)
{
	struct vp_nbd_worker *w = container_of(op, struct vp_nbd_worker, accept_op);
	const char *why;

	w->accept_pending = false;
	if (res >= 0 && (w->draining || !peer_allowed(w, res))) {
		close(res);
	} else if (res >= 0 && (why = accept_refusal(w))) {
		close(res);
		vp_event_limited(&w->cfg.events, &w->refused_log, "nbd.conn.refused",
				 "reason=%s max_conns=%u", why, w->cfg.limits.max_conns);
		reserve_open(w);
	} else if (res >= 0) {
		vp_nbd_conn_new(w, res);
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
		accept_failed(w, -res);
		return;
	} else if (res != -ECANCELED) {
		vp_event_limited(&w->cfg.events, &w->accept_log, "nbd.accept.error", "errno=%d", -res);
	}
	if (!w->draining)
		post_accept(w);
}

static void on_stop(struct vp_engine_op *op, int res)
{
	struct vp_nbd_worker *w = container_of(op, struct vp_nbd_worker, stop_op);

	(void)res;
	w->stop_pending = false;
	w->draining = true;
	if (w->accept_pending)
		(void)vp_engine_cancel(&w->eng, &w->accept_op);
	if (w->kick_pending)
		(void)vp_engine_cancel(&w->eng, &w->kick_op);
	w->drain_deadline = w->now_ms + w->cfg.limits.drain_timeout_ms;
	for (struct nbd_conn *c = w->conns; c; c = c->next)
		vp_nbd_conn_drain(c);
	if (!w->nconns && w->tick_pending)
		(void)vp_engine_cancel(&w->eng, &w->tick_op);
}

static void post_tick(struct vp_nbd_worker *w)
{
	/* A timerfd read gives the 8-byte expiration count, as an eventfd's. */
	if (vp_engine_eventfd_read(&w->eng, &w->tick_op, w->tick_fd, &w->tick_val) == 0)
		w->tick_pending = true;
}

/* Close c with an event when it is past limit (ms since since). */
static bool timed_out(struct nbd_conn *c, uint64_t since, unsigned limit, const char *name)
{
	if (!limit || c->w->now_ms - since < limit)
		return false;
	vp_event(&c->w->cfg.events, "nbd.conn.timeout", "conn=%u limit=%s ms=%u", c->id, name, limit);
	vp_nbd_conn_drop(c, name);
	return true;
}

/* Whether c is in transmission with nothing in flight or half-received. */
static bool conn_idle(const struct nbd_conn *c)
{
	return c->in_tx && c->busy == 0 && !c->tx_pending && !c->rx_slot &&
	       !c->wait_slot && c->in_tail == c->in_head;
}

/* Shut down c if it is past a deadline: in the handshake too long, idle
 * too long, a send stuck too long (the client does not read its replies,
 * and holds their buffers), or draining (stop or export removal) too long
 * with a client that does not read. */
static void check_timeouts(struct vp_nbd_worker *w, struct nbd_conn *c)
{
	const struct vp_nbd_server_limits *l = &w->cfg.limits;

	if (c->dead)
		return;
	if (w->draining)
		(void)timed_out(c, w->drain_deadline - l->drain_timeout_ms, l->drain_timeout_ms,
				"drain-timeout");
	else if (c->export_gone)
		(void)timed_out(c, c->drain_since, l->drain_timeout_ms, "drain-timeout");
	else if (!c->in_tx)
		(void)timed_out(c, c->opened, l->handshake_timeout_ms, "handshake-timeout");
	else if (c->tx_pending)
		(void)timed_out(c, c->tx_since, l->send_timeout_ms, "send-timeout");
	else if (conn_idle(c))
		(void)timed_out(c, c->active, l->idle_timeout_ms, "idle-timeout");
}

static void on_tick(struct vp_engine_op *op, int res)
{
	struct vp_nbd_worker *w = container_of(op, struct vp_nbd_worker, tick_op);
	struct nbd_conn *c, *next;

	(void)res;
	w->tick_pending = false;
	w->now_ms = vp_nbd_now_ms();
	for (c = w->conns; c; c = next) {
		next = c->next;
		check_timeouts(w, c);
		if (c->wait_slot && !c->dead && !c->rx_pending)
			vp_nbd_rx_process(c); /* daemon memory may have been freed elsewhere */
		vp_nbd_conn_settle(c);
	}
	reserve_open(w);
	if (w->accept_backoff && !w->draining && !w->accept_pending)
		post_accept(w);
	w->accept_backoff = false;
	if (!w->draining || w->nconns)
		post_tick(w);
}

static void post_kick(struct vp_nbd_worker *w)
{
	if (vp_engine_eventfd_read(&w->eng, &w->kick_op, w->kick_fd, &w->kick_val) == 0)
		w->kick_pending = true;
}

/* Drain the connections whose export was removed from the table. */
static void on_kick(struct vp_engine_op *op, int res)
{
	struct vp_nbd_worker *w = container_of(op, struct vp_nbd_worker, kick_op);
	struct nbd_conn *c, *next;

	(void)res;
	w->kick_pending = false;
	for (c = w->conns; c; c = next) {
		next = c->next;
		if (!c->dead && vp_nbd_conn_export_gone(c)) {
			vp_nbd_conn_drain(c);
			vp_nbd_conn_settle(c);
		}
	}
	if (!w->draining)
		post_kick(w);
}

static void limits_default(struct vp_nbd_server_limits *l)
{
	if (!l->drain_timeout_ms)
		l->drain_timeout_ms = VP_NBD_DRAIN_TIMEOUT_MS_DEFAULT;
	if (!l->handshake_timeout_ms)
		l->handshake_timeout_ms = VP_NBD_HANDSHAKE_TIMEOUT_MS_DEFAULT;
	if (!l->send_timeout_ms)
		l->send_timeout_ms = VP_NBD_SEND_TIMEOUT_MS_DEFAULT;
	if (!l->max_conns)
		l->max_conns = VP_NBD_MAX_CONNS_DEFAULT;
	if (!l->mem_max)
		l->mem_max = VP_NBD_MEM_MAX_DEFAULT;
	if (!l->unsent_max)
		l->unsent_max = VP_NBD_UNSENT_MAX_DEFAULT;
}

int vp_nbd_worker_new(const struct vp_nbd_server_config *cfg, struct vp_nbd_worker **out,
		      struct vp_error *err)
{
	struct vp_nbd_worker *w;
	int ret;

	*out = NULL;
	if ((cfg->conn_mem && cfg->conn_mem < VP_NBD_CONN_MEM_MIN) ||
	    (cfg->limits.mem_max && cfg->limits.mem_max < VP_NBD_CONN_MEM_MIN))
		return vp_error_set(err, EINVAL, "nbd worker: memory budget below the minimum %u",
				    VP_NBD_CONN_MEM_MIN);
	w = calloc(1, sizeof(*w));
	if (!w || !(w->img_files = calloc(cfg->n_exports ? cfg->n_exports : 1, sizeof(int)))) {
		free(w);
		return vp_error_set(err, ENOMEM, "nbd worker");
	}
	w->cfg = *cfg;
	w->efd = -1;
	w->conn_mem = cfg->conn_mem ? cfg->conn_mem : VP_NBD_CONN_MEM_DEFAULT;
	w->kick_fd = w->tick_fd = w->reserve_fd = -1;
	limits_default(&w->cfg.limits);
	w->shared = cfg->shared ? cfg->shared : &w->own_count;
	w->refused_log = w->accept_log = (struct vp_event_limit){ LOG_BURST, LOG_INTERVAL_MS };
	w->tick_op.done = on_tick;
	w->kick_op.done = on_kick;
	w->stop_op.done = on_stop;
	w->accept_op.done = on_accept;
	ret = vp_engine_init(&w->eng, RING_DEPTH, MAX_FILES, err);
	if (ret)
		goto fail;
	/* Best effort: without the table, O_DIRECT I/O pins pages each time. */
	(void)!vp_engine_bufs_init(&w->eng, MAX_BUFS);
	for (size_t i = 0; i < cfg->n_exports; i++) {
		w->img_files[i] = vp_engine_file_add(&w->eng, cfg->exports[i].img->fd);
		if (w->img_files[i] < 0) {
			ret = vp_error_set(err, -w->img_files[i], "register image of export %s",
					   cfg->exports[i].name);
			goto fail;
		}
	}
	w->efd = eventfd(0, EFD_CLOEXEC);
	w->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0 || w->kick_fd < 0) {
		ret = vp_error_set(err, errno, "nbd worker: eventfd");
		goto fail;
	}
	w->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (w->tick_fd < 0 ||
	    timerfd_settime(w->tick_fd, 0, &(struct itimerspec){
				    .it_interval = { 0, TICK_MS * 1000000L },
				    .it_value = { 0, TICK_MS * 1000000L } }, NULL) < 0) {
		ret = vp_error_set(err, errno, "nbd worker: timerfd");
		goto fail;
	}
	reserve_open(w);
	*out = w;
	return 0;
fail:
	vp_nbd_worker_free(w);
	return ret;
}

int vp_nbd_worker_run(struct vp_nbd_worker *w, struct vp_error *err)
{
	if (vp_engine_eventfd_read(&w->eng, &w->stop_op, w->efd, &w->efd_val))
		return vp_error_set(err, EBUSY, "nbd worker: queue stop watch");
	w->stop_pending = true;
	post_kick(w);
	if (!w->kick_pending)
		return vp_error_set(err, EBUSY, "nbd worker: queue kick watch");
	w->now_ms = vp_nbd_now_ms();
	post_tick(w);
	if (!w->tick_pending)
		return vp_error_set(err, EBUSY, "nbd worker: queue timeout check");
	post_accept(w);
	if (!w->accept_pending)
		return vp_error_set(err, EBUSY, "nbd worker: queue accept");
	while (!w->draining || w->nconns || w->accept_pending || w->stop_pending || w->kick_pending ||
	       w->tick_pending) {
		int ret = vp_engine_run_once(&w->eng);
		struct nbd_conn *c;

		if (ret)
			return vp_error_set(err, -ret, "nbd worker: io_uring wait");
		while ((c = w->dirty)) {
			w->dirty = c->dirty_next;
			c->dirty = false;
			vp_nbd_tx_flush(c);
			vp_nbd_conn_settle(c);
		}
	}
	return 0;
}

void vp_nbd_worker_stop(struct vp_nbd_worker *w)
{
	uint64_t one = 1;

	/* A full counter still wakes the reader; nothing else to do on error. */
	(void)!write(w->efd, &one, sizeof(one));
}

void vp_nbd_worker_kick(struct vp_nbd_worker *w)
{
	uint64_t one = 1;

	(void)!write(w->kick_fd, &one, sizeof(one));
}

void vp_nbd_worker_free(struct vp_nbd_worker *w)
{
	if (!w)
		return;
	vp_engine_exit(&w->eng);
	if (w->efd >= 0)
		close(w->efd);
	if (w->kick_fd >= 0)
		close(w->kick_fd);
	if (w->tick_fd >= 0)
		close(w->tick_fd);
	if (w->reserve_fd >= 0)
		close(w->reserve_fd);
	free(w->img_files);
	free(w);
}

/* ---- listening sockets ---- */

static int listen_unix(const char *path, const struct vp_unix_listen_opts *opts, int *fd,
		       struct vp_error *err)
{
	struct vp_unix_listen_opts o = { .mode = VP_UNIX_MODE_DEFAULT, .gid = VP_UNIX_GID_KEEP };
	int s;

	if (opts)
		o = *opts;
	o.backlog = 128;
	o.type_flags = SOCK_CLOEXEC;
	s = vp_unix_listen(path, &o, err);
	if (s < 0)
		return s;
	*fd = s;
	return 0;
}

static int listen_tcp(const char *hostport, int *fd, struct vp_error *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo *res, *ai;
	size_t hl;
	int ret, e = EADDRNOTAVAIL;

	if (!colon || (hl = (size_t)(colon - hostport)) >= sizeof(host) || !colon[1])
		return vp_error_set(err, EINVAL, "tcp address '%s': expected HOST:PORT", hostport);
	memcpy(host, hostport, hl);
	host[hl] = 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	/* No host: loopback.  Serving every interface must be asked for. */
	ret = getaddrinfo(*host ? host : "127.0.0.1", colon + 1, &hints, &res);
	if (ret)
		return vp_error_set(err, EINVAL, "tcp address '%s': %s", hostport, gai_strerror(ret));
	for (ai = res; ai; ai = ai->ai_next) {
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0), one = 1;

		if (s < 0) {
			e = errno;
			continue;
		}
		(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, 128) == 0) {
			freeaddrinfo(res);
			*fd = s;
			return 0;
		}
		e = errno;
		close(s);
	}
	freeaddrinfo(res);
	return vp_error_set(err, e, "listen on tcp:%s", hostport);
}

int vp_nbd_listen(const char *spec, const struct vp_unix_listen_opts *unix_opts, int *fd,
		  struct vp_error *err)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return listen_unix(spec + 5, unix_opts, fd, err);
	if (strncmp(spec, "tcp:", 4) == 0)
		return listen_tcp(spec + 4, fd, err);
	return vp_error_set(err, EINVAL, "listen address '%s': expected unix:PATH or tcp:HOST:PORT",
			    spec);
}
