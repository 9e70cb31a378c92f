/* test_csi_loop.c - loop devices over sparse images (csi/node/loop.c):
 * attach, size in sysfs, find by backing file, read-only, size refresh,
 * detach, and nothing left attached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi/node/loop.h"

#define MIB (1LL << 20)

static char dir[] = "/tmp/vpt-csil-XXXXXX";
static char image[128];

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0 || access("/dev/loop-control", R_OK | W_OK) < 0)
		return 0;  /* each test skips */
	if (!mkdtemp(dir))
		return -1;
	snprintf(image, sizeof(image), "%s/vol.img", dir);
	return 0;
}

/* A failed assertion must not leave a device attached. */
static int detach_leftover(void **state)
{
	struct vp_loop l;

	(void)state;
	while (image[0] && vp_loop_find(image, &l, NULL) == 0)
		if (vp_loop_detach(l.index, NULL))
			return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!image[0])
		return 0;
	unlink(image);
	return rmdir(dir);
}

static void make_image(long long size)
{
	int fd = open(image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

/* /sys/block/loopN/size, in 512-byte sectors. */
static long long sysfs_sectors(int index)
{
	char path[96];
	long long sectors = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/loop%d/size", index);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lld", &sectors), 1);
	fclose(f);
	return sectors;
}

static void skip_unless_loop(void)
{
	if (!image[0]) {
		print_message("skip: needs root and /dev/loop-control\n");
		skip();
	}
}

static void test_attach_find_detach(void **state)
{
	struct vp_error err = { 0 };
	struct vp_loop l, found;
	char buf[4096];
	int fd;

	(void)state;
	skip_unless_loop();
	make_image(8 * MIB);
	assert_int_equal(vp_loop_find(image, &found, &err), -ENOENT);
	assert_int_equal(vp_loop_attach(image, false, false, &l, &err), 0);
	assert_int_equal(sysfs_sectors(l.index), 8 * MIB / 512);
	assert_int_equal(vp_loop_find(image, &found, &err), 0);
	assert_int_equal(found.index, l.index);
	assert_string_equal(found.dev, l.dev);
	assert_int_equal(found.direct_io, l.direct_io);

	/* Data written through the device lands in the image. */
	fd = open(l.dev, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), MIB), sizeof(buf));
	assert_int_equal(fsync(fd), 0);
	close(fd);
	fd = open(image, O_RDONLY | O_CLOEXEC);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(fd, buf, sizeof(buf), MIB), sizeof(buf));
	close(fd);
	assert_int_equal((unsigned char)buf[0], 0x5a);
	assert_int_equal((unsigned char)buf[4095], 0x5a);

	/* The image grows: the device follows after a refresh. */
	assert_int_equal(truncate(image, 16 * MIB), 0);
	assert_int_equal(vp_loop_refresh_size(l.index, &err), 0);
	assert_int_equal(sysfs_sectors(l.index), 16 * MIB / 512);

	/* Removed while attached: still found, so it can be detached. */
	assert_int_equal(unlink(image), 0);
	assert_int_equal(vp_loop_find(image, &found, &err), 0);
	assert_int_equal(found.index, l.index);
	assert_int_equal(vp_loop_detach(l.index, &err), 0);
	assert_int_equal(vp_loop_find(image, &found, &err), -ENOENT);
	/* Detaching again (already gone) is fine. */
	assert_int_equal(vp_loop_detach(l.index, &err), 0);
}

static void test_readonly(void **state)
{
	struct vp_error err = { 0 };
	struct vp_loop l;
	char ro[96];
	FILE *f;
	int fd, flag = -1;

	(void)state;
	skip_unless_loop();
	make_image(4 * MIB);
	assert_int_equal(vp_loop_attach(image, true, false, &l, &err), 0);
	snprintf(ro, sizeof(ro), "/sys/block/loop%d/ro", l.index);
	f = fopen(ro, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &flag), 1);
	fclose(f);
	assert_int_equal(flag, 1);
	/* Even root cannot write through it. */
	fd = open(l.dev, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		char buf[512] = { 1 };

		assert_true(pwrite(fd, buf, sizeof(buf), 0) < 0);
		close(fd);
	} else {
		assert_int_equal(errno, EROFS);
	}
	assert_int_equal(vp_loop_detach(l.index, &err), 0);
}

/* A detach while something else holds the device open is only deferred to
 * its last close; until then the device is not the image's any more. */
static void test_detach_while_open(void **state)
{
	struct vp_error err = { 0 };
	struct vp_loop l, found;
	int fd;

	(void)state;
	skip_unless_loop();
	make_image(4 * MIB);
	assert_int_equal(vp_loop_attach(image, false, false, &l, &err), 0);
	fd = open(l.dev, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(vp_loop_detach(l.index, &err), 0);
	assert_int_equal(vp_loop_find(image, &found, &err), -ENOENT);
	/* A new attach gets a device of its own. */
	assert_int_equal(vp_loop_attach(image, false, false, &found, &err), 0);
	assert_int_not_equal(found.index, l.index);
	assert_int_equal(vp_loop_find(image, &found, &err), 0);
	close(fd);
	assert_int_equal(vp_loop_detach(found.index, &err), 0);
}

static void test_bad_image(void **state)
{
	struct vp_error err = { 0 };
	struct vp_loop l;
	char missing[160];

	(void)state;
	skip_unless_loop();
	snprintf(missing, sizeof(missing), "%s/missing.img", dir);
	assert_int_equal(vp_loop_attach(missing, false, false, &l, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing.img"));
	assert_int_equal(vp_loop_find(missing, &l, &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_attach_find_detach, detach_leftover),
		cmocka_unit_test_teardown(test_readonly, detach_leftover),
		cmocka_unit_test_teardown(test_detach_while_open, detach_leftover),
		cmocka_unit_test(test_bad_image),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
