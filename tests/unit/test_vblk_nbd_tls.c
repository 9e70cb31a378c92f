/* test_vblk_nbd_tls.c - NBD_OPT_STARTTLS in the option negotiation
 * (handshake.c) under each --tls mode, as proto.md's NOTLS, SELECTIVETLS
 * and FORCEDTLS modes say; and the PSK file parser (tls_psk.c). */
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
#include "vblk/nbd/tls_psk.h"

static struct vp_image img = { .fd = -1, .size = 1 << 20, .min_block = 1 };
static const struct vp_nbd_export exports[] = {
	{ .name = "disk0", .img = &img },
};

static void hs_init(struct vp_nbd_hs *hs, enum vp_nbd_tls_mode mode)
{
	memset(hs, 0, sizeof(*hs));
	hs->exports = exports;
	hs->n_exports = 1;
	hs->tls_mode = mode;
	assert_int_equal(vp_nbd_hs_client_flags(hs, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES), 0);
}

static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }

/* Run opt; check the return and that the one reply (or the last of
 * several) has type want_type.  want_type 0: no reply expected. */
static void opt(struct vp_nbd_hs *hs, uint32_t o, const void *d, uint32_t len, int want_ret,
		uint32_t want_type)
{
	struct vp_nbd_buf out = { 0 };
	size_t pos = 0, last = 0;

	assert_int_equal(vp_nbd_hs_option(hs, o, d, len, &out), want_ret);
	if (!want_type) {
		assert_int_equal(out.len, 0);
		vp_nbd_buf_free(&out);
		return;
	}
	while (pos < out.len) {
		assert_true(pos + 20 <= out.len);
		assert_int_equal(get32(out.data + pos + 8), o);
		last = pos;
		pos += 20 + get32(out.data + pos + 16);
	}
	assert_int_equal(pos, out.len);
	assert_int_equal(get32(out.data + last + 12), want_type);
	vp_nbd_buf_free(&out);
}

static const unsigned char go_disk0[] = { 0, 0, 0, 5, 'd', 'i', 's', 'k', '0', 0, 0 };

static void test_off(void **state)
{
	struct vp_nbd_hs hs;

	(void)state;
	hs_init(&hs, VP_NBD_TLS_OFF);
	opt(&hs, NBD_OPT_STARTTLS, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ERR_POLICY);
	assert_false(hs.tls);
	opt(&hs, NBD_OPT_LIST, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ACK);
	opt(&hs, NBD_OPT_GO, go_disk0, sizeof(go_disk0), VP_NBD_HS_GO, NBD_REP_ACK);
}

static void test_on(void **state)
{
	struct vp_nbd_hs hs;

	(void)state;
	hs_init(&hs, VP_NBD_TLS_ON);
	/* Plaintext is served... */
	opt(&hs, NBD_OPT_LIST, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ACK);
	opt(&hs, NBD_OPT_STRUCTURED_REPLY, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ACK);
	assert_true(hs.structured);
	/* ...STARTTLS with data is invalid and changes nothing... */
	opt(&hs, NBD_OPT_STARTTLS, "x", 1, VP_NBD_HS_CONTINUE, NBD_REP_ERR_INVALID);
	assert_false(hs.tls);
	assert_true(hs.structured);
	/* ...an empty one is acknowledged and forgets what came before it. */
	opt(&hs, NBD_OPT_STARTTLS, NULL, 0, VP_NBD_HS_STARTTLS, NBD_REP_ACK);
	assert_true(hs.tls);
	assert_false(hs.structured);
	assert_null(hs.meta_export);
	opt(&hs, NBD_OPT_STARTTLS, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ERR_INVALID);
	opt(&hs, NBD_OPT_GO, go_disk0, sizeof(go_disk0), VP_NBD_HS_GO, NBD_REP_ACK);
}

static void test_require_before_tls(void **state)
{
	static const uint32_t refused[] = {
		NBD_OPT_LIST, NBD_OPT_INFO, NBD_OPT_GO, NBD_OPT_STRUCTURED_REPLY,
		NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT, 4242,
	};
	struct vp_nbd_hs hs;
	struct vp_nbd_buf out = { 0 };

	(void)state;
	hs_init(&hs, VP_NBD_TLS_REQUIRE);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		opt(&hs, refused[i], go_disk0, sizeof(go_disk0), VP_NBD_HS_CONTINUE,
		    NBD_REP_ERR_TLS_REQD);
	assert_false(hs.structured);
	assert_null(hs.chosen);
	/* EXPORT_NAME cannot be refused: the session ends, nothing sent. */
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const unsigned char *)"disk0", 5,
					  &out), -EACCES);
	assert_int_equal(out.len, 0);
	assert_null(hs.chosen);
	vp_nbd_buf_free(&out);
	opt(&hs, NBD_OPT_ABORT, NULL, 0, VP_NBD_HS_CLOSE, NBD_REP_ACK);
}

static void test_require_after_tls(void **state)
{
	struct vp_nbd_hs hs;
	struct vp_nbd_buf out = { 0 };

	(void)state;
	hs_init(&hs, VP_NBD_TLS_REQUIRE);
	opt(&hs, NBD_OPT_STARTTLS, "x", 1, VP_NBD_HS_CONTINUE, NBD_REP_ERR_INVALID);
	opt(&hs, NBD_OPT_STARTTLS, NULL, 0, VP_NBD_HS_STARTTLS, NBD_REP_ACK);
	/* Never TLS_REQD once TLS runs. */
	opt(&hs, NBD_OPT_LIST, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ACK);
	opt(&hs, NBD_OPT_STARTTLS, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ERR_INVALID);
	opt(&hs, 4242, NULL, 0, VP_NBD_HS_CONTINUE, NBD_REP_ERR_UNSUP);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const unsigned char *)"disk0", 5,
					  &out), VP_NBD_HS_GO);
	assert_int_equal(out.len, 10); /* size and flags, NO_ZEROES */
	assert_ptr_equal(hs.chosen, &exports[0]);
	vp_nbd_buf_free(&out);
}

static void test_require_oldstyle_client(void **state)
{
	struct vp_nbd_hs hs = { .exports = exports, .n_exports = 1, .tls_mode = VP_NBD_TLS_REQUIRE };
	struct vp_nbd_buf out = { 0 };

	(void)state;
	/* Without fixed newstyle there is no TLS: STARTTLS closes, EXPORT_NAME too. */
	assert_int_equal(vp_nbd_hs_client_flags(&hs, 0), 0);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_STARTTLS, NULL, 0, &out), VP_NBD_HS_CLOSE);
	assert_int_equal(vp_nbd_hs_option(&hs, NBD_OPT_EXPORT_NAME, (const unsigned char *)"disk0", 5,
					  &out), -EACCES);
	assert_int_equal(out.len, 0);
	vp_nbd_buf_free(&out);
}

static int parse(const char *text, struct vp_nbd_psk *psk)
{
	struct vp_error err = { 0 };

	return vp_nbd_psk_parse(text, strlen(text), psk, &err);
}

static void test_psk_parse(void **state)
{
	struct vp_nbd_psk psk;
	const struct vp_nbd_psk_entry *e;
	char big[600];

	(void)state;
	assert_int_equal(parse("alice:00ff10\r\n\nbob:ABCDEF", &psk), 0);
	assert_int_equal(psk.n, 2);
	e = vp_nbd_psk_find(&psk, "alice");
	assert_non_null(e);
	assert_int_equal(e->key_len, 3);
	assert_memory_equal(e->key, "\x00\xff\x10", 3);
	e = vp_nbd_psk_find(&psk, "bob");
	assert_non_null(e);
	assert_memory_equal(e->key, "\xab\xcd\xef", 3);
	assert_null(vp_nbd_psk_find(&psk, "carol"));
	assert_null(vp_nbd_psk_find(&psk, "alic"));
	vp_nbd_psk_free(&psk);
	assert_int_equal(psk.n, 0);

	assert_int_equal(parse("", &psk), -EINVAL);
	assert_int_equal(parse("\n\n", &psk), -EINVAL);
	assert_int_equal(parse("alice", &psk), -EINVAL);          /* no key */
	assert_int_equal(parse("alice:", &psk), -EINVAL);
	assert_int_equal(parse(":00", &psk), -EINVAL);            /* no user */
	assert_int_equal(parse("alice:0", &psk), -EINVAL);        /* odd digits */
	assert_int_equal(parse("alice:0g", &psk), -EINVAL);
	assert_int_equal(parse("alice:00 ", &psk), -EINVAL);
	assert_int_equal(parse("al\tice:00", &psk), -EINVAL);     /* control character */
	assert_int_equal(parse("alice:00:11", &psk), -EINVAL);
	assert_int_equal(parse("a:00\na:11", &psk), -EINVAL);     /* user twice */
	assert_int_equal(parse("a:00\nbroken", &psk), -EINVAL);   /* nothing kept */
	assert_int_equal(psk.n, 0);
	assert_null(psk.v);
	/* Limits: 256-byte keys, 128-byte users. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "u:", 2);
	big[2 + 2 * VP_NBD_PSK_MAX_KEY] = 0;
	assert_int_equal(parse(big, &psk), 0);
	vp_nbd_psk_free(&psk);
	big[2 + 2 * VP_NBD_PSK_MAX_KEY] = 'a';
	big[4 + 2 * VP_NBD_PSK_MAX_KEY] = 0;
	assert_int_equal(parse(big, &psk), -EINVAL);
	memset(big, 'u', sizeof(big));
	memcpy(big + VP_NBD_PSK_MAX_USER, ":00", 4);
	assert_int_equal(parse(big, &psk), 0);
	vp_nbd_psk_free(&psk);
	memcpy(big + VP_NBD_PSK_MAX_USER, "u:00", 5);
	assert_int_equal(parse(big, &psk), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_on),
		cmocka_unit_test(test_require_before_tls),
		cmocka_unit_test(test_require_after_tls),
		cmocka_unit_test(test_require_oldstyle_client),
		cmocka_unit_test(test_psk_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
