/* test_vnet_addr.c - addresses and routes on a veth in a private network
 * namespace (both ends in it).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vnet/addr.h"
#include "vnet/link.h"
#include "vnet/nl.h"

struct env {
	struct vp_nl *nl;
	int ifindex;    /* "vta0", up, peer "vta1" up */
};

static int setup(void **state)
{
	struct vp_error err = { 0 };
	struct env *e = calloc(1, sizeof(*e));
	struct vp_veth_config cfg = { .host_name = "vta0", .peer_name = "vta1" };
	struct vp_link_info host, peer;
	int self;

	if (!e || unshare(CLONE_NEWNET) < 0 || vp_nl_open(&e->nl, &err) < 0)
		return -1;
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	cfg.peer_netns_fd = self;
	if (self < 0 || vp_veth_create(e->nl, &cfg, &host, &err) < 0)
		return -1;
	close(self);
	if (vp_link_by_name(e->nl, "vta1", &peer, &err) < 0 ||
	    vp_link_set_up(e->nl, host.ifindex, &err) < 0 ||
	    vp_link_set_up(e->nl, peer.ifindex, &err) < 0)
		return -1;
	e->ifindex = host.ifindex;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	vp_nl_close(e->nl);
	free(e);
	return 0;
}

static struct vp_prefix prefix(const char *text)
{
	struct vp_prefix p;

	assert_int_equal(vp_prefix_parse(text, &p), 0);
	return p;
}

static struct vp_ip ip(const char *text)
{
	struct vp_ip a;

	assert_int_equal(vp_ip_parse(text, &a), 0);
	return a;
}

/* `ip` is allowed in tests to inspect: is addr tentative (DAD pending)? */
static bool tentative(const char *dev, const char *addr)
{
	char cmd[160], line[512];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip -6 -o addr show dev %s", dev);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		if (strstr(line, addr) && strstr(line, "tentative"))
			found = true;
	pclose(p);
	return found;
}

/* Does `ip <args>` print a line containing all of want (space-separated
 * words in order, as ip prints them)? */
static bool ip_shows(const char *args, const char *want)
{
	char cmd[160], line[512];
	bool found = false;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip %s", args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		found |= strstr(line, want) != NULL;
	pclose(p);
	return found;
}

static bool listed(const struct vp_prefix *v, size_t n, const char *text)
{
	struct vp_prefix p = prefix(text);

	for (size_t i = 0; i < n; i++)
		if (vp_ip_equal(&v[i].ip, &p.ip) && v[i].len == p.len)
			return true;
	return false;
}

static void test_addr_add_list_del(void **state)
{
	struct env *e = *state;
	struct vp_prefix v4 = prefix("10.77.0.2/24"), v6 = prefix("fd77::2/64");
	struct vp_prefix dad = prefix("fd77::3/64");
	struct vp_prefix *list;
	struct vp_error err = { 0 };
	size_t n;

	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &v4, false, &err), 0);
	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &v6, true, &err), 0);
	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &dad, false, &err), 0);
	assert_false(tentative("vta0", "fd77::2/64"));
	assert_true(tentative("vta0", "fd77::3/64"));

	/* Again: -EEXIST without an error recorded. */
	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &v4, false, &err), -EEXIST);
	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &v6, true, &err), -EEXIST);
	assert_int_equal(err.errnum, 0);

	/* Global scope only: the fe80:: link-local address is not listed. */
	assert_int_equal(vp_addr_list(e->nl, e->ifindex, AF_UNSPEC, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_true(listed(list, n, "10.77.0.2/24"));
	assert_true(listed(list, n, "fd77::2/64"));
	free(list);
	assert_int_equal(vp_addr_list(e->nl, e->ifindex, AF_INET, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(listed(list, n, "10.77.0.2/24"));
	free(list);
	assert_int_equal(vp_addr_list(e->nl, e->ifindex, AF_INET6, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	free(list);

	assert_int_equal(vp_addr_del(e->nl, e->ifindex, &v4, &err), 0);
	assert_int_equal(vp_addr_del(e->nl, e->ifindex, &v4, &err), -EADDRNOTAVAIL);
	assert_int_equal(err.errnum, 0);
	assert_int_equal(vp_addr_list(e->nl, e->ifindex, AF_INET, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	free(list);
}

static void test_addr_errors(void **state)
{
	struct env *e = *state;
	struct vp_prefix v4 = prefix("10.77.1.2/24");
	struct vp_error err = { 0 };

	assert_int_equal(vp_addr_add(e->nl, 999999, &v4, false, &err), -ENODEV);
	assert_non_null(strstr(err.msg, "10.77.1.2/24"));
	v4.len = 33;
	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &v4, false, &err), -EINVAL);
}

static void test_routes(void **state)
{
	struct env *e = *state;
	struct vp_prefix a4 = prefix("10.78.0.2/24");
	struct vp_route r = vp_route_init(), def = vp_route_init(), onlink = vp_route_init();
	struct vp_error err = { 0 };
	bool exists;

	assert_int_equal(r.scope, -1);
	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &a4, false, &err), 0);
	r.dst = prefix("192.168.200.0/24");
	r.gw = ip("10.78.0.1");
	r.ifindex = e->ifindex;
	r.priority = 50;
	r.mtu = 1300;
	r.advmss = 1260;
	assert_int_equal(vp_route_exists(e->nl, &r, &exists, &err), 0);
	assert_false(exists);
	assert_int_equal(vp_route_add(e->nl, &r, &err), 0);
	assert_int_equal(vp_route_exists(e->nl, &r, &exists, &err), 0);
	assert_true(exists);
	assert_int_equal(vp_route_add(e->nl, &r, &err), -EEXIST);
	assert_int_equal(err.errnum, 0);
	assert_true(ip_shows("route show 192.168.200.0/24",
			     "via 10.78.0.1 dev vta0 metric 50 mtu 1300 advmss 1260"));
	/* A different metric is a different route. */
	r.priority = 51;
	assert_int_equal(vp_route_exists(e->nl, &r, &exists, &err), 0);
	assert_false(exists);
	r.priority = 50;

	/* Default route via the gateway; on-link route with no gateway. */
	def.dst = prefix("0.0.0.0/0");
	def.gw = ip("10.78.0.1");
	assert_int_equal(vp_route_add(e->nl, &def, &err), 0);
	def.ifindex = e->ifindex;
	assert_int_equal(vp_route_exists(e->nl, &def, &exists, &err), 0);
	assert_true(exists);
	onlink.dst = prefix("10.79.0.0/16");
	onlink.ifindex = e->ifindex;
	onlink.table = 100;
	assert_int_equal(vp_route_add(e->nl, &onlink, &err), 0);
	assert_true(ip_shows("route show table 100", "10.79.0.0/16 dev vta0 scope link"));
	assert_int_equal(vp_route_exists(e->nl, &onlink, &exists, &err), 0);
	assert_true(exists);
	onlink.table = 0;
	assert_int_equal(vp_route_exists(e->nl, &onlink, &exists, &err), 0);
	assert_false(exists);
	onlink.table = 100;

	assert_int_equal(vp_route_del(e->nl, &r, &err), 0);
	assert_int_equal(vp_route_exists(e->nl, &r, &exists, &err), 0);
	assert_false(exists);
	assert_int_equal(vp_route_del(e->nl, &r, &err), -ESRCH);
	assert_int_equal(err.errnum, 0);
	assert_int_equal(vp_route_del(e->nl, &def, &err), 0);
	assert_int_equal(vp_route_del(e->nl, &onlink, &err), 0);

	/* Unreachable gateway: an error that names the route. */
	r.gw = ip("10.99.0.1");
	r.ifindex = 0;
	assert_true(vp_route_add(e->nl, &r, &err) < 0);
	assert_non_null(strstr(err.msg, "192.168.200.0/24 via 10.99.0.1"));
}

static void test_routes_v6(void **state)
{
	struct env *e = *state;
	struct vp_prefix a6 = prefix("fd78::2/64");
	struct vp_route r = vp_route_init();
	struct vp_error err = { 0 };
	bool exists;

	assert_int_equal(vp_addr_add(e->nl, e->ifindex, &a6, true, &err), 0);
	r.dst = prefix("fd79::/48");
	r.gw = ip("fd78::1");
	r.ifindex = e->ifindex;
	r.mtu = 1400;
	assert_int_equal(vp_route_add(e->nl, &r, &err), 0);
	assert_true(ip_shows("-6 route show fd79::/48", "via fd78::1 dev vta0 metric 1024"));
	assert_true(ip_shows("-6 route show fd79::/48", "mtu 1400"));
	assert_int_equal(vp_route_exists(e->nl, &r, &exists, &err), 0);
	assert_true(exists);
	assert_int_equal(vp_route_add(e->nl, &r, &err), -EEXIST);
	assert_int_equal(vp_route_del(e->nl, &r, &err), 0);
	assert_int_equal(vp_route_exists(e->nl, &r, &exists, &err), 0);
	assert_false(exists);
	assert_int_equal(vp_route_del(e->nl, &r, &err), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_addr_add_list_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routes_v6, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
