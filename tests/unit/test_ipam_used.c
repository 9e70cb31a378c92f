/* test_ipam_used.c - taken-address maps of the IPAM allocator: bitmap and
 * past it a hash set, the round-robin search across word boundaries and
 * from bitmap to hash set, gateways,
 * several ranges, wrap-around and exhaustion. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cni/ipam/used.h"

static struct vp_ip ip_of(const char *text)
{
	struct vp_ip ip;

	assert_int_equal(vp_ip_parse(text, &ip), 0);
	return ip;
}

/* A range of subnet with optional start, end and gateway ("" = default). */
static void range(struct vp_ipam_range *r, const char *subnet, const char *start,
		  const char *end, const char *gw)
{
	struct vp_prefix p;
	struct vp_ip s = { 0 }, e = { 0 }, g = { 0 };
	struct vp_error err;

	assert_int_equal(vp_prefix_parse(subnet, &p), 0);
	if (*start)
		s = ip_of(start);
	if (*end)
		e = ip_of(end);
	if (*gw)
		g = ip_of(gw);
	if (vp_ipam_range_init(r, &p, &s, &e, &g, "r", &err))
		fail_msg("%s", err.msg);
}

static void mark(struct vp_ipam_used *u, const char *text)
{
	struct vp_ip ip = ip_of(text);

	assert_int_equal(vp_ipam_used_set(u, &ip), 0);
	assert_true(vp_ipam_used_test(u, &ip));
	assert_int_equal(vp_ipam_used_set(u, &ip), -EEXIST);
}

/* Mark first, first+1, ... (count addresses). */
static void mark_run(struct vp_ipam_used *u, const char *first, int count)
{
	struct vp_ip ip = ip_of(first);

	for (int i = 0; i < count; i++) {
		assert_int_equal(vp_ipam_used_set(u, &ip), 0);
		assert_int_equal(vp_ip_add(&ip, 1, &ip), 0);
	}
}

static void expect_free(const struct vp_ipam_used *u, size_t n, const char *cursor,
			const char *want)
{
	struct vp_ip cur = { 0 }, got;
	char buf[VP_IP_STRLEN];

	if (*cursor)
		cur = ip_of(cursor);
	assert_int_equal(vp_ipam_used_find_free(u, n, &cur, &got), 0);
	assert_string_equal(vp_ip_str(&got, buf), want);
}

/* Mark every address of u's range but the gateway and except. */
static void fill_all_but(struct vp_ipam_used *u, const char *except)
{
	struct vp_ip ip = u->r->start, keep = ip_of(except);

	for (;;) {
		if (!vp_ip_equal(&ip, &u->r->gateway) && !vp_ip_equal(&ip, &keep) &&
		    !vp_ipam_used_test(u, &ip))
			assert_int_equal(vp_ipam_used_set(u, &ip), 0);
		if (vp_ip_equal(&ip, &u->r->end))
			break;
		assert_int_equal(vp_ip_add(&ip, 1, &ip), 0);
	}
}

static void expect_full(const struct vp_ipam_used *u, size_t n, const char *cursor)
{
	struct vp_ip cur = ip_of(cursor), got;

	assert_int_equal(vp_ipam_used_find_free(u, n, &cur, &got), -ENOSPC);
}

static void test_bitmap(void **state)
{
	struct vp_ipam_range r;
	struct vp_ipam_used u;

	(void)state;
	range(&r, "10.0.0.0/23", "", "", "");
	assert_int_equal(vp_ipam_used_init(&u, &r), 0);
	assert_non_null(u.bits);
	assert_int_equal(u.size, 510);
	expect_free(&u, 1, "", "10.0.0.2");              /* .1 is the gateway */
	mark_run(&u, "10.0.0.2", 130);                   /* across two 64-bit words */
	expect_free(&u, 1, "", "10.0.0.132");
	expect_free(&u, 1, "10.0.0.50", "10.0.0.132");
	mark(&u, "10.0.1.201");
	expect_free(&u, 1, "10.0.1.200", "10.0.1.202");
	expect_free(&u, 1, "10.0.1.254", "10.0.0.132");  /* the end wraps to the start */
	expect_free(&u, 1, "192.168.0.1", "10.0.0.132"); /* cursor elsewhere: from the start */
	fill_all_but(&u, "10.0.1.7");
	expect_free(&u, 1, "10.0.1.100", "10.0.1.7");
	expect_free(&u, 1, "10.0.1.7", "10.0.1.7");      /* the cursor itself comes last */
	mark(&u, "10.0.1.7");
	expect_full(&u, 1, "10.0.1.7");
	vp_ipam_used_exit(&u);
}

static void test_past_the_bitmap(void **state)
{
	struct vp_ipam_range r[2];
	struct vp_ipam_used u[2];
	char buf[VP_IP_STRLEN];

	(void)state;
	range(&r[0], "10.0.0.0/7", "", "", "");          /* 2^25 addresses */
	range(&r[1], "fd00::/64", "", "", "");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vp_ipam_used_init(&u[i], &r[i]), 0);
		assert_true(u[i].beyond);
	}
	assert_string_equal(vp_ip_str(&u[0].last, buf), "11.0.0.0");
	mark_run(&u[0], "10.0.0.2", 100);
	assert_int_equal(u[0].hash_n, 0);
	expect_free(&u[0], 1, "", "10.0.0.102");
	expect_free(&u[0], 1, "11.255.255.254", "10.0.0.102");   /* the end wraps */
	mark_run(&u[0], "11.0.0.1", 100);                /* past the bitmap: grows the hash */
	assert_int_equal(u[0].hash_n, 100);
	expect_free(&u[0], 1, "11.0.0.0", "11.0.0.101");
	expect_free(&u[0], 1, "10.255.255.250", "10.255.255.251");
	mark_run(&u[0], "10.255.255.251", 6);            /* up to the bitmap's last address */
	expect_free(&u[0], 1, "10.255.255.250", "11.0.0.101");   /* from bitmap to hash */
	mark(&u[0], "11.255.255.254");
	expect_free(&u[0], 1, "11.255.255.253", "10.0.0.102");
	mark_run(&u[1], "fd00::ffff:ffff:ffff:fffe", 2);
	expect_free(&u[1], 1, "fd00::ffff:ffff:ffff:fffd", "fd00::2");
	mark(&u[1], "fd00::2");
	mark(&u[1], "fd00::100:0");                      /* the bitmap's last address */
	mark(&u[1], "fd00::100:1");                      /* the first past it */
	expect_free(&u[1], 1, "fd00::ff:fffe", "fd00::ff:ffff");
	expect_free(&u[1], 1, "fd00::ff:ffff", "fd00::100:2");
	for (int i = 0; i < 2; i++)
		vp_ipam_used_exit(&u[i]);
}

static void test_several_ranges(void **state)
{
	struct vp_ipam_range r[2];
	struct vp_ipam_used u[2];

	(void)state;
	range(&r[0], "10.1.0.0/24", "10.1.0.250", "", "");
	range(&r[1], "10.2.0.0/24", "", "10.2.0.3", "10.2.0.2");
	for (int i = 0; i < 2; i++)
		assert_int_equal(vp_ipam_used_init(&u[i], &r[i]), 0);
	expect_free(u, 2, "", "10.1.0.250");
	mark(&u[0], "10.1.0.250");
	expect_free(u, 2, "10.2.0.3", "10.1.0.251");     /* wraps from the last range */
	mark_run(&u[0], "10.1.0.251", 4);
	expect_free(u, 2, "10.1.0.252", "10.2.0.1");     /* on to the next range */
	mark(&u[1], "10.2.0.1");
	expect_free(u, 2, "10.2.0.1", "10.2.0.3");       /* over the gateway in the middle */
	mark(&u[1], "10.2.0.3");
	expect_full(u, 2, "10.2.0.3");
	expect_full(u, 2, "10.1.0.251");
	for (int i = 0; i < 2; i++)
		vp_ipam_used_exit(&u[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bitmap),
		cmocka_unit_test(test_past_the_bitmap),
		cmocka_unit_test(test_several_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
