/* test_vnet_nft.c - per-attachment nftables rules: attach, verify, detach,
 * replace, GC and MAC spoof checks, each test in a private network namespace
 * (so its own nftables ruleset), asserted through the API and `nft list`.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vnet/nft.h"

static int setup(void **state)
{
	(void)state;
	return unshare(CLONE_NEWNET) < 0 ? -1 : 0;
}

/* `nft list ruleset` of this namespace, malloc'd. */
static char *ruleset(void)
{
	size_t cap = 1 << 16, n;
	char *buf = calloc(1, cap);
	FILE *p = popen("nft list ruleset 2>&1", "r");

	assert_non_null(buf);
	assert_non_null(p);
	n = fread(buf, 1, cap - 1, p);
	buf[n] = '\0';
	pclose(p);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void assert_rules(const char *needle, int want)
{
	char *rs = ruleset();

	if (count(rs, needle) != want)
		fprintf(stderr, "want %d of \"%s\" in:\n%s\n", want, needle, rs);
	assert_int_equal(count(rs, needle), want);
	free(rs);
}

static void run(const char *cmd)
{
	assert_int_equal(system(cmd), 0);
}

/* An attachment with one or two masquerade entries. */
struct att {
	struct vp_nft_masq masq[2];
	struct vp_nft_attachment a;
};

static void att_init(struct att *t, const char *ctr, const char *ip4, const char *ip6)
{
	memset(t, 0, sizeof(*t));
	t->a.owner = (struct vp_nft_owner){ "net1", ctr, "eth0" };
	t->a.masq = t->masq;
	assert_int_equal(vp_ip_parse(ip4, &t->masq[0].ip), 0);
	assert_int_equal(vp_prefix_parse("10.22.0.0/16", &t->masq[0].net), 0);
	t->a.n_masq = 1;
	if (ip6) {
		assert_int_equal(vp_ip_parse(ip6, &t->masq[1].ip), 0);
		assert_int_equal(vp_prefix_parse("fd00:22::/64", &t->masq[1].net), 0);
		t->a.n_masq = 2;
	}
}

static void test_attach_verify_detach(void **state)
{
	struct vp_error err = { 0 };
	struct att t;

	(void)state;
	att_init(&t, "ctr1", "10.22.0.5", "fd00:22::5");
	assert_int_equal(vp_nft_verify(&t.a, &err), -ENOENT);
	assert_int_equal(vp_nft_attach(&t.a, &err), 0);
	assert_int_equal(vp_nft_verify(&t.a, &err), 0);
	assert_rules("table inet vplumb", 1);
	assert_rules("type nat hook postrouting priority srcnat", 1);
	assert_rules("ip saddr vmap @masq4", 1);
	assert_rules("ip6 saddr vmap @masq6", 1);
	assert_rules("10.22.0.5 : jump vp-", 1);
	assert_rules("fd00:22::5 : jump vp-", 1);
	assert_rules("comment \"net1/ctr1/eth0\"", 1);
	assert_rules("ip daddr 10.22.0.0/16 return", 1);
	assert_rules("ip6 daddr fd00:22::/64 return", 1);
	assert_rules("ip daddr 224.0.0.0/4 return", 1);
	assert_rules("ip6 daddr ff00::/8 return", 1);
	assert_rules("masquerade", 1);
	assert_rules("table bridge vplumb", 0);

	assert_int_equal(vp_nft_detach(&t.a.owner, &err), 0);
	assert_int_equal(vp_nft_verify(&t.a, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing"));
	assert_rules("chain vp-", 0);
	assert_rules(": jump", 0);
	assert_rules("table inet vplumb", 0);   /* it went with the last attachment */
	/* Twice, and with nothing ever installed for that owner. */
	assert_int_equal(vp_nft_detach(&t.a.owner, &err), 0);
	t.a.owner.container_id = "never";
	assert_int_equal(vp_nft_detach(&t.a.owner, &err), 0);
}

static void test_detach_without_tables(void **state)
{
	struct vp_nft_owner o = { "net1", "ctr1", "eth0" };
	struct vp_error err = { 0 };

	(void)state;
	assert_int_equal(vp_nft_detach(&o, &err), 0);
	assert_int_equal(vp_nft_gc("net1", NULL, 0, &err), 0);
	assert_rules("table", 0);
}

static void test_attach_replaces(void **state)
{
	struct vp_error err = { 0 };
	struct att t, old;

	(void)state;
	att_init(&old, "ctr1", "10.22.0.5", "fd00:22::5");
	assert_int_equal(vp_nft_attach(&old.a, &err), 0);
	assert_int_equal(vp_nft_attach(&old.a, &err), 0);
	assert_int_equal(vp_nft_verify(&old.a, &err), 0);
	assert_rules("chain vp-", 1);
	assert_rules("masquerade", 1);

	att_init(&t, "ctr1", "10.22.0.6", NULL);
	assert_int_equal(vp_nft_attach(&t.a, &err), 0);
	assert_int_equal(vp_nft_verify(&t.a, &err), 0);
	assert_int_equal(vp_nft_verify(&old.a, &err), -ENOENT);
	assert_rules("10.22.0.5", 0);
	assert_rules("fd00:22::5", 0);
	assert_rules("10.22.0.6 : jump vp-", 1);
	assert_rules("ip6 daddr", 0);
	assert_rules("chain vp-", 1);
	/* The base rules were added once. */
	assert_rules("ip saddr vmap @masq4", 1);
}

static void test_clash_is_atomic(void **state)
{
	struct vp_error err = { 0 };
	struct att a, b;

	(void)state;
	att_init(&a, "ctrA", "10.22.0.7", NULL);
	att_init(&b, "ctrB", "10.22.0.7", NULL);
	assert_int_equal(vp_nft_attach(&a.a, &err), 0);
	assert_true(vp_nft_attach(&b.a, &err) < 0);
	assert_non_null(strstr(err.msg, "10.22.0.7"));
	assert_non_null(strstr(err.msg, "masq4"));
	/* Nothing of b was applied; a is intact. */
	assert_rules("chain vp-", 1);
	assert_int_equal(vp_nft_verify(&a.a, &err), 0);
}

static void test_verify_detects_tampering(void **state)
{
	struct vp_error err = { 0 };
	struct att t;
	char cmd[256], *rs, *chain;

	(void)state;
	att_init(&t, "ctr1", "10.22.0.5", NULL);
	assert_int_equal(vp_nft_attach(&t.a, &err), 0);
	rs = ruleset();
	chain = strstr(rs, "chain vp-");
	assert_non_null(chain);
	chain[strlen("chain vp-") + 16] = '\0';
	snprintf(cmd, sizeof(cmd), "nft delete rule inet vplumb %s handle "
		 "$(nft -a list chain inet vplumb %s | awk '/masquerade/ {print $NF}')",
		 chain + 6, chain + 6);
	run(cmd);
	assert_int_equal(vp_nft_verify(&t.a, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "rules"));
	run("nft delete element inet vplumb masq4 '{ 10.22.0.5 }'");
	assert_int_equal(vp_nft_attach(&t.a, &err), 0);
	assert_int_equal(vp_nft_verify(&t.a, &err), 0);
	run("nft delete element inet vplumb masq4 '{ 10.22.0.5 }'");
	assert_int_equal(vp_nft_verify(&t.a, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "10.22.0.5"));
	/* Detach copes with the element already gone. */
	assert_int_equal(vp_nft_detach(&t.a.owner, &err), 0);
	assert_rules("chain vp-", 0);
	free(rs);
}

static void test_gc(void **state)
{
	struct vp_error err = { 0 };
	struct att a, b, c, d;

	(void)state;
	att_init(&a, "ctrA", "10.22.0.10", NULL);
	att_init(&b, "ctrB", "10.22.0.11", "fd00:22::11");
	att_init(&c, "ctrC", "10.22.0.12", NULL);
	att_init(&d, "ctrD", "10.22.0.13", NULL);
	d.a.owner.network = "net2";
	c.a.spoof_ifname = "vethc";
	assert_int_equal(vp_mac_parse("02:00:00:00:00:0c", &c.a.spoof_mac), 0);
	assert_int_equal(vp_nft_attach(&a.a, &err), 0);
	assert_int_equal(vp_nft_attach(&b.a, &err), 0);
	assert_int_equal(vp_nft_attach(&c.a, &err), 0);
	assert_int_equal(vp_nft_attach(&d.a, &err), 0);
	assert_rules("chain vp-", 5);

	assert_int_equal(vp_nft_gc("net1", &a.a.owner, 1, &err), 0);
	assert_int_equal(vp_nft_verify(&a.a, &err), 0);
	assert_int_equal(vp_nft_verify(&d.a, &err), 0);
	assert_int_equal(vp_nft_verify(&b.a, &err), -ENOENT);
	assert_int_equal(vp_nft_verify(&c.a, &err), -ENOENT);
	assert_rules("chain vp-", 2);
	assert_rules("10.22.0.11", 0);
	assert_rules("10.22.0.12", 0);
	assert_rules("vethc", 0);
	/* Nothing left to collect. */
	assert_int_equal(vp_nft_gc("net1", &a.a.owner, 1, &err), 0);
	assert_rules("chain vp-", 2);
}

static void test_mac_spoof(void **state)
{
	struct vp_error err = { 0 };
	struct vp_nft_attachment a = {
		.owner = { "net1", "ctr1", "eth0" },
		.spoof_ifname = "veth1234",
	};

	(void)state;
	assert_int_equal(vp_mac_parse("02:42:ac:11:00:02", &a.spoof_mac), 0);
	assert_int_equal(vp_nft_attach(&a, &err), 0);
	assert_int_equal(vp_nft_verify(&a, &err), 0);
	assert_rules("table bridge vplumb", 1);
	assert_rules("type filter hook prerouting priority dstnat", 1);
	assert_rules("iifname vmap @spoof", 1);
	assert_rules("\"veth1234\" : jump vp-", 1);
	assert_rules("ether saddr 02:42:ac:11:00:02 return", 1);
	assert_rules("drop", 1);
	assert_rules("table inet vplumb", 0);

	/* A different MAC is a different rule set. */
	assert_int_equal(vp_mac_parse("02:42:ac:11:00:03", &a.spoof_mac), 0);
	assert_int_equal(vp_nft_verify(&a, &err), -ENOENT);
	assert_int_equal(vp_nft_attach(&a, &err), 0);
	assert_int_equal(vp_nft_verify(&a, &err), 0);
	assert_rules("ether saddr 02:42:ac:11:00:03 return", 1);
	assert_rules("02:42:ac:11:00:02", 0);

	assert_int_equal(vp_nft_detach(&a.owner, &err), 0);
	assert_rules("chain vp-", 0);
	assert_rules("veth1234", 0);
	assert_rules("table bridge vplumb", 0);
}

/* Each table lives while an attachment needs it: detaching one of two
 * keeps the skeleton for the other, detaching the last removes the table. */
static void test_tables_go_with_last_attachment(void **state)
{
	struct vp_error err = { 0 };
	struct att t1, t2;

	(void)state;
	att_init(&t1, "ctr1", "10.22.0.5", NULL);
	att_init(&t2, "ctr2", "10.22.0.6", "fd00:22::6");
	t1.a.spoof_ifname = "veth1";
	t2.a.spoof_ifname = "veth2";
	assert_int_equal(vp_mac_parse("02:42:ac:11:00:05", &t1.a.spoof_mac), 0);
	assert_int_equal(vp_mac_parse("02:42:ac:11:00:06", &t2.a.spoof_mac), 0);
	assert_int_equal(vp_nft_attach(&t1.a, &err), 0);
	assert_int_equal(vp_nft_attach(&t2.a, &err), 0);
	assert_int_equal(vp_nft_detach(&t1.a.owner, &err), 0);
	assert_rules("table inet vplumb", 1);
	assert_rules("table bridge vplumb", 1);
	assert_int_equal(vp_nft_verify(&t2.a, &err), 0);
	assert_int_equal(vp_nft_detach(&t2.a.owner, &err), 0);
	assert_rules("table", 0);
	/* And back: the next attachment builds the skeleton again. */
	assert_int_equal(vp_nft_attach(&t1.a, &err), 0);
	assert_int_equal(vp_nft_verify(&t1.a, &err), 0);
	assert_int_equal(vp_nft_detach(&t1.a.owner, &err), 0);
	assert_rules("table", 0);
}

static void test_bad_input(void **state)
{
	struct vp_error err = { 0 };
	struct att t;

	(void)state;
	att_init(&t, "", "10.22.0.5", NULL);
	assert_int_equal(vp_nft_attach(&t.a, &err), -EINVAL);
	att_init(&t, "a/b", "10.22.0.5", NULL);
	assert_int_equal(vp_nft_attach(&t.a, &err), -EINVAL);
	att_init(&t, "ctr1", "fd00:22::5", NULL);   /* v6 address, v4 network */
	assert_int_equal(vp_nft_attach(&t.a, &err), -EINVAL);
	att_init(&t, "ctr1", "10.22.0.5", NULL);
	t.a.spoof_ifname = "an-interface-name-too-long";
	assert_int_equal(vp_nft_attach(&t.a, &err), -EINVAL);
	assert_int_equal(vp_nft_gc("", NULL, 0, &err), -EINVAL);
	assert_rules("table", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_attach_verify_detach, setup),
		cmocka_unit_test_setup(test_detach_without_tables, setup),
		cmocka_unit_test_setup(test_attach_replaces, setup),
		cmocka_unit_test_setup(test_clash_is_atomic, setup),
		cmocka_unit_test_setup(test_verify_detects_tampering, setup),
		cmocka_unit_test_setup(test_gc, setup),
		cmocka_unit_test_setup(test_mac_spoof, setup),
		cmocka_unit_test_setup(test_tables_go_with_last_attachment, setup),
		cmocka_unit_test_setup(test_bad_input, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
