/* test_ipam_config.c - the "ipam" config parser: defaults, legacy subnet,
 * routes, resolvConf, requested addresses, and every error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/json.h"
#include "cni/core/cni.h"
#include "cni/ipam/config.h"

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	assert_non_null(j);
	return j;
}

static int parse(const char *text, struct vp_ipam_config *cfg, struct vp_error *err)
{
	json_t *j = load(text);
	int ret;

	vp_error_clear(err);
	ret = vp_ipam_config_parse(j, cfg, err);
	json_decref(j);
	return ret;
}

static void assert_ip(const struct vp_ip *ip, const char *text)
{
	char buf[VP_IP_STRLEN];

	assert_string_equal(vp_ip_str(ip, buf), text);
}

static void test_defaults_v4(void **state)
{
	struct vp_ipam_config cfg;
	struct vp_error err;

	(void)state;
	assert_int_equal(parse("{\"name\":\"n\",\"ipam\":{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}]]}}",
			       &cfg, &err), 0);
	assert_string_equal(cfg.network, "n");
	assert_string_equal(cfg.data_dir, VP_IPAM_DEFAULT_DATA_DIR);
	assert_int_equal(cfg.n_sets, 1);
	assert_ip(&cfg.sets[0].ranges[0].start, "10.1.0.1");
	assert_ip(&cfg.sets[0].ranges[0].end, "10.1.0.254");
	assert_ip(&cfg.sets[0].ranges[0].gateway, "10.1.0.1");
	assert_int_equal(cfg.sets[0].ranges[0].subnet.len, 24);
	assert_null(cfg.dns);
	vp_ipam_config_free(&cfg);
}

static void test_defaults_v6_and_explicit(void **state)
{
	struct vp_ipam_config cfg;
	struct vp_error err;

	(void)state;
	assert_int_equal(parse("{\"name\":\"n\",\"ipam\":{\"dataDir\":\"/x\",\"ranges\":["
			       "[{\"subnet\":\"fd00::/120\"}],"
			       "[{\"subnet\":\"10.2.0.0/16\",\"rangeStart\":\"10.2.1.10\","
			       "\"rangeEnd\":\"10.2.1.20\",\"gateway\":\"10.2.0.254\"}]],"
			       "\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"fd01::/64\",\"gw\":\"fd00::1\"}]}}",
			       &cfg, &err), 0);
	assert_string_equal(cfg.data_dir, "/x");
	assert_int_equal(cfg.n_sets, 2);
	assert_ip(&cfg.sets[0].ranges[0].start, "fd00::1");
	assert_ip(&cfg.sets[0].ranges[0].end, "fd00::ff");
	assert_ip(&cfg.sets[1].ranges[0].start, "10.2.1.10");
	assert_ip(&cfg.sets[1].ranges[0].end, "10.2.1.20");
	assert_ip(&cfg.sets[1].ranges[0].gateway, "10.2.0.254");
	assert_int_equal(cfg.n_routes, 2);
	assert_int_equal(cfg.routes[0].gw.family, 0);
	assert_ip(&cfg.routes[1].gw, "fd00::1");
	vp_ipam_config_free(&cfg);
}

static void test_legacy_subnet_first(void **state)
{
	struct vp_ipam_config cfg;
	struct vp_error err;

	(void)state;
	assert_int_equal(parse("{\"name\":\"n\",\"ipam\":{\"subnet\":\"10.3.0.0/24\",\"rangeStart\":"
			       "\"10.3.0.100\",\"gateway\":\"10.3.0.254\",\"ranges\":[[{\"subnet\":"
			       "\"fd00::/64\"}]]}}", &cfg, &err), 0);
	assert_int_equal(cfg.n_sets, 2);
	assert_ip(&cfg.sets[0].ranges[0].start, "10.3.0.100");
	assert_ip(&cfg.sets[0].ranges[0].gateway, "10.3.0.254");
	assert_ip(&cfg.sets[1].ranges[0].end, "fd00::ffff:ffff:ffff:ffff");
	vp_ipam_config_free(&cfg);
}

static void test_resolv_conf(void **state)
{
	char path[] = "/tmp/vp-ipam-resolv-XXXXXX", text[512];
	struct vp_ipam_config cfg;
	struct vp_error err;
	int fd = mkstemp(path);
	const char *body = "# comment\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n"
			   "domain example.com\nsearch a.example b.example\noptions ndots:2 rotate\n";
	char *dump;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
	snprintf(text, sizeof(text), "{\"name\":\"n\",\"ipam\":{\"subnet\":\"10.3.0.0/24\","
		 "\"resolvConf\":\"%s\"}}", path);
	assert_int_equal(parse(text, &cfg, &err), 0);
	dump = vp_json_dump(cfg.dns);
	assert_string_equal(dump, "{\"domain\":\"example.com\",\"nameservers\":[\"1.1.1.1\","
			    "\"8.8.8.8\"],\"options\":[\"ndots:2\",\"rotate\"],\"search\":"
			    "[\"a.example\",\"b.example\"]}");
	free(dump);
	vp_ipam_config_free(&cfg);
	unlink(path);
}

struct bad_case {
	const char *ipam;     /* the "ipam" object's text */
	const char *msg;      /* expected substring of the error */
};

static const struct bad_case bad_cases[] = {
	{ "null", "ipam" },
	{ "{}", "no IP ranges" },
	{ "{\"ranges\":[]}", "no IP ranges" },
	{ "{\"ranges\":{}}", "ipam.ranges" },
	{ "{\"ranges\":[{}]}", "ipam.ranges[0]: expected an array" },
	{ "{\"ranges\":[[]]}", "ipam.ranges[0]: empty range set" },
	{ "{\"ranges\":[[1]]}", "ipam.ranges[0][0]: expected an object" },
	{ "{\"ranges\":[[{}]]}", "ipam.ranges[0][0].subnet" },
	{ "{\"ranges\":[[{\"subnet\":7}]]}", "ipam.ranges[0][0].subnet" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0\"}]]}", "ipam.ranges[0][0].subnet: invalid CIDR" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.1/24\"}]]}", "host bits set" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/31\"}]]}", "too small" },
	{ "{\"ranges\":[[{\"subnet\":\"fd00::/127\"}]]}", "too small" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":\"x\"}]]}",
	  "ipam.ranges[0][0].rangeStart: invalid IP" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":\"10.0.1.1\"}]]}",
	  "ipam.ranges[0][0].rangeStart: not a host address" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":\"10.0.0.0\"}]]}",
	  "rangeStart: not a host address" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeEnd\":\"10.0.0.255\"}]]}",
	  "rangeEnd: not a host address" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"gateway\":\"10.9.0.1\"}]]}",
	  "gateway: not a host address" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"gateway\":\"fd00::1\"}]]}",
	  "address family differs" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\",\"rangeStart\":\"10.0.0.9\","
	  "\"rangeEnd\":\"10.0.0.8\"}]]}", "rangeStart is after rangeEnd" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"fd00::/64\"}]]}",
	  "ipam.ranges[0][1]: mixed address families" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"10.0.0.0/25\"}]]}",
	  "ipam.ranges[0][1]: overlaps ipam.ranges[0][0]" },
	{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/16\"}],[{\"subnet\":\"10.0.3.0/24\"}]]}",
	  "ipam.ranges[1]: overlaps range set 0" },
	{ "{\"subnet\":\"10.0.0.0/16\",\"ranges\":[[{\"subnet\":\"10.0.3.0/24\"}]]}",
	  "ipam.ranges[0]: overlaps range set 0" },
	{ "{\"subnet\":\"10.0.0.0/33\"}", "ipam.subnet: invalid CIDR" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":{}}", "ipam.routes" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":[5]}", "ipam.routes[0]: expected an object" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":[{}]}", "ipam.routes[0].dst" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"y\"}]}",
	  "ipam.routes[0].gw: invalid IP" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"fd00::1\"}]}",
	  "ipam.routes[0].gw: address family" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"resolvConf\":\"/nonexistent/resolv.conf\"}",
	  "ipam.resolvConf: cannot read" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"resolvConf\":3}", "ipam.resolvConf" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"dataDir\":\"\"}", "ipam.dataDir: empty" },
	{ "{\"subnet\":\"10.0.0.0/24\",\"dataDir\":false}", "ipam.dataDir" },
};

static void test_bad_configs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char text[1024];
		struct vp_ipam_config cfg;
		struct vp_error err;

		snprintf(text, sizeof(text), "{\"name\":\"n\",\"ipam\":%s}", bad_cases[i].ipam);
		assert_true(parse(text, &cfg, &err) < 0);
		if (!strstr(err.msg, bad_cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, bad_cases[i].msg);
		assert_int_equal(err.code, VP_CNI_ERR_INVALID_CONFIG);
		assert_null(cfg.sets);
	}
}

static void test_bad_names(void **state)
{
	const char *names[] = { "\"\"", "\"a/b\"", "\"..\"", "\".\"", "5" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char text[256];
		struct vp_ipam_config cfg;
		struct vp_error err;

		snprintf(text, sizeof(text), "{\"name\":%s,\"ipam\":{\"subnet\":\"10.0.0.0/24\"}}",
			 names[i]);
		assert_true(parse(text, &cfg, &err) < 0);
		assert_non_null(strstr(err.msg, "name"));
		assert_int_equal(err.code, VP_CNI_ERR_INVALID_CONFIG);
	}
}

static const char *dual = "{\"name\":\"n\",\"ipam\":{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],"
			  "[{\"subnet\":\"fd00::/64\"}]]}}";

static int request(const char *rc, const char *args, const char *env, struct vp_ipam_config *cfg,
		   struct vp_error *err)
{
	json_t *jrc = rc ? load(rc) : NULL, *jargs = args ? load(args) : NULL;
	int ret;

	assert_int_equal(parse(dual, cfg, err), 0);
	ret = vp_ipam_config_requested(cfg, jrc, jargs, env, err);
	json_decref(jrc);
	json_decref(jargs);
	return ret;
}

static void test_requested_sources(void **state)
{
	struct vp_ipam_config cfg;
	struct vp_error err;

	(void)state;
	assert_int_equal(request("{\"ips\":[\"10.1.0.7/24\"]}", NULL, NULL, &cfg, &err), 0);
	assert_ip(&cfg.requested[0], "10.1.0.7");
	assert_int_equal(cfg.requested[1].family, 0);
	vp_ipam_config_free(&cfg);
	assert_int_equal(request(NULL, "{\"cni\":{\"ips\":[\"fd00::9\"]}}", "10.1.0.8", &cfg, &err), 0);
	assert_ip(&cfg.requested[0], "10.1.0.8");
	assert_ip(&cfg.requested[1], "fd00::9");
	vp_ipam_config_free(&cfg);
	/* The same address from two sources is one request. */
	assert_int_equal(request("{\"ips\":[\"10.1.0.8\"]}", NULL, "10.1.0.8", &cfg, &err), 0);
	vp_ipam_config_free(&cfg);
}

static void test_requested_errors(void **state)
{
	const struct { const char *rc, *args, *env, *msg; } cases[] = {
		{ "{\"ips\":[\"10.9.0.7\"]}", NULL, NULL, "runtimeConfig.ips[0]: requested IP 10.9.0.7 is not in any range set" },
		{ NULL, NULL, "10.1.0.1", "CNI_ARGS IP: requested IP 10.1.0.1 is the gateway" },
		{ NULL, NULL, "10.1.0.2,10.1.0.3", "already has requested IP 10.1.0.2" },
		{ NULL, NULL, "bogus", "CNI_ARGS IP: invalid IP address" },
		{ NULL, "{\"cni\":{\"ips\":[4]}}", NULL, "args.cni.ips[0]: expected a string" },
		{ NULL, "{\"cni\":{\"ips\":\"10.1.0.2\"}}", NULL, "args.cni.ips" },
		{ "{\"ips\":5}", NULL, NULL, "runtimeConfig.ips" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vp_ipam_config cfg;
		struct vp_error err;

		assert_true(request(cases[i].rc, cases[i].args, cases[i].env, &cfg, &err) < 0);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].msg);
		assert_int_equal(err.code, VP_CNI_ERR_INVALID_CONFIG);
		vp_ipam_config_free(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_v4),
		cmocka_unit_test(test_defaults_v6_and_explicit),
		cmocka_unit_test(test_legacy_subnet_first),
		cmocka_unit_test(test_resolv_conf),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_requested_sources),
		cmocka_unit_test(test_requested_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
