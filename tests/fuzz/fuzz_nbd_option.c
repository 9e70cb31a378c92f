/* fuzz_nbd_option.c - libFuzzer harness for NBD option negotiation
 * (handshake.c): the input is the client's side of a handshake, its 32-bit
 * flags then a run of options, each framed as
 *     u8 option selector, u16 length (big-endian), length bytes of data.
 * The server state carries over from one option to the next as on a real
 * connection, against two fixed exports, under the --tls mode that bits
 * 4-5 of the first byte pick (a STARTTLS acknowledged goes on as over TLS).
 * Replies must stay bounded and a GO must pick one of the exports; under
 * require, nothing but STARTTLS, ABORT and TLS_REQD is answered before TLS,
 * and no export is chosen.  The 16-byte option header parser gets the
 * first 16 bytes as well.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vblk/nbd/nbd.h"
#include "vblk/nbd/proto.h"

static struct vp_image img_a = { .fd = -1, .size = 1 << 20, .min_block = 1 };
static struct vp_image img_b = { .fd = -1, .size = 4096, .min_block = 512, .readonly = true };
static const struct vp_nbd_export exports[] = {
	{ .name = "a", .description = "first", .img = &img_a },
	{ .name = "disk", .img = &img_b },
};

/* Feed one option; returns 1 when the negotiation is over. */
static int one_option(struct vp_nbd_hs *hs, uint32_t opt, const uint8_t *d, uint32_t len)
{
	struct vp_nbd_buf out = { 0 };
	bool plaintext_only = hs->tls_mode == VP_NBD_TLS_REQUIRE && !hs->tls;
	int ret = vp_nbd_hs_option(hs, opt, d, len, &out);

	if (out.len > out.cap || out.len > 4096 + 2 * (size_t)len)
		abort();
	if (plaintext_only && opt != NBD_OPT_STARTTLS && opt != NBD_OPT_ABORT) {
		uint32_t type = out.len == 20 ? (uint32_t)out.data[12] << 24 | out.data[13] << 16 |
						     out.data[14] << 8 | out.data[15] : 0;

		if (hs->chosen || ret == VP_NBD_HS_GO ||
		    (ret >= 0 && hs->fixed_newstyle && type != NBD_REP_ERR_TLS_REQD))
			abort();
	}
	if (ret == VP_NBD_HS_GO &&
	    (hs->chosen != &exports[0] && hs->chosen != &exports[1]))
		abort();
	vp_nbd_buf_free(&out);
	return ret != VP_NBD_HS_CONTINUE && ret != VP_NBD_HS_STARTTLS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vp_nbd_hs hs = { .exports = exports, .n_exports = 2 };
	uint32_t opt, len, flags;
	size_t pos = 4;

	if (size >= 16 && vp_nbd_hs_option_header(data, &opt, &len) == 0 &&
	    len > VP_NBD_MAX_OPTION)
		abort();
	if (size < 4)
		return 0;
	flags = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | data[2] << 8 | data[3];
	/* Known flags most of the time, so options get past the greeting. */
	if (!(data[0] & 0x80))
		flags &= 3;
	hs.tls_mode = (enum vp_nbd_tls_mode)((data[0] >> 4) % 3);
	if (vp_nbd_hs_client_flags(&hs, flags) < 0)
		return 0;
	while (size - pos >= 3) {
		uint8_t sel = data[pos], *copy;
		int done;

		opt = sel < 0xf0 ? sel % 12 : 0x80000000U | sel;
		len = (uint32_t)data[pos + 1] << 8 | data[pos + 2];
		pos += 3;
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		/* A private copy, so reads past len are caught by ASan. */
		copy = malloc(len ? len : 1);

		if (!copy)
			return 0;
		memcpy(copy, data + pos, len);
		pos += len;
		done = one_option(&hs, opt, copy, len);

		free(copy);
		if (done)
			break;
	}
	return 0;
}
