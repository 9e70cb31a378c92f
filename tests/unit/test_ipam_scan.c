/* test_ipam_scan.c - the IPAM state file's record parser: each record kind,
 * the torn last line, malformed lines, and random damage (which must give
 * -EBADMSG or valid records, never a read outside the buffer: run it under
 * ASan). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cni/ipam/scan.h"

#define HDR "vplumb-ipam 2\n"

/* Scan text (copied to an exact-size buffer) into recs; returns the last
 * result of vp_ipam_scan_next (0 at a clean end) or of scan_init. */
static int scan_all(const char *text, size_t len, struct vp_ipam_rec *recs, size_t max,
		    size_t *n, struct vp_ipam_scan *sc)
{
	char *buf = malloc(len ? len : 1);
	struct vp_ipam_rec rec;
	const char *why = NULL;
	int ret;

	memcpy(buf, text, len);
	*n = 0;
	if ((ret = vp_ipam_scan_init(sc, buf, len, &why))) {
		free(buf);
		return ret;
	}
	while ((ret = vp_ipam_scan_next(sc, &rec, &why)) > 0) {
		assert_true(rec.off + rec.len < sc->end);
		assert_int_equal(buf[rec.off + rec.len], '\n');
		if (rec.kind == VP_IPAM_REC_ALLOC)
			assert_true(vp_ipam_word_ok(rec.cid, rec.cid_len, VP_IPAM_MAX_CID) &&
				    vp_ipam_word_ok(rec.ifname, rec.ifname_len, VP_IPAM_MAX_IFNAME));
		if (*n < max) {
			/* Point the fields into text, which outlives buf. */
			if (rec.kind == VP_IPAM_REC_ALLOC) {
				rec.cid = text + (rec.cid - buf);
				rec.ifname = text + (rec.ifname - buf);
			}
			recs[*n] = rec;
		}
		++*n;
	}
	if (ret < 0)
		assert_non_null(why);
	free(buf);
	return ret;
}

static void test_records(void **state)
{
	const char *text = HDR "a 10.1.0.2 cid-1 eth0\nc 3 fd00::9\n- whatever\n"
			   "a fd00::2 x net1\na 0.0.0.0 c e\ntorn";
	struct vp_ipam_rec r[8];
	struct vp_ipam_scan sc;
	char buf[VP_IP_STRLEN];
	size_t n;

	(void)state;
	assert_int_equal(scan_all(text, strlen(text), r, 8, &n, &sc), 0);
	assert_int_equal(n, 5);
	assert_int_equal(sc.end, strlen(text) - 4);
	assert_int_equal(r[0].kind, VP_IPAM_REC_ALLOC);
	assert_string_equal(vp_ip_str(&r[0].ip, buf), "10.1.0.2");
	assert_int_equal(r[0].cid_len, 5);
	assert_memory_equal(r[0].cid, "cid-1", 5);
	assert_int_equal(r[0].ifname_len, 4);
	assert_memory_equal(r[0].ifname, "eth0", 4);
	assert_int_equal(r[0].off, strlen(HDR));
	assert_int_equal(r[0].len, strlen("a 10.1.0.2 cid-1 eth0"));
	assert_int_equal(r[1].kind, VP_IPAM_REC_CURSOR);
	assert_int_equal(r[1].set, 3);
	assert_string_equal(vp_ip_str(&r[1].ip, buf), "fd00::9");
	assert_int_equal(r[2].kind, VP_IPAM_REC_DEAD);
	assert_string_equal(vp_ip_str(&r[3].ip, buf), "fd00::2");
	assert_memory_equal(r[3].ifname, "net1", 4);
	assert_string_equal(vp_ip_str(&r[4].ip, buf), "0.0.0.0");
	assert_int_equal(sc.lineno, 6);
}

static void test_malformed(void **state)
{
	const char *bad[] = {
		"a 10.1.0.2 a eth0 x\n", "a 10.1.0.2 a\n", "a 10.1.0 a eth0\n", "a 10.1.0.2.3 a eth0\n",
		"a 1.2.3.1000 a eth0\n", "a 01.2.3.4 a eth0\n", "a fd00:::1 a eth0\n", "a\n", "a \n",
		"a 10.1.0.2  eth0\n", "a 10.1.0.2 a \n", "a 10.1.0.2 a\teth0\n", "c 0\n", "c 0 \n",
		"c 1024 10.1.0.2\n", "c -1 10.1.0.2\n", "c 0 10.1.0.2 x\n", "x\n", "\n", " a\n",
		"a 10.1.0.2 a eth0123456789abc\n",
	};
	struct vp_ipam_scan sc;
	struct vp_ipam_rec r;
	char text[128];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), HDR "%s", bad[i]);
		if (scan_all(text, strlen(text), &r, 1, &n, &sc) != -EBADMSG)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(sc.lineno, 2);
	}
	assert_int_equal(scan_all("vplumb-ipam 2", 13, &r, 1, &n, &sc), -EBADMSG);
	assert_int_equal(scan_all("", 0, &r, 1, &n, &sc), -EBADMSG);
	assert_int_equal(sc.lineno, 1);
}

/* Random damage to a valid file: never a crash or a read out of bounds. */
static void test_random_damage(void **state)
{
	const char *good = HDR "a 10.1.0.2 cid eth0\nc 0 10.1.0.2\n-        \na fd00::2 x net1\n";
	const char alphabet[] = " \n-ac0123456789.:fx\t\x01\x7f\xff";
	size_t len = strlen(good), n;
	struct vp_ipam_scan sc;
	struct vp_ipam_rec r;
	char text[128];
	unsigned seed = 1;
	int ret;

	(void)state;
	for (int iter = 0; iter < 50000; iter++) {
		size_t cut = len - (size_t)(rand_r(&seed) % 8);

		memcpy(text, good, len);
		for (int k = rand_r(&seed) % 4; k >= 0; k--)
			text[strlen(HDR) + (size_t)rand_r(&seed) % (len - strlen(HDR))] =
				alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		ret = scan_all(text, cut, &r, 1, &n, &sc);
		assert_true(ret == 0 || ret == -EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_random_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
