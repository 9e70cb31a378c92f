/* blkreq.c - a block request as a chain of engine operations (see
 * blkreq.h for the semantics). */
#include "vblk/blkreq.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stddef.h>
#include <string.h>

/* Zero buffers for WRITE_ZEROES without a cheaper way: never written, so
 * the pages stay the shared zero page; aligned for O_DIRECT. */
#define ZERO_CHUNK (1U << 20)
static unsigned char zero_chunk[ZERO_CHUNK] __attribute__((aligned(4096)));

enum step {
	STEP_IO,          /* READ/WRITE data, resumed after short I/O */
	STEP_FLUSH,
	STEP_DISCARD,
	STEP_PUNCH,       /* WRITE_ZEROES that may unmap */
	STEP_ZERO_RANGE,
	STEP_PUNCH_ALLOC, /* a file without ZERO_RANGE: punch, then allocate */
	STEP_ALLOC,
	STEP_ZERO_WRITE,  /* writing zero buffers */
	STEP_SYNC,        /* FUA after DISCARD or WRITE_ZEROES */
};

static const int falloc_modes[] = {
	[STEP_DISCARD] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	[STEP_PUNCH] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	[STEP_ZERO_RANGE] = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
	[STEP_PUNCH_ALLOC] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	[STEP_ALLOC] = 0,
};

/* Whether r must be durable when done (FUA means nothing to a READ). */
static bool fua(const struct vp_blkreq *r)
{
	return (r->flags & VP_BLKREQ_FUA) && r->type != VP_BLKREQ_READ;
}

/* Queue what is left of a READ or WRITE. */
static int queue_io(struct vp_blkreq *r)
{
	uint64_t off = r->offset + r->done_bytes;
	uint32_t len = (uint32_t)(r->len - r->done_bytes);
	bool read = r->type == VP_BLKREQ_READ;
	int dsync = fua(r) ? RWF_DSYNC : 0;
	unsigned char *p;

	if (!r->buf)
		return read ? vp_engine_readv(r->eng, &r->op, r->file, r->iov, r->iovcnt, off) :
			      vp_engine_writev(r->eng, &r->op, r->file, r->iov, r->iovcnt, off, dsync);
	p = r->buf + r->done_bytes;
	if (r->buf_idx >= 0)
		return read ? vp_engine_read_fixed(r->eng, &r->op, r->file, p, len, off, r->buf_idx) :
			      vp_engine_write_fixed(r->eng, &r->op, r->file, p, len, off, dsync,
						    r->buf_idx);
	return read ? vp_engine_read(r->eng, &r->op, r->file, p, len, off) :
		      vp_engine_write(r->eng, &r->op, r->file, p, len, off, dsync);
}

/* Drop n bytes from the front of r's iovecs (in place). */
static void iov_advance(struct vp_blkreq *r, uint64_t n)
{
	while (r->iovcnt && n >= r->iov->iov_len) {
		n -= r->iov->iov_len;
		r->iov++;
		r->iovcnt--;
	}
	if (r->iovcnt && n) {
		r->iov->iov_base = (char *)r->iov->iov_base + n;
		r->iov->iov_len -= n;
	}
}

/* A READ hit the end of the file: the rest reads as zeroes. */
static void zero_rest(struct vp_blkreq *r)
{
	if (r->buf) {
		memset(r->buf + r->done_bytes, 0, r->len - r->done_bytes);
		return;
	}
	for (unsigned i = 0; i < r->iovcnt; i++)
		memset(r->iov[i].iov_base, 0, r->iov[i].iov_len);
}

static int queue_falloc(struct vp_blkreq *r, enum step step)
{
	r->step = step;
	return vp_engine_fallocate(r->eng, &r->op, r->file, falloc_modes[step], r->offset, r->len);
}

/* Queue the next zero buffer of a WRITE_ZEROES written out. */
static int queue_zero_write(struct vp_blkreq *r)
{
	uint64_t left = r->len - r->done_bytes;

	r->step = STEP_ZERO_WRITE;
	return vp_engine_write(r->eng, &r->op, r->file, zero_chunk,
			       left < ZERO_CHUNK ? (uint32_t)left : ZERO_CHUNK, r->offset + r->done_bytes,
			       0);
}

static int queue_sync(struct vp_blkreq *r, enum step step)
{
	r->step = step;
	return vp_engine_fdatasync(r->eng, &r->op, r->file);
}

/* DISCARD or WRITE_ZEROES reached res: sync first when FUA. */
static int range_done(struct vp_blkreq *r, int res)
{
	if (res < 0)
		return res;
	return fua(r) ? queue_sync(r, STEP_SYNC) : 1;
}

/* WRITE_ZEROES: fallocate step r->step returned -EOPNOTSUPP; try the next
 * way down (blkreq.h). */
static int zero_fallback(struct vp_blkreq *r)
{
	bool fast = r->flags & VP_BLKREQ_FAST_ZERO, file = !r->img->blockdev;

	switch (r->step) {
	case STEP_PUNCH:
		return fast && !file ? -ENOTSUP : queue_falloc(r, STEP_ZERO_RANGE);
	case STEP_ZERO_RANGE:
		if (fast)
			return -ENOTSUP;
		/* a MAY_UNMAP request tried punching already */
		if (file && !(r->flags & VP_BLKREQ_MAY_UNMAP))
			return queue_falloc(r, STEP_PUNCH_ALLOC);
		return queue_zero_write(r);
	default: /* STEP_PUNCH_ALLOC, STEP_ALLOC */
		return queue_zero_write(r);
	}
}

/* The next operation of r after one returned res: 0 when queued, 1 when r
 * is complete, -errno when it failed. */
static int next_step(struct vp_blkreq *r, int res)
{
	switch ((enum step)r->step) {
	case STEP_IO:
		if (res < 0 && fua(r) && res == -EIO)
			vp_image_wb_fail(r->img, res);
		if (res < 0)
			return res;
		if (res == 0 && r->type == VP_BLKREQ_WRITE)
			return -EIO; /* cannot happen on a file or device; never spin */
		if (res == 0) { /* end of file: the image shrank under the request */
			zero_rest(r);
			return 1;
		}
		r->done_bytes += (uint64_t)res;
		if (r->done_bytes == r->len)
			return 1;
		if (!r->buf)
			iov_advance(r, (uint64_t)res);
		return queue_io(r);
	case STEP_FLUSH:
	case STEP_SYNC:
		if (res < 0)
			vp_image_wb_fail(r->img, res);
		return res < 0 ? res : 1;
	case STEP_DISCARD:
		return range_done(r, res == -EOPNOTSUPP ? 0 : res); /* advisory */
	case STEP_PUNCH:
	case STEP_ZERO_RANGE:
	case STEP_ALLOC:
		return res == -EOPNOTSUPP ? zero_fallback(r) : range_done(r, res);
	case STEP_PUNCH_ALLOC:
		if (res == -EOPNOTSUPP)
			return zero_fallback(r);
		return res < 0 ? res : queue_falloc(r, STEP_ALLOC);
	case STEP_ZERO_WRITE:
		if (res <= 0)
			return res < 0 ? res : -EIO;
		r->done_bytes += (uint64_t)res;
		return r->done_bytes < r->len ? queue_zero_write(r) : range_done(r, 0);
	}
	return -EINVAL;
}

static void on_op(struct vp_engine_op *op, int res)
{
	struct vp_blkreq *r = (struct vp_blkreq *)((char *)op - offsetof(struct vp_blkreq, op));
	int ret = next_step(r, res);

	if (ret != 0)
		r->done(r, ret < 0 ? ret : 0);
}

static int start_zeroes(struct vp_blkreq *r)
{
	if (r->flags & VP_BLKREQ_MAY_UNMAP)
		return queue_falloc(r, STEP_PUNCH);
	/* A block device zeroes a range by writing, unless it can punch. */
	if ((r->flags & VP_BLKREQ_FAST_ZERO) && r->img->blockdev)
		return -ENOTSUP;
	return queue_falloc(r, STEP_ZERO_RANGE);
}

int vp_blkreq_start(struct vp_blkreq *r)
{
	int ret;

	r->op.done = on_op;
	r->done_bytes = 0;
	if (r->type == VP_BLKREQ_FLUSH || fua(r)) {
		ret = vp_image_wb_error(r->img); /* data was lost: no sync can succeed */
		if (ret)
			return ret;
	}
	if (r->type == VP_BLKREQ_FLUSH)
		return queue_sync(r, STEP_FLUSH);
	if (r->len == 0)
		return 1;
	switch (r->type) {
	case VP_BLKREQ_READ:
	case VP_BLKREQ_WRITE:
		r->step = STEP_IO;
		return queue_io(r);
	case VP_BLKREQ_DISCARD:
		return queue_falloc(r, STEP_DISCARD);
	default:
		return start_zeroes(r);
	}
}
