/* test_csi_mountinfo.c - mount points under a directory from
 * /proc/self/mountinfo (csi/node/mountinfo.c): a bind mount whose path
 * holds a space, a tab and a backslash (escaped by the kernel) is found by
 * its real name, the directory itself and its prefix siblings are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi/node/mountinfo.h"

static char dir[] = "/tmp/vpt-csmi-XXXXXX";
static char odd[PATH_MAX], sibling[PATH_MAX];

struct seen {
	unsigned n, odd;
};

static void count(void *ctx, const char *mp)
{
	struct seen *s = ctx;

	s->n++;
	s->odd += !strcmp(mp, odd);
}

static void test_escaped_bind(void **state)
{
	struct vp_error err = { 0 };
	struct seen s = { 0 };

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(odd, sizeof(odd), "%s/a b\tc\\d", dir);
	snprintf(sibling, sizeof(sibling), "%s-x", dir);
	assert_int_equal(mkdir(odd, 0700), 0);
	assert_int_equal(mkdir(sibling, 0700), 0);
	assert_int_equal(mount(odd, odd, NULL, MS_BIND, NULL), 0);
	assert_int_equal(mount(sibling, sibling, NULL, MS_BIND, NULL), 0);
	assert_int_equal(mount(dir, dir, NULL, MS_BIND, NULL), 0);
	assert_int_equal(vp_mountinfo_under(dir, count, &s, &err), 0);
	/* Only the odd one: not dir itself (mounted over), not dir-x. */
	assert_int_equal(s.odd, 1);
	assert_int_equal(s.n, 1);
}

/* A failed assertion must not leave a mount behind. */
static int unmount_all(void **state)
{
	(void)state;
	if (!odd[0])
		return 0;
	umount2(dir, MNT_DETACH);
	umount2(odd, MNT_DETACH);
	umount2(sibling, MNT_DETACH);
	rmdir(odd);
	rmdir(sibling);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_escaped_bind, unmount_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
