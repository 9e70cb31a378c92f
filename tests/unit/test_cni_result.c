/* test_cni_result.c - the CNI result model: parse every supported version,
 * render to every version (fields dropped or added as each version says),
 * round trips, validation errors, copy and lookup.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cni/core/cni.h"
#include "cni/core/result.h"

/* A 1.1.0 result using every field. */
static const char *full_110 =
	"{\"cniVersion\":\"1.1.0\","
	"\"interfaces\":[{\"name\":\"br0\",\"mac\":\"0a:58:0a:01:00:01\",\"mtu\":1500},"
	"{\"name\":\"eth0\",\"mac\":\"0a:58:0a:01:00:02\",\"sandbox\":\"/var/run/netns/x\","
	"\"mtu\":9000,\"socketPath\":\"/run/vhost.sock\",\"pciID\":\"0000:00:03.0\"}],"
	"\"ips\":[{\"address\":\"10.1.0.2/24\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
	"{\"address\":\"fd00::2/64\",\"gateway\":\"fd00::1\",\"interface\":1}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\",\"mtu\":1400,\"advmss\":1360,"
	"\"priority\":10,\"table\":100,\"scope\":0},{\"dst\":\"::/0\"}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"search\":[\"svc\"]}}";

/* The same result as 1.0.0 renders it (1.1 fields dropped). */
static const char *full_100 =
	"{\"cniVersion\":\"1.0.0\","
	"\"interfaces\":[{\"name\":\"br0\",\"mac\":\"0a:58:0a:01:00:01\"},"
	"{\"name\":\"eth0\",\"mac\":\"0a:58:0a:01:00:02\",\"sandbox\":\"/var/run/netns/x\"}],"
	"\"ips\":[{\"address\":\"10.1.0.2/24\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
	"{\"address\":\"fd00::2/64\",\"gateway\":\"fd00::1\",\"interface\":1}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"::/0\"}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"search\":[\"svc\"]}}";

/* ... and as 0.4.0 (ips carry "version"); 0.3.x differ only in cniVersion. */
static const char *full_040 =
	"{\"cniVersion\":\"0.4.0\","
	"\"interfaces\":[{\"name\":\"br0\",\"mac\":\"0a:58:0a:01:00:01\"},"
	"{\"name\":\"eth0\",\"mac\":\"0a:58:0a:01:00:02\",\"sandbox\":\"/var/run/netns/x\"}],"
	"\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.2/24\",\"gateway\":\"10.1.0.1\",\"interface\":1},"
	"{\"version\":\"6\",\"address\":\"fd00::2/64\",\"gateway\":\"fd00::1\",\"interface\":1}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"},{\"dst\":\"::/0\"}],"
	"\"dns\":{\"nameservers\":[\"10.1.0.1\"],\"search\":[\"svc\"]}}";

static json_t *load(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

/* Parse text as version; asserts success. */
static void parse_ok(const char *text, const char *version, struct vp_cni_result *res)
{
	struct vp_error err = { 0 };
	json_t *j = load(text);

	memset(res, 0, sizeof(*res));
	if (vp_cni_result_parse(j, version, res, &err) != 0)
		fail_msg("parse failed: %s", err.msg);
	json_decref(j);
}

/* Parse text as version; asserts failure with code, returns nothing. */
static void parse_fails(const char *text, const char *version, int code, const char *needle)
{
	struct vp_cni_result res = { 0 };
	struct vp_error err = { 0 };
	json_t *j = load(text);

	assert_true(vp_cni_result_parse(j, version, &res, &err) < 0);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
	assert_int_equal(res.n_interfaces + res.n_ips + res.n_routes, 0);
	assert_null(res.dns);
	json_decref(j);
}

/* Render res as version and compare with expected, with cniVersion patched. */
static void assert_renders(const struct vp_cni_result *res, const char *version, const char *expected)
{
	json_t *want = load(expected), *got = vp_cni_result_to_json(res, version);

	assert_non_null(got);
	assert_int_equal(json_object_set_new(want, "cniVersion", json_string(version)), 0);
	if (!json_equal(want, got)) {
		char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);

		fail_msg("rendered %s\n  got  %s\n  want %s", version, g, w);
	}
	json_decref(want);
	json_decref(got);
}

static void test_parse_110_fields(void **state)
{
	struct vp_cni_result res;
	char buf[VP_PREFIX_STRLEN];

	(void)state;
	parse_ok(full_110, "1.1.0", &res);
	assert_int_equal(res.n_interfaces, 2);
	assert_string_equal(res.interfaces[1].name, "eth0");
	assert_string_equal(res.interfaces[1].sandbox, "/var/run/netns/x");
	assert_null(res.interfaces[0].sandbox);
	assert_int_equal(res.interfaces[1].mtu, 9000);
	assert_string_equal(res.interfaces[1].socket_path, "/run/vhost.sock");
	assert_string_equal(res.interfaces[1].pci_id, "0000:00:03.0");
	assert_int_equal(res.n_ips, 2);
	assert_string_equal(vp_prefix_str(&res.ips[1].address, buf), "fd00::2/64");
	assert_int_equal(res.ips[0].interface, 1);
	assert_int_equal(res.n_routes, 2);
	assert_int_equal(res.routes[0].mtu, 1400);
	assert_int_equal(res.routes[0].advmss, 1360);
	assert_int_equal(res.routes[0].priority, 10);
	assert_int_equal(res.routes[0].table, 100);
	assert_int_equal(res.routes[0].scope, 0);
	assert_int_equal(res.routes[1].scope, -1);
	assert_int_equal(res.routes[1].gw.family, 0);
	assert_non_null(res.dns);
	vp_cni_result_clear(&res);
}

/* 1.1.0 input rendered to every version. */
static void test_render_every_version(void **state)
{
	struct vp_cni_result res;

	(void)state;
	parse_ok(full_110, "1.1.0", &res);
	assert_renders(&res, "1.1.0", full_110);
	assert_renders(&res, "1.0.0", full_100);
	assert_renders(&res, "0.4.0", full_040);
	assert_renders(&res, "0.3.1", full_040);
	assert_renders(&res, "0.3.0", full_040);
	vp_cni_result_clear(&res);
}

/* Each version's own rendering parses back to the same rendering, and
 * older inputs convert up (ips[].version dropped). */
static void test_round_trips(void **state)
{
	static const char *const versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0" };
	struct vp_cni_result res;

	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		const char *v = versions[i];
		json_t *in = load(v[0] == '1' ? full_100 : full_040);
		char *text;

		assert_int_equal(json_object_set_new(in, "cniVersion", json_string(v)), 0);
		text = json_dumps(in, 0);
		parse_ok(text, v, &res);
		assert_renders(&res, v, text);
		assert_renders(&res, "1.0.0", full_100);
		assert_renders(&res, "0.4.0", full_040);
		/* Nothing 1.1-only was invented on the way up. */
		assert_renders(&res, "1.1.0", full_100);
		vp_cni_result_clear(&res);
		free(text);
		json_decref(in);
	}
}

static void test_ipam_result(void **state)
{
	struct vp_cni_result res;

	(void)state;
	parse_ok("{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.5/16\","
		 "\"gateway\":\"10.0.0.1\"}],\"routes\":[{\"dst\":\"10.9.0.0/16\",\"gw\":\"10.0.0.1\"}]}",
		 "0.3.1", &res);
	assert_int_equal(res.n_interfaces, 0);
	assert_int_equal(res.ips[0].interface, -1);
	assert_null(res.dns);
	assert_renders(&res, "1.1.0", "{\"ips\":[{\"address\":\"10.0.0.5/16\",\"gateway\":\"10.0.0.1\"}],"
		       "\"routes\":[{\"dst\":\"10.9.0.0/16\",\"gw\":\"10.0.0.1\"}]}");
	vp_cni_result_clear(&res);
	parse_ok("{}", "1.0.0", &res);
	assert_renders(&res, "1.0.0", "{}");
	vp_cni_result_clear(&res);
}

static void test_parse_errors(void **state)
{
	(void)state;
	parse_fails("[]", "1.0.0", VP_CNI_ERR_DECODE, "object");
	parse_fails("{}", "0.2.0", VP_CNI_ERR_INCOMPATIBLE_VERSION, "0.2.0");
	parse_fails("{\"ips\":[{\"address\":\"10.0.0.5\"}]}", "1.0.0", 7, "ips[0].address");
	parse_fails("{\"ips\":[{\"address\":\"10.0.0.5/33\"}]}", "1.0.0", 7, "ips[0].address");
	parse_fails("{\"ips\":[{\"address\":\"10.0.0.5/24\",\"gateway\":\"10.0.0.x\"}]}", "1.0.0", 7,
		    "ips[0].gateway");
	parse_fails("{\"ips\":[{\"address\":\"10.0.0.5/24\",\"gateway\":\"fd00::1\"}]}", "1.0.0", 7,
		    "ips[0].gateway");
	/* IPAM results have no interfaces, so no index can be valid. */
	parse_fails("{\"ips\":[{\"address\":\"10.0.0.5/24\",\"interface\":0}]}", "1.0.0", 7,
		    "ips[0].interface");
	parse_fails("{\"interfaces\":[{\"name\":\"a\"}],\"ips\":[{\"address\":\"10.0.0.5/24\",\"interface\":1}]}",
		    "1.0.0", 7, "out of range");
	parse_fails("{\"interfaces\":[{\"name\":\"a\"}],\"ips\":[{\"address\":\"10.0.0.5/24\",\"interface\":-1}]}",
		    "1.0.0", 7, "ips[0].interface");
	parse_fails("{\"ips\":[{\"version\":\"6\",\"address\":\"10.0.0.5/24\"}]}", "0.4.0", 7,
		    "ips[0].version");
	parse_fails("{\"interfaces\":[{\"name\":\"much-too-long-ifname\"}]}", "1.0.0", 7, "interfaces[0]");
	parse_fails("{\"interfaces\":[{\"mac\":\"00:11:22:33:44:55\"}]}", "1.0.0", 7, "interfaces[0].name");
	parse_fails("{\"interfaces\":[{\"name\":\"\"}]}", "1.0.0", 7, "interfaces[0].name");
	parse_fails("{\"interfaces\":[\"eth0\"]}", "1.0.0", 7, "interfaces[0]");
	parse_fails("{\"interfaces\":{}}", "1.0.0", 7, "interfaces");
	parse_fails("{\"routes\":[{\"gw\":\"10.0.0.1\"}]}", "1.0.0", 7, "routes[0].dst");
	parse_fails("{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"scope\":300}]}", "1.1.0", 7, "routes[0].scope");
	parse_fails("{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"mtu\":-1}]}", "1.1.0", 7, "routes[0].mtu");
	parse_fails("{\"dns\":[]}", "1.0.0", 7, "dns");
	/* A late error frees what was parsed before it (checked under ASan). */
	parse_fails("{\"interfaces\":[{\"name\":\"a\",\"sandbox\":\"/x\"}],\"dns\":{},"
		    "\"routes\":[{\"dst\":\"bad\"}]}", "1.0.0", 7, "routes[0].dst");
}

static void test_build_copy_find(void **state)
{
	struct vp_cni_result res = { 0 }, copy = { 0 };
	struct vp_cni_ip ip = { .interface = 1 };
	struct vp_cni_route r = { .scope = -1 };

	(void)state;
	assert_int_equal(vp_cni_result_add_interface(&res, "veth1", "0a:00:00:00:00:01", NULL), 0);
	assert_int_equal(vp_cni_result_add_interface(&res, "eth0", "", "/run/netns/a"), 1);
	assert_int_equal(vp_cni_result_add_interface(&res, "0123456789abcdef", NULL, NULL), -EINVAL);
	assert_int_equal(res.n_interfaces, 2);
	assert_int_equal(vp_prefix_parse("192.168.1.9/24", &ip.address), 0);
	assert_int_equal(vp_cni_result_add_ip(&res, &ip), 0);
	assert_int_equal(vp_prefix_parse("fd00::/8", &r.dst), 0);
	assert_int_equal(vp_cni_result_add_route(&res, &r), 0);
	res.interfaces[1].socket_path = strdup("/s");
	assert_int_equal(vp_cni_result_copy(&copy, &res), 0);
	vp_cni_result_clear(&res);
	assert_int_equal(res.n_interfaces, 0);

	assert_int_equal(vp_cni_result_find_interface(&copy, "eth0", NULL), 1);
	assert_int_equal(vp_cni_result_find_interface(&copy, "eth0", "/run/netns/a"), 1);
	assert_int_equal(vp_cni_result_find_interface(&copy, "eth0", "/run/netns/b"), -1);
	assert_int_equal(vp_cni_result_find_interface(&copy, "veth1", "/run/netns/a"), -1);
	assert_int_equal(vp_cni_result_find_interface(&copy, "veth1", NULL), 0);
	assert_renders(&copy, "1.1.0",
		       "{\"interfaces\":[{\"name\":\"veth1\",\"mac\":\"0a:00:00:00:00:01\"},"
		       "{\"name\":\"eth0\",\"sandbox\":\"/run/netns/a\",\"socketPath\":\"/s\"}],"
		       "\"ips\":[{\"address\":\"192.168.1.9/24\",\"interface\":1}],"
		       "\"routes\":[{\"dst\":\"fd00::/8\"}]}");
	vp_cni_result_clear(&copy);
	vp_cni_result_clear(&copy);   /* clearing twice is fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_110_fields),
		cmocka_unit_test(test_render_every_version),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_ipam_result),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_build_copy_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
