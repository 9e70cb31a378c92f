/* test_csi_mountopt.c - mount_flags into mount(2) arguments
 * (csi/node/mountopt.c): known flags into MS_* bits (a later one wins),
 * the rest into the filesystem's options, refused flags and bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "csi/node/mountopt.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int parse(char **flags, size_t n, struct vp_mountopt *o, struct vp_error *err)
{
	memset(err, 0, sizeof(*err));
	return vp_mountopt_parse(flags, n, o, err);
}

static void test_bits_and_data(void **state)
{
	char *flags[] = { "ro", "noexec", "noatime", "nodiratime", "sync", "dirsync",
			  "lazytime", "errors=remount-ro", "discard" };
	struct vp_mountopt o;
	struct vp_error err;

	(void)state;
	assert_int_equal(parse(flags, N(flags), &o, &err), 0);
	assert_int_equal(o.flags, MS_RDONLY | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME |
			 MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME);
	assert_string_equal(o.data, "errors=remount-ro,discard");
	assert_int_equal(parse(NULL, 0, &o, &err), 0);
	assert_int_equal(o.flags, 0);
	assert_string_equal(o.data, "");
}

static void test_later_wins(void **state)
{
	char *flags[] = { "ro", "noexec", "noatime", "rw", "exec", "strictatime", "defaults" };
	char *atime[] = { "strictatime", "relatime" };
	struct vp_mountopt o;
	struct vp_error err;

	(void)state;
	assert_int_equal(parse(flags, N(flags), &o, &err), 0);
	assert_int_equal(o.flags, MS_STRICTATIME);
	assert_int_equal(parse(atime, N(atime), &o, &err), 0);
	assert_int_equal(o.flags, MS_RELATIME);
}

static void refused(char *flag, const char *why)
{
	char *flags[] = { "noexec", flag };
	struct vp_mountopt o;
	struct vp_error err;

	assert_int_equal(parse(flags, N(flags), &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, why));
}

static void test_refused(void **state)
{
	(void)state;
	refused("bind", "kind of mount");
	refused("remount", "kind of mount");
	refused("move", "kind of mount");
	refused("rshared", "propagation");
	refused("suid", "nosuid");
	refused("dev", "nodev");
	refused("journal_path=/dev/sda", "another device");
	refused("logdev=/dev/sda", "another device");
	refused("", "empty");
	refused("noexec,bind", "one flag per entry");
	refused("no exec", "one flag per entry");
	refused("caf\xc3\xa9", "one flag per entry");
	refused("a\"b", "one flag per entry");
	refused("a\\b", "one flag per entry");
}

static void test_bounds(void **state)
{
	char long_flag[VP_MOUNTOPT_FLAG_MAX + 1], mid[VP_MOUNTOPT_FLAG_MAX - 1];
	char *many[VP_MOUNTOPT_MAX_FLAGS + 1], *one[] = { long_flag };
	struct vp_mountopt o;
	struct vp_error err;

	(void)state;
	for (size_t i = 0; i < N(many); i++)
		many[i] = "noatime";
	assert_int_equal(parse(many, VP_MOUNTOPT_MAX_FLAGS, &o, &err), 0);
	assert_int_equal(parse(many, N(many), &o, &err), -EINVAL);
	memset(long_flag, 'x', sizeof(long_flag) - 1);
	long_flag[sizeof(long_flag) - 1] = '\0';
	assert_int_equal(parse(one, 1, &o, &err), -EINVAL);
	/* 32 options of 126 bytes do not fit the filesystem's option string. */
	memset(mid, 'y', sizeof(mid) - 1);
	mid[sizeof(mid) - 1] = '\0';
	for (size_t i = 0; i < VP_MOUNTOPT_MAX_FLAGS; i++)
		many[i] = mid;
	assert_int_equal(parse(many, VP_MOUNTOPT_MAX_FLAGS, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "exceed"));
	assert_int_equal(parse(many, 7, &o, &err), 0);
	assert_int_equal(strlen(o.data), 7 * (sizeof(mid) - 1) + 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bits_and_data),
		cmocka_unit_test(test_later_wins),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
