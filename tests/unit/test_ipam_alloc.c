/* test_ipam_alloc.c - the allocator and its state log: v4, v6, dual stack,
 * round robin, requested addresses, exhaustion (all or nothing), idempotent
 * ADD, DEL, CHECK, GC, STATUS, reload, 10,000 allocations, damaged files,
 * torn appends, released records blanked, compaction. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/statefile.h"
#include "cni/core/cni.h"
#include "cni/ipam/allocator.h"
#include "cni/ipam/config.h"
#include "cni/ipam/store.h"

struct fixture {
	char dir[64];
	struct vp_ipam_config cfg;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/vp-ipam-test-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vp_ipam_config_free(&f->cfg);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Parse a config whose "ipam" body is ranges_json (dataDir is the fixture's). */
static void configure(struct fixture *f, const char *ranges_json)
{
	char text[2048];
	json_error_t jerr;
	struct vp_error err;
	json_t *j;

	vp_ipam_config_free(&f->cfg);
	snprintf(text, sizeof(text), "{\"name\":\"net\",\"ipam\":{\"dataDir\":\"%s\",%s}}", f->dir,
		 ranges_json);
	j = json_loads(text, 0, &jerr);
	assert_non_null(j);
	if (vp_ipam_config_parse(j, &f->cfg, &err))
		fail_msg("config: %s", err.msg);
	json_decref(j);
}

/* ADD for (cid, eth0); returns the addresses as "a,b" in out. */
static int add(struct fixture *f, const char *cid, char *out, struct vp_error *err)
{
	struct vp_cni_result res = { 0 };
	int ret = vp_ipam_add(&f->cfg, cid, "eth0", &res, err);

	out[0] = '\0';
	for (size_t i = 0; i < res.n_ips; i++) {
		char buf[VP_PREFIX_STRLEN];

		strcat(out, i ? "," : "");
		strcat(out, vp_prefix_str(&res.ips[i].address, buf));
	}
	assert_int_equal(res.n_interfaces, 0);
	vp_cni_result_clear(&res);
	return ret;
}

static void add_ok(struct fixture *f, const char *cid, const char *want)
{
	struct vp_error err;
	char got[256];

	if (add(f, cid, got, &err))
		fail_msg("ADD %s: %s", cid, err.msg);
	assert_string_equal(got, want);
}

static void del_ok(struct fixture *f, const char *cid)
{
	struct vp_error err;

	if (vp_ipam_del(&f->cfg, cid, "eth0", &err))
		fail_msg("DEL %s: %s", cid, err.msg);
}

static char *state_text(struct fixture *f)
{
	char path[128], *buf = NULL;
	size_t len;
	struct vp_error err;

	snprintf(path, sizeof(path), "%s/net/state", f->dir);
	if (vp_statefile_read(path, &buf, &len, &err))
		return strdup("");
	return buf;
}

static size_t live_count(struct fixture *f)
{
	struct vp_ipam_store *s;
	struct vp_error err;
	size_t n;

	assert_int_equal(vp_ipam_store_open(&f->cfg, NULL, NULL, &s, &err), 0);
	n = s->live;
	vp_ipam_store_close(s);
	return n;
}

#define V4 "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}]]"
#define SMALL "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.10\"," \
	      "\"rangeEnd\":\"10.1.0.12\"}]]"

static void test_v4_sequence_and_result(void **state)
{
	struct fixture *f = *state;
	struct vp_cni_result res = { 0 };
	struct vp_error err;
	char buf[VP_IP_STRLEN];

	configure(f, V4 ",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"}]");
	assert_int_equal(vp_ipam_add(&f->cfg, "c1", "eth0", &res, &err), 0);
	assert_int_equal(res.n_ips, 1);
	assert_string_equal(vp_ip_str(&res.ips[0].address.ip, buf), "10.1.0.2");
	assert_int_equal(res.ips[0].address.len, 24);
	assert_string_equal(vp_ip_str(&res.ips[0].gateway, buf), "10.1.0.1");
	assert_int_equal(res.ips[0].interface, -1);
	assert_int_equal(res.n_routes, 1);
	assert_null(res.dns);
	vp_cni_result_clear(&res);
	add_ok(f, "c2", "10.1.0.3/24");
}

static void test_v6_and_dual_stack(void **state)
{
	struct fixture *f = *state;

	configure(f, "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"fd00:1::/64\"}]]");
	add_ok(f, "c1", "10.1.0.2/24,fd00:1::2/64");
	add_ok(f, "c2", "10.1.0.3/24,fd00:1::3/64");
	configure(f, "\"ranges\":[[{\"subnet\":\"fd00:2::/120\",\"gateway\":\"fd00:2::ff\"}]]");
	add_ok(f, "c3", "fd00:2::1/120");
}

static void test_multi_range_set(void **state)
{
	struct fixture *f = *state;

	configure(f, "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.250\"},"
		  "{\"subnet\":\"10.2.0.0/24\",\"rangeEnd\":\"10.2.0.3\"}]]");
	add_ok(f, "a", "10.1.0.250/24");
	add_ok(f, "b", "10.1.0.251/24");
	add_ok(f, "c", "10.1.0.252/24");
	add_ok(f, "d", "10.1.0.253/24");
	add_ok(f, "e", "10.1.0.254/24");
	add_ok(f, "g", "10.2.0.2/24");   /* 10.2.0.1 is that range's gateway */
	add_ok(f, "h", "10.2.0.3/24");
}

static void test_round_robin_and_exhaustion(void **state)
{
	struct fixture *f = *state;
	struct vp_error err;
	char got[256];

	configure(f, SMALL);
	add_ok(f, "a", "10.1.0.10/24");
	add_ok(f, "b", "10.1.0.11/24");
	del_ok(f, "a");
	add_ok(f, "c", "10.1.0.12/24");      /* round robin: not the freed .10 */
	add_ok(f, "d", "10.1.0.10/24");      /* wraps around */
	assert_true(add(f, "e", got, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_EXHAUSTED);
	assert_non_null(strstr(err.msg, "range set 0 (10.1.0.10-10.1.0.12)"));
	assert_true(vp_ipam_status(&f->cfg, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_NOT_AVAILABLE);
	assert_non_null(strstr(err.msg, "range set 0"));
	del_ok(f, "b");
	assert_int_equal(vp_ipam_status(&f->cfg, &err), 0);
	add_ok(f, "e", "10.1.0.11/24");
}

static void test_exhaustion_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct vp_error err;
	char got[256], *before, *after;

	configure(f, "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"10.2.0.0/30\"}]]");
	add_ok(f, "a", "10.1.0.2/24,10.2.0.2/30");
	before = state_text(f);
	assert_true(add(f, "b", got, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_EXHAUSTED);
	assert_non_null(strstr(err.msg, "range set 1"));
	after = state_text(f);
	assert_string_equal(before, after);  /* nothing taken from range set 0 */
	free(before);
	free(after);
	assert_int_equal(live_count(f), 2);
}

static void test_requested_ip(void **state)
{
	struct fixture *f = *state;
	struct vp_error err;
	char got[256];

	configure(f, V4);
	f->cfg.requested[0].family = AF_INET;
	assert_int_equal(vp_ip_parse("10.1.0.77", &f->cfg.requested[0]), 0);
	add_ok(f, "a", "10.1.0.77/24");
	assert_true(add(f, "b", got, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_TRY_AGAIN);
	assert_non_null(strstr(err.msg, "10.1.0.77 is already allocated to container a ifname eth0"));
	assert_int_equal(vp_ip_parse("10.1.0.78", &f->cfg.requested[0]), 0);
	assert_true(add(f, "a", got, &err) < 0);   /* a already holds .77 */
	assert_int_equal(err.code, VP_CNI_ERR_ATTACHMENT_EXISTS);
	f->cfg.requested[0].family = 0;
	add_ok(f, "c", "10.1.0.78/24");      /* the cursor follows the requested address */
}

/* The same key ADDed again without DEL (maybe another pod, in another
 * netns) is refused: two pods must never share an address. */
static void test_repeated_add_refused_and_del_twice(void **state)
{
	struct fixture *f = *state;
	struct vp_error err;
	char got[256];

	configure(f, "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}]]");
	add_ok(f, "a", "10.1.0.2/24,fd00::2/64");
	assert_true(add(f, "a", got, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_ATTACHMENT_EXISTS);
	assert_non_null(strstr(err.msg, "container a ifname eth0 already holds 10.1.0.2"));
	assert_int_equal(live_count(f), 2);
	del_ok(f, "a");
	del_ok(f, "a");
	del_ok(f, "never-added");
	assert_int_equal(live_count(f), 0);
}

static void test_ifname_is_part_of_key(void **state)
{
	struct fixture *f = *state;
	struct vp_cni_result res = { 0 };
	struct vp_error err;

	configure(f, V4);
	add_ok(f, "a", "10.1.0.2/24");
	assert_int_equal(vp_ipam_add(&f->cfg, "a", "net1", &res, &err), 0);
	assert_int_equal(res.ips[0].address.ip.addr[3], 3);
	vp_cni_result_clear(&res);
	assert_int_equal(vp_ipam_del(&f->cfg, "a", "net1", &err), 0);
	assert_int_equal(live_count(f), 1);
	assert_true(vp_ipam_add(&f->cfg, "bad id", "eth0", &res, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_INVALID_ENV);
}

static void test_check(void **state)
{
	struct fixture *f = *state;
	struct vp_cni_result prev = { 0 };
	struct vp_error err;

	configure(f, V4);
	assert_int_equal(vp_ipam_add(&f->cfg, "a", "eth0", &prev, &err), 0);
	assert_int_equal(vp_ipam_check(&f->cfg, "a", "eth0", &prev, &err), 0);
	/* No allocation: not code 3, which would tell the runtime that no
	 * cleanup (DEL) is needed. */
	assert_true(vp_ipam_check(&f->cfg, "b", "eth0", &prev, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_SYSTEM);
	add_ok(f, "b", "10.1.0.3/24");
	assert_true(vp_ipam_check(&f->cfg, "b", "eth0", &prev, &err) < 0);   /* .2 is a's */
	assert_int_equal(err.code, VP_CNI_ERR_SYSTEM);
	assert_non_null(strstr(err.msg, "10.1.0.2 is not allocated to container b"));
	assert_true(vp_ipam_check(&f->cfg, "a", "eth0", NULL, &err) < 0);
	vp_cni_result_clear(&prev);
}

static void test_gc(void **state)
{
	struct fixture *f = *state;
	struct vp_cni_attachment valid[] = { { "c", "eth0" }, { "a", "eth0" }, { "zz", "eth0" } };
	struct vp_error err;
	char *text;

	configure(f, V4);
	add_ok(f, "a", "10.1.0.2/24");
	add_ok(f, "b", "10.1.0.3/24");
	add_ok(f, "c", "10.1.0.4/24");
	add_ok(f, "cc", "10.1.0.5/24");
	assert_int_equal(vp_ipam_gc(&f->cfg, valid, 3, &err), 0);
	text = state_text(f);
	assert_non_null(strstr(text, "\na 10.1.0.2 a eth0\n"));
	assert_non_null(strstr(text, "\na 10.1.0.4 c eth0\n"));
	assert_null(strstr(text, " b eth0"));
	assert_null(strstr(text, " cc eth0"));
	assert_null(strstr(text, "\n-"));   /* GC compacts: no released records left */
	free(text);
	assert_int_equal(vp_ipam_gc(&f->cfg, NULL, 0, &err), 0);
	assert_int_equal(live_count(f), 0);
}

static void test_status_unusable_dir(void **state)
{
	struct fixture *f = *state;
	char file[128];
	struct vp_error err;

	configure(f, V4);
	snprintf(file, sizeof(file), "%s/plainfile", f->dir);
	close(open(file, O_CREAT | O_WRONLY, 0600));
	free(f->cfg.data_dir);
	f->cfg.data_dir = strdup(file);
	assert_true(vp_ipam_status(&f->cfg, &err) < 0);
	assert_int_equal(err.code, VP_CNI_ERR_NOT_AVAILABLE);
}

static void test_state_reload(void **state)
{
	struct fixture *f = *state;
	struct vp_ipam_store *s;
	struct vp_error err;
	struct vp_ip ip;

	configure(f, "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}]]");
	add_ok(f, "a", "10.1.0.2/24,fd00::2/64");
	add_ok(f, "b", "10.1.0.3/24,fd00::3/64");
	assert_int_equal(vp_ipam_store_open(&f->cfg, "b", "eth0", &s, &err), 0);
	assert_int_equal(s->live, 4);
	assert_int_equal(s->n_held, 2);
	assert_int_equal(vp_ip_parse("fd00::3", &ip), 0);
	assert_true(vp_ip_equal(&s->held[1].ip, &ip));
	assert_true(vp_ipam_rec_is(&s->held[1], "b", "eth0"));
	assert_true(vp_ipam_store_used(s, &ip));
	assert_int_equal(vp_ip_parse("fd00::4", &ip), 0);
	assert_false(vp_ipam_store_used(s, &ip));
	ip = vp_ipam_store_cursor(s, 0);
	assert_int_equal(ip.addr[3], 3);
	vp_ipam_store_close(s);
}

static void test_ten_thousand(void **state)
{
	struct fixture *f = *state;
	struct vp_ipam_store *s;
	struct vp_error err;
	struct vp_ip ip;
	char cid[32], got[64];

	configure(f, "\"ranges\":[[{\"subnet\":\"10.8.0.0/16\"}]]");
	assert_int_equal(vp_ipam_store_open(&f->cfg, NULL, NULL, &s, &err), 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(cid, sizeof(cid), "fill%05d", i);
		assert_int_equal(vp_ipam_store_find_free(s, 0, &ip), 0);
		assert_int_equal(vp_ipam_store_add(s, &ip, cid, "eth0", &err), 0);
		vp_ipam_store_set_cursor(s, 0, &ip);
	}
	assert_int_equal(vp_ipam_store_add(s, &ip, "dup", "eth0", &err), -EEXIST);
	assert_int_equal(vp_ipam_store_commit(s, &err), 0);
	vp_ipam_store_close(s);
	add_ok(f, "new", "10.8.39.18/16");   /* 10,000 after 10.8.0.1, then one more */
	del_ok(f, "fill00000");
	assert_int_equal(add(f, "fill00000", got, &err), 0);
	assert_string_equal(got, "10.8.39.19/16");
	/* Reloaded: every address distinct (the loader rejects duplicates). */
	assert_int_equal(vp_ipam_store_open(&f->cfg, "fill09999", "eth0", &s, &err), 0);
	assert_int_equal(s->live, 10001);
	assert_int_equal(s->n_held, 1);
	assert_int_equal(vp_ip_parse("10.8.39.17", &ip), 0);
	assert_true(vp_ip_equal(&s->held[0].ip, &ip));
	vp_ipam_store_close(s);
}

static void write_state(struct fixture *f, const char *text)
{
	char path[128];
	struct vp_error err;

	snprintf(path, sizeof(path), "%s/net", f->dir);
	assert_int_equal(vp_mkdir_p(path, 0755, &err), 0);
	strcat(path, "/state");
	assert_int_equal(vp_statefile_write(path, text, strlen(text), 0644, &err), 0);
}

#define HDR "vplumb-ipam 2\n"

static void test_damaged_state(void **state)
{
	struct fixture *f = *state;
	const struct { const char *text, *why; } cases[] = {
		{ "garbage\n", "line 1: missing header" },
		{ "", "line 1: missing header" },
		{ "vplumb-ipam 2", "line 1: missing header" },
		{ "vplumb-ipam 1\n10.1.0.2 a eth0\nend 1\n", "line 1: missing header" },
		{ HDR "a 10.1.0.2 a eth0\na 10.1.0.2 b eth0\n", "line 3: address allocated twice" },
		{ HDR "-\na 10.1.0.2 a eth0\nc 0 10.1.0.2\na 10.1.0.2 b eth0\n",
		  "line 5: address allocated twice" },
		{ HDR "a 10.1.0.x a eth0\n", "line 2: malformed" },
		{ HDR "a 10.1.0.02 a eth0\n", "line 2: malformed" },
		{ HDR "a 10.1.0.256 a eth0\n", "line 2: malformed" },
		{ HDR "a 10.1.0.2 a\n", "line 2: malformed" },
		{ HDR "a 10.1.0.2 a eth0 x\n", "line 2: malformed" },
		{ HDR "a 10.1.0.2 a toolonginterface\n", "line 2: malformed" },
		{ HDR "a  10.1.0.2 a eth0\n", "line 2: malformed" },
		{ HDR "c 0 nope\n", "line 2: malformed" },
		{ HDR "c 99999 10.1.0.2\n", "line 2: malformed" },
		{ HDR "c x 10.1.0.2\n", "line 2: malformed" },
		{ HDR "a 10.1.0.2 a eth0\n\n", "line 3: malformed" },
		{ HDR "end 0\n", "line 2: malformed" },
	};
	char got[64];

	configure(f, V4);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vp_error err;
		char *after;

		write_state(f, cases[i].text);
		assert_true(add(f, "a", got, &err) < 0);
		if (!strstr(err.msg, cases[i].why) || !strstr(err.msg, "damaged"))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].why);
		assert_int_equal(err.code, VP_CNI_ERR_IO);
		assert_true(vp_ipam_del(&f->cfg, "a", "eth0", &err) < 0);
		after = state_text(f);
		assert_string_equal(after, cases[i].text);   /* never reset */
		free(after);
	}
}

/* A crash mid-append leaves a last line without newline: never acknowledged,
 * so it is not an allocation, and the next session cuts it away. */
static void test_torn_append(void **state)
{
	struct fixture *f = *state;
	char *text;

	configure(f, V4);
	write_state(f, HDR "a 10.1.0.2 a eth0\nc 0 10.1.0.2\na 10.1.0.3 b et");
	assert_int_equal(live_count(f), 1);
	text = state_text(f);
	assert_string_equal(text, HDR "a 10.1.0.2 a eth0\nc 0 10.1.0.2\n");
	free(text);
	write_state(f, HDR "a 10.1.0.2 a eth0\nc 0 10.1.0.2\na 10.1.0.3 b et");
	del_ok(f, "b");
	add_ok(f, "b", "10.1.0.3/24");
	text = state_text(f);
	assert_string_equal(text, HDR "a 10.1.0.2 a eth0\nc 0 10.1.0.2\n"
			    "a 10.1.0.3 b eth0\nc 0 10.1.0.3\n");
	free(text);
}

/* DEL releases in place: the record turns into '-' and blanks, so the
 * container ID is gone from the file, and the address is free again. */
static void test_del_blanks_record(void **state)
{
	struct fixture *f = *state;
	char *text;

	configure(f, SMALL);
	add_ok(f, "gone", "10.1.0.10/24");
	add_ok(f, "kept", "10.1.0.11/24");
	del_ok(f, "gone");
	text = state_text(f);
	assert_null(strstr(text, "gone"));
	assert_non_null(strstr(text, "\n-                    \n"));   /* "a 10.1.0.10 gone eth0" */
	assert_non_null(strstr(text, "\na 10.1.0.11 kept eth0\n"));
	free(text);
	add_ok(f, "c", "10.1.0.12/24");
	add_ok(f, "d", "10.1.0.10/24");
	assert_int_equal(live_count(f), 3);
}

/* Dead records beyond live ones plus the slack trigger one compacting
 * rewrite: live allocations and cursors survive, dead records go. */
static void test_compaction(void **state)
{
	struct fixture *f = *state;
	size_t cap = 1100 * 24, len;
	char *text = malloc(cap), *after;

	configure(f, "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"fd00::/64\"}]]");
	len = (size_t)sprintf(text, HDR "a 10.1.0.7 old eth0\n");
	for (int i = 0; i < 1000; i++)   /* 999 dead: 499 old cursors, 500 releases */
		len += (size_t)sprintf(text + len, i % 2 ? "-    \n" : "c 0 10.1.0.254\n");
	write_state(f, text);
	add_ok(f, "small", "10.1.0.2/24,fd00::2/64");   /* 1 live + 1 cursor: below the slack */
	after = state_text(f);
	assert_int_equal(strlen(after), len + strlen("a 10.1.0.2 small eth0\na fd00::2 small eth0\n"
						     "c 0 10.1.0.2\nc 1 fd00::2\n"));
	free(after);
	for (int i = 0; i < 60; i++)     /* now past 1024 + live */
		len += (size_t)sprintf(text + len, "c 1 fd00::2\n");
	write_state(f, text);
	add_ok(f, "next", "10.1.0.2/24,fd00::3/64");
	after = state_text(f);
	assert_string_equal(after, HDR "c 0 10.1.0.2\nc 1 fd00::3\na 10.1.0.7 old eth0\n"
			    "a 10.1.0.2 next eth0\na fd00::3 next eth0\n");
	free(after);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v4_sequence_and_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_and_dual_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_range_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_robin_and_exhaustion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_requested_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_add_refused_and_del_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ifname_is_part_of_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_unusable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ten_thousand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_blanks_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
