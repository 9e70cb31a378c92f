/* test_vnet_link.c - links, veth pairs across namespaces and bridges, each
 * test in fresh private network namespaces (host side and "pod" side).
 */
#include <dirent.h>
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
#include <sys/mount.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <linux/if_link.h>

#include "vnet/link.h"
#include "vnet/macvtap.h"
#include "vnet/netns.h"
#include "vnet/nl.h"

struct env {
	struct vp_nl *nl;       /* host side */
	struct vp_nl *pod_nl;   /* inside pod_fd */
	int pod_fd;
	int fds_before;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* A fresh "pod" namespace (fd kept) and a fresh host namespace we stay in. */
static int setup(void **state)
{
	struct vp_error err = { 0 };
	struct env *e = calloc(1, sizeof(*e));

	if (!e || unshare(CLONE_NEWNET) < 0)
		return -1;
	e->pod_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (e->pod_fd < 0 || unshare(CLONE_NEWNET) < 0)
		return -1;
	if (vp_nl_open(&e->nl, &err) < 0 || vp_nl_open_netns(e->pod_fd, &e->pod_nl, &err) < 0)
		return -1;
	e->fds_before = count_fds();
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	/* Every operation must have closed what it opened. */
	assert_int_equal(count_fds(), e->fds_before);
	vp_nl_close(e->nl);
	vp_nl_close(e->pod_nl);
	close(e->pod_fd);
	free(e);
	return 0;
}

static struct vp_veth_config veth_cfg(struct env *e, const char *host, const char *peer)
{
	return (struct vp_veth_config){ .host_name = host, .peer_name = peer,
					.peer_netns_fd = e->pod_fd };
}

static void test_veth_peer_in_netns(void **state)
{
	struct env *e = *state;
	struct vp_veth_config cfg = veth_cfg(e, "vtl0", "eth0");
	struct vp_mac mac = { { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 } };
	struct vp_link_info host, peer;
	struct vp_error err = { 0 };

	cfg.mtu = 1400;
	cfg.peer_mac = &mac;
	assert_int_equal(vp_veth_create(e->nl, &cfg, &host, &err), 0);
	assert_string_equal(host.name, "vtl0");
	assert_string_equal(host.kind, "veth");
	assert_int_equal(host.mtu, 1400);
	assert_true(host.ifindex > 0);
	assert_false(host.up);
	/* The peer lives only in the pod namespace. */
	assert_int_equal(vp_link_by_name(e->nl, "eth0", &peer, &err), -ENODEV);
	assert_int_equal(vp_link_by_name(e->pod_nl, "eth0", &peer, &err), 0);
	assert_string_equal(peer.kind, "veth");
	assert_int_equal(peer.mtu, 1400);
	assert_memory_equal(peer.mac.addr, mac.addr, 6);
	assert_int_equal(vp_link_by_name(e->pod_nl, "vtl0", &host, &err), -ENODEV);
}

static void test_veth_random_name(void **state)
{
	struct env *e = *state;
	struct vp_veth_config cfg = veth_cfg(e, NULL, "eth0");
	struct vp_link_info host, again;
	struct vp_error err = { 0 };

	assert_int_equal(vp_veth_create(e->nl, &cfg, &host, &err), 0);
	assert_int_equal(strlen(host.name), 12);
	assert_memory_equal(host.name, "veth", 4);
	assert_int_equal(strspn(host.name + 4, "0123456789abcdef"), 8);
	assert_int_equal(vp_link_by_index(e->nl, host.ifindex, &again, &err), 0);
	assert_string_equal(again.name, host.name);
}

static void test_veth_collisions(void **state)
{
	struct env *e = *state;
	struct vp_veth_config cfg = veth_cfg(e, "vtl1", "eth0");
	struct vp_link_info info;
	struct vp_error err = { 0 };

	assert_int_equal(vp_veth_create(e->nl, &cfg, NULL, &err), 0);
	/* Peer name taken in the pod: named in the message, nothing left. */
	cfg.host_name = "vtl2";
	assert_int_equal(vp_veth_create(e->nl, &cfg, NULL, &err), -EEXIST);
	assert_int_equal(err.errnum, EEXIST);
	assert_non_null(strstr(err.msg, "eth0"));
	assert_int_equal(vp_link_by_name(e->nl, "vtl2", &info, &err), -ENODEV);
	/* Same with a random host name: no retries can help. */
	cfg.host_name = NULL;
	memset(&err, 0, sizeof(err));
	assert_int_equal(vp_veth_create(e->nl, &cfg, NULL, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "eth0"));
	/* Host name taken. */
	cfg.host_name = "vtl1";
	cfg.peer_name = "eth1";
	memset(&err, 0, sizeof(err));
	assert_int_equal(vp_veth_create(e->nl, &cfg, NULL, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "vtl1"));
	assert_int_equal(vp_link_by_name(e->pod_nl, "eth1", &info, &err), -ENODEV);
}

static void test_veth_bad_config(void **state)
{
	struct env *e = *state;
	struct vp_veth_config cfg = veth_cfg(e, "vtl3", "an-interface-name-too-long");
	struct vp_error err = { 0 };

	assert_int_equal(vp_veth_create(e->nl, &cfg, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "an-interface-name-too-long"));
	cfg.peer_name = NULL;
	assert_int_equal(vp_veth_create(e->nl, &cfg, NULL, &err), -EINVAL);
}

static void test_link_set_and_delete(void **state)
{
	struct env *e = *state;
	struct vp_veth_config cfg = veth_cfg(e, "vtl4", "eth0");
	struct vp_mac mac = { { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee } };
	struct vp_link_info host, info;
	struct vp_error err = { 0 };

	assert_int_equal(vp_veth_create(e->nl, &cfg, &host, &err), 0);
	assert_int_equal(vp_link_set_mtu(e->nl, host.ifindex, 1300, &err), 0);
	assert_int_equal(vp_link_set_mac(e->nl, host.ifindex, &mac, &err), 0);
	assert_int_equal(vp_link_set_promisc(e->nl, host.ifindex, true, &err), 0);
	assert_int_equal(vp_link_set_up(e->nl, host.ifindex, &err), 0);
	assert_int_equal(vp_link_by_index(e->nl, host.ifindex, &info, &err), 0);
	assert_int_equal(info.mtu, 1300);
	assert_memory_equal(info.mac.addr, mac.addr, 6);
	assert_true(info.promisc);
	assert_true(info.up);
	assert_int_equal(vp_link_set_promisc(e->nl, host.ifindex, false, &err), 0);
	assert_int_equal(vp_link_by_index(e->nl, host.ifindex, &info, &err), 0);
	assert_false(info.promisc);
	assert_true(info.up);
	/* A bad MTU is an error that names the link. */
	assert_int_equal(vp_link_set_mtu(e->nl, host.ifindex, 10, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "MTU 10"));

	assert_int_equal(vp_link_delete(e->nl, host.ifindex, &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(vp_link_by_index(e->nl, host.ifindex, &info, &err), -ENODEV);
	assert_int_equal(vp_link_delete(e->nl, host.ifindex, &err), -ENODEV);
	assert_int_equal(err.errnum, 0);
	/* Deleting one end took the peer with it. */
	assert_int_equal(vp_link_by_name(e->pod_nl, "eth0", &info, &err), -ENODEV);
	assert_int_equal(vp_link_set_up(e->nl, host.ifindex, &err), -ENODEV);
}

/* Returns with the link unlisted (its names free again at once), while a
 * child of ours finishes the kernel's teardown. */
static void test_link_delete_nowait(void **state)
{
	struct env *e = *state;
	struct vp_veth_config cfg = veth_cfg(e, "vtl6", "eth0");
	struct vp_link_info host, peer;
	struct vp_error err = { 0 };
	int status;

	assert_int_equal(vp_veth_create(e->nl, &cfg, &host, &err), 0);
	assert_int_equal(vp_link_by_name(e->pod_nl, "eth0", &peer, &err), 0);
	assert_int_equal(vp_link_delete_nowait(e->pod_fd, peer.ifindex, &err), 0);
	assert_int_equal(vp_link_by_name(e->pod_nl, "eth0", &peer, &err), -ENODEV);
	assert_int_equal(vp_link_by_name(e->nl, "vtl6", &host, &err), -ENODEV);
	assert_int_equal(vp_veth_create(e->nl, &cfg, &host, &err), 0);
	assert_int_equal(waitpid(-1, &status, 0) > 0 && WIFEXITED(status), 1);
	assert_int_equal(WEXITSTATUS(status), 0);

	/* Gone already: -ENODEV with err untouched, and no child left. */
	assert_int_equal(vp_link_delete_nowait(e->pod_fd, 9999, &err), -ENODEV);
	assert_int_equal(err.errnum, 0);
	assert_int_equal(waitpid(-1, &status, 0) > 0 && WIFEXITED(status), 1);
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
}

static void test_bridge_ensure_twice(void **state)
{
	struct env *e = *state;
	struct vp_mac mac = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x42 } };
	struct vp_bridge_config cfg = { .name = "vpbr0", .mtu = 1450, .mac = &mac, .promisc = true };
	struct vp_link_info a, b, info;
	struct vp_error err = { 0 };

	assert_int_equal(vp_bridge_ensure(e->nl, &cfg, &a, &err), 0);
	assert_string_equal(a.kind, "bridge");
	assert_true(a.up);
	assert_true(a.promisc);
	assert_int_equal(a.mtu, 1450);
	assert_memory_equal(a.mac.addr, mac.addr, 6);
	assert_int_equal(vp_bridge_ensure(e->nl, &cfg, &b, &err), 0);
	assert_int_equal(a.ifindex, b.ifindex);
	/* An existing bridge is brought to the config. */
	assert_int_equal(vp_link_set_mtu(e->nl, a.ifindex, 1500, &err), 0);
	cfg.mtu = 1400;
	assert_int_equal(vp_bridge_ensure(e->nl, &cfg, &b, &err), 0);
	assert_int_equal(vp_link_by_index(e->nl, a.ifindex, &info, &err), 0);
	assert_int_equal(info.mtu, 1400);
	assert_int_equal(b.mtu, 1400);
}

static void test_bridge_concurrent(void **state)
{
	struct env *e = *state;
	struct vp_bridge_config cfg = { .name = "vpbr1" };
	enum { N = 6 };
	pid_t pids[N];
	int go[2];
	char c;

	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct vp_nl *nl;
			struct vp_link_info info;
			struct vp_error err = { 0 };

			close(go[1]);
			if (vp_nl_open(&nl, &err) < 0 || read(go[0], &c, 1) != 0)
				_exit(2);
			_exit(vp_bridge_ensure(nl, &cfg, &info, &err) == 0 &&
			      !strcmp(info.kind, "bridge") ? 0 : 1);
		}
	}
	close(go[0]);
	close(go[1]); /* all children start at once */
	for (int i = 0; i < N; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	struct vp_link_info info;
	struct vp_error err = { 0 };

	assert_int_equal(vp_link_by_name(e->nl, "vpbr1", &info, &err), 0);
	assert_string_equal(info.kind, "bridge");
}

static void test_bridge_over_other_kind(void **state)
{
	struct env *e = *state;
	struct vp_veth_config vcfg = veth_cfg(e, "vpbr2", "eth0");
	struct vp_bridge_config cfg = { .name = "vpbr2" };
	struct vp_link_info info;
	struct vp_error err = { 0 };

	assert_int_equal(vp_veth_create(e->nl, &vcfg, NULL, &err), 0);
	assert_int_equal(vp_bridge_ensure(e->nl, &cfg, &info, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a bridge"));
	assert_int_equal(vp_link_by_name(e->nl, "vpbr2", &info, &err), 0);
	assert_string_equal(info.kind, "veth");
}

static bool kernel_has_vlan_filtering(const char *bridge)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge/vlan_filtering", bridge);
	return access(path, F_OK) == 0;
}

/* sysfs shows the namespace of whoever mounted it: mount our own. */
static void mount_own_sysfs(void)
{
	assert_int_equal(unshare(CLONE_NEWNS), 0);
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	assert_int_equal(mount("sysfs", "/sys", "sysfs", 0, NULL), 0);
}

/* /sys/class/net/<link>/brport/<attr> as an integer, -1 if unreadable. */
static int brport_attr(const char *link, const char *attr)
{
	char path[128];
	int v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/brport/%s", link, attr);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void test_bridge_port_and_vlan(void **state)
{
	struct env *e = *state;
	struct vp_veth_config vcfg = veth_cfg(e, "vtl5", "eth0");
	struct vp_bridge_config cfg = { .name = "vpbr3" };
	struct vp_bridge_port_config port = { .hairpin = true, .isolated = true };
	struct vp_link_info br, host, info;
	struct vp_error err = { 0 };
	int ret;

	mount_own_sysfs();
	assert_int_equal(vp_bridge_ensure(e->nl, &cfg, &br, &err), 0);
	assert_int_equal(vp_veth_create(e->nl, &vcfg, &host, &err), 0);
	/* Not yet a port: the flags cannot apply. */
	assert_int_equal(vp_bridge_port_set(e->nl, host.ifindex, &port, &err), -EOPNOTSUPP);
	assert_int_equal(vp_link_set_master(e->nl, host.ifindex, br.ifindex, &err), 0);
	assert_int_equal(vp_link_by_index(e->nl, host.ifindex, &info, &err), 0);
	assert_int_equal(info.master, br.ifindex);
	assert_int_equal(vp_bridge_port_set(e->nl, host.ifindex, &port, &err), 0);
	assert_int_equal(brport_attr("vtl5", "hairpin_mode"), 1);
	assert_int_equal(brport_attr("vtl5", "isolated"), 1);
	port.isolated = false;
	assert_int_equal(vp_bridge_port_set(e->nl, host.ifindex, &port, &err), 0);
	assert_int_equal(brport_attr("vtl5", "hairpin_mode"), 1);
	assert_int_equal(brport_attr("vtl5", "isolated"), 0);

	ret = vp_bridge_vlan_add(e->nl, host.ifindex, 100, true, &err);
	if (kernel_has_vlan_filtering("vpbr3")) {
		assert_int_equal(ret, 0);
	} else {
		assert_int_equal(ret, -EOPNOTSUPP);
		assert_non_null(strstr(err.msg, "not supported"));
	}
	assert_int_equal(vp_bridge_vlan_add(e->nl, host.ifindex, 5000, true, &err), -EINVAL);

	assert_int_equal(vp_link_set_master(e->nl, host.ifindex, 0, &err), 0);
	assert_int_equal(vp_link_by_index(e->nl, host.ifindex, &info, &err), 0);
	assert_int_equal(info.master, 0);
	umount("/sys");
}

static void test_bridge_vlan_filtering(void **state)
{
	struct env *e = *state;
	struct vp_bridge_config cfg = { .name = "vpbr4", .vlan_filtering = true };
	struct vp_bridge_config plain = { .name = "vpbr5" };
	struct vp_link_info info;
	struct vp_error err = { 0 };
	bool supported;

	/* Probe on a plain bridge whether this kernel has VLAN filtering. */
	mount_own_sysfs();
	assert_int_equal(vp_bridge_ensure(e->nl, &plain, &info, &err), 0);
	supported = kernel_has_vlan_filtering("vpbr5");
	umount("/sys");
	if (supported) {
		assert_int_equal(vp_bridge_ensure(e->nl, &cfg, &info, &err), 0);
		return;
	}
	assert_int_equal(vp_bridge_ensure(e->nl, &cfg, &info, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "VLAN filtering"));
	/* Nothing half-made. */
	assert_int_equal(vp_link_by_name(e->nl, "vpbr4", &info, &err), -ENODEV);
	/* Asking it of an existing bridge fails the same way. */
	plain.vlan_filtering = true;
	assert_int_equal(vp_bridge_ensure(e->nl, &plain, &info, &err), -EOPNOTSUPP);
}

/* Aliases read back, listing filters by kind, macvtap create and mode. */
static void test_alias_list_macvtap(void **state)
{
	struct env *e = *state;
	struct vp_veth_config cfg = veth_cfg(e, "vtl9", "eth0");
	struct vp_macvtap_config mc = { .name = "vtl9m", .mode = 0 };
	struct vp_link_info host, info, *v;
	struct vp_error err = { 0 };
	unsigned mode;
	size_t n;

	assert_int_equal(vp_veth_create(e->nl, &cfg, &host, &err), 0);
	assert_int_equal(vp_link_set_alias(e->nl, host.ifindex, "vplumb:test", &err), 0);
	assert_int_equal(vp_link_by_index(e->nl, host.ifindex, &info, &err), 0);
	assert_string_equal(info.alias, "vplumb:test");
	assert_int_equal(vp_link_list(e->nl, "veth", &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "vtl9");
	free(v);
	assert_int_equal(vp_link_list(e->nl, NULL, &v, &n, &err), 0);
	assert_int_equal(n, 2);   /* lo and the veth */
	free(v);

	assert_int_equal(vp_macvtap_mode_parse("vepa"), MACVLAN_MODE_VEPA);
	assert_int_equal(vp_macvtap_mode_parse("sideways"), -EINVAL);
	assert_string_equal(vp_macvtap_mode_name(MACVLAN_MODE_BRIDGE), "bridge");
	mc.lower = host.ifindex;
	mc.mode = MACVLAN_MODE_VEPA;
	assert_int_equal(vp_macvtap_create(e->nl, &mc, &info, &err), 0);
	assert_string_equal(info.kind, "macvtap");
	assert_int_equal(info.link, host.ifindex);
	assert_int_equal(vp_macvtap_get_mode(e->nl, info.ifindex, &mode, &err), 0);
	assert_int_equal(mode, MACVLAN_MODE_VEPA);
	assert_int_equal(vp_macvtap_create(e->nl, &mc, NULL, &err), -EEXIST);
	assert_int_equal(vp_macvtap_get_mode(e->nl, host.ifindex, &mode, &err), -EINVAL);
	assert_int_equal(vp_link_delete(e->nl, info.ifindex, &err), 0);
	assert_int_equal(vp_link_delete(e->nl, host.ifindex, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_veth_peer_in_netns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_veth_random_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_veth_collisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_veth_bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_set_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alias_list_macvtap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_delete_nowait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_ensure_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_over_other_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_port_and_vlan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bridge_vlan_filtering, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
