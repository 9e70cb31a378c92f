/* desc.h - the ublk protocol without the kernel: command opcode encoding
 * and the decoding of one I/O descriptor into a checked image request.
 *
 * Kept apart from the queue threads so that everything the server trusts
 * from the shared descriptor array is checked by one pure function that
 * unit tests can drive on any kernel.
 */
#ifndef VP_VBLK_UBLK_DESC_H
#define VP_VBLK_UBLK_DESC_H

#include <linux/ublk_cmd.h>
#include <stdbool.h>
#include <stdint.h>

/* A command number newer than the 6.1 headers. */
#define VP_UBLK_CMD_GET_FEATURES 0x13 /* 6.5+; ioctl encoding only */

enum vp_ublk_kind {
	VP_UBLK_READ,
	VP_UBLK_WRITE,
	VP_UBLK_FLUSH,
	VP_UBLK_DISCARD,
	VP_UBLK_WRITE_ZEROES,
};

/* A request decoded from a ublksrv_io_desc: byte offset and length in the
 * image; READ/WRITE move len bytes through the tag's buffer. */
struct vp_ublk_req {
	enum vp_ublk_kind kind;
	uint64_t offset;
	uint64_t len;
	bool fua;       /* WRITE: UBLK_IO_F_FUA (write through, RWF_DSYNC) */
	bool no_unmap;  /* WRITE_ZEROES: UBLK_IO_F_NOUNMAP (keep it allocated) */
};

/* The cmd_op for command number nr (UBLK_CMD_* or UBLK_IO_*) carrying a
 * payload of arg_size bytes: ioctl-encoded (_IOWR('u', nr, size), or _IOR
 * for GET_FEATURES) when ioctl is true, else the bare legacy number. */
uint32_t vp_ublk_cmd_op(unsigned nr, unsigned arg_size, bool ioctl);

/* Decode iod (read once by the caller from the shared array) for an image
 * of img_size bytes and a tag buffer of buf_bytes.  Returns 0 and fills
 * *req, or the negative errno to commit for the request: -EOPNOTSUPP for
 * an unknown or unsupported op (WRITE_SAME), -EIO for a range outside the
 * image, an empty READ/WRITE, or a READ/WRITE larger than the buffer,
 * -EROFS for a modifying op on a read-only image.  FLUSH on a read-only
 * image is accepted (nothing to sync). */
int vp_ublk_desc_decode(const struct ublksrv_io_desc *iod, uint64_t img_size, uint32_t buf_bytes,
			bool readonly, struct vp_ublk_req *req);

#endif
