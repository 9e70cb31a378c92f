/* transmission.c - NBD transmission phase without I/O: request parsing, the
 * one bounds/flags check every request passes, reply encoding and the
 * base:allocation map. */
#include "vblk/nbd/nbd.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "vblk/nbd/proto.h"

static uint16_t get16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static void put16(unsigned char *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static void put32(unsigned char *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }

int vp_nbd_request_parse(const unsigned char raw[28], struct vp_nbd_request *req)
{
	if (get32(raw) != NBD_REQUEST_MAGIC)
		return -EPROTO;
	req->flags = get16(raw + 4);
	req->type = get16(raw + 6);
	req->handle = get64(raw + 8);
	req->offset = get64(raw + 16);
	req->length = get32(raw + 24);
	return 0;
}

/* Command flags each command accepts (FUA is accepted everywhere, as the
 * spec asks once SEND_FUA is advertised). */
static uint16_t allowed_flags(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF;
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	default:
		return NBD_CMD_FLAG_FUA;
	}
}

static bool in_bounds(const struct vp_nbd_request *r, const struct vp_nbd_limits *lim)
{
	return r->length <= lim->size && r->offset <= lim->size - r->length;
}

static bool aligned(const struct vp_nbd_request *r, const struct vp_nbd_limits *lim)
{
	return r->offset % lim->min_block == 0 && r->length % lim->min_block == 0;
}

/* The NBD error for a request already known to be well-formed on the wire. */
static uint32_t check_command(const struct vp_nbd_request *r, const struct vp_nbd_limits *lim)
{
	bool writes = r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
		      r->type == NBD_CMD_WRITE_ZEROES;

	if (r->flags & ~allowed_flags(r->type))
		return NBD_EINVAL;
	if ((r->flags & NBD_CMD_FLAG_DF) && !lim->structured)
		return NBD_EINVAL;
	if (writes && lim->readonly)
		return NBD_EPERM;
	switch (r->type) {
	case NBD_CMD_DISC:
	case NBD_CMD_FLUSH:
		return 0;
	case NBD_CMD_READ:
		if (r->length == 0 || r->length > VP_NBD_MAX_PAYLOAD)
			return NBD_EINVAL;
		break;
	case NBD_CMD_CACHE:
		break;
	case NBD_CMD_BLOCK_STATUS:
		if (!lim->meta_alloc || r->length == 0)
			return NBD_EINVAL;
		break;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
		if (!in_bounds(r, lim))
			return NBD_ENOSPC;
		return aligned(r, lim) ? 0 : NBD_EINVAL;
	default:
		return NBD_EINVAL;
	}
	if (!in_bounds(r, lim))
		return NBD_EINVAL;
	/* Block status and cache do no data I/O, so alignment is moot there. */
	return r->type != NBD_CMD_READ || aligned(r, lim) ? 0 : NBD_EINVAL;
}

int vp_nbd_request_check(const struct vp_nbd_request *req, const struct vp_nbd_limits *lim,
			 uint32_t *payload, uint32_t *nbd_err)
{
	*payload = 0;
	*nbd_err = 0;
	if (req->type == NBD_CMD_WRITE) {
		/* The data follows whatever we think of the request; more than
		 * we are willing to buffer cannot be skipped cheaply. */
		if (req->length > VP_NBD_MAX_PAYLOAD)
			return -EPROTO;
		*payload = req->length;
	}
	*nbd_err = check_command(req, lim);
	return 0;
}

uint32_t vp_nbd_errno(int err)
{
	switch (err) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case EOPNOTSUPP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

size_t vp_nbd_simple_reply(unsigned char *out, uint64_t handle, uint32_t nbd_err)
{
	put32(out, NBD_SIMPLE_REPLY_MAGIC);
	put32(out + 4, nbd_err);
	put64(out + 8, handle);
	return NBD_SIMPLE_REPLY_SIZE;
}

size_t vp_nbd_chunk_header(unsigned char *out, uint16_t flags, uint16_t type, uint64_t handle,
			   uint32_t payload_len)
{
	put32(out, NBD_STRUCTURED_REPLY_MAGIC);
	put16(out + 4, flags);
	put16(out + 6, type);
	put64(out + 8, handle);
	put32(out + 16, payload_len);
	return NBD_CHUNK_HDR_SIZE;
}

size_t vp_nbd_read_chunk(unsigned char *out, uint64_t handle, uint64_t offset, uint32_t data_len)
{
	size_t n = vp_nbd_chunk_header(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, handle,
				       8 + data_len);

	put64(out + n, offset);
	return n + 8;
}

size_t vp_nbd_error_chunk(unsigned char *out, uint64_t handle, uint32_t nbd_err)
{
	size_t n = vp_nbd_chunk_header(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, handle, 6);

	put32(out + n, nbd_err);
	put16(out + n + 4, 0);
	return n + 6;
}

size_t vp_nbd_block_status_chunk(unsigned char *out, uint64_t handle, uint32_t n)
{
	size_t h = vp_nbd_chunk_header(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, handle,
				       4 + 8 * n);

	put32(out + h, NBD_META_ID_BASE_ALLOCATION);
	return h + 4;
}

int vp_nbd_block_status(const struct vp_image *img, uint64_t offset, uint32_t length,
			unsigned char *out, uint32_t max)
{
	uint64_t end = offset + length;
	uint32_t n = 0;

	while (offset < end && n < max) {
		uint64_t len;
		bool hole;
		int ret = vp_image_extent(img, offset, end - offset, &len, &hole);

		if (ret)
			return ret;
		/* Merge with the previous descriptor when the state is the same. */
		if (n && get32(out + 8 * (n - 1) + 4) == (hole ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0)) {
			put32(out + 8 * (n - 1), get32(out + 8 * (n - 1)) + (uint32_t)len);
		} else {
			put32(out + 8 * n, (uint32_t)len);
			put32(out + 8 * n + 4, hole ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0);
			n++;
		}
		offset += len;
	}
	return (int)n;
}
