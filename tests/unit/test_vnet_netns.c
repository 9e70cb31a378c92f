/* test_vnet_netns.c - namespace files, enter/return, handles opened in
 * another namespace, and sysctl, in private network namespaces.
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
#include <cmocka.h>

#include "vnet/link.h"
#include "vnet/netns.h"
#include "vnet/nl.h"
#include "vnet/sysctl.h"

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

/* Fresh namespace for each test: state holds the fd count to compare. */
static int setup(void **state)
{
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	*state = (void *)(intptr_t)count_fds();
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(count_fds(), (int)(intptr_t)*state);
	return 0;
}

static void test_open_checks(void **state)
{
	struct vp_error err = { 0 };
	char tmp[] = "/tmp/vp-netns-test-XXXXXX";
	int fd, tfd;

	(void)state;
	assert_int_equal(vp_netns_open("/proc/self/ns/net", &fd, &err), 0);
	assert_true(vp_netns_is_current(fd));
	close(fd);

	assert_int_equal(vp_netns_open("/var/run/netns/vp-does-not-exist", &fd, &err), -ENOENT);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(err.msg, "vp-does-not-exist"));

	tfd = mkstemp(tmp);
	assert_true(tfd >= 0);
	close(tfd);
	assert_int_equal(vp_netns_open(tmp, &fd, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a network namespace"));
	unlink(tmp);
	/* A namespace, but not a network one. */
	assert_int_equal(vp_netns_open("/proc/self/ns/uts", &fd, &err), -EINVAL);
}

static void test_enter_return_and_handles(void **state)
{
	struct vp_error err = { 0 };
	struct vp_link_info info;
	struct vp_bridge_config br = { .name = "vpnsbr0" };
	struct vp_nl *nl, *other_nl;
	int here, other, saved;

	(void)state;
	assert_int_equal(vp_netns_open("/proc/self/ns/net", &other, &err), 0);
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(vp_netns_open("/proc/self/ns/net", &here, &err), 0);
	assert_false(vp_netns_is_current(other));
	assert_true(vp_netns_is_current(here));

	assert_int_equal(vp_netns_enter(other, &saved, &err), 0);
	assert_true(vp_netns_is_current(other));
	vp_netns_return(saved);
	assert_true(vp_netns_is_current(here));

	/* A handle opened in the other namespace works there; we stay here. */
	assert_int_equal(vp_nl_open_netns(other, &other_nl, &err), 0);
	assert_true(vp_netns_is_current(here));
	assert_int_equal(vp_nl_open(&nl, &err), 0);

	assert_int_equal(vp_bridge_ensure(other_nl, &br, &info, &err), 0);
	assert_int_equal(vp_link_by_name(other_nl, "vpnsbr0", &info, &err), 0);
	assert_int_equal(vp_link_by_name(nl, "vpnsbr0", &info, &err), -ENODEV);

	vp_nl_close(nl);
	/* Failing to enter leaves us where we were, with nothing open. */
	assert_int_equal(vp_nl_open_netns(-1, &nl, &err), -EBADF);
	assert_null(nl);
	assert_true(vp_netns_is_current(here));

	assert_int_equal(vp_link_delete(other_nl, info.ifindex, &err), 0);
	vp_nl_close(other_nl);
	close(here);
	close(other);
}

static void test_sysctl(void **state)
{
	struct vp_veth_config cfg = { .host_name = "vts.10", .peer_name = "vts1" };
	struct vp_error err = { 0 };
	struct vp_nl *nl;
	char buf[64];
	int self;

	(void)state;
	assert_int_equal(vp_sysctl_write("net.ipv4.ip_forward", "1", &err), 0);
	assert_int_equal(vp_sysctl_read("net.ipv4.ip_forward", buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "1");
	assert_int_equal(vp_sysctl_write("net/ipv4/ip_forward", "0", &err), 0);
	assert_int_equal(vp_sysctl_read("net/ipv4/ip_forward", buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "0");

	/* An interface name with a dot needs the slash form. */
	assert_int_equal(vp_nl_open(&nl, &err), 0);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	cfg.peer_netns_fd = self;
	assert_int_equal(vp_veth_create(nl, &cfg, NULL, &err), 0);
	close(self);
	vp_nl_close(nl);
	assert_int_equal(vp_sysctl_write("net/ipv4/conf/vts.10/forwarding", "1", &err), 0);
	assert_int_equal(vp_sysctl_read("net/ipv4/conf/vts.10/forwarding", buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "1");
	assert_int_equal(vp_sysctl_read("net.ipv4.conf.vts.10.forwarding", buf, sizeof(buf), &err),
			 -ENOENT);

	/* Bad keys and buffers. */
	assert_int_equal(vp_sysctl_read("net/../../etc/passwd", buf, sizeof(buf), &err), -EINVAL);
	assert_int_equal(vp_sysctl_write("/net/ipv4/ip_forward", "1", &err), -EINVAL);
	assert_int_equal(vp_sysctl_read("net.ipv4.nope", buf, sizeof(buf), &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/proc/sys/net/ipv4/nope"));
	assert_int_equal(vp_sysctl_read("net.ipv4.ip_local_port_range", buf, 4, &err), -ERANGE);
	assert_int_equal(vp_sysctl_write("net.ipv4.ip_forward", "banana", &err), -EINVAL);
}

/* Named namespaces under /run/netns: create, refuse a taken name, open,
 * delete, delete again; bad names.  The name carries the pid so parallel
 * runs do not meet. */
static void test_named(void **state)
{
	char name[32], path[sizeof(VP_NETNS_DIR) + VP_NETNS_NAME_MAX + 1];
	struct vp_error err = { 0 };
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "vpt-unit-%d", (int)getpid());
	assert_int_equal(vp_netns_named_path(name, path, sizeof(path), &err), 0);
	assert_int_equal(vp_netns_create(name, &err), 0);
	assert_int_equal(vp_netns_create(name, &err), -EEXIST);
	assert_int_equal(vp_netns_open(path, &fd, &err), 0);
	assert_false(vp_netns_is_current(fd));
	close(fd);
	assert_int_equal(vp_netns_delete(name, &err), 0);
	assert_int_equal(access(path, F_OK), -1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(vp_netns_delete(name, &err), -ENOENT);
	assert_int_equal(err.errnum, 0);
	assert_int_equal(vp_netns_create("a/b", &err), -EINVAL);
	assert_int_equal(vp_netns_create("..", &err), -EINVAL);
	assert_int_equal(vp_netns_create("", &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enter_return_and_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sysctl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
