/* test_vnet_tc.c - ingress + u32 + mirred redirect between a veth end and a
 * tap, in a private network namespace.
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
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>

#include "vnet/link.h"
#include "vnet/nl.h"
#include "vnet/tap.h"
#include "vnet/tc.h"

struct fixture {
	struct vp_nl *nl;
	int veth, peer, tap;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vp_tap_config tap = { .name = "vptctap", .queues = 1, .owner = -1, .group = -1 };
	struct vp_veth_config veth = { .host_name = "vptcveth", .peer_name = "vptcpeer" };
	struct vp_link_info info;
	struct vp_error err = { 0 };

	if (!f || unshare(CLONE_NEWNET) < 0 || vp_nl_open(&f->nl, &err) < 0)
		return -1;
	veth.peer_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (veth.peer_netns_fd < 0 || vp_veth_create(f->nl, &veth, &info, &err) < 0) {
		fprintf(stderr, "veth: %s\n", err.msg);
		return -1;
	}
	close(veth.peer_netns_fd);
	f->veth = info.ifindex;
	if (vp_link_set_up(f->nl, f->veth, &err) < 0 ||
	    vp_link_by_name(f->nl, "vptcpeer", &info, &err) < 0 ||
	    vp_link_set_up(f->nl, info.ifindex, &err) < 0)
		return -1;
	f->peer = info.ifindex;
	if (vp_tap_create(f->nl, &tap, &info, &err) < 0) {
		fprintf(stderr, "tap: %s\n", err.msg);
		return -1;
	}
	f->tap = info.ifindex;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vp_nl_close(f->nl);
	free(f);
	return 0;
}

/* Number of lines of `tc filter show dev name ingress` containing needle. */
static int tc_count(const char *name, const char *needle)
{
	char cmd[128], line[512];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "tc filter show dev %s ingress 2>&1", name);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		n += strstr(line, needle) != NULL;
	pclose(p);
	return n;
}

static void assert_check(struct fixture *f, int from, int to, bool want)
{
	struct vp_error err = { 0 };
	bool ok = !want;

	assert_int_equal(vp_tc_redirect_check(f->nl, from, to, &ok, &err), 0);
	assert_int_equal(ok, want);
}

static void test_redirect_pair(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };

	assert_check(f, f->veth, f->tap, false);
	assert_int_equal(vp_tc_redirect_pair(f->nl, f->veth, f->tap, &err), 0);
	assert_check(f, f->veth, f->tap, true);
	assert_check(f, f->tap, f->veth, true);
	/* Redirects point at the other end only. */
	assert_check(f, f->veth, f->veth, false);
	assert_check(f, f->tap, f->tap, false);
	assert_int_equal(tc_count("vptcveth", "Egress Redirect to device vptctap"), 1);
	assert_int_equal(tc_count("vptctap", "Egress Redirect to device vptcveth"), 1);
	assert_int_equal(tc_count("vptcveth", "match 00000000/00000000"), 1);
}

static void test_idempotent(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };

	assert_int_equal(vp_tc_redirect_pair(f->nl, f->veth, f->tap, &err), 0);
	assert_int_equal(vp_tc_redirect_pair(f->nl, f->veth, f->tap, &err), 0);
	assert_int_equal(tc_count("vptcveth", "Egress Redirect"), 1);
	assert_int_equal(tc_count("vptctap", "Egress Redirect"), 1);
	assert_check(f, f->veth, f->tap, true);
}

static void test_clear(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };

	/* Absent is fine. */
	assert_int_equal(vp_tc_ingress_clear(f->nl, f->veth, &err), 0);
	assert_int_equal(vp_tc_redirect_pair(f->nl, f->veth, f->tap, &err), 0);
	assert_int_equal(vp_tc_ingress_clear(f->nl, f->veth, &err), 0);
	assert_check(f, f->veth, f->tap, false);
	assert_check(f, f->tap, f->veth, true);
	assert_int_equal(tc_count("vptcveth", "Egress Redirect"), 0);
	assert_int_equal(vp_tc_ingress_clear(f->nl, f->veth, &err), 0);
	assert_int_equal(vp_tc_ingress_clear(f->nl, f->tap, &err), 0);
	assert_check(f, f->tap, f->veth, false);
	/* Redirect again after clearing works. */
	assert_int_equal(vp_tc_redirect_pair(f->nl, f->veth, f->tap, &err), 0);
	assert_check(f, f->veth, f->tap, true);
}

/* A frame with ethertype 0x88b5 (local experimental) carrying marker. */
static size_t test_frame(uint8_t *buf, const char *marker)
{
	static const uint8_t hdr[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5 };

	memcpy(buf, hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), marker, strlen(marker));
	return sizeof(hdr) + strlen(marker) < 60 ? 60 : sizeof(hdr) + strlen(marker);
}

/* Read frames from fd for up to 2 s until one contains marker. */
static bool saw_marker_within(int fd, const char *marker, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t buf[2048];
	ssize_t n;

	while (poll(&pfd, 1, timeout_ms) > 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			return false;
		if (memmem(buf, (size_t)n, marker, strlen(marker)))
			return true;
	}
	return false;
}

static bool saw_marker(int fd, const char *marker)
{
	return saw_marker_within(fd, marker, 2000);
}

/* Send a frame from from_fd until it shows up on to_fd (a few tries): a
 * freshly attached tap drops frames until the kernel's link watcher has
 * activated its qdisc, which happens asynchronously after TUNSETIFF. */
static bool delivered(int from_fd, bool is_tap, int to_fd, const char *marker)
{
	uint8_t frame[64] = { 0 };
	size_t len = test_frame(frame, marker);

	for (int i = 0; i < 10; i++) {
		ssize_t n = is_tap ? write(from_fd, frame, len) : send(from_fd, frame, len, 0);

		if (n != (ssize_t)len)
			return false;
		if (saw_marker_within(to_fd, marker, 300))
			return true;
	}
	return false;
}

/* Frames sent out of the veth's peer come out of the tap, and frames the
 * "VM" writes into the tap come out of the veth's peer. */
static void test_traffic(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = f->peer };
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	struct vp_error err = { 0 };
	uint8_t frame[64] = { 0 };
	size_t len;
	int tap, pkt;

	assert_int_equal(vp_tc_redirect_pair(f->nl, f->veth, f->tap, &err), 0);
	strcpy(ifr.ifr_name, "vptctap");
	tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(tap >= 0);
	assert_int_equal(ioctl(tap, TUNSETIFF, &ifr), 0);
	pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(pkt >= 0);
	assert_int_equal(bind(pkt, (struct sockaddr *)&sll, sizeof(sll)), 0);

	assert_true(delivered(pkt, false, tap, "vplumb-to-vm"));
	assert_true(delivered(tap, true, pkt, "vplumb-from-vm"));

	/* Without the redirect nothing crosses. */
	assert_int_equal(vp_tc_ingress_clear(f->nl, f->veth, &err), 0);
	len = test_frame(frame, "vplumb-dropped");
	assert_int_equal(send(pkt, frame, len, 0), (ssize_t)len);
	assert_false(saw_marker(tap, "vplumb-dropped"));
	close(pkt);
	close(tap);
}

static void test_bad_input(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };

	assert_int_equal(vp_tc_redirect_pair(f->nl, f->veth, f->veth, &err), -EINVAL);
	assert_int_equal(vp_tc_redirect_pair(f->nl, 0, f->tap, &err), -EINVAL);
	assert_true(vp_tc_redirect_pair(f->nl, f->veth, 9999, &err) < 0);
	assert_non_null(strstr(err.msg, "ifindex"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_redirect_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
