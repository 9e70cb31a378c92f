/* rx.c - the transmission receive path of an NBD connection: one receive
 * at a time into the input buffer, parsed into request headers and small
 * WRITE data; a large WRITE's data goes straight into its slot's buffer,
 * or from the socket through a pipe into a memory-backed image.  A request
 * admitted to a slot (with its buffer, within the memory budget) is
 * executed (exec.c).
 */
#include "vblk/nbd/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define DIRECT_RECV_MIN (16U << 10) /* WRITE data left over this skips the input buffer */
#define SPLICE_MIN (64U << 10)    /* READs from a memory-backed image this large splice */

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
		vp_nbd_conn_drop(c, "submission-queue-full");
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
				vp_nbd_conn_drop(c, "submission-queue-full");
				return false;
			}
			c->inflight++;
			c->rx_pending = c->rx_polling = true;
			return false;
		}
		if (n <= 0) {
			vp_nbd_conn_drop(c, n == 0 ? "truncated-message" : "recv-error");
			return false;
		}
		c->pay_got += (uint32_t)n;
		if (wpipe_drain(c, s, (uint32_t)n)) {
			vp_nbd_conn_drop(c, "splice-error");
			return false;
		}
	}
	return true;
}

void vp_nbd_rx_on_poll(struct vp_engine_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, poll_op);

	c->inflight--;
	c->rx_pending = c->rx_polling = false;
	if (c->dead)
		;
	else if (res < 0)
		vp_nbd_conn_drop(c, res == -ECANCELED ? "shutdown" : "recv-error");
	else {
		c->rx_readable = true; /* data, or EOF: splice will not wait */
		vp_nbd_rx_process(c);
	}
	vp_nbd_conn_settle(c);
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
	s->streamed = 0;
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
			rx_post(c, false);
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
	else if (c->rx_direct)
		c->pay_got += (uint32_t)res;
	else
		c->in_tail += (uint32_t)res;
	if (res > 0 && !c->dead)
		vp_nbd_rx_process(c);
	vp_nbd_conn_settle(c);
}
