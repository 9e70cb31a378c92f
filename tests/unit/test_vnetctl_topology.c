/* test_vnetctl_topology.c - the vnetctl topology parser: a good file with
 * its bridges in dependency order, and every kind of bad file refused with
 * a usage error naming the JSON path (bad JSON, unknown fields, wrong
 * types, dangling references, duplicates, cycles, names too long). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vnet/vnetctl/topology.h"

static const char good[] =
	"{\"name\": \"lab\","
	" \"namespaces\": [{\"name\": \"ns1\"}, {\"name\": \"ns2\"}],"
	" \"bridges\": [{\"name\": \"br-in\", \"bridge\": \"br-up\"}, {\"name\": \"br-up\", \"mtu\": 1500}],"
	" \"veths\": [{\"name\": \"v1\", \"peer\": \"eth0\", \"netns\": \"ns1\", \"bridge\": \"br-up\"},"
	"            {\"name\": \"v2\", \"peer\": \"eth0\", \"netns\": \"ns2\", \"bridge\": \"br-up\"}],"
	" \"taps\": [{\"name\": \"tap0\", \"queues\": 4, \"vnetHdr\": true, \"owner\": 0, \"bridge\": \"br-up\"}],"
	" \"addresses\": [{\"link\": \"br-up\", \"address\": \"10.1.0.1/24\"},"
	"                {\"link\": \"eth0\", \"netns\": \"ns1\", \"address\": \"10.1.0.2/24\"}],"
	" \"routes\": [{\"dst\": \"default\", \"via\": \"10.1.0.1\", \"netns\": \"ns1\"}],"
	" \"nat\": [{\"name\": \"out\", \"sources\": [\"10.1.0.2\"], \"exclude\": \"10.1.0.0/24\"}]}";

static void test_good(void **state)
{
	struct vp_error err = { 0 };
	struct vnetctl_topology t;

	(void)state;
	assert_int_equal(vnetctl_topology_parse(good, strlen(good), &t, &err), 0);
	assert_string_equal(t.name, "lab");
	assert_int_equal(t.n_namespaces, 2);
	assert_int_equal(t.n_bridges, 2);
	/* br-in is a port of br-up: br-up first. */
	assert_string_equal(t.bridges[0].b.name, "br-up");
	assert_int_equal(t.bridges[0].b.mtu, 1500);
	assert_string_equal(t.bridges[1].b.name, "br-in");
	assert_int_equal(t.n_veths, 2);
	assert_string_equal(t.veths[1].netns, "ns2");
	assert_int_equal(t.n_taps, 1);
	assert_int_equal(t.taps[0].queues, 4);
	assert_true(t.taps[0].vnet_hdr);
	assert_int_equal(t.taps[0].owner, 0);
	assert_int_equal(t.taps[0].group, -1);
	assert_int_equal(t.n_addrs, 2);
	assert_int_equal(t.addrs[1].prefix.len, 24);
	assert_int_equal(t.n_routes, 1);
	assert_int_equal(t.routes[0].dst.len, 0);
	assert_int_equal(t.n_nats, 1);
	assert_int_equal(t.nats[0].n_sources, 1);
	vnetctl_topology_free(&t);
}

/* text must be refused as a usage error whose message contains want. */
static void refused(const char *text, const char *want)
{
	struct vp_error err = { 0 };
	struct vnetctl_topology t;

	assert_true(vnetctl_topology_parse(text, strlen(text), &t, &err) < 0);
	assert_int_equal(err.code, VNETCTL_ERR_USAGE);
	if (!strstr(err.msg, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
	assert_null(t.root);
}

static void test_bad_json(void **state)
{
	(void)state;
	refused("{\"name\": \"x\",", "line 1");
	refused("[]", "(root): expected an object");
	refused("{\"bridges\": []}", "name");
	refused("{\"name\": 7}", "name: expected a string");
	refused("{\"name\": \"x\", \"bridges\": {}}", "bridges: expected an array");
	refused("{\"name\": \"x\", \"bridges\": [{\"name\": \"b\", \"mtu\": \"big\"}]}", "bridges[0].mtu");
	refused("{\"name\": \"x\", \"taps\": [{\"name\": \"t\", \"queues\": 0}]}", "taps[0].queues");
	refused("{\"name\": \"x\", \"addresses\": [{\"link\": \"l\", \"address\": \"10.0.0.1\"}]}",
		"addresses[0].address: \"10.0.0.1\" is not an ADDRESS/LENGTH");
	refused("{\"name\": \"x\", \"routes\": [{\"dst\": \"nowhere\", \"via\": \"10.0.0.1\"}]}",
		"routes[0].dst");
	refused("{\"name\": \"x\", \"routes\": [{\"dst\": \"default\"}]}", "routes[0]: a route needs");
	refused("{\"name\": \"x\", \"nat\": [{\"name\": \"n\", \"sources\": [], \"exclude\": \"10.0.0.0/8\"}]}",
		"nat[0].sources: expected 1 to 16");
	refused("{\"name\": \"x\", \"nat\": [{\"name\": \"n\", \"sources\": [\"a\"], \"exclude\": \"10.0.0.0/8\"}]}",
		"nat[0].sources[0]: expected an IP address");
	refused("{\"name\": \"x\", \"nat\": [{\"name\": \"n\", \"sources\": [\"2001:db8::2\"], \"exclude\": \"10.0.0.0/8\"}]}",
		"nat[0].sources[0]: 2001:db8::2 is not of the family of \"exclude\"");
	refused("{\"name\": \"x\", \"nat\": [{\"name\": \"n\", \"sources\": [\"10.0.0.2\", \"10.0.0.2\"], \"exclude\": \"10.0.0.0/8\"}]}",
		"nat[0].sources[1]: 10.0.0.2 listed twice");
	refused("{\"name\": \"a/b\"}", "name: \"a/b\" must be non-empty, without '/'");
}

static void test_unknown_fields(void **state)
{
	(void)state;
	refused("{\"name\": \"x\", \"colour\": 1}", "colour: unknown field");
	refused("{\"name\": \"x\", \"bridges\": [{\"name\": \"b\", \"stp\": true}]}",
		"bridges[0].stp: unknown field");
	refused("{\"name\": \"x\", \"namespaces\": [{\"name\": \"n\"}],"
		" \"veths\": [{\"name\": \"v\", \"peer\": \"p\", \"netns\": \"n\", \"mac\": \"x\"}]}",
		"veths[0].mac: unknown field");
	refused("{\"name\": \"x\", \"taps\": [{\"name\": \"t\", \"vnet_hdr\": true}]}",
		"taps[0].vnet_hdr: unknown field");
}

static void test_references(void **state)
{
	(void)state;
	refused("{\"name\": \"x\", \"veths\": [{\"name\": \"v\", \"peer\": \"p\", \"netns\": \"gone\"}]}",
		"veths[0].netns: namespace \"gone\" is not in \"namespaces\"");
	refused("{\"name\": \"x\", \"taps\": [{\"name\": \"t\", \"bridge\": \"nobr\"}]}",
		"taps[0].bridge: bridge \"nobr\" is not in \"bridges\"");
	refused("{\"name\": \"x\", \"addresses\": [{\"link\": \"eth9\", \"address\": \"10.0.0.1/24\"}]}",
		"addresses[0].link: no link \"eth9\" of the topology in the host namespace");
	refused("{\"name\": \"x\", \"bridges\": [{\"name\": \"b\"}], \"taps\": [{\"name\": \"b\"}]}",
		"taps[0].name: link name \"b\" used twice (also bridges[0].name)");
	refused("{\"name\": \"x\", \"namespaces\": [{\"name\": \"n\"}, {\"name\": \"n\"}]}",
		"namespaces[1]: namespace \"n\" listed twice");
}

static void test_cycles(void **state)
{
	(void)state;
	refused("{\"name\": \"x\", \"bridges\": [{\"name\": \"a\", \"bridge\": \"a\"}]}",
		"bridges[0]: bridge \"a\" is part of a cycle");
	refused("{\"name\": \"x\", \"bridges\": [{\"name\": \"ok\"}, {\"name\": \"a\", \"bridge\": \"c\"},"
		" {\"name\": \"b\", \"bridge\": \"a\"}, {\"name\": \"c\", \"bridge\": \"b\"}]}",
		"bridges[1]: bridge \"a\" is part of a cycle");
}

static void test_names_too_long(void **state)
{
	char text[512];

	(void)state;
	refused("{\"name\": \"x\", \"bridges\": [{\"name\": \"a-sixteen-chars!\"}]}",
		"bridges[0].name: name too long (more than 15 characters)");
	refused("{\"name\": \"x\", \"namespaces\": [{\"name\": \"n\"}],"
		" \"veths\": [{\"name\": \"v\", \"peer\": \"peer-name-of-16c\", \"netns\": \"n\"}]}",
		"veths[0].peer: name too long");
	snprintf(text, sizeof(text), "{\"name\": \"%065d\"}", 0);
	refused(text, "name: name too long (more than 64 characters)");
	snprintf(text, sizeof(text), "{\"name\": \"x\", \"namespaces\": [{\"name\": \"%065d\"}]}", 0);
	refused(text, "namespaces[0].name: name too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_cycles),
		cmocka_unit_test(test_names_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
