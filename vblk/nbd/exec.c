/* exec.c - running an admitted NBD request on the image through the
 * worker's ring: read/write (resumed after short I/O), flush, cache,
 * TRIM and WRITE_ZEROES as fallocate steps, FUA as a final sync,
 * BLOCK_STATUS answered at once; the reply is queued (tx.c) when the last
 * step completes.
 */
#include "vblk/nbd/conn.h"

#include <errno.h>
#include <fcntl.h>

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

	s->done = 0;
	s->step = STEP_IO;
	if (r->type == NBD_CMD_FLUSH || (r->flags & NBD_CMD_FLAG_FUA)) {
		ret = vp_image_wb_error(c->img); /* data was lost: no sync can succeed */
		if (ret)
			return ret;
	}
	switch (r->type) {
	case NBD_CMD_READ:
		if (s->splice) { /* the data is taken from the image when sent */
			vp_nbd_slot_reply(s);
			return 1;
		}
		return slot_data_io(s);
	case NBD_CMD_WRITE:
		return slot_data_io(s);
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
		vp_nbd_slot_reply(s);
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
}

/* The next step of s after an operation returned res; 0 when queued, 1 when
 * the request is complete, -errno on failure. */
static int slot_step(struct nbd_slot *s, int res)
{
	bool fua = s->req.flags & NBD_CMD_FLAG_FUA;

	switch (s->step) {
	case STEP_IO:
		if (res < 0 && (s->req.type == NBD_CMD_FLUSH || (fua && res == -EIO)))
			vp_image_wb_fail(s->c->img, res);
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
		if (res < 0)
			vp_image_wb_fail(s->c->img, res);
		return res < 0 ? res : 1;
	}
	if (res < 0)
		return res;
	if (!fua)
		return 1;
	s->step = STEP_SYNC;
	return vp_engine_fdatasync(&s->c->w->eng, &s->op, s->c->img_file);
}

void vp_nbd_exec_on_disk(struct vp_engine_op *op, int res)
{
	struct nbd_slot *s = container_of(op, struct nbd_slot, op);
	struct nbd_conn *c = s->c;
	int ret;

	c->inflight--;
	if (c->dead) {
		vp_nbd_slot_put(c, s);
	} else {
		ret = slot_step(s, res);
		if (ret == 0)
			c->inflight++;
		else if (ret < 0)
			vp_nbd_slot_fail(s, -ret);
		else
			vp_nbd_slot_reply(s);
	}
	vp_nbd_conn_settle(c);
}
