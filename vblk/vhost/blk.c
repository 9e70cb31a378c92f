/* blk.c - virtio-blk request decode, run on the block-request layer
 * (vblk/blkreq.h). */
#include "vblk/vhost/blk.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <stddef.h>
#include <string.h>

#define SECTOR 512U

uint64_t vp_blk_features(const struct vp_blk_dev *bd)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_TOPOLOGY) |
		     (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_CONFIG_WCE) |
		     (1ULL << VIRTIO_BLK_F_MQ);

	if (bd->img->readonly)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

static uint32_t block_size(const struct vp_blk_dev *bd)
{
	return bd->img->min_block > SECTOR ? bd->img->min_block : SECTOR;
}

void vp_blk_config(const struct vp_blk_dev *bd, struct virtio_blk_config *cfg)
{
	uint32_t bs = block_size(bd);

	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = __atomic_load_n(&bd->img->size, __ATOMIC_RELAXED) / SECTOR;
	cfg->size_max = VP_BLK_SIZE_MAX;
	cfg->seg_max = VP_BLK_SEG_MAX;
	cfg->blk_size = bs;
	cfg->min_io_size = (uint16_t)(bs / SECTOR);
	cfg->wce = __atomic_load_n(&bd->writeback, __ATOMIC_RELAXED);
	cfg->num_queues = bd->num_queues;
	cfg->max_discard_sectors = VP_BLK_MAX_DISCARD_SECTORS;
	cfg->max_discard_seg = 1;
	cfg->discard_sector_alignment = bs / SECTOR;
	cfg->max_write_zeroes_sectors = VP_BLK_MAX_DISCARD_SECTORS;
	cfg->max_write_zeroes_seg = 1;
	cfg->write_zeroes_may_unmap = 1;
}

int vp_blk_set_config(struct vp_blk_dev *bd, uint32_t offset, const uint8_t *data, uint32_t size)
{
	if (offset != offsetof(struct virtio_blk_config, wce) || size != 1 || data[0] > 1)
		return -EINVAL;
	__atomic_store_n(&bd->writeback, data[0], __ATOMIC_RELAXED);
	return 0;
}

/* Copy len bytes from the front of iov[0..n) into buf; 0 or -1 if short. */
static int gather(const struct iovec *iov, unsigned n, void *buf, size_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		size_t c = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(buf, iov[i].iov_base, c);
		buf = (char *)buf + c;
		len -= c;
	}
	return len ? -1 : 0;
}

/* Drop `skip` bytes from the front of iov[0..*n) (in place); returns the
 * new start. */
static struct iovec *advance(struct iovec *iov, unsigned *n, uint64_t skip)
{
	while (*n && skip >= iov->iov_len) {
		skip -= iov->iov_len;
		iov++;
		(*n)--;
	}
	if (*n && skip) {
		iov->iov_base = (char *)iov->iov_base + skip;
		iov->iov_len -= skip;
	}
	return iov;
}

static uint64_t iov_bytes(const struct iovec *iov, unsigned n)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static void finish(struct vp_blk_req *r, uint8_t status)
{
	*r->status = status;
	r->written += 1;
	r->complete(r);
}

static void on_blkreq(struct vp_blkreq *b, int res)
{
	struct vp_blk_req *r = (struct vp_blk_req *)((char *)b - offsetof(struct vp_blk_req, blk));

	if (res == 0 && r->type == VIRTIO_BLK_T_IN)
		r->written += (uint32_t)r->len;
	finish(r, res == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
}

/* Run the decoded request on the block-request layer; the status to report
 * right away, or 0xff when it was queued. */
static uint8_t submit(struct vp_blk_req *r)
{
	static const enum vp_blkreq_type types[] = {
		[VIRTIO_BLK_T_IN] = VP_BLKREQ_READ,
		[VIRTIO_BLK_T_OUT] = VP_BLKREQ_WRITE,
		[VIRTIO_BLK_T_FLUSH] = VP_BLKREQ_FLUSH,
		[VIRTIO_BLK_T_DISCARD] = VP_BLKREQ_DISCARD,
		[VIRTIO_BLK_T_WRITE_ZEROES] = VP_BLKREQ_WRITE_ZEROES,
	};
	struct vp_blkreq *b = &r->blk;
	int ret;

	b->eng = r->eng;
	b->img = r->bd->img;
	b->file = r->file;
	b->done = on_blkreq;
	b->type = types[r->type];
	b->offset = r->offset;
	b->len = r->len;
	b->buf = NULL;
	b->buf_idx = -1;
	b->iov = r->data;
	b->iovcnt = r->ndata;
	/* a write-through cache (wce = 0) makes every write FUA */
	if ((r->type == VIRTIO_BLK_T_OUT || r->type == VIRTIO_BLK_T_WRITE_ZEROES) &&
	    !__atomic_load_n(&r->bd->writeback, __ATOMIC_RELAXED))
		b->flags |= VP_BLKREQ_FUA;
	ret = vp_blkreq_start(b);
	if (ret == 0)
		return 0xff;
	return ret > 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

static bool in_range(const struct vp_blk_req *r, uint64_t sector, uint64_t bytes)
{
	uint64_t size = __atomic_load_n(&r->bd->img->size, __ATOMIC_RELAXED);

	return sector <= size / SECTOR && bytes <= size - sector * SECTOR;
}

/* DISCARD / WRITE_ZEROES: one segment in the data. */
static uint8_t decode_range(struct vp_blk_req *r)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t allowed = r->type == VIRTIO_BLK_T_WRITE_ZEROES ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
	uint32_t align = block_size(r->bd) / SECTOR;

	if (r->bd->img->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (iov_bytes(r->data, r->ndata) != sizeof(seg) || gather(r->data, r->ndata, &seg, sizeof(seg)))
		return VIRTIO_BLK_S_UNSUPP;
	if (seg.flags & ~allowed)
		return VIRTIO_BLK_S_UNSUPP;
	if (seg.num_sectors > VP_BLK_MAX_DISCARD_SECTORS || seg.num_sectors % align ||
	    seg.sector % align || !in_range(r, seg.sector, (uint64_t)seg.num_sectors * SECTOR))
		return VIRTIO_BLK_S_IOERR;
	r->offset = seg.sector * SECTOR;
	r->len = (uint64_t)seg.num_sectors * SECTOR;
	if (seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		r->blk.flags |= VP_BLKREQ_MAY_UNMAP;
	return r->len ? 0xff : VIRTIO_BLK_S_OK;
}

/* Decode the request; returns 0xff when I/O must be submitted, otherwise
 * the status to report right away. */
static uint8_t decode(struct vp_blk_req *r, const struct virtio_blk_outhdr *h)
{
	r->type = h->type;
	r->blk.flags = 0;
	switch (h->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		r->len = iov_bytes(r->data, r->ndata);
		if ((h->type == VIRTIO_BLK_T_OUT && r->bd->img->readonly) || r->len % SECTOR ||
		    !in_range(r, h->sector, r->len))
			return VIRTIO_BLK_S_IOERR;
		r->offset = h->sector * SECTOR;
		return r->len ? 0xff : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return r->bd->img->readonly ? VIRTIO_BLK_S_OK : 0xff;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VP_BLK_ID_BYTES] = { 0 };
		size_t n = strnlen(r->bd->serial, sizeof(id));
		uint64_t room = iov_bytes(r->data, r->ndata);

		memcpy(id, r->bd->serial, n);
		for (unsigned i = 0, c = 0; i < r->ndata && c < sizeof(id); i++) {
			size_t k = r->data[i].iov_len < sizeof(id) - c ? r->data[i].iov_len : sizeof(id) - c;

			memcpy(r->data[i].iov_base, id + c, k);
			c += (unsigned)k;
		}
		r->written = (uint32_t)(room < sizeof(id) ? room : sizeof(id));
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return decode_range(r);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

int vp_blk_start(struct vp_blk_req *r)
{
	struct virtio_blk_outhdr h;
	struct vp_vring_elem *e = &r->elem;
	struct iovec *last;
	unsigned nout = e->n_out;
	uint8_t st;

	r->written = 0;
	if (e->n_in == 0)
		return -EPROTO;
	last = &r->iov[e->n_out + e->n_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (gather(r->iov, e->n_out, &h, sizeof(h))) {
		finish(r, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	if (h.type == VIRTIO_BLK_T_IN || h.type == VIRTIO_BLK_T_GET_ID) {
		/* data: the writable segments minus the status byte */
		r->ndata = e->n_in;
		r->data = &r->iov[e->n_out];
		if (--last->iov_len == 0)
			r->ndata--;
	} else {
		/* data: the readable segments after the header; writable
		 * bytes before the status byte are left alone */
		r->data = advance(r->iov, &nout, sizeof(h));
		r->ndata = nout;
	}
	st = decode(r, &h);
	if (st == 0xff)
		st = submit(r);
	if (st != 0xff)
		finish(r, st);
	return 0;
}
