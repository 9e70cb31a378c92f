/* server.c - vhost-user-blk export: control thread (socket, messages) and
 * queue threads (one io_uring each: kick reads, image I/O, used ring).
 *
 * The control thread owns struct vp_vhost_dev.  A queue thread runs only
 * between dev's queue_start and queue_stop callbacks and is then the only
 * user of its ring; queue_stop waits until the thread has drained its
 * requests and exited, so the control thread may then change memory or
 * ring state.  A queue that meets a malformed ring stops taking requests
 * and asks the control thread to drop the connection.
 */
#include "vblk/vhost/server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vblk/engine.h"
#include "vblk/vhost/blk.h"
#include "vblk/vhost/dev.h"

#define QUEUE_DEPTH 256
#define QUEUE_WAKE_SIGNAL SIGURG  /* interrupts a queue thread's blocked call write */
#define QUEUE_WAKE_MS 100         /* how often queue_stop interrupts it */
#define RESIZE_POLL_MS 1000  /* how often the image size is checked */

struct vq;

struct vq_slot {
	struct vp_blk_req req;
	struct vq *vq;
	struct vq_slot *next_free;
};

struct vq {
	struct vp_vhost_server *srv;
	unsigned index;
	pthread_t tid;
	struct vp_engine eng;
	int img_file;
	struct vp_vring *vr;
	int call_fd, kick_fd, stop_efd;
	struct vp_engine_op kick_op, stop_op;
	uint64_t kick_val, stop_val;
	bool kick_pending, stop_pending, stopping, broken, pushed;
	unsigned busy;
	struct vq_slot *slots, *free;
	uint16_t *recovered;
	unsigned nrecovered;
};

struct vp_vhost_server {
	struct vp_vhost_server_config cfg;
	char *name, *path;
	int listen_fd, conn_fd, ctl_efd;
	struct vp_vhost_rx rx;                  /* the message arriving on conn_fd */
	int64_t rx_deadline;                    /* ms (monotonic) by which it must be whole */
	pthread_t ctl_tid;
	bool started;
	int stop_req, resize_req, broken_req;   /* atomic flags for the control thread */
	int fault_req;                          /* set by the SIGBUS guard (guestmap.h) */
	struct vp_guestmap_sink fault;          /* { &fault_req, ctl_efd } */
	struct vp_blk_dev bd;
	struct vp_vhost_dev dev;
	struct vq vqs[VP_VHOST_MAX_QUEUES];
};

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static void event(struct vp_vhost_server *srv, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void event(struct vp_vhost_server *srv, const char *name, const char *fmt, ...)
{
	char detail[VP_EVENT_DETAIL_MAX];
	va_list ap;

	if (!srv->cfg.events.fn)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	vp_event(&srv->cfg.events, name, "export=%s %s", srv->name, detail);
}

static void poke(struct vp_vhost_server *srv, int *flag)
{
	uint64_t one = 1;

	__atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
	if (write(srv->ctl_efd, &one, sizeof(one)) < 0) {
		/* eventfd counter saturated: a wake-up is already pending */
	}
}

/* ---- queue thread ---- */

static void queue_broken(struct vq *vq, int ret)
{
	if (vq->broken)
		return;
	vq->broken = true;
	event(vq->srv, "vhost.ring-error", "queue=%u error=\"%s\"", vq->index, strerror(-ret));
	poke(vq->srv, &vq->srv->broken_req);
}

static void on_complete(struct vp_blk_req *r)
{
	struct vq_slot *s = container_of(r, struct vq_slot, req);
	struct vq *vq = s->vq;

	vp_vring_push(vq->vr, r->elem.head, r->written);
	vq->pushed = true;
	vq->busy--;
	s->next_free = vq->free;
	vq->free = s;
}

/* Run the chain already in s->req.elem. */
static void run_slot(struct vq *vq, struct vq_slot *s)
{
	int ret;

	vq->free = s->next_free;
	vq->busy++;
	ret = vp_blk_start(&s->req);
	if (ret) { /* no status byte: nothing can be completed */
		vq->busy--;
		s->next_free = vq->free;
		vq->free = s;
		queue_broken(vq, ret);
	}
}

static void resubmit(struct vq *vq)
{
	for (unsigned i = 0; i < vq->nrecovered && !vq->broken; i++) {
		struct vq_slot *s = vq->free;
		int ret;

		s->req.elem.head = vq->recovered[i];
		ret = vp_vring_chain(vq->vr, &s->req.elem);
		if (ret)
			queue_broken(vq, ret);
		else
			run_slot(vq, s);
	}
	if (vq->nrecovered)
		event(vq->srv, "vhost.resubmitted", "queue=%u requests=%u", vq->index, vq->nrecovered);
	vq->nrecovered = 0;
}

static void process_ring(struct vq *vq)
{
	while (!vq->stopping && !vq->broken && vq->free) {
		struct vq_slot *s = vq->free;
		int ret = vp_vring_pop(vq->vr, &s->req.elem);

		if (ret < 0) {
			queue_broken(vq, ret);
			return;
		}
		if (ret == 0 && !vp_vring_rearm(vq->vr))
			return;
		if (ret == 1)
			run_slot(vq, s);
	}
}

static void on_kick(struct vp_engine_op *op, int res)
{
	struct vq *vq = container_of(op, struct vq, kick_op);

	vq->kick_pending = false;
	if (vq->stopping)
		return;
	if (res < 0 && res != -EINTR && res != -EAGAIN) {
		queue_broken(vq, res);
		return;
	}
	if (vp_engine_eventfd_read(&vq->eng, &vq->kick_op, vq->kick_fd, &vq->kick_val) == 0)
		vq->kick_pending = true;
	else
		queue_broken(vq, -EBUSY);
}

static void on_stop(struct vp_engine_op *op, int res)
{
	struct vq *vq = container_of(op, struct vq, stop_op);

	(void)res;
	vq->stop_pending = false;
	vq->stopping = true;
	if (vq->kick_pending && vp_engine_cancel(&vq->eng, &vq->kick_op))
		vq->kick_pending = false; /* cannot cancel: the ring's exit will */
}

static void signal_guest(struct vq *vq)
{
	uint64_t one = 1;

	vq->pushed = false;
	if (vq->call_fd >= 0 && vp_vring_need_call(vq->vr) &&
	    write(vq->call_fd, &one, sizeof(one)) < 0) {
		/* counter saturated: the guest has an interrupt pending anyway */
	}
}

static void *queue_main(void *arg)
{
	struct vq *vq = arg;

	vq->kick_op.done = on_kick;
	vq->stop_op.done = on_stop;
	vq->kick_pending = vp_engine_eventfd_read(&vq->eng, &vq->kick_op, vq->kick_fd,
						  &vq->kick_val) == 0;
	vq->stop_pending = vp_engine_eventfd_read(&vq->eng, &vq->stop_op, vq->stop_efd,
						  &vq->stop_val) == 0;
	if (!vq->kick_pending || !vq->stop_pending)
		queue_broken(vq, -EBUSY);
	resubmit(vq);
	process_ring(vq);
	while (vq->busy || vq->kick_pending || vq->stop_pending) {
		int ret;

		if (vq->pushed)
			signal_guest(vq);
		ret = vp_engine_run_once(&vq->eng);
		if (ret) {
			queue_broken(vq, ret);
			break;
		}
		process_ring(vq);
	}
	if (vq->pushed)
		signal_guest(vq);
	return NULL;
}

static void queue_free(struct vq *vq)
{
	vp_engine_exit(&vq->eng);
	if (vq->stop_efd >= 0)
		close(vq->stop_efd);
	vq->stop_efd = -1;
	free(vq->slots);
	free(vq->recovered);
	vq->slots = NULL;
	vq->recovered = NULL;
}

static int queue_start(struct vp_vhost_dev *dev, unsigned q)
{
	struct vp_vhost_server *srv = dev->ctx;
	struct vq *vq = &srv->vqs[q];
	struct vp_vhost_queue *dq = &dev->q[q];
	struct vp_error err = { 0 };
	int ret;

	memset(vq, 0, sizeof(*vq));
	vq->srv = srv;
	vq->index = q;
	vq->vr = &dq->vr;
	vq->kick_fd = dq->kick_fd;
	vq->call_fd = dq->call_fd;
	vq->stop_efd = eventfd(0, EFD_CLOEXEC);
	vq->slots = calloc(dq->num, sizeof(*vq->slots));
	vq->recovered = calloc(dq->num, sizeof(*vq->recovered));
	if (vq->stop_efd < 0 || !vq->slots || !vq->recovered) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = vp_engine_init(&vq->eng, QUEUE_DEPTH, 1, &err);
	if (ret)
		goto fail;
	vq->img_file = vp_engine_file_add(&vq->eng, srv->cfg.img->fd);
	if (vq->img_file < 0) {
		ret = vq->img_file;
		goto fail;
	}
	for (unsigned i = dq->num; i-- > 0;) {
		struct vq_slot *s = &vq->slots[i];

		s->vq = vq;
		s->req.bd = &srv->bd;
		s->req.eng = &vq->eng;
		s->req.file = vq->img_file;
		s->req.complete = on_complete;
		s->req.elem.iov = s->req.iov;
		s->req.elem.max_iov = VP_BLK_MAX_IOV;
		s->next_free = vq->free;
		vq->free = s;
	}
	vq->nrecovered = vp_vring_recover(vq->vr, vq->recovered);
	event(srv, "vhost.queue-started", "queue=%u size=%u last_avail=%u used=%u inflight=%u", q,
	      dq->num, vq->vr->last_avail_idx, vq->vr->used_idx, vq->nrecovered);
	ret = -pthread_create(&vq->tid, NULL, queue_main, vq);
	if (ret)
		goto fail;
	return 0;
fail:
	event(srv, "vhost.queue-error", "queue=%u error=\"%s\"", q, err.msg[0] ? err.msg : strerror(-ret));
	queue_free(vq);
	return ret;
}

static void on_wake_signal(int sig)
{
	(void)sig; /* only there to make a blocking syscall fail with EINTR */
}

/* Once per process: a handler without SA_RESTART for QUEUE_WAKE_SIGNAL. */
static void install_wake_signal(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(QUEUE_WAKE_SIGNAL, &sa, NULL);
}

/* Stop the thread and wait for it, without letting the front end hold the
 * wait: the one syscall of a queue thread that a front end can block is
 * the write of the call eventfd (it saturates the counter and clears the
 * O_NONBLOCK that dev.c set on the file description they share), so the
 * thread is interrupted every QUEUE_WAKE_MS until it has exited.  Image
 * I/O still in flight is waited for: it is not the front end's to hold. */
static void queue_stop(struct vp_vhost_dev *dev, unsigned q)
{
	static pthread_once_t wake_once = PTHREAD_ONCE_INIT;
	struct vp_vhost_server *srv = dev->ctx;
	struct vq *vq = &srv->vqs[q];
	uint64_t one = 1;

	pthread_once(&wake_once, install_wake_signal);
	if (write(vq->stop_efd, &one, sizeof(one)) < 0) {
		/* cannot fail for a fresh eventfd with a small counter */
	}
	for (;;) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += QUEUE_WAKE_MS * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(vq->tid, NULL, &t) != ETIMEDOUT)
			break;
		pthread_kill(vq->tid, QUEUE_WAKE_SIGNAL);
	}
	queue_free(vq);
}

static int get_config(struct vp_vhost_dev *dev, uint32_t offset, uint8_t *buf, uint32_t size)
{
	struct vp_vhost_server *srv = dev->ctx;
	uint8_t space[VHOST_USER_CONFIG_MAX] = { 0 };
	struct virtio_blk_config cfg;

	vp_blk_config(&srv->bd, &cfg);
	memcpy(space, &cfg, sizeof(cfg));
	memcpy(buf, space + offset, size); /* dev.c bounds offset + size by the space */
	return 0;
}

static int set_config(struct vp_vhost_dev *dev, uint32_t offset, const uint8_t *buf, uint32_t size)
{
	struct vp_vhost_server *srv = dev->ctx;

	return vp_blk_set_config(&srv->bd, offset, buf, size);
}

static const struct vp_vhost_dev_ops blk_ops = {
	.queue_start = queue_start,
	.queue_stop = queue_stop,
	.get_config = get_config,
	.set_config = set_config,
};

/* ---- control thread ---- */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void disconnect(struct vp_vhost_server *srv, const char *why)
{
	vp_vhost_rx_reset(&srv->rx);
	vp_vhost_dev_close(&srv->dev);
	/* Its mappings are gone: a fault noticed late is not the next one's. */
	__atomic_store_n(&srv->fault_req, 0, __ATOMIC_SEQ_CST);
	close(srv->conn_fd);
	srv->conn_fd = -1;
	event(srv, "vhost.disconnected", "reason=\"%s\"", why);
}

static void on_control(struct vp_vhost_server *srv)
{
	uint64_t v;
	struct vp_error err = { 0 };

	if (read(srv->ctl_efd, &v, sizeof(v)) < 0) {
		/* spurious wake-up: the flags below decide */
	}
	if (__atomic_exchange_n(&srv->broken_req, 0, __ATOMIC_SEQ_CST) && srv->conn_fd >= 0)
		disconnect(srv, "malformed virtqueue");
	if (__atomic_load_n(&srv->fault_req, __ATOMIC_SEQ_CST) && srv->conn_fd >= 0)
		disconnect(srv, "front end shrank the file under guest memory (SIGBUS)");
	if (__atomic_exchange_n(&srv->resize_req, 0, __ATOMIC_SEQ_CST) && srv->conn_fd >= 0) {
		if (vp_vhost_dev_config_changed(&srv->dev, &err))
			event(srv, "vhost.resize-notice-failed", "error=\"%s\"", err.msg);
		else
			event(srv, "vhost.resize-notice", "size=%llu",
			      (unsigned long long)srv->cfg.img->size);
	}
}

/* Pick up a size change of the image file however it happened (vblkctl
 * resize, truncate), and tell a connected guest. */
static void check_size(struct vp_vhost_server *srv)
{
	struct stat st;
	uint64_t old = __atomic_load_n(&srv->cfg.img->size, __ATOMIC_RELAXED);

	if (srv->cfg.img->blockdev || fstat(srv->cfg.img->fd, &st) || (uint64_t)st.st_size == old)
		return;
	__atomic_store_n(&srv->cfg.img->size, (uint64_t)st.st_size, __ATOMIC_RELAXED);
	event(srv, "vhost.resized", "old=%llu new=%llu", (unsigned long long)old,
	      (unsigned long long)st.st_size);
	__atomic_store_n(&srv->resize_req, 1, __ATOMIC_SEQ_CST);
	on_control(srv);
}

static void on_accept(struct vp_vhost_server *srv)
{
	/* Non-blocking: a front end must never hold this thread (it also
	 * serves the stop request and the export's removal). */
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	uid_t uid;
	gid_t gid;

	if (fd < 0)
		return;
	if (srv->cfg.peers && !vp_unix_peer_allowed(fd, srv->cfg.peers, &uid, &gid)) {
		event(srv, "vhost.peer.refused", "uid=%d gid=%d", (int)uid, (int)gid);
		close(fd);
		return;
	}
	srv->conn_fd = fd;
	vp_vhost_rx_init(&srv->rx);
	srv->bd.writeback = 1;
	vp_vhost_dev_init(&srv->dev, &blk_ops, srv, fd, vp_blk_features(&srv->bd), srv->cfg.queues,
			  &srv->fault);
	event(srv, "vhost.connected", "queues=%u", srv->cfg.queues);
}

static void on_message(struct vp_vhost_server *srv)
{
	struct vp_error err = { 0 };
	bool partial = vp_vhost_rx_partial(&srv->rx);
	int ret = vp_vhost_rx_read(srv->conn_fd, &srv->rx, &err);

	if (ret == 0 && !partial && vp_vhost_rx_partial(&srv->rx))
		srv->rx_deadline = now_ms() + VP_VHOST_MSG_TIMEOUT_MS;
	if (ret == 1) {
		ret = vp_vhost_dev_handle(&srv->dev, &srv->rx.msg, &err);
		vp_vhost_rx_init(&srv->rx);
	}
	if (ret == -ECONNRESET)
		disconnect(srv, "front end closed the connection");
	else if (ret < 0)
		disconnect(srv, err.msg);
}

/* How long poll may wait: the resize poll, or less while a message is
 * half received. */
static int poll_timeout(const struct vp_vhost_server *srv)
{
	int64_t left;

	if (srv->conn_fd < 0 || !vp_vhost_rx_partial(&srv->rx))
		return RESIZE_POLL_MS;
	left = srv->rx_deadline - now_ms();
	return left <= 0 ? 0 : left < RESIZE_POLL_MS ? (int)left : RESIZE_POLL_MS;
}

/* Drop a front end that stopped inside a message; true when it did. */
static bool drop_stalled(struct vp_vhost_server *srv)
{
	char why[96];

	if (srv->conn_fd < 0 || !vp_vhost_rx_partial(&srv->rx) || now_ms() < srv->rx_deadline)
		return false;
	snprintf(why, sizeof(why), "front end stalled inside request %u for %d ms",
		 srv->rx.got >= sizeof(srv->rx.msg.hdr) ? srv->rx.msg.hdr.request : 0,
		 VP_VHOST_MSG_TIMEOUT_MS);
	disconnect(srv, why);
	return true;
}

static void *control_main(void *arg)
{
	struct vp_vhost_server *srv = arg;

	while (!__atomic_load_n(&srv->stop_req, __ATOMIC_SEQ_CST)) {
		struct pollfd p[2] = { { srv->ctl_efd, POLLIN, 0 },
				       { srv->conn_fd >= 0 ? srv->conn_fd : srv->listen_fd, POLLIN, 0 } };
		int n = poll(p, 2, poll_timeout(srv));

		if (drop_stalled(srv))
			continue;
		if (n <= 0) {
			check_size(srv);
			continue;
		}
		if (p[0].revents)
			on_control(srv);
		else if (p[1].revents && srv->conn_fd >= 0)
			on_message(srv);
		else if (p[1].revents)
			on_accept(srv);
	}
	if (srv->conn_fd >= 0)
		disconnect(srv, "daemon stopping");
	return NULL;
}

/* Listen on cfg's socket with its mode and group; one front end at a
 * time, so a short backlog (it holds a reconnecting QEMU). */
static int listen_socket(const struct vp_vhost_server_config *cfg, struct vp_error *err)
{
	struct vp_unix_listen_opts o = { .mode = VP_UNIX_MODE_DEFAULT, .gid = VP_UNIX_GID_KEEP };

	if (cfg->socket)
		o = *cfg->socket;
	o.backlog = 4;
	o.type_flags = SOCK_CLOEXEC;
	return vp_unix_listen(cfg->socket_path, &o, err);
}

int vp_vhost_server_new(const struct vp_vhost_server_config *cfg, struct vp_vhost_server **out,
			struct vp_error *err)
{
	struct vp_vhost_server *srv;
	int ret;

	*out = NULL;
	if (cfg->queues < 1 || cfg->queues > VP_VHOST_MAX_QUEUES)
		return vp_error_set(err, EINVAL, "vhost-user: queues must be 1..%d", VP_VHOST_MAX_QUEUES);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return vp_error_set(err, ENOMEM, "vhost-user server");
	srv->cfg = *cfg;
	srv->listen_fd = srv->conn_fd = -1;
	srv->name = strdup(cfg->name);
	srv->path = strdup(cfg->socket_path);
	srv->ctl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->fault = (struct vp_guestmap_sink){ &srv->fault_req, srv->ctl_efd };
	if (!srv->name || !srv->path || srv->ctl_efd < 0) {
		ret = vp_error_set(err, ENOMEM, "vhost-user server");
		goto fail;
	}
	srv->bd = (struct vp_blk_dev){ .img = cfg->img, .serial = srv->name,
				       .num_queues = (uint16_t)cfg->queues, .writeback = 1 };
	ret = listen_socket(cfg, err);
	if (ret < 0)
		goto fail;
	srv->listen_fd = ret;
	*out = srv;
	return 0;
fail:
	vp_vhost_server_free(srv);
	return ret;
}

int vp_vhost_server_start(struct vp_vhost_server *srv, struct vp_error *err)
{
	int ret = pthread_create(&srv->ctl_tid, NULL, control_main, srv);

	if (ret)
		return vp_error_set(err, ret, "vhost-user: start control thread");
	srv->started = true;
	return 0;
}

void vp_vhost_server_notify_resize(struct vp_vhost_server *srv)
{
	poke(srv, &srv->resize_req);
}

void vp_vhost_server_free(struct vp_vhost_server *srv)
{
	if (!srv)
		return;
	if (srv->started) {
		poke(srv, &srv->stop_req);
		pthread_join(srv->ctl_tid, NULL);
	}
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->path);
	}
	if (srv->ctl_efd >= 0)
		close(srv->ctl_efd);
	free(srv->name);
	free(srv->path);
	free(srv);
}
