/* server.c - NBD connections on a worker's io_uring.
 *
 * Every socket and disk operation goes through the worker's engine; nothing
 * blocks, so a slow or hostile client only ever holds its own connection.
 * The handshake is a per-connection state machine on the same ring (send
 * greeting, receive flags, then receive option / send replies until GO).
 * In transmission a connection owns CONN_SLOTS preallocated request slots.
 * One receive is in flight at a time, into a 64 KiB input buffer from which
 * as many requests (headers and small WRITE payloads) are parsed as it holds;
 * the rest of a large WRITE payload is received straight into its slot's
 * buffer.  Up to CONN_SLOTS requests run on the image at once; replies leave
 * in completion order, and every reply that became ready during one batch of
 * completions goes out in one sendmsg.  Slot buffers come from a
 * per-connection budget (conn_mem): a request that would exceed it waits,
 * without reading further requests, until earlier ones complete.
 *
 * Large READs of a memory-backed image (tmpfs) are not copied at all: the
 * reply is ready at once with no data in the slot, its header ends a send
 * batch, and the data follows from the page cache through a per-connection
 * pipe (splice file -> pipe inline, then a ring splice pipe -> socket), so
 * the pages go by reference into the socket and the client's recv is the
 * only copy.  pread + sendmsg cost two copies of every byte, which made a
 * 1 MiB read cost more CPU than nbdkit's.  Data that short-reads (the image
 * shrank) cannot be reported after the header went out: the connection is
 * dropped.  The client gets what the pages hold when it copies them out of
 * the socket, not when the request completed; only a WRITE in flight at the
 * same time (whose order against the READ NBD leaves open) can tell.
 *
 * Large WRITEs into a memory-backed image are not copied through a buffer
 * either: their data goes socket -> pipe (page references) -> image, one
 * chunk at a time as it arrives (splice inline, a ring poll when the socket
 * is empty), so the image copy is the only one and the client refills the
 * socket while this thread copies.  recv of the whole 1 MiB and then one
 * pwrite left the client waiting on a full socket during the copy.  Data
 * the image refuses (ENOSPC) is read out of the pipe and dropped; the
 * reply carries the error.  Slot buffers of an O_DIRECT image are
 * registered with the ring, which spares the kernel pinning their pages on
 * every request.
 */
#include "vblk/nbd/server.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vblk/engine.h"
#include "vblk/nbd/proto.h"
#include "vblk/nbd/table.h"
#include "vblk/stats.h"

#define CONN_SLOTS 64             /* requests in flight per connection (fio QD32 needs 32) */
#define IN_BUF (64U << 10)        /* socket input buffer per connection */
#define DIRECT_RECV_MIN (16U << 10) /* WRITE data left over this skips the input buffer */
#define TX_IOV 64                 /* iovecs per reply sendmsg (2 per reply) */
#define RING_DEPTH 256
#define MAX_FILES 1024
#define MAX_BUFS 4096             /* registered slot buffers per worker */
#define SLOT_MIN_BUF (64U << 10)
#define BUF_ALIGN 4096U
#define SPLICE_MIN (64U << 10)    /* READs from a memory-backed image this large splice */
#define PIPE_SIZE (1U << 20)      /* asked for; the pipe moves the data in chunks of its size */

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* Steps of a request that takes more than one operation. */
enum slot_step {
	STEP_IO,          /* read/write (resubmitted on short I/O), flush, cache */
	STEP_ZERO_RANGE,  /* WRITE_ZEROES with NO_HOLE */
	STEP_PUNCH,       /* TRIM, or WRITE_ZEROES allowed to leave a hole */
	STEP_PUNCH_ALLOC, /* NO_HOLE fallback: punch, then allocate */
	STEP_ALLOC,
	STEP_SYNC,        /* FUA after a zeroing step */
};

struct nbd_conn;

struct nbd_slot {
	struct vp_engine_op op;
	struct nbd_conn *c;
	struct vp_nbd_request req;
	unsigned char *buf;     /* BUF_ALIGN-aligned, grows to the largest request */
	size_t cap;
	int buf_idx;            /* buf's registered index (O_DIRECT images), else < 0 */
	uint32_t done;          /* bytes of data I/O completed (BLOCK_STATUS: descriptors) */
	uint32_t nbd_err;       /* error to reply with (0 = success) */
	enum slot_step step;
	unsigned char hdr[32];  /* reply header */
	struct iovec iov[2];
	struct nbd_slot *next;  /* free list or send queue */
	uint64_t t0;            /* CLOCK_MONOTONIC ns when the header arrived */
	uint32_t payload;       /* WRITE data bytes following the header */
	uint32_t streamed;      /* of which already spliced into the image */
	bool splice;            /* READ whose data is spliced from the image when sent */
};

struct vp_nbd_worker {
	struct vp_engine eng;
	struct vp_nbd_server_config cfg;
	int *img_files;         /* registered index per export */
	int efd;
	uint64_t efd_val;
	struct vp_engine_op stop_op, accept_op;
	bool stop_pending, accept_pending, draining;
	int kick_fd;            /* vp_nbd_worker_kick: drain removed exports */
	uint64_t kick_val;
	struct vp_engine_op kick_op;
	bool kick_pending;
	struct nbd_conn *conns;
	unsigned nconns, next_id;
	size_t conn_mem;        /* slot buffer budget per connection */
	struct nbd_conn *dirty; /* connections with replies to flush */
};

struct nbd_conn {
	struct vp_nbd_worker *w;
	struct nbd_conn *prev, *next;
	unsigned id;
	int fd, file;
	unsigned inflight;      /* engine operations not yet completed */
	bool dead;              /* no new I/O; freed once inflight is 0 */
	bool in_tx;             /* handshake done */
	bool rx_stopped;        /* no further requests (DISC, EOF, drain) */
	bool export_gone;       /* its export was removed: draining */
	/* receive: one at a time */
	struct vp_engine_op recv_op, poll_op;
	bool rx_pending;
	bool rx_polling;        /* the pending receive is poll_op (WRITE data splice) */
	bool rx_readable;       /* poll_op completed: the socket has data or EOF */
	unsigned char *rx_buf;
	uint32_t rx_len, rx_got;
	void (*rx_then)(struct nbd_conn *c);
	/* send: one at a time */
	struct vp_engine_op send_op;
	bool tx_pending;
	struct msghdr msg;
	void (*tx_then)(struct nbd_conn *c);
	/* handshake */
	struct vp_nbd_hs hs;
	struct vp_nbd_buf hs_out;
	enum vp_nbd_hs_next hs_next;
	unsigned char hs_small[NBD_OPTION_HDR_SIZE + 2];
	struct iovec hs_iov;
	unsigned char *opt_data;
	uint32_t opt, opt_len, opt_cap;
	/* transmission */
	struct vp_nbd_limits lim;
	const struct vp_image *img;
	int img_file;
	bool reg_bufs;          /* register slot buffers: the image does O_DIRECT */
	struct vp_nbd_snapshot *snap; /* table mode: the exports the handshake saw */
	struct vp_nbd_entry *entry;   /* table mode: attached export (img_file is ours) */
	struct vp_stats *stats;
	unsigned char *in;      /* IN_BUF bytes; unparsed input is in[in_head, in_tail) */
	uint32_t in_head, in_tail;
	bool rx_direct;         /* the pending receive goes into rx_slot's buffer */
	struct nbd_slot *rx_slot;  /* WRITE whose data is being received */
	uint32_t pay_got;       /* bytes of rx_slot's data received */
	struct nbd_slot *wait_slot; /* parsed request waiting for buffer memory */
	size_t mem;             /* bytes of slot buffers allocated */
	struct nbd_slot *free_slots, *sendq_head, *sendq_tail;
	unsigned busy;          /* slots not on the free list */
	unsigned tx_batch;      /* replies in the send in flight */
	struct iovec tx_iov[TX_IOV];
	bool dirty;             /* on w->dirty: replies to flush after this batch */
	struct nbd_conn *dirty_next;
	/* splicing READ data: the slot last in the send batch, then its data */
	int mem_fd;             /* the image's fd when memory-backed, else -1 */
	int pipe[2];            /* -1 when not splicing on this connection */
	uint32_t pipe_cap;      /* bytes one splice into the pipe may take */
	struct vp_engine_op splice_op;
	struct nbd_slot *tx_splice; /* its header is in (or went out with) the send batch */
	int wpipe[2];           /* WRITE data: socket -> wpipe -> image; -1 when not */
	uint32_t wpipe_cap;
	bool splicing;          /* the pending send is splice_op */
	uint32_t splice_left, pipe_fill;
	uint64_t splice_off;
	struct nbd_slot slots[CONN_SLOTS];
};

static void event(struct vp_nbd_worker *w, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void event(struct vp_nbd_worker *w, const char *name, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	if (!w->cfg.on_event)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	w->cfg.on_event(w->cfg.event_ctx, name, detail);
}

/* ---- connection lifetime ---- */

static void conn_free(struct nbd_conn *c)
{
	struct vp_nbd_worker *w = c->w;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	if (c->entry) {
		vp_engine_file_del(&w->eng, c->img_file);
		vp_nbd_entry_attach(c->entry, -1);
	}
	vp_nbd_snapshot_put(c->snap);
	vp_engine_file_del(&w->eng, c->file);
	close(c->fd);
	for (int i = 0; i < 2; i++) {
		if (c->pipe[i] >= 0)
			close(c->pipe[i]);
		if (c->wpipe[i] >= 0)
			close(c->wpipe[i]);
	}
	for (unsigned i = 0; i < CONN_SLOTS; i++) {
		vp_engine_buf_del(&w->eng, c->slots[i].buf_idx);
		free(c->slots[i].buf);
	}
	free(c->in);
	vp_nbd_buf_free(&c->hs_out);
	free(c->opt_data);
	free(c);
}

/* Stop all I/O on c: pending socket operations are cancelled, disk
 * operations finish on their own, and c is freed when the last completes. */
static void conn_drop(struct nbd_conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	event(c->w, "nbd.conn.close", "conn=%u reason=%s", c->id, why);
	shutdown(c->fd, SHUT_RDWR);
	if (c->rx_pending)
		(void)vp_engine_cancel(&c->w->eng, c->rx_polling ? &c->poll_op : &c->recv_op);
	if (c->tx_pending)
		(void)vp_engine_cancel(&c->w->eng, c->splicing ? &c->splice_op : &c->send_op);
}

/* Run after every event on c, as the last use of c. */
static void conn_settle(struct nbd_conn *c)
{
	if (!c->dead && c->in_tx && c->rx_stopped && c->busy == 0 && !c->tx_pending)
		conn_drop(c, "disconnect");
	if (c->dead && c->inflight == 0 && !c->dirty)
		conn_free(c);
}

/* ---- socket I/O ---- */

static void recv_more(struct nbd_conn *c)
{
	if (vp_engine_recv(&c->w->eng, &c->recv_op, c->file, c->rx_buf + c->rx_got,
			   c->rx_len - c->rx_got, MSG_WAITALL)) {
		conn_drop(c, "submission-queue-full");
		return;
	}
	c->inflight++;
	c->rx_pending = true;
}

/* Receive exactly len bytes into buf, then call then(c) (handshake). */
static void conn_recv(struct nbd_conn *c, void *buf, uint32_t len, void (*then)(struct nbd_conn *))
{
	c->rx_buf = buf;
	c->rx_len = len;
	c->rx_got = 0;
	c->rx_then = then;
	recv_more(c);
}

static void on_recv(struct vp_engine_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, recv_op);

	c->inflight--;
	c->rx_pending = false;
	if (c->dead)
		;
	else if (res < 0)
		conn_drop(c, res == -ECANCELED ? "shutdown" : "recv-error");
	else if (res == 0)
		conn_drop(c, "truncated-message");
	else if ((c->rx_got += (uint32_t)res) < c->rx_len)
		recv_more(c);
	else
		c->rx_then(c);
	conn_settle(c);
}

static void send_more(struct nbd_conn *c)
{
	if (vp_engine_sendmsg(&c->w->eng, &c->send_op, c->file, &c->msg)) {
		conn_drop(c, "submission-queue-full");
		return;
	}
	c->inflight++;
	c->tx_pending = true;
}

/* Send all of iov[0..cnt) (the array is consumed), then call then(c). */
static void conn_sendv(struct nbd_conn *c, struct iovec *iov, int cnt, void (*then)(struct nbd_conn *))
{
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = iov;
	c->msg.msg_iovlen = (size_t)cnt;
	c->tx_then = then;
	send_more(c);
}

/* Skip n sent bytes; true when bytes remain. */
static bool msg_advance(struct msghdr *m, size_t n)
{
	while (m->msg_iovlen && n >= m->msg_iov->iov_len) {
		n -= m->msg_iov->iov_len;
		m->msg_iov++;
		m->msg_iovlen--;
	}
	if (m->msg_iovlen) {
		m->msg_iov->iov_base = (char *)m->msg_iov->iov_base + n;
		m->msg_iov->iov_len -= n;
	}
	return m->msg_iovlen != 0;
}

static void on_send(struct vp_engine_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, send_op);

	c->inflight--;
	c->tx_pending = false;
	if (c->dead)
		;
	else if (res <= 0)
		conn_drop(c, "send-error");
	else if (msg_advance(&c->msg, (size_t)res))
		send_more(c);
	else
		c->tx_then(c);
	conn_settle(c);
}

/* ---- handshake ---- */

static void tx_start(struct nbd_conn *c);
static void hs_read_option(struct nbd_conn *c);

static void hs_after_send(struct nbd_conn *c)
{
	if (c->hs_next == VP_NBD_HS_CONTINUE)
		hs_read_option(c);
	else if (c->hs_next == VP_NBD_HS_GO)
		tx_start(c);
	else
		conn_drop(c, "client-abort");
}

static void hs_run_option(struct nbd_conn *c)
{
	int ret;

	c->hs_out.len = 0;
	ret = vp_nbd_hs_option(&c->hs, c->opt, c->opt_data, c->opt_len, &c->hs_out);
	if (ret < 0) {
		conn_drop(c, ret == -ENOENT ? "unknown-export" : "out-of-memory");
		return;
	}
	c->hs_next = (enum vp_nbd_hs_next)ret;
	if (c->hs_out.len == 0) {
		hs_after_send(c);
		return;
	}
	c->hs_iov.iov_base = c->hs_out.data;
	c->hs_iov.iov_len = c->hs_out.len;
	conn_sendv(c, &c->hs_iov, 1, hs_after_send);
}

static void hs_got_option_header(struct nbd_conn *c)
{
	if (vp_nbd_hs_option_header(c->hs_small, &c->opt, &c->opt_len)) {
		conn_drop(c, "bad-option-header");
		return;
	}
	if (c->opt_len == 0) {
		hs_run_option(c);
		return;
	}
	if (c->opt_len > c->opt_cap) {
		unsigned char *d = realloc(c->opt_data, c->opt_len);

		if (!d) {
			conn_drop(c, "out-of-memory");
			return;
		}
		c->opt_data = d;
		c->opt_cap = c->opt_len;
	}
	conn_recv(c, c->opt_data, c->opt_len, hs_run_option);
}

static void hs_read_option(struct nbd_conn *c)
{
	conn_recv(c, c->hs_small, NBD_OPTION_HDR_SIZE, hs_got_option_header);
}

static void hs_got_flags(struct nbd_conn *c)
{
	uint32_t flags;

	memcpy(&flags, c->hs_small, 4);
	if (vp_nbd_hs_client_flags(&c->hs, be32toh(flags))) {
		conn_drop(c, "bad-client-flags");
		return;
	}
	hs_read_option(c);
}

static void hs_read_flags(struct nbd_conn *c)
{
	conn_recv(c, c->hs_small, 4, hs_got_flags);
}

/* ---- transmission ---- */

static void rx_process(struct nbd_conn *c);

static void slot_put(struct nbd_conn *c, struct nbd_slot *s)
{
	s->next = c->free_slots;
	c->free_slots = s;
	c->busy--;
}

static void slot_drop_buf(struct nbd_conn *c, struct nbd_slot *s)
{
	vp_engine_buf_del(&c->w->eng, s->buf_idx);
	s->buf_idx = -1;
	c->mem -= s->cap;
	free(s->buf);
	s->buf = NULL;
	s->cap = 0;
}

/* Make s->buf hold at least len bytes (aligned for O_DIRECT) within the
 * connection's budget: an idle slot's big enough buffer is swapped in, else
 * idle slots' buffers are freed as needed to allocate one (registered with
 * the ring for an O_DIRECT image, when the table has room).  Returns 0,
 * -EAGAIN when busy slots hold the budget (retry when one is released), or
 * -ENOMEM.  Steady state allocates nothing. */
static int slot_reserve(struct nbd_conn *c, struct nbd_slot *s, size_t len)
{
	size_t budget = c->w->conn_mem;
	void *p;

	if (s->cap >= len)
		return 0;
	for (struct nbd_slot *f = c->free_slots; f; f = f->next) {
		if (f->cap >= len) {
			int idx = f->buf_idx;

			p = f->buf, f->buf = s->buf, s->buf = p;
			len = f->cap, f->cap = s->cap, s->cap = len;
			f->buf_idx = s->buf_idx, s->buf_idx = idx;
			return 0;
		}
	}
	len = (len < SLOT_MIN_BUF ? SLOT_MIN_BUF : len + BUF_ALIGN - 1) & ~(size_t)(BUF_ALIGN - 1);
	for (struct nbd_slot *f = c->free_slots; f && c->mem - s->cap + len > budget; f = f->next)
		slot_drop_buf(c, f);
	if (c->mem - s->cap + len > budget)
		return -EAGAIN;
	slot_drop_buf(c, s);
	if (posix_memalign(&p, BUF_ALIGN, len))
		return -ENOMEM;
	s->buf = p;
	s->cap = len;
	c->mem += len;
	/* Unregistered (table full, memlock limit): plain I/O. */
	s->buf_idx = c->reg_bufs ? vp_engine_buf_add(&c->w->eng, p, len) : -1;
	return 0;
}

/* Have tx_flush run for c once the current batch of completions is
 * dispatched, so that one sendmsg carries all the replies it made ready. */
static void conn_mark(struct nbd_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->w->dirty;
	c->w->dirty = c;
}

static void tx_sent(struct nbd_conn *c);

/* Send the queued replies (as many as TX_IOV holds) in one sendmsg.  A
 * spliced READ ends the batch: its data must follow its header at once. */
static void tx_flush(struct nbd_conn *c)
{
	int n = 0;

	if (c->tx_pending || c->dead || !c->sendq_head)
		return;
	c->tx_batch = 0;
	for (struct nbd_slot *s = c->sendq_head; s && n + 2 <= TX_IOV; s = s->next) {
		c->tx_iov[n++] = s->iov[0];
		if (s->iov[1].iov_len)
			c->tx_iov[n++] = s->iov[1];
		c->tx_batch++;
		if (s->splice) {
			c->tx_splice = s;
			c->splice_left = s->req.length;
			c->splice_off = s->req.offset;
			break;
		}
	}
	conn_sendv(c, c->tx_iov, n, tx_sent);
}

/* Send the next part of tx_splice's data: refill the (empty) pipe from the
 * page cache, which cannot block on tmpfs, then let the ring move it. */
static void splice_more(struct nbd_conn *c)
{
	if (c->pipe_fill == 0) {
		loff_t off = (loff_t)c->splice_off;
		uint32_t want = c->splice_left < c->pipe_cap ? c->splice_left : c->pipe_cap;
		ssize_t n = splice(c->mem_fd, &off, c->pipe[1], NULL, want, SPLICE_F_NONBLOCK);

		if (n <= 0) { /* the header promised the data: nothing else to do */
			conn_drop(c, n == 0 ? "image-shrank" : "splice-error");
			return;
		}
		c->pipe_fill = (uint32_t)n;
		c->splice_off += (uint64_t)n;
	}
	if (vp_engine_splice(&c->w->eng, &c->splice_op, c->pipe[0], c->file, c->pipe_fill)) {
		conn_drop(c, "submission-queue-full");
		return;
	}
	c->inflight++;
	c->tx_pending = true;
	c->splicing = true;
}

static void on_splice(struct vp_engine_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, splice_op);

	c->inflight--;
	c->tx_pending = false;
	c->splicing = false;
	if (c->dead) {
		;
	} else if (res <= 0) {
		conn_drop(c, "send-error");
	} else {
		c->pipe_fill -= (uint32_t)res;
		c->splice_left -= (uint32_t)res;
		if (c->splice_left)
			splice_more(c); /* tx_sent again once it is all out */
		else
			tx_sent(c);
	}
	conn_settle(c);
}

/* The batch's headers (and buffered data) are out: send the spliced data
 * that ends it, if any, then release the batch's slots. */
static void tx_sent(struct nbd_conn *c)
{
	if (c->tx_splice && c->splice_left) {
		splice_more(c);
		return;
	}
	c->tx_splice = NULL;
	for (unsigned i = 0; i < c->tx_batch; i++) {
		struct nbd_slot *s = c->sendq_head;

		c->sendq_head = s->next;
		slot_put(c, s);
	}
	if (!c->sendq_head)
		c->sendq_tail = NULL;
	tx_flush(c);
	rx_process(c); /* slots (and maybe memory) were released */
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static enum vp_stats_op stats_op(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ: return VP_STATS_READ;
	case NBD_CMD_WRITE: return VP_STATS_WRITE;
	case NBD_CMD_FLUSH: return VP_STATS_FLUSH;
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES: return VP_STATS_TRIM;
	default: return VP_STATS_OTHER; /* CACHE, BLOCK_STATUS, refused unknowns */
	}
}

/* Account the completed request s to its export (lock-free, own shard). */
static void stats_record(const struct nbd_slot *s)
{
	vp_stats_record(s->c->stats, s->c->w->cfg.worker_index, stats_op(s->req.type), s->req.length,
			now_ns() - s->t0, s->nbd_err != 0);
}

/* Encode the reply for s and queue it for sending. */
static void slot_reply(struct nbd_slot *s)
{
	struct nbd_conn *c = s->c;
	const struct vp_nbd_request *r = &s->req;
	size_t n, data = 0;

	if (s->nbd_err && c->lim.structured)
		n = vp_nbd_error_chunk(s->hdr, r->handle, s->nbd_err);
	else if (s->nbd_err)
		n = vp_nbd_simple_reply(s->hdr, r->handle, s->nbd_err);
	else if (r->type == NBD_CMD_READ && c->lim.structured)
		n = vp_nbd_read_chunk(s->hdr, r->handle, r->offset, data = r->length);
	else if (r->type == NBD_CMD_READ)
		n = vp_nbd_simple_reply(s->hdr, r->handle, 0), data = r->length;
	else if (r->type == NBD_CMD_BLOCK_STATUS)
		n = vp_nbd_block_status_chunk(s->hdr, r->handle, s->done), data = 8 * s->done;
	else
		n = vp_nbd_simple_reply(s->hdr, r->handle, 0);
	if (c->stats)
		stats_record(s);
	s->iov[0] = (struct iovec){ s->hdr, n };
	s->splice = s->splice && !s->nbd_err; /* an error reply carries no data */
	s->iov[1] = (struct iovec){ s->buf, s->splice ? 0 : data };
	s->next = NULL;
	if (c->sendq_tail)
		c->sendq_tail->next = s;
	else
		c->sendq_head = s;
	c->sendq_tail = s;
	conn_mark(c);
}

static void slot_fail(struct nbd_slot *s, int err)
{
	s->nbd_err = vp_nbd_errno(err);
	slot_reply(s);
}

/* Queue the data I/O for what is left of a READ or WRITE. */
static int slot_data_io(struct nbd_slot *s)
{
	struct nbd_conn *c = s->c;
	const struct vp_nbd_request *r = &s->req;
	int fua = (r->flags & NBD_CMD_FLAG_FUA) ? RWF_DSYNC : 0;

	if (s->buf_idx >= 0 && r->type == NBD_CMD_READ)
		return vp_engine_read_fixed(&c->w->eng, &s->op, c->img_file, s->buf + s->done,
					    r->length - s->done, r->offset + s->done, s->buf_idx);
	if (s->buf_idx >= 0)
		return vp_engine_write_fixed(&c->w->eng, &s->op, c->img_file, s->buf + s->done,
					     r->length - s->done, r->offset + s->done, fua,
					     s->buf_idx);
	if (r->type == NBD_CMD_READ)
		return vp_engine_read(&c->w->eng, &s->op, c->img_file, s->buf + s->done,
				      r->length - s->done, r->offset + s->done);
	return vp_engine_write(&c->w->eng, &s->op, c->img_file, s->buf + s->done,
			       r->length - s->done, r->offset + s->done, fua);
}

static int slot_falloc(struct nbd_slot *s, enum slot_step step)
{
	static const int modes[] = {
		[STEP_ZERO_RANGE] = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		[STEP_PUNCH] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		[STEP_PUNCH_ALLOC] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		[STEP_ALLOC] = 0,
	};

	s->step = step;
	return vp_engine_fallocate(&s->c->w->eng, &s->op, s->c->img_file, modes[step],
				   s->req.offset, s->req.length);
}

/* Start the first operation of a checked request; 0 or -errno (the caller
 * replies with the error). */
static int slot_start(struct nbd_slot *s)
{
	struct nbd_conn *c = s->c;
	const struct vp_nbd_request *r = &s->req;
	int ret;

	s->done = s->streamed; /* a WRITE's data spliced into the image already */
	s->step = STEP_IO;
	switch (r->type) {
	case NBD_CMD_READ:
		if (s->splice) { /* the data is taken from the image when sent */
			slot_reply(s);
			return 1;
		}
		return slot_data_io(s);
	case NBD_CMD_WRITE:
		if (s->done < r->length)
			return slot_data_io(s);
		s->step = STEP_SYNC; /* spliced into the image: FUA still syncs */
		if (r->flags & NBD_CMD_FLAG_FUA)
			return vp_engine_fdatasync(&c->w->eng, &s->op, c->img_file);
		slot_reply(s);
		return 1;
	case NBD_CMD_FLUSH:
		return vp_engine_fdatasync(&c->w->eng, &s->op, c->img_file);
	case NBD_CMD_CACHE:
		return vp_engine_fadvise(&c->w->eng, &s->op, c->img_file, r->offset, r->length,
					 POSIX_FADV_WILLNEED);
	case NBD_CMD_TRIM:
		return slot_falloc(s, STEP_PUNCH);
	case NBD_CMD_WRITE_ZEROES:
		return slot_falloc(s, (r->flags & NBD_CMD_FLAG_NO_HOLE) ? STEP_ZERO_RANGE : STEP_PUNCH);
	default: /* BLOCK_STATUS: lseek on the image, answered at once */
		ret = vp_nbd_block_status(c->img, r->offset, r->length, s->buf,
					  (r->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : VP_NBD_MAX_EXTENTS);
		if (ret < 0)
			return ret;
		s->done = (uint32_t)ret;
		slot_reply(s);
		return 1;
	}
}

static void slot_exec(struct nbd_slot *s)
{
	int ret;

	if (s->nbd_err || (s->req.length == 0 && s->req.type != NBD_CMD_FLUSH)) {
		slot_reply(s); /* refused, or nothing to do */
		return;
	}
	ret = slot_start(s);
	if (ret < 0)
		slot_fail(s, -ret);
	else if (ret == 0)
		s->c->inflight++;
}

/* The next step of s after an operation returned res; 0 when queued, 1 when
 * the request is complete, -errno on failure. */
static int slot_step(struct nbd_slot *s, int res)
{
	bool fua = s->req.flags & NBD_CMD_FLAG_FUA;

	switch (s->step) {
	case STEP_IO:
		if (res < 0)
			return res;
		if (s->req.type != NBD_CMD_READ && s->req.type != NBD_CMD_WRITE)
			return 1;
		if (res == 0)
			return -EIO; /* the image shrank under us */
		s->done += (uint32_t)res;
		return s->done < s->req.length ? slot_data_io(s) : 1;
	case STEP_ZERO_RANGE:
		if (res == -EOPNOTSUPP) /* e.g. tmpfs: punch, then allocate */
			return slot_falloc(s, STEP_PUNCH_ALLOC);
		break;
	case STEP_PUNCH_ALLOC:
		if (res == 0)
			return slot_falloc(s, STEP_ALLOC);
		break;
	case STEP_PUNCH:
		if (res == -EOPNOTSUPP && s->req.type == NBD_CMD_TRIM)
			res = 0; /* TRIM is advisory */
		break;
	case STEP_ALLOC:
		break;
	case STEP_SYNC:
		return res < 0 ? res : 1;
	}
	if (res < 0)
		return res;
	if (!fua)
		return 1;
	s->step = STEP_SYNC;
	return vp_engine_fdatasync(&s->c->w->eng, &s->op, s->c->img_file);
}

static void on_disk(struct vp_engine_op *op, int res)
{
	struct nbd_slot *s = container_of(op, struct nbd_slot, op);
	struct nbd_conn *c = s->c;
	int ret;

	c->inflight--;
	if (c->dead) {
		slot_put(c, s);
	} else {
		ret = slot_step(s, res);
		if (ret == 0)
			c->inflight++;
		else if (ret < 0)
			slot_fail(s, -ret);
		else
			slot_reply(s);
	}
	conn_settle(c);
}

/* Post the connection's one receive: straight into rx_slot's buffer for
 * the rest of a large WRITE payload (unless rx_splice takes it), else into
 * the input buffer (after moving what is left of a partial header to its
 * start). */
static void rx_post(struct nbd_conn *c, bool direct)
{
	struct nbd_slot *s = c->rx_slot;
	uint32_t left = c->in_tail - c->in_head;
	int ret;

	if (direct) {
		ret = vp_engine_recv(&c->w->eng, &c->recv_op, c->file, s->buf + c->pay_got,
				     s->payload - c->pay_got, MSG_WAITALL);
	} else {
		memmove(c->in, c->in + c->in_head, left);
		c->in_head = 0;
		c->in_tail = left;
		ret = vp_engine_recv(&c->w->eng, &c->recv_op, c->file, c->in + left, IN_BUF - left, 0);
	}
	if (ret) {
		conn_drop(c, "submission-queue-full");
		return;
	}
	c->rx_direct = direct;
	c->inflight++;
	c->rx_pending = true;
}

/* Move n bytes of WRITE data from wpipe into the image after what s has
 * written so far.  If the image refuses them, the error is kept for the
 * reply and the bytes are read out of the pipe and dropped.  0, or -1 when
 * the pipe itself failed (c must be dropped). */
static int wpipe_drain(struct nbd_conn *c, struct nbd_slot *s, uint32_t n)
{
	while (n) {
		loff_t off = (loff_t)(s->req.offset + s->streamed);
		ssize_t m = s->nbd_err ? -1 : splice(c->wpipe[0], NULL, c->mem_fd, &off, n, 0);

		if (m > 0) {
			s->streamed += (uint32_t)m;
		} else {
			if (!s->nbd_err)
				s->nbd_err = vp_nbd_errno(m < 0 ? errno : ENOSPC);
			m = read(c->wpipe[0], s->buf, n); /* n <= payload <= s->cap */
			if (m <= 0)
				return -1;
		}
		n -= (uint32_t)m;
	}
	return 0;
}

/* Take the rest of rx_slot's data from the socket into the image through
 * wpipe: the pages move by reference, so the image copy is the only one
 * (recv + pwrite made two).  What the input buffer held is written first.
 * True when the data is complete; false when it waits for the socket to be
 * readable (the poll is posted) or c was dropped. */
static bool rx_splice(struct nbd_conn *c, struct nbd_slot *s)
{
	if (c->pay_got && s->streamed == 0) {
		ssize_t n = pwrite(c->mem_fd, s->buf, c->pay_got, (off_t)s->req.offset);

		if (n != (ssize_t)c->pay_got) /* short on tmpfs: out of space */
			s->nbd_err = vp_nbd_errno(n < 0 ? errno : ENOSPC);
		s->streamed = c->pay_got;
	}
	while (c->pay_got < s->payload) {
		uint32_t want = s->payload - c->pay_got;
		bool readable = c->rx_readable;
		ssize_t n = -1;
		int queued;

		/* TCP ignores SPLICE_F_NONBLOCK on a blocking socket and would
		 * wait for data in tcp_splice_read, stalling every connection of
		 * this worker: splice only once the socket is known readable
		 * (the poll said so, or FIONREAD counts bytes). */
		c->rx_readable = false;
		if (!readable && ioctl(c->fd, FIONREAD, &queued) == 0 && queued > 0)
			readable = true;
		if (want > c->wpipe_cap)
			want = c->wpipe_cap;
		if (readable)
			n = splice(c->fd, NULL, c->wpipe[1], NULL, want, SPLICE_F_NONBLOCK);
		else
			errno = EAGAIN;
		if (n < 0 && errno == EAGAIN) {
			if (vp_engine_poll_in(&c->w->eng, &c->poll_op, c->file)) {
				conn_drop(c, "submission-queue-full");
				return false;
			}
			c->inflight++;
			c->rx_pending = c->rx_polling = true;
			return false;
		}
		if (n <= 0) {
			conn_drop(c, n == 0 ? "truncated-message" : "recv-error");
			return false;
		}
		c->pay_got += (uint32_t)n;
		if (wpipe_drain(c, s, (uint32_t)n)) {
			conn_drop(c, "splice-error");
			return false;
		}
	}
	return true;
}

static void on_rx_poll(struct vp_engine_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, poll_op);

	c->inflight--;
	c->rx_pending = c->rx_polling = false;
	if (c->dead)
		;
	else if (res < 0)
		conn_drop(c, res == -ECANCELED ? "shutdown" : "recv-error");
	else {
		c->rx_readable = true; /* data, or EOF: splice will not wait */
		rx_process(c);
	}
	conn_settle(c);
}

/* Move buffered WRITE data into rx_slot and execute it once complete.
 * False when more data must be received first (the receive is posted). */
static bool rx_payload(struct nbd_conn *c)
{
	struct nbd_slot *s = c->rx_slot;
	uint32_t n = c->in_tail - c->in_head, want = s->payload - c->pay_got;

	if (n > want)
		n = want;
	memcpy(s->buf + c->pay_got, c->in + c->in_head, n);
	c->in_head += n;
	c->pay_got += n;
	if (c->pay_got < s->payload && c->wpipe[0] >= 0 && !s->nbd_err &&
	    s->payload - c->pay_got >= DIRECT_RECV_MIN) {
		if (!rx_splice(c, s))
			return false;
	} else if (c->pay_got < s->payload) {
		rx_post(c, s->payload - c->pay_got >= DIRECT_RECV_MIN);
		return false;
	}
	c->rx_slot = NULL;
	slot_exec(s);
	return true;
}

/* Bytes of buffer request s needs: its WRITE data, READ data or extents;
 * decides whether a READ splices (then it needs none). */
static size_t slot_need(struct nbd_slot *s)
{
	s->splice = false;
	if (s->payload)
		return s->payload;
	if (s->nbd_err)
		return 0;
	if (s->req.type == NBD_CMD_READ) {
		s->splice = s->c->pipe[0] >= 0 && s->req.length >= SPLICE_MIN;
		return s->splice ? 0 : s->req.length;
	}
	return s->req.type == NBD_CMD_BLOCK_STATUS ? 8 * VP_NBD_MAX_EXTENTS : 0;
}

/* Give the parsed request s its buffer, then receive its data or execute
 * it.  False when it must wait for memory (c->wait_slot) or c was dropped. */
static bool rx_admit(struct nbd_conn *c, struct nbd_slot *s)
{
	int ret = slot_reserve(c, s, slot_need(s));

	c->wait_slot = ret == -EAGAIN ? s : NULL;
	if (ret == -EAGAIN)
		return false;
	if (ret && s->payload) { /* data we cannot hold cannot be skipped either */
		slot_put(c, s);
		conn_drop(c, "out-of-memory");
		return false;
	}
	if (ret) {
		slot_fail(s, -ret);
	} else if (s->payload) {
		c->rx_slot = s;
		c->pay_got = 0;
	} else {
		slot_exec(s);
	}
	return true;
}

/* Parse the request header at the head of the input into a free slot.
 * NULL when there is nothing to admit (DISC, or c was dropped). */
static struct nbd_slot *rx_header(struct nbd_conn *c)
{
	struct nbd_slot *s = c->free_slots;
	const char *bad = NULL;

	c->free_slots = s->next;
	c->busy++;
	s->streamed = 0;
	if (c->stats)
		s->t0 = now_ns();
	if (vp_nbd_request_parse(c->in + c->in_head, &s->req))
		bad = "bad-request-magic";
	else if (vp_nbd_request_check(&s->req, &c->lim, &s->payload, &s->nbd_err))
		bad = "oversized-write";
	c->in_head += NBD_REQUEST_SIZE;
	if (!bad && (s->req.type != NBD_CMD_DISC || s->nbd_err))
		return s;
	slot_put(c, s);
	if (bad)
		conn_drop(c, bad);
	else
		c->rx_stopped = true;
	return NULL;
}

/* Whether c's export was removed from the table; the first time it
 * notices (here or in on_kick, whichever runs first), log the drain. */
static bool conn_export_gone(struct nbd_conn *c)
{
	if (!c->entry || !vp_nbd_entry_removed(c->entry))
		return false;
	if (!c->export_gone)
		event(c->w, "nbd.conn.drain", "conn=%u reason=export-removed", c->id);
	c->export_gone = true;
	return true;
}

/* Consume the input: WRITE data, then as many request headers as are
 * complete, while slots and memory last; post a receive when it runs out.
 * Runs after each receive and whenever slots are released. */
static void rx_process(struct nbd_conn *c)
{
	while (!c->dead && !c->rx_pending) {
		struct nbd_slot *s;

		if (c->rx_slot) {
			if (!rx_payload(c))
				return;
			continue;
		}
		if (c->wait_slot) {
			if (!rx_admit(c, c->wait_slot))
				return;
			continue;
		}
		if (c->w->draining || conn_export_gone(c))
			c->rx_stopped = true;
		if (c->rx_stopped || !c->free_slots)
			return;
		if (c->in_tail - c->in_head < NBD_REQUEST_SIZE) {
			rx_post(c, false);
			return;
		}
		s = rx_header(c);
		if (s && !rx_admit(c, s))
			return;
	}
}

static void on_tx_recv(struct vp_engine_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, recv_op);
	bool between = !c->rx_slot && c->in_tail == c->in_head;

	c->inflight--;
	c->rx_pending = false;
	if (c->dead)
		;
	else if ((res == -ECANCELED || res == 0) && between)
		c->rx_stopped = true; /* drain, or the client left between requests */
	else if (res < 0)
		conn_drop(c, res == -ECANCELED ? "shutdown" : "recv-error");
	else if (res == 0)
		conn_drop(c, "truncated-message");
	else if (c->rx_direct)
		c->pay_got += (uint32_t)res;
	else
		c->in_tail += (uint32_t)res;
	if (res > 0 && !c->dead)
		rx_process(c);
	conn_settle(c);
}

/* Table mode: attach c to its export and register the image on this ring
 * for the connection's lifetime.  0, or -errno (c must be dropped). */
static int tx_attach(struct nbd_conn *c, const struct vp_nbd_export *e)
{
	int file;

	vp_nbd_entry_attach(e->entry, 1);
	if (vp_nbd_entry_removed(e->entry)) {
		vp_nbd_entry_attach(e->entry, -1);
		return -ENOENT;
	}
	file = vp_engine_file_add(&c->w->eng, e->img->fd);
	if (file < 0) {
		vp_nbd_entry_attach(e->entry, -1);
		return file;
	}
	c->entry = e->entry;
	c->img_file = file;
	return 0;
}

/* A non-blocking pipe of up to PIPE_SIZE bytes; 0, or -1 with p unset. */
static int pipe_open(int p[2], uint32_t *cap)
{
	int size;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		p[0] = p[1] = -1;
		return -1;
	}
	(void)fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE); /* else the default size */
	size = fcntl(p[1], F_GETPIPE_SZ);
	*cap = size > 0 ? (uint32_t)size : 4096U;
	return 0;
}

/* Set up the pipes that large READs and WRITEs splice through when the
 * image is memory-backed (splicing from other files could block the
 * worker); without them, data is copied as usual. */
static void tx_pipe_open(struct nbd_conn *c)
{
	c->mem_fd = vp_engine_mem_fd(&c->w->eng, c->img_file);
	if (c->mem_fd >= 0 && pipe_open(c->pipe, &c->pipe_cap) == 0)
		(void)pipe_open(c->wpipe, &c->wpipe_cap);
}

static void tx_start(struct nbd_conn *c)
{
	const struct vp_nbd_export *e = c->hs.chosen;

	if (c->snap && tx_attach(c, e)) {
		conn_drop(c, "export-removed-or-file-table-full");
		return;
	}
	if (!c->snap)
		c->img_file = c->w->img_files[e - c->w->cfg.exports];
	c->img = e->img;
	c->stats = e->stats;
	c->lim = (struct vp_nbd_limits){
		.size = e->img->size,
		.min_block = e->img->min_block,
		.readonly = e->img->readonly,
		.structured = c->hs.structured,
		.meta_alloc = c->hs.meta_alloc,
	};
	c->in = malloc(IN_BUF);
	if (!c->in) {
		conn_drop(c, "out-of-memory");
		return;
	}
	c->in_tx = true;
	c->recv_op.done = on_tx_recv;
	c->poll_op.done = on_rx_poll;
	c->splice_op.done = on_splice;
	tx_pipe_open(c);
	vp_nbd_buf_free(&c->hs_out);
	c->reg_bufs = e->img->direct && c->mem_fd < 0 && c->w->eng.nbufs;
	for (unsigned i = 0; i < CONN_SLOTS; i++) {
		c->slots[i].c = c;
		c->slots[i].op.done = on_disk;
		c->slots[i].next = c->free_slots;
		c->free_slots = &c->slots[i];
	}
	event(c->w, "nbd.conn.ready", "conn=%u export=%s structured=%d", c->id, e->name,
	      c->lim.structured);
	rx_process(c);
}

/* ---- worker ---- */

static void conn_new(struct vp_nbd_worker *w, int fd)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c) {
		close(fd);
		event(w, "nbd.conn.refused", "reason=out-of-memory");
		return;
	}
	c->file = vp_engine_file_add(&w->eng, fd);
	if (c->file < 0) {
		close(fd);
		free(c);
		event(w, "nbd.conn.refused", "reason=file-table-full");
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on unix sockets */
	c->w = w;
	c->fd = fd;
	for (unsigned i = 0; i < CONN_SLOTS; i++)
		c->slots[i].buf_idx = -1;
	c->mem_fd = c->pipe[0] = c->pipe[1] = c->wpipe[0] = c->wpipe[1] = -1;
	c->id = ++w->next_id;
	c->recv_op.done = on_recv;
	c->send_op.done = on_send;
	c->hs.exports = w->cfg.exports;
	c->hs.n_exports = w->cfg.n_exports;
	if (w->cfg.table) {
		c->snap = vp_nbd_table_acquire(w->cfg.table);
		c->hs.exports = c->snap->exports;
		c->hs.n_exports = c->snap->n;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	event(w, "nbd.conn.open", "conn=%u", c->id);
	vp_nbd_hs_greeting(c->hs_small);
	c->hs_iov = (struct iovec){ c->hs_small, NBD_GREETING_SIZE };
	conn_sendv(c, &c->hs_iov, 1, hs_read_flags);
	conn_settle(c);
}

static void post_accept(struct vp_nbd_worker *w)
{
	if (vp_engine_accept(&w->eng, &w->accept_op, w->cfg.listen_fd) == 0)
		w->accept_pending = true;
}

static void on_accept(struct vp_engine_op *op, int res)
{
	struct vp_nbd_worker *w = container_of(op, struct vp_nbd_worker, accept_op);

	w->accept_pending = false;
	if (res >= 0 && w->draining)
		close(res);
	else if (res >= 0)
		conn_new(w, res);
	else if (res != -ECANCELED)
		event(w, "nbd.accept.error", "errno=%d", -res);
	if (!w->draining)
		post_accept(w);
}

/* Stop taking requests on c; those already received finish and are
 * answered, then c closes. */
static void conn_drain(struct nbd_conn *c)
{
	if (!c->in_tx)
		conn_drop(c, "shutdown");
	else if (c->rx_pending && !c->rx_slot)
		(void)vp_engine_cancel(&c->w->eng, &c->recv_op);
	else
		c->rx_stopped = true; /* a WRITE's data: finish it first */
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
	for (struct nbd_conn *c = w->conns; c; c = c->next)
		conn_drain(c);
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
		if (!c->dead && conn_export_gone(c)) {
			conn_drain(c);
			conn_settle(c);
		}
	}
	if (!w->draining)
		post_kick(w);
}

int vp_nbd_worker_new(const struct vp_nbd_server_config *cfg, struct vp_nbd_worker **out,
		      struct vp_error *err)
{
	struct vp_nbd_worker *w;
	int ret;

	*out = NULL;
	if (cfg->conn_mem && cfg->conn_mem < VP_NBD_CONN_MEM_MIN)
		return vp_error_set(err, EINVAL, "nbd worker: conn_mem %zu below the minimum %u",
				    cfg->conn_mem, VP_NBD_CONN_MEM_MIN);
	w = calloc(1, sizeof(*w));
	if (!w || !(w->img_files = calloc(cfg->n_exports ? cfg->n_exports : 1, sizeof(int)))) {
		free(w);
		return vp_error_set(err, ENOMEM, "nbd worker");
	}
	w->cfg = *cfg;
	w->efd = -1;
	w->conn_mem = cfg->conn_mem ? cfg->conn_mem : VP_NBD_CONN_MEM_DEFAULT;
	w->kick_fd = -1;
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
	post_accept(w);
	if (!w->accept_pending)
		return vp_error_set(err, EBUSY, "nbd worker: queue accept");
	while (!w->draining || w->nconns || w->accept_pending || w->stop_pending || w->kick_pending) {
		int ret = vp_engine_run_once(&w->eng);
		struct nbd_conn *c;

		if (ret)
			return vp_error_set(err, -ret, "nbd worker: io_uring wait");
		while ((c = w->dirty)) {
			w->dirty = c->dirty_next;
			c->dirty = false;
			tx_flush(c);
			conn_settle(c);
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
	free(w->img_files);
	free(w);
}

/* ---- listening sockets ---- */

static int listen_unix(const char *path, int *fd, struct vp_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int s;

	if (strlen(path) >= sizeof(sa.sun_path) || !*path)
		return vp_error_set(err, ENAMETOOLONG, "unix socket path '%s'", path);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* stale socket from an earlier run */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return vp_error_set(err, errno, "unix socket");
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 128) < 0) {
		int e = errno;

		close(s);
		return vp_error_set(err, e, "listen on unix:%s", path);
	}
	*fd = s;
	return 0;
}

static int listen_tcp(const char *hostport, int *fd, struct vp_error *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
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
	ret = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
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

int vp_nbd_listen(const char *spec, int *fd, struct vp_error *err)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return listen_unix(spec + 5, fd, err);
	if (strncmp(spec, "tcp:", 4) == 0)
		return listen_tcp(spec + 4, fd, err);
	return vp_error_set(err, EINVAL, "listen address '%s': expected unix:PATH or tcp:HOST:PORT",
			    spec);
}
