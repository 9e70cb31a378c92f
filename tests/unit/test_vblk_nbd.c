/* test_vblk_nbd.c - NBD option negotiation and the request choke point,
 * fed with hand-built wire bytes (no sockets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vblk/nbd/nbd.h"
#include "vblk/nbd/proto.h"

static struct vp_image img_rw = { .fd = -1, .size = 1 << 20, .min_block = 1 };
static struct vp_image img_ro = { .fd = -1, .size = 1 << 20, .min_block = 1, .readonly = true };
static const struct vp_nbd_export exports[] = {
	{ .name = "disk0", .description = "first", .img = &img_rw },
	{ .name = "ro", .img = &img_ro },
};

static void hs_init(struct vp_nbd_hs *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->exports = exports;
	hs->n_exports = 2;
	assert_int_equal(vp_nbd_hs_client_flags(hs, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES), 0);
}

static size_t put32(unsigned char *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); return 4; }
static size_t put16(unsigned char *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); return 2; }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

/* Reply type of the n-th option reply in out (replies are walked by length). */
static uint32_t reply_type(const struct vp_nbd_buf *out, int n, uint32_t *len)
{
	size_t pos = 0;

	for (;;) {
		assert_true(pos + 20 <= out->len);
		assert_true(get64(out->data + pos) == NBD_REP_MAGIC);
		if (n-- == 0) {
			if (len)
				*len = get32(out->data + pos + 16);
			return get32(out->data + pos + 12);
		}
		pos += 20 + get32(out->data + pos + 16);
	}
}

static int count_replies(const struct vp_nbd_buf *out)
{
	size_t pos = 0;
	int n = 0;

	while (pos < out->len) {
		pos += 20 + get32(out->data + pos + 16);
		n++;
	}
	assert_int_equal(pos, out->len);
	return n;
}

static void test_greeting_and_flags(void **state)
{
	unsigned char g[18], hdr[16];
	struct vp_nbd_hs hs = { 0 };
	uint32_t opt, len;

	(void)state;
	vp_nbd_hs_greeting(g);
	assert_memory_equal(g, "NBDMAGICIHAVEOPT", 16);
	assert_int_equal(g[17], NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	assert_int_equal(vp_nbd_hs_client_flags(&hs, 1U << 5), -EPROTO);
	memcpy(hdr, "IHAVEOPT", 8);
	put32(hdr + 8, NBD_OPT_GO);
	put32(hdr + 12, 10);
	assert_int_equal(vp_nbd_hs_option_header(hdr, &opt, &len), 0);
	assert_int_equal(opt, NBD_OPT_GO);
	assert_int_equal(len, 10);
	put32(hdr + 12, VP_NBD_MAX_OPTION + 1);
	assert_int_equal(vp_nbd_hs_option_header(hdr, &opt, &len), -EMSGSIZE);
	memcpy(hdr, "IHAVEOPX", 8);
	assert_int_equal(vp_nbd_hs_option_header(hdr, &opt, &len), -EPROTO);
}

static void test_list_and_unknown(void **state)
{
	struct vp_nbd_buf out = { 0 };
	struct vp_nbd_hs hs;

	(void)state;
	hs_init(&hs);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_LIST, NULL, 0, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(count_replies(&out), 3);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_SERVER);
	assert_int_equal(reply_type(&out, 2, NULL), NBD_REP_ACK);
	out.len = 0;
	assert_int_equal(vp_nbd_hs_option(&hs, 4242, (const unsigned char *)"x", 1, &out),
			 VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_UNSUP);
	out.len = 0;
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_STARTTLS, NULL, 0, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_POLICY); /* --tls off */
	out.len = 0;
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_STRUCTURED_REPLY, (const unsigned char *)"x", 1, &out),
			 VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);
	assert_false(hs.structured);
	out.len = 0;
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_ABORT, NULL, 0, &out), VP_NBD_HS_CLOSE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ACK);
	vp_nbd_buf_free(&out);
}

/* Build INFO/GO data: name plus the given info requests. */
static uint32_t go_data(unsigned char *d, const char *name, const uint16_t *req, uint16_t n)
{
	size_t pos = put32(d, (uint32_t)strlen(name));

	memcpy(d + pos, name, strlen(name));
	pos += strlen(name);
	pos += put16(d + pos, n);
	for (uint16_t i = 0; i < n; i++)
		pos += put16(d + pos, req[i]);
	return (uint32_t)pos;
}

static void test_info_go(void **state)
{
	static const uint16_t req[] = { NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE };
	struct vp_nbd_buf out = { 0 };
	unsigned char d[64];
	struct vp_nbd_hs hs;
	uint32_t len, n;

	(void)state;
	hs_init(&hs);
	n = go_data(d, "disk0", req, 3);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_INFO, d, n, &out), VP_NBD_HS_CONTINUE);
	assert_null(hs.chosen);
	/* EXPORT, BLOCK_SIZE, NAME, DESCRIPTION, ACK */
	assert_int_equal(count_replies(&out), 5);
	assert_int_equal(reply_type(&out, 0, &len), NBD_REP_INFO);
	assert_int_equal(len, 12);
	assert_int_equal(get64(out.data + 22), 1 << 20);
	assert_int_equal(reply_type(&out, 4, NULL), NBD_REP_ACK);

	out.len = 0;
	n = go_data(d, "nope", req, 0);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_GO, d, n, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_UNKNOWN);

	out.len = 0; /* inconsistent lengths: name longer than the option */
	put32(d, 1000);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_GO, d, n, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);
	out.len = 0; /* info count that does not match the length */
	n = go_data(d, "ro", req, 3);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_GO, d, n - 2, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);

	out.len = 0; /* "" is the default export */
	n = go_data(d, "", req, 0);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_GO, d, n, &out), VP_NBD_HS_GO);
	assert_ptr_equal(hs.chosen, &exports[0]);
	vp_nbd_buf_free(&out);
}

static void test_export_name(void **state)
{
	struct vp_nbd_buf out = { 0 };
	struct vp_nbd_hs hs;

	(void)state;
	hs_init(&hs);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const unsigned char *)"zz", 2, &out),
			 -ENOENT);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const unsigned char *)"ro", 2, &out),
			 VP_NBD_HS_GO);
	assert_int_equal(out.len, 10); /* NO_ZEROES: size + flags only */
	assert_true(out.data[9] & NBD_FLAG_READ_ONLY);
	assert_false(out.data[9] & NBD_FLAG_SEND_TRIM);
	vp_nbd_buf_free(&out);

	/* Non-fixed clients get no option replies: anything else closes. */
	memset(&hs, 0, sizeof(hs));
	hs.exports = exports;
	hs.n_exports = 2;
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_LIST, NULL, 0, &out), VP_NBD_HS_CLOSE);
	assert_int_equal(out.len, 0);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const unsigned char *)"disk0", 5, &out),
			 VP_NBD_HS_GO);
	assert_int_equal(out.len, 10 + 124);
	vp_nbd_buf_free(&out);
}

static uint32_t meta_data(unsigned char *d, const char *name, const char *query)
{
	size_t pos = put32(d, (uint32_t)strlen(name));

	memcpy(d + pos, name, strlen(name));
	pos += strlen(name);
	pos += put32(d + pos, query ? 1 : 0);
	if (query) {
		pos += put32(d + pos, (uint32_t)strlen(query));
		memcpy(d + pos, query, strlen(query));
		pos += strlen(query);
	}
	return (uint32_t)pos;
}

static void test_meta_context(void **state)
{
	struct vp_nbd_buf out = { 0 };
	unsigned char d[128];
	struct vp_nbd_hs hs;
	uint32_t n;

	(void)state;
	hs_init(&hs);
	n = meta_data(d, "disk0", "base:allocation");
	/* SET needs structured replies first */
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, n, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);
	out.len = 0;
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_STRUCTURED_REPLY, NULL, 0, &out), VP_NBD_HS_CONTINUE);
	out.len = 0;
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, n, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(count_replies(&out), 2);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_META_CONTEXT);
	assert_int_equal(get32(out.data + 20), NBD_META_ID_BASE_ALLOCATION);

	out.len = 0; /* unknown context: only the ACK */
	n = meta_data(d, "disk0", "qemu:dirty-bitmap:x");
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_LIST_META_CONTEXT, d, n, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(count_replies(&out), 1);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ACK);

	out.len = 0; /* query length running past the option */
	n = meta_data(d, "disk0", "base:allocation");
	put32(d + 4 + 5 + 4, 200);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, n, &out), VP_NBD_HS_CONTINUE);
	assert_int_equal(reply_type(&out, 0, NULL), NBD_REP_ERR_INVALID);

	out.len = 0; /* GO on the export the context was set for keeps it */
	n = meta_data(d, "disk0", "base:allocation");
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_SET_META_CONTEXT, d, n, &out), VP_NBD_HS_CONTINUE);
	n = go_data(d, "disk0", NULL, 0);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_GO, d, n, &out), VP_NBD_HS_GO);
	assert_true(hs.meta_alloc);
	vp_nbd_buf_free(&out);
}

static struct vp_nbd_request req(uint16_t type, uint16_t flags, uint64_t off, uint32_t len)
{
	return (struct vp_nbd_request){ .type = type, .flags = flags, .offset = off, .length = len };
}

static uint32_t check(const struct vp_nbd_limits *lim, struct vp_nbd_request r, uint32_t *payload)
{
	uint32_t err, p;

	assert_int_equal(vp_nbd_request_check(&r, lim, payload ? payload : &p, &err), 0);
	return err;
}

static void test_request_check(void **state)
{
	struct vp_nbd_limits lim = { .size = 1 << 20, .min_block = 1, .structured = true };
	struct vp_nbd_request r;
	unsigned char raw[28] = { 0x25, 0x60, 0x95, 0x13, 0, 1, 0, 1 };
	uint32_t payload, err;

	(void)state;
	assert_int_equal(vp_nbd_request_parse(raw, &r), 0);
	assert_int_equal(r.type, NBD_CMD_WRITE);
	assert_int_equal(r.flags, NBD_CMD_FLAG_FUA);
	raw[0] = 0;
	assert_int_equal(vp_nbd_request_parse(raw, &r), -EPROTO);

	assert_int_equal(check(&lim, req(NBD_CMD_READ, 0, 0, 4096), NULL), 0);
	assert_int_equal(check(&lim, req(NBD_CMD_READ, 0, (1 << 20) - 1, 1), NULL), 0);
	assert_int_equal(check(&lim, req(NBD_CMD_READ, 0, (1 << 20) - 1, 2), NULL), NBD_EINVAL);
	assert_int_equal(check(&lim, req(NBD_CMD_READ, 0, UINT64_MAX - 10, 100), NULL), NBD_EINVAL);
	assert_int_equal(check(&lim, req(NBD_CMD_READ, 0, 0, 0), NULL), NBD_EINVAL);
	assert_int_equal(check(&lim, req(NBD_CMD_READ, NBD_CMD_FLAG_NO_HOLE, 0, 1), NULL), NBD_EINVAL);
	assert_int_equal(check(&lim, req(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 1), NULL), 0);
	assert_int_equal(check(&lim, req(99, 0, 0, 1), NULL), NBD_EINVAL);
	assert_int_equal(check(&lim, req(NBD_CMD_BLOCK_STATUS, 0, 0, 1), NULL), NBD_EINVAL);
	lim.meta_alloc = true;
	assert_int_equal(check(&lim, req(NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 0, 1), NULL), 0);

	/* WRITE: data is consumed even when refused */
	assert_int_equal(check(&lim, req(NBD_CMD_WRITE, 0, 1 << 20, 512), &payload), NBD_ENOSPC);
	assert_int_equal(payload, 512);
	assert_int_equal(check(&lim, req(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 512), &payload), 0);
	assert_int_equal(payload, 0);
	r = req(NBD_CMD_WRITE, 0, 0, VP_NBD_MAX_PAYLOAD + 1);
	assert_int_equal(vp_nbd_request_check(&r, &lim, &payload, &err), -EPROTO);

	lim.readonly = true;
	assert_int_equal(check(&lim, req(NBD_CMD_WRITE, 0, 0, 512), &payload), NBD_EPERM);
	assert_int_equal(payload, 512);
	assert_int_equal(check(&lim, req(NBD_CMD_TRIM, 0, 0, 512), NULL), NBD_EPERM);
	assert_int_equal(check(&lim, req(NBD_CMD_FLUSH, 0, 0, 0), NULL), 0);

	lim.readonly = false; /* cache=none: alignment */
	lim.min_block = 4096;
	assert_int_equal(check(&lim, req(NBD_CMD_READ, 0, 512, 4096), NULL), NBD_EINVAL);
	assert_int_equal(check(&lim, req(NBD_CMD_WRITE, 0, 4096, 8192), NULL), 0);
	lim.structured = false;
	assert_int_equal(check(&lim, req(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 4096), NULL), NBD_EINVAL);

	assert_int_equal(vp_nbd_errno(EROFS), NBD_EPERM);
	assert_int_equal(vp_nbd_errno(EOPNOTSUPP), NBD_ENOTSUP);
	assert_int_equal(vp_nbd_errno(EBADF), NBD_EIO);
}

static void test_reply_encoding(void **state)
{
	unsigned char b[32];

	(void)state;
	assert_int_equal(vp_nbd_simple_reply(b, 0x1122334455667788ULL, NBD_EIO), 16);
	assert_int_equal(get32(b), NBD_SIMPLE_REPLY_MAGIC);
	assert_int_equal(get32(b + 4), NBD_EIO);
	assert_true(get64(b + 8) == 0x1122334455667788ULL);
	assert_int_equal(vp_nbd_read_chunk(b, 7, 4096, 512), 28);
	assert_int_equal(get32(b), NBD_STRUCTURED_REPLY_MAGIC);
	assert_int_equal(get32(b + 16), 520);
	assert_int_equal(vp_nbd_error_chunk(b, 7, NBD_EINVAL), 26);
	assert_int_equal(b[6], 0x80);
	assert_int_equal(get32(b + 20), NBD_EINVAL);
	assert_int_equal(vp_nbd_block_status_chunk(b, 7, 3), 24);
	assert_int_equal(get32(b + 16), 4 + 24);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_and_flags),
		cmocka_unit_test(test_list_and_unknown),
		cmocka_unit_test(test_info_go),
		cmocka_unit_test(test_export_name),
		cmocka_unit_test(test_meta_context),
		cmocka_unit_test(test_request_check),
		cmocka_unit_test(test_reply_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
