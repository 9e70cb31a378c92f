/* desc.c - ublk opcode encoding and I/O descriptor decoding (no I/O). */
#include "vblk/ublk/desc.h"

#include <errno.h>
#include <linux/ioctl.h>
#include <string.h>

uint32_t vp_ublk_cmd_op(unsigned nr, unsigned arg_size, bool ioctl)
{
	if (!ioctl)
		return nr;
	if (nr == VP_UBLK_CMD_GET_FEATURES)
		return _IOC(_IOC_READ, 'u', nr, arg_size);
	return _IOC(_IOC_READ | _IOC_WRITE, 'u', nr, arg_size);
}

/* Is [start, start + n) sectors inside an image of img_sectors? */
static bool in_range(uint64_t start, uint64_t n, uint64_t img_sectors)
{
	return start <= img_sectors && n <= img_sectors - start;
}

int vp_ublk_desc_decode(const struct ublksrv_io_desc *iod, uint64_t img_size, uint32_t buf_bytes,
			bool readonly, struct vp_ublk_req *req)
{
	static const int kinds[] = {
		[UBLK_IO_OP_READ] = VP_UBLK_READ,
		[UBLK_IO_OP_WRITE] = VP_UBLK_WRITE,
		[UBLK_IO_OP_FLUSH] = VP_UBLK_FLUSH,
		[UBLK_IO_OP_DISCARD] = VP_UBLK_DISCARD,
		[UBLK_IO_OP_WRITE_SAME] = -1,
		[UBLK_IO_OP_WRITE_ZEROES] = VP_UBLK_WRITE_ZEROES,
	};
	unsigned op = ublksrv_get_op(iod), flags = ublksrv_get_flags(iod) << 8;

	memset(req, 0, sizeof(*req));
	if (op >= sizeof(kinds) / sizeof(kinds[0]) || kinds[op] < 0)
		return -EOPNOTSUPP;
	req->kind = (enum vp_ublk_kind)kinds[op];
	if (req->kind == VP_UBLK_FLUSH)
		return 0;
	if (readonly && req->kind != VP_UBLK_READ)
		return -EROFS;
	if (!in_range(iod->start_sector, iod->nr_sectors, img_size >> 9))
		return -EIO;
	req->offset = iod->start_sector << 9;
	req->len = (uint64_t)iod->nr_sectors << 9;
	if ((req->kind == VP_UBLK_READ || req->kind == VP_UBLK_WRITE) &&
	    (req->len == 0 || req->len > buf_bytes))
		return -EIO;
	req->fua = req->kind == VP_UBLK_WRITE && (flags & UBLK_IO_F_FUA);
	req->no_unmap = req->kind == VP_UBLK_WRITE_ZEROES && (flags & UBLK_IO_F_NOUNMAP);
	return 0;
}
