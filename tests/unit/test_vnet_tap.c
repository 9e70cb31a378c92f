/* test_vnet_tap.c - persistent tap creation and inspection, each test in a
 * private network namespace.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vnet/link.h"
#include "vnet/nl.h"
#include "vnet/tap.h"

static int setup(void **state)
{
	struct vp_nl *nl = NULL;
	struct vp_error err = { 0 };

	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	if (vp_nl_open(&nl, &err) < 0)
		return -1;
	*state = nl;
	return 0;
}

static int teardown(void **state)
{
	vp_nl_close(*state);
	return 0;
}

static struct vp_tap_config tap_cfg(const char *name)
{
	return (struct vp_tap_config){ .name = name, .queues = 1, .owner = -1, .group = -1 };
}

static void assert_no_link(struct vp_nl *nl, const char *name)
{
	struct vp_link_info info;
	struct vp_error err = { 0 };

	assert_int_equal(vp_link_by_name(nl, name, &info, &err), -ENODEV);
}

static void test_create_plain(void **state)
{
	struct vp_tap_config cfg = tap_cfg("vptap0");
	struct vp_link_info info;
	struct vp_tap_state st;
	struct vp_error err = { 0 };

	assert_int_equal(vp_tap_create(*state, &cfg, &info, &err), 0);
	assert_true(info.ifindex > 0);
	assert_string_equal(info.name, "vptap0");
	assert_string_equal(info.kind, "tun");
	assert_true(info.up);
	/* Persistent: the creating fd is closed and the tap is still there. */
	assert_int_equal(vp_link_by_name(*state, "vptap0", &info, &err), 0);
	assert_int_equal(vp_tap_inspect("vptap0", &st, &err), 0);
	assert_false(st.vnet_hdr);
	assert_false(st.multi_queue);
	assert_true(st.persist);
	assert_int_equal(st.owner, -1);
	assert_int_equal(st.group, -1);
}

static void test_create_vnet_hdr_owner(void **state)
{
	struct vp_tap_config cfg = tap_cfg("vptap1");
	struct vp_tap_state st;
	struct vp_error err = { 0 };

	cfg.vnet_hdr = true;
	cfg.owner = 1234;
	cfg.group = 4321;
	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), 0);
	assert_int_equal(vp_tap_inspect("vptap1", &st, &err), 0);
	assert_true(st.vnet_hdr);
	assert_false(st.multi_queue);
	assert_int_equal(st.owner, 1234);
	assert_int_equal(st.group, 4321);
}

static void test_create_multi_queue(void **state)
{
	struct vp_tap_config cfg = tap_cfg("vptap2");
	struct vp_tap_config one = tap_cfg("vptap3");
	struct vp_tap_state st;
	struct vp_error err = { 0 };

	cfg.queues = 4;
	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), 0);
	assert_int_equal(vp_tap_inspect("vptap2", &st, &err), 0);
	assert_true(st.multi_queue);

	one.multi_queue = true;
	assert_int_equal(vp_tap_create(*state, &one, NULL, &err), 0);
	assert_int_equal(vp_tap_inspect("vptap3", &st, &err), 0);
	assert_true(st.multi_queue);
}

static void test_mtu_mac(void **state)
{
	struct vp_tap_config cfg = tap_cfg("vptap4");
	struct vp_link_info info;
	struct vp_mac mac;
	struct vp_error err = { 0 };

	assert_int_equal(vp_mac_parse("02:11:22:33:44:55", &mac), 0);
	cfg.mtu = 9000;
	cfg.mac = &mac;
	assert_int_equal(vp_tap_create(*state, &cfg, &info, &err), 0);
	assert_int_equal(info.mtu, 9000);
	assert_memory_equal(info.mac.addr, mac.addr, 6);
	assert_int_equal(vp_link_by_name(*state, "vptap4", &info, &err), 0);
	assert_int_equal(info.mtu, 9000);
	assert_memory_equal(info.mac.addr, mac.addr, 6);
}

static void test_eexist(void **state)
{
	struct vp_tap_config cfg = tap_cfg("vptap5");
	struct vp_error err = { 0 };

	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), 0);
	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "vptap5"));
	/* A non-tap link of that name ("lo") is refused the same way. */
	cfg.name = "lo";
	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), -EEXIST);
}

static void test_no_leak_on_failure(void **state)
{
	struct vp_tap_config cfg = tap_cfg("vptap6");
	struct vp_error err = { 0 };

	cfg.mtu = 100000;
	assert_true(vp_tap_create(*state, &cfg, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "vptap6"));
	assert_no_link(*state, "vptap6");
	/* The name is free again afterwards. */
	cfg.mtu = 0;
	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), 0);
}

static void test_bad_input(void **state)
{
	struct vp_tap_config cfg = tap_cfg("a-name-that-is-too-long");
	struct vp_tap_state st;
	struct vp_error err = { 0 };

	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), -EINVAL);
	cfg = tap_cfg("vptap7");
	cfg.queues = 0;
	assert_int_equal(vp_tap_create(*state, &cfg, NULL, &err), -EINVAL);
	assert_no_link(*state, "vptap7");
	assert_int_equal(vp_tap_inspect("vptap7", &st, &err), -ENODEV);
	assert_int_equal(vp_tap_inspect("lo", &st, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_vnet_hdr_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_multi_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtu_mac, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eexist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_leak_on_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
