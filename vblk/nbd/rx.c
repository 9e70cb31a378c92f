/* rx.c - the transmission receive path of an NBD connection: one receive
 * at a time into the input buffer, parsed into request headers and small
 * WRITE data; a large WRITE's data goes straight into its slot's buffer.
 * A request admitted to a slot (with its buffer, within the memory budget)
 * is executed (exec.c) once all of its data is in hand, so a client that
 * dies half-way through a WRITE leaves the image untouched.
 */
#include "vblk/nbd/conn.h"

#include <errno.h>
#include <string.h>

#define DIRECT_RECV_MIN (16U << 10) /* WRITE data left over this skips the input buffer */
#define SPLICE_MIN (64U << 10)    /* READs from a memory-backed image this large splice */

/* Post the connection's one receive: the rest of rx_slot's WRITE data
 * straight into the slot's buffer (RX_SLOT), or more input into the input
 * buffer (RX_INPUT, after moving what is left of a partial header to its
 * start). */
static void rx_post(struct nbd_conn *c, enum rx_target to)
{
	struct nbd_slot *s = c->rx_slot;
	uint32_t left = c->in_tail - c->in_head;
	int ret;

	if (to == RX_INPUT) {
		uint32_t room = IN_BUF - left;

		if (c->rx_header_only && left < NBD_REQUEST_SIZE)
			room = NBD_REQUEST_SIZE - left;
		memmove(c->in, c->in + c->in_head, left);
		c->in_head = 0;
		c->in_tail = left;
		ret = vp_engine_recv(&c->w->eng, &c->recv_op, c->file, c->in + left, room, 0);
	} else {
		ret = vp_engine_recv(&c->w->eng, &c->recv_op, c->file, s->buf + c->pay_got,
				     s->payload - c->pay_got, MSG_WAITALL);
	}
	if (ret) {
		vp_nbd_conn_drop(c, "submission-queue-full");
		return;
	}
	c->rx_to = to;
	c->inflight++;
	c->rx_pending = true;
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
	if (c->pay_got < s->payload) {
		rx_post(c, s->payload - c->pay_got < DIRECT_RECV_MIN ? RX_INPUT : RX_SLOT);
		return false;
	}
	c->rx_slot = NULL;
	vp_nbd_slot_exec(s);
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
	int ret = vp_nbd_slot_reserve(c, s, slot_need(s));

	c->rx_header_only = s->payload >= DIRECT_RECV_MIN;
	c->wait_slot = ret == -EAGAIN ? s : NULL;
	if (ret == -EAGAIN)
		return false;
	if (ret && s->payload) { /* data we cannot hold cannot be skipped either */
		vp_nbd_slot_put(c, s);
		vp_nbd_conn_drop(c, "out-of-memory");
		return false;
	}
	if (ret) {
		vp_nbd_slot_fail(s, -ret);
	} else if (s->payload) {
		c->rx_slot = s;
		c->pay_got = 0;
	} else {
		vp_nbd_slot_exec(s);
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
	if (c->stats)
		s->t0 = vp_nbd_now_ns();
	if (vp_nbd_request_parse(c->in + c->in_head, &s->req))
		bad = "bad-request-magic";
	else if (vp_nbd_request_check(&s->req, &c->lim, &s->payload, &s->nbd_err))
		bad = "oversized-write";
	c->in_head += NBD_REQUEST_SIZE;
	if (!bad && (s->req.type != NBD_CMD_DISC || s->nbd_err))
		return s;
	vp_nbd_slot_put(c, s);
	if (bad)
		vp_nbd_conn_drop(c, bad);
	else
		c->rx_stopped = true;
	return NULL;
}

void vp_nbd_rx_process(struct nbd_conn *c)
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
		if (c->w->draining || vp_nbd_conn_export_gone(c))
			c->rx_stopped = true;
		if (c->rx_stopped || !c->free_slots)
			return;
		if (c->in_tail - c->in_head < NBD_REQUEST_SIZE) {
			rx_post(c, RX_INPUT);
			return;
		}
		s = rx_header(c);
		if (s && !rx_admit(c, s))
			return;
	}
}

void vp_nbd_rx_on_recv(struct vp_engine_op *op, int res)
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
		vp_nbd_conn_drop(c, res == -ECANCELED ? "shutdown" : "recv-error");
	else if (res == 0)
		vp_nbd_conn_drop(c, "truncated-message");
	else if (c->rx_to == RX_INPUT)
		c->in_tail += (uint32_t)res;
	else
		c->pay_got += (uint32_t)res;
	if (res > 0 && !c->dead)
		vp_nbd_rx_process(c);
	vp_nbd_conn_settle(c);
}
