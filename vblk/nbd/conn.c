/* conn.c - an NBD connection's life on its worker: accepted (new), drained
 * (stop, kick), dropped and freed once its last operation completed; its
 * one socket receive and one send at a time; its request slots and the
 * memory budget of their buffers.  The design is in conn.h.
 */
#include "vblk/nbd/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vblk/nbd/tls.h"

#define SLOT_MIN_BUF (64U << 10)
#define BUF_ALIGN 4096U

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
	atomic_fetch_sub(&w->shared->conns, 1);
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
	}
	for (unsigned i = 0; i < CONN_SLOTS; i++) {
		vp_engine_buf_del(&w->eng, c->slots[i].buf_idx);
		free(c->slots[i].buf);
	}
	atomic_fetch_sub(&w->shared->mem, c->mem);
	free(c->in);
	vp_nbd_buf_free(&c->hs_out);
	free(c->opt_data);
	free(c);
}

void vp_nbd_conn_drop(struct nbd_conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	vp_event(&c->w->cfg.events, "nbd.conn.close", "conn=%u reason=%s", c->id, why);
	shutdown(c->fd, SHUT_RDWR);
	if (c->rx_pending)
		(void)vp_engine_cancel(&c->w->eng, &c->recv_op);
	if (c->tx_pending)
		(void)vp_engine_cancel(&c->w->eng, c->splicing ? &c->splice_op : &c->send_op);
}

void vp_nbd_conn_settle(struct nbd_conn *c)
{
	if (!c->dead && c->in_tx && c->rx_stopped && c->busy == 0 && !c->tx_pending)
		vp_nbd_conn_drop(c, "disconnect");
	if (c->dead && c->inflight == 0 && !c->dirty)
		conn_free(c);
}

static void recv_more(struct nbd_conn *c)
{
	if (vp_engine_recv(&c->w->eng, &c->recv_op, c->file, c->rx_buf + c->rx_got,
			   c->rx_len - c->rx_got, MSG_WAITALL)) {
		vp_nbd_conn_drop(c, "submission-queue-full");
		return;
	}
	c->inflight++;
	c->rx_pending = true;
}

void vp_nbd_conn_recv(struct nbd_conn *c, void *buf, uint32_t len,
		      void (*then)(struct nbd_conn *))
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
		vp_nbd_conn_drop(c, res == -ECANCELED ? "shutdown" : "recv-error");
	else if (res == 0)
		vp_nbd_conn_drop(c, "truncated-message");
	else if ((c->rx_got += (uint32_t)res) < c->rx_len)
		recv_more(c);
	else
		c->rx_then(c);
	vp_nbd_conn_settle(c);
}

static void send_more(struct nbd_conn *c)
{
	if (vp_engine_sendmsg(&c->w->eng, &c->send_op, c->file, &c->msg)) {
		vp_nbd_conn_drop(c, "submission-queue-full");
		return;
	}
	c->inflight++;
	c->tx_pending = true;
	c->tx_since = c->w->now_ms; /* a store: the send timeout counts from the last progress */
}

void vp_nbd_conn_sendv(struct nbd_conn *c, struct iovec *iov, int cnt,
		       void (*then)(struct nbd_conn *))
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
		vp_nbd_conn_drop(c, "send-error");
	else if (msg_advance(&c->msg, (size_t)res))
		send_more(c);
	else
		c->tx_then(c);
	vp_nbd_conn_settle(c);
}

void vp_nbd_conn_new(struct vp_nbd_worker *w, int fd)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c || (c->file = vp_engine_file_add(&w->eng, fd)) < 0) {
		close(fd);
		atomic_fetch_sub(&w->shared->conns, 1);
		vp_event_limited(&w->cfg.events, &w->refused_log, "nbd.conn.refused", "reason=%s",
				 c ? "file-table-full" : "out-of-memory");
		free(c);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on unix sockets */
	c->w = w;
	c->fd = fd;
	for (unsigned i = 0; i < CONN_SLOTS; i++)
		c->slots[i].buf_idx = -1;
	c->mem_fd = c->pipe[0] = c->pipe[1] = -1;
	c->id = ++w->next_id;
	c->opened = w->now_ms;
	c->recv_op.done = on_recv;
	c->send_op.done = on_send;
	c->hs.exports = w->cfg.exports;
	c->hs.n_exports = w->cfg.n_exports;
	c->hs.tls_mode = vp_nbd_tls_mode(w->cfg.tls);
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
	vp_event(&w->cfg.events, "nbd.conn.open", "conn=%u", c->id);
	vp_nbd_negotiate_start(c);
	vp_nbd_conn_settle(c);
}

void vp_nbd_conn_drain(struct nbd_conn *c)
{
	if (!c->in_tx)
		vp_nbd_conn_drop(c, "shutdown");
	else if (c->rx_pending && !c->rx_slot)
		(void)vp_engine_cancel(&c->w->eng, &c->recv_op);
	else
		c->rx_stopped = true; /* a WRITE's data: finish it first */
}

bool vp_nbd_conn_export_gone(struct nbd_conn *c)
{
	if (!c->entry || !vp_nbd_entry_removed(c->entry))
		return false;
	if (!c->export_gone) {
		vp_event(&c->w->cfg.events, "nbd.conn.drain", "conn=%u reason=export-removed", c->id);
		c->drain_since = c->w->now_ms;
	}
	c->export_gone = true;
	return true;
}

/* Whether the daemon's slot buffers take more than half its budget: then
 * released slots give their large buffers back instead of keeping them. */
static bool mem_pressure(const struct vp_nbd_worker *w)
{
	return atomic_load_explicit(&w->shared->mem, memory_order_relaxed) > w->cfg.limits.mem_max / 2;
}

static void slot_drop_buf(struct nbd_conn *c, struct nbd_slot *s)
{
	vp_engine_buf_del(&c->w->eng, s->buf_idx);
	s->buf_idx = -1;
	c->mem -= s->cap;
	atomic_fetch_sub(&c->w->shared->mem, s->cap);
	free(s->buf);
	s->buf = NULL;
	s->cap = 0;
}

void vp_nbd_slot_put(struct nbd_conn *c, struct nbd_slot *s)
{
	c->unsent -= s->unsent;
	s->unsent = 0;
	if (s->cap > SLOT_MIN_BUF && mem_pressure(c->w))
		slot_drop_buf(c, s);
	s->next = c->free_slots;
	c->free_slots = s;
	c->busy--;
}

/* Take len bytes of the daemon's budget, freeing c's idle buffers first if
 * needed.  False when other connections hold it. */
static bool daemon_mem_take(struct nbd_conn *c, size_t len)
{
	struct vp_nbd_shared_count *sh = c->w->shared;
	uint64_t max = c->w->cfg.limits.mem_max;

	for (struct nbd_slot *f = c->free_slots; f; f = f->next) {
		if (atomic_fetch_add(&sh->mem, len) + len <= max)
			return true;
		atomic_fetch_sub(&sh->mem, len);
		if (f->cap)
			slot_drop_buf(c, f);
	}
	if (atomic_fetch_add(&sh->mem, len) + len <= max)
		return true;
	atomic_fetch_sub(&sh->mem, len);
	return false;
}

/* The READ data s's reply carries (what counts against unsent_max). */
static uint32_t reply_data(const struct nbd_slot *s)
{
	return s->req.type == NBD_CMD_READ && !s->nbd_err ? s->req.length : 0;
}

static int slot_buf_reserve(struct nbd_conn *c, struct nbd_slot *s, size_t len)
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
	if (!daemon_mem_take(c, len))
		return -EAGAIN;
	if (posix_memalign(&p, BUF_ALIGN, len)) {
		atomic_fetch_sub(&c->w->shared->mem, len);
		return -ENOMEM;
	}
	s->buf = p;
	s->cap = len;
	c->mem += len;
	/* Unregistered (table full, memlock limit): plain I/O. */
	s->buf_idx = c->reg_bufs ? vp_engine_buf_add(&c->w->eng, p, len) : -1;
	return 0;
}

int vp_nbd_slot_reserve(struct nbd_conn *c, struct nbd_slot *s, size_t len)
{
	uint32_t data = reply_data(s);
	int ret;

	if (c->unsent && c->unsent + data > c->w->cfg.limits.unsent_max)
		return -EAGAIN; /* released as replies go out */
	ret = slot_buf_reserve(c, s, len);
	if (ret == 0) {
		s->unsent = data;
		c->unsent += data;
	}
	return ret;
}
