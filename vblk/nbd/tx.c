/* tx.c - the reply path of an NBD connection: a completed request's reply
 * is encoded (simple or structured) and queued; after each batch of
 * completions the queued replies leave in one sendmsg, and the data of a
 * large READ from a memory-backed image follows its header by splice
 * (image -> pipe -> socket) instead of a copy.  Released slots let the
 * receive path go on.
 */
#include "vblk/nbd/conn.h"

#include <fcntl.h>

#include "vblk/stats.h"

static void tx_sent(struct nbd_conn *c);

/* Have vp_nbd_tx_flush run for c once the current batch of completions is
 * dispatched, so that one sendmsg carries all the replies it made ready. */
static void conn_mark(struct nbd_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->w->dirty;
	c->w->dirty = c;
}

void vp_nbd_tx_flush(struct nbd_conn *c)
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
	vp_nbd_conn_sendv(c, c->tx_iov, n, tx_sent);
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
			vp_nbd_conn_drop(c, n == 0 ? "image-shrank" : "splice-error");
			return;
		}
		c->pipe_fill = (uint32_t)n;
		c->splice_off += (uint64_t)n;
	}
	if (vp_engine_splice(&c->w->eng, &c->splice_op, c->pipe[0], c->file, c->pipe_fill)) {
		vp_nbd_conn_drop(c, "submission-queue-full");
		return;
	}
	c->inflight++;
	c->tx_pending = true;
	c->tx_since = c->w->now_ms;
	c->splicing = true;
}

void vp_nbd_tx_on_splice(struct vp_engine_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, splice_op);

	c->inflight--;
	c->tx_pending = false;
	c->splicing = false;
	if (c->dead) {
		;
	} else if (res <= 0) {
		vp_nbd_conn_drop(c, "send-error");
	} else {
		c->pipe_fill -= (uint32_t)res;
		c->splice_left -= (uint32_t)res;
		if (c->splice_left)
			splice_more(c); /* tx_sent again once it is all out */
		else
			tx_sent(c);
	}
	vp_nbd_conn_settle(c);
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
		vp_nbd_slot_put(c, s);
	}
	if (!c->sendq_head)
		c->sendq_tail = NULL;
	vp_nbd_tx_flush(c);
	vp_nbd_rx_process(c); /* slots (and maybe memory) were released */
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
			vp_nbd_now_ns() - s->t0, s->nbd_err != 0);
}

void vp_nbd_slot_reply(struct nbd_slot *s)
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
	c->active = c->w->now_ms; /* idle timeout: a store, no clock read */
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

void vp_nbd_slot_fail(struct nbd_slot *s, int err)
{
	s->nbd_err = vp_nbd_errno(err);
	vp_nbd_slot_reply(s);
}
