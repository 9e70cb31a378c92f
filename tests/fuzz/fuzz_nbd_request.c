/* fuzz_nbd_request.c - libFuzzer harness for the NBD transmission choke
 * point: the input is a 28-byte request header (as the client sends it)
 * followed by the negotiated limits.  Every request that passes
 * vp_nbd_request_check with no NBD error must lie inside the export and
 * carry no more payload than a WRITE may.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vblk/nbd/nbd.h"
#include "vblk/nbd/proto.h"

/* Limits from the bytes after the header (zero when absent). */
static void take_limits(const uint8_t *d, size_t n, struct vp_nbd_limits *lim)
{
	uint8_t raw[13] = { 0 };

	memcpy(raw, d, n < sizeof(raw) ? n : sizeof(raw));
	memcpy(&lim->size, raw, 8);
	lim->min_block = 1U << (raw[8] % 13);  /* 1..4096, a power of two as images have */
	lim->readonly = raw[9] & 1;
	lim->structured = raw[10] & 1;
	lim->meta_alloc = raw[11] & 1;
}

static int is_data_cmd(uint16_t type)
{
	return type == NBD_CMD_READ || type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
	       type == NBD_CMD_WRITE_ZEROES || type == NBD_CMD_CACHE || type == NBD_CMD_BLOCK_STATUS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char raw[28];
	struct vp_nbd_request req;
	struct vp_nbd_limits lim;
	uint32_t payload, nbd_err;

	if (size < sizeof(raw))
		return 0;
	memcpy(raw, data, sizeof(raw));
	/* Half the inputs get the right magic so the check is reached often. */
	if (raw[0] & 1)
		memcpy(raw, "\x25\x60\x95\x13", 4);
	if (vp_nbd_request_parse(raw, &req) < 0)
		return 0;
	take_limits(data + sizeof(raw), size - sizeof(raw), &lim);
	if (vp_nbd_request_check(&req, &lim, &payload, &nbd_err) < 0) {
		if (req.type != NBD_CMD_WRITE || req.length <= VP_NBD_MAX_PAYLOAD)
			abort();
		return 0;
	}
	if (payload > VP_NBD_MAX_PAYLOAD || (payload && req.type != NBD_CMD_WRITE))
		abort();
	if (nbd_err == 0 && is_data_cmd(req.type) &&
	    (req.length > lim.size || req.offset > lim.size - req.length))
		abort();
	if (nbd_err == 0 && lim.readonly &&
	    (req.type == NBD_CMD_WRITE || req.type == NBD_CMD_TRIM || req.type == NBD_CMD_WRITE_ZEROES))
		abort();
	return 0;
}
