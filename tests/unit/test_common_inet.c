/* test_common_inet.c - address, prefix and MAC parsing and arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "common/inet.h"

static void test_parse_format(void **state)
{
	char buf[VP_PREFIX_STRLEN];
	struct vp_prefix p;
	struct vp_ip ip;

	(void)state;
	assert_int_equal(vp_ip_parse("10.1.2.3", &ip), 0);
	assert_int_equal(ip.family, AF_INET);
	assert_string_equal(vp_ip_str(&ip, buf), "10.1.2.3");
	assert_int_equal(vp_ip_parse("fd00::1", &ip), 0);
	assert_int_equal(ip.family, AF_INET6);
	assert_int_equal(vp_prefix_parse("10.1.2.3/24", &p), 0);
	assert_int_equal(p.len, 24);
	assert_string_equal(vp_prefix_str(&p, buf), "10.1.2.3/24");
	assert_int_equal(vp_prefix_parse("fd00::5/64", &p), 0);
	assert_string_equal(vp_prefix_str(&p, buf), "fd00::5/64");

	assert_int_equal(vp_ip_parse("10.1.2", &ip), -EINVAL);
	assert_int_equal(vp_ip_parse("", &ip), -EINVAL);
	assert_int_equal(vp_prefix_parse("10.1.2.3", &p), -EINVAL);
	assert_int_equal(vp_prefix_parse("10.1.2.3/33", &p), -EINVAL);
	assert_int_equal(vp_prefix_parse("10.1.2.3/", &p), -EINVAL);
	assert_int_equal(vp_prefix_parse("10.1.2.3/-1", &p), -EINVAL);
	assert_int_equal(vp_prefix_parse("10.1.2.3/2x", &p), -EINVAL);
	assert_int_equal(vp_prefix_parse("/24", &p), -EINVAL);
	assert_int_equal(vp_prefix_parse("fd00::/129", &p), -EINVAL);
}

static void test_mac(void **state)
{
	char buf[VP_MAC_STRLEN];
	struct vp_mac mac;

	(void)state;
	assert_int_equal(vp_mac_parse("0A:58:0a:01:02:03", &mac), 0);
	assert_string_equal(vp_mac_str(&mac, buf), "0a:58:0a:01:02:03");
	assert_int_equal(vp_mac_parse("0a:58:0a:01:02", &mac), -EINVAL);
	assert_int_equal(vp_mac_parse("0a-58-0a-01-02-03", &mac), -EINVAL);
	assert_int_equal(vp_mac_parse("0a:58:0a:01:02:03x", &mac), -EINVAL);
	vp_mac_random(&mac);
	assert_int_equal(mac.addr[0] & 0x03, 0x02);
}

static void test_network_contains(void **state)
{
	struct vp_prefix p, net;
	struct vp_ip ip;
	char buf[VP_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(vp_prefix_parse("10.1.2.3/20", &p), 0);
	net = vp_prefix_network(&p);
	assert_string_equal(vp_prefix_str(&net, buf), "10.1.0.0/20");
	assert_int_equal(vp_ip_parse("10.1.15.255", &ip), 0);
	assert_true(vp_prefix_contains(&p, &ip));
	assert_int_equal(vp_ip_parse("10.1.16.0", &ip), 0);
	assert_false(vp_prefix_contains(&p, &ip));
	assert_int_equal(vp_ip_parse("fd00::1", &ip), 0);
	assert_false(vp_prefix_contains(&p, &ip));
	assert_int_equal(vp_prefix_parse("fd00:1:2:3::9/64", &p), 0);
	net = vp_prefix_network(&p);
	assert_string_equal(vp_prefix_str(&net, buf), "fd00:1:2:3::/64");
	assert_int_equal(vp_prefix_parse("0.0.0.0/0", &p), 0);
	assert_int_equal(vp_ip_parse("192.168.1.1", &ip), 0);
	assert_true(vp_prefix_contains(&p, &ip));
}

static void test_arithmetic(void **state)
{
	struct vp_ip a, b, r;
	char buf[VP_IP_STRLEN];
	int64_t d;

	(void)state;
	assert_int_equal(vp_ip_parse("10.0.0.255", &a), 0);
	assert_int_equal(vp_ip_add(&a, 1, &r), 0);
	assert_string_equal(vp_ip_str(&r, buf), "10.0.1.0");
	assert_int_equal(vp_ip_add(&r, -257, &r), 0);
	assert_string_equal(vp_ip_str(&r, buf), "9.255.255.255");
	assert_int_equal(vp_ip_parse("255.255.255.255", &a), 0);
	assert_int_equal(vp_ip_add(&a, 1, &r), -ERANGE);
	assert_int_equal(vp_ip_parse("0.0.0.0", &a), 0);
	assert_int_equal(vp_ip_add(&a, -1, &r), -ERANGE);

	assert_int_equal(vp_ip_parse("fd00::ffff:ffff:ffff:ffff", &a), 0);
	assert_int_equal(vp_ip_add(&a, 1, &r), 0);
	assert_string_equal(vp_ip_str(&r, buf), "fd00:0:0:1::");
	assert_int_equal(vp_ip_diff(&a, &r, &d), 0);
	assert_int_equal(d, 1);
	assert_int_equal(vp_ip_diff(&r, &a, &d), 0);
	assert_int_equal(d, -1);

	assert_int_equal(vp_ip_parse("10.0.0.1", &a), 0);
	assert_int_equal(vp_ip_parse("10.0.1.1", &b), 0);
	assert_int_equal(vp_ip_diff(&a, &b, &d), 0);
	assert_int_equal(d, 256);
	assert_int_equal(vp_ip_parse("fd00::1", &a), 0);
	assert_int_equal(vp_ip_parse("fe00::1", &b), 0);
	assert_int_equal(vp_ip_diff(&a, &b, &d), -ERANGE);
	assert_int_equal(vp_ip_parse("10.0.0.1", &b), 0);
	assert_int_equal(vp_ip_diff(&a, &b, &d), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_network_contains),
		cmocka_unit_test(test_arithmetic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
