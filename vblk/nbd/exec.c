/* exec.c - running an admitted NBD request: READ, WRITE, FLUSH, TRIM and
 * WRITE_ZEROES go to the shared block-request layer (vblk/blkreq.h) with
 * the NBD flags translated, CACHE is an fadvise, BLOCK_STATUS is answered
 * at once; the reply is queued (tx.c) when the request completes.
 */
#include "vblk/nbd/conn.h"

#include <errno.h>
#include <fcntl.h>

/* The request s ended with res (0 or -errno): reply, or just release the
 * slot when c died meanwhile. */
static void slot_finished(struct nbd_slot *s, int res)
{
	struct nbd_conn *c = s->c;

	c->inflight--;
	if (c->dead)
		vp_nbd_slot_put(c, s);
	else if (res < 0)
		vp_nbd_slot_fail(s, -res);
	else
		vp_nbd_slot_reply(s);
	vp_nbd_conn_settle(c);
}

static void on_blkreq(struct vp_blkreq *b, int res)
{
	slot_finished(container_of(b, struct nbd_slot, blk), res);
}

void vp_nbd_exec_on_disk(struct vp_engine_op *op, int res)
{
	slot_finished(container_of(op, struct nbd_slot, op), res < 0 ? res : 0);
}

/* Hand s to the block-request layer as a request of type with the NBD
 * request flags translated. */
static int slot_blkreq(struct nbd_slot *s, enum vp_blkreq_type type)
{
	struct nbd_conn *c = s->c;
	const struct vp_nbd_request *r = &s->req;
	struct vp_blkreq *b = &s->blk;

	b->eng = &c->w->eng;
	b->img = c->img;
	b->file = c->img_file;
	b->done = on_blkreq;
	b->type = type;
	b->flags = (r->flags & NBD_CMD_FLAG_FUA) ? VP_BLKREQ_FUA : 0;
	if (type == VP_BLKREQ_WRITE_ZEROES) {
		if (!(r->flags & NBD_CMD_FLAG_NO_HOLE))
			b->flags |= VP_BLKREQ_MAY_UNMAP;
		if (r->flags & NBD_CMD_FLAG_FAST_ZERO)
			b->flags |= VP_BLKREQ_FAST_ZERO;
	}
	b->offset = r->offset;
	b->len = r->length;
	b->buf = s->buf;
	b->buf_idx = s->buf_idx;
	b->iov = NULL;
	b->iovcnt = 0;
	return vp_blkreq_start(b);
}

/* Start a checked request: 0 when queued, 1 when answered at once, or
 * -errno (the caller replies with the error). */
static int slot_start(struct nbd_slot *s)
{
	struct nbd_conn *c = s->c;
	const struct vp_nbd_request *r = &s->req;
	int ret;

	switch (r->type) {
	case NBD_CMD_READ:
		if (s->splice) /* the data is taken from the image when sent */
			return 1;
		return slot_blkreq(s, VP_BLKREQ_READ);
	case NBD_CMD_WRITE:
		return slot_blkreq(s, VP_BLKREQ_WRITE);
	case NBD_CMD_FLUSH:
		return slot_blkreq(s, VP_BLKREQ_FLUSH);
	case NBD_CMD_TRIM:
		return slot_blkreq(s, VP_BLKREQ_DISCARD);
	case NBD_CMD_WRITE_ZEROES:
		return slot_blkreq(s, VP_BLKREQ_WRITE_ZEROES);
	case NBD_CMD_CACHE:
		return vp_engine_fadvise(&c->w->eng, &s->op, c->img_file, r->offset, r->length,
					 POSIX_FADV_WILLNEED);
	default: /* BLOCK_STATUS: lseek on the image, answered at once */
		ret = vp_nbd_block_status(c->img, r->offset, r->length, s->buf,
					  (r->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : VP_NBD_MAX_EXTENTS);
		if (ret < 0)
			return ret;
		s->done = (uint32_t)ret;
		return 1;
	}
}

void vp_nbd_slot_exec(struct nbd_slot *s)
{
	int ret;

	if (s->nbd_err || (s->req.length == 0 && s->req.type != NBD_CMD_FLUSH)) {
		vp_nbd_slot_reply(s); /* refused, or nothing to do */
		return;
	}
	ret = slot_start(s);
	if (ret < 0)
		vp_nbd_slot_fail(s, -ret);
	else if (ret == 0)
		s->c->inflight++;
	else
		vp_nbd_slot_reply(s);
}
