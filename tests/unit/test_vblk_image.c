/* test_vblk_image.c - raw image create/open/resize and the allocation map
 * (SEEK_DATA/SEEK_HOLE) that BLOCK_STATUS reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vblk/image.h"
#include "vblk/nbd/nbd.h"
#include "vblk/nbd/proto.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vpt-vblk.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void test_create_open(void **state)
{
	struct vp_error err = { 0 };
	struct vp_image *img;
	char path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/a.img", dir);
	assert_int_equal(vp_image_create(path, 1 << 20, &err), 0);
	assert_int_equal(vp_image_create(path, 1 << 20, &err), -EEXIST);
	assert_int_equal(vp_image_open(path, 0, &img, &err), 0);
	assert_int_equal(img->size, 1 << 20);
	assert_int_equal(img->min_block, 1);
	assert_false(img->readonly);
	assert_int_equal(vp_image_resize(img, 2 << 20, &err), 0);
	assert_int_equal(img->size, 2 << 20);
	vp_image_close(img);

	assert_int_equal(vp_image_open(path, VP_IMAGE_READONLY, &img, &err), 0);
	assert_int_equal(vp_image_resize(img, 4096, &err), -EROFS);
	vp_image_close(img);

	assert_int_equal(vp_image_open(dir, 0, &img, &err), -EISDIR);
	assert_null(img);
	snprintf(path, sizeof(path), "%s/missing.img", dir);
	assert_int_equal(vp_image_open(path, 0, &img, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing.img"));
	vp_image_close(NULL);
}

static void test_direct_needs_alignment(void **state)
{
	struct vp_error err = { 0 };
	struct vp_image *img;
	char path[PATH_MAX];
	int ret;

	(void)state;
	snprintf(path, sizeof(path), "%s/odd.img", dir);
	assert_int_equal(vp_image_create(path, 4096 + 512, &err), 0);
	ret = vp_image_open(path, VP_IMAGE_DIRECT, &img, &err);
	if (ret == -EINVAL && strstr(err.msg, "O_DIRECT"))
		skip(); /* filesystem without O_DIRECT */
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(err.msg, "multiple of 4096"));
}

static void test_extent_map(void **state)
{
	struct vp_error err = { 0 };
	struct vp_image *img;
	char path[PATH_MAX], block[4096];
	unsigned char d[8 * 8];
	uint64_t len;
	uint32_t v;
	bool hole;
	int fd, n;

	(void)state;
	snprintf(path, sizeof(path), "%s/map.img", dir);
	assert_int_equal(vp_image_create(path, 1 << 20, &err), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	memset(block, 0xab, sizeof(block));
	assert_int_equal(pwrite(fd, block, sizeof(block), 65536), 4096);
	close(fd);
	assert_int_equal(vp_image_open(path, 0, &img, &err), 0);

	assert_int_equal(vp_image_extent(img, 0, 1 << 20, &len, &hole), 0);
	assert_true(hole);
	assert_int_equal(len, 65536);
	assert_int_equal(vp_image_extent(img, 65536, 1 << 20, &len, &hole), 0);
	assert_false(hole);
	assert_int_equal(len % 4096, 0);
	assert_int_equal(vp_image_extent(img, 0, 100, &len, &hole), 0);
	assert_int_equal(len, 100);
	assert_int_equal(vp_image_extent(img, 1 << 20, 1, &len, &hole), -EINVAL);

	n = vp_nbd_block_status(img, 0, 1 << 20, d, 8);
	assert_int_equal(n, 3);
	memcpy(&v, d, 4);
	assert_int_equal(be32toh(v), 65536);
	memcpy(&v, d + 4, 4);
	assert_int_equal(be32toh(v), NBD_STATE_HOLE | NBD_STATE_ZERO);
	memcpy(&v, d + 12, 4);
	assert_int_equal(be32toh(v), 0);
	assert_int_equal(vp_nbd_block_status(img, 0, 1 << 20, d, 1), 1);
	vp_image_close(img);
}

/* The first writeback error sticks until the image is reopened. */
static void test_writeback_error_sticks(void **state)
{
	struct vp_error err = { 0 };
	struct vp_image *img;
	char path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/wb.img", dir);
	assert_int_equal(vp_image_create(path, 1 << 20, &err), 0);
	assert_int_equal(vp_image_open(path, 0, &img, &err), 0);
	assert_int_equal(vp_image_wb_error(img), 0);
	vp_image_wb_fail(img, -ENOSPC);
	vp_image_wb_fail(img, -EIO);
	assert_int_equal(vp_image_wb_error(img), -EIO);
	assert_int_equal(img->file->wb_err, ENOSPC); /* the first error is kept */
	vp_image_close(img);
	assert_int_equal(vp_image_open(path, 0, &img, &err), 0);
	assert_int_equal(vp_image_wb_error(img), 0);
	vp_image_close(img);
	unlink(path);
}

/* Every handle of one file shares its writeback error, through another
 * path too and whether opened before or after the error; it goes with the
 * last handle.  Another file's handles never see it. */
static void test_writeback_error_shared_by_handles(void **state)
{
	struct vp_image *a, *b, *c, *other;
	struct vp_error err = { 0 };
	char path[PATH_MAX], link_path[PATH_MAX], other_path[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s/wbshare.img", dir);
	snprintf(link_path, sizeof(link_path), "%s/wbshare.link", dir);
	snprintf(other_path, sizeof(other_path), "%s/wbother.img", dir);
	assert_int_equal(vp_image_create(path, 1 << 20, &err), 0);
	assert_int_equal(vp_image_create(other_path, 1 << 20, &err), 0);
	assert_int_equal(link(path, link_path), 0);
	assert_int_equal(vp_image_open(path, 0, &a, &err), 0);
	assert_int_equal(vp_image_open(link_path, VP_IMAGE_READONLY, &b, &err), 0);
	assert_int_equal(vp_image_open(other_path, 0, &other, &err), 0);
	assert_ptr_equal(a->file, b->file);
	vp_image_wb_fail(b, -ENOSPC);
	assert_int_equal(vp_image_wb_error(a), -EIO);
	assert_int_equal(vp_image_wb_error(other), 0);
	assert_int_equal(vp_image_open(path, 0, &c, &err), 0); /* after the error */
	assert_int_equal(vp_image_wb_error(c), -EIO);
	assert_int_equal(vp_image_sync(c), -EIO);
	vp_image_close(a);
	vp_image_close(b);
	assert_int_equal(vp_image_wb_error(c), -EIO); /* one handle still open */
	vp_image_close(c);
	assert_int_equal(vp_image_open(link_path, 0, &a, &err), 0); /* reopened */
	assert_int_equal(vp_image_wb_error(a), 0);
	assert_int_equal(vp_image_sync(a), 0);
	vp_image_close(a);
	vp_image_close(other);
	unlink(link_path);
	unlink(path);
	unlink(other_path);
}

/* A writer in another process keeps the image claimed until it is gone;
 * read-only opens never block a claim. */
static void test_claim_waits_for_other_writers(void **state)
{
	struct vp_error err = { 0 };
	struct vp_image *img = NULL;
	char path[PATH_MAX];
	int ready[2], status;
	pid_t child;
	char c;

	(void)state;
	snprintf(path, sizeof(path), "%s/claimed.img", dir);
	assert_int_equal(vp_image_create(path, 1 << 20, &err), 0);
	assert_int_equal(vp_image_open(path, VP_IMAGE_READONLY, &img, &err), 0);
	assert_int_equal(vp_image_claim(path, 0, &err), 0);
	vp_image_close(img);

	assert_int_equal(pipe(ready), 0);
	child = fork();
	if (child == 0) {
		struct vp_image *w = NULL;

		if (vp_image_open(path, 0, &w, NULL) != 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		usleep(300 * 1000);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(vp_image_claim(path, 50, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "in use by another process"));
	/* Waiting long enough sees the writer go. */
	assert_int_equal(vp_image_claim(path, 5000, &err), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	close(ready[0]);
	close(ready[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_open),
		cmocka_unit_test(test_direct_needs_alignment),
		cmocka_unit_test(test_extent_map),
		cmocka_unit_test(test_claim_waits_for_other_writers),
		cmocka_unit_test(test_writeback_error_sticks),
		cmocka_unit_test(test_writeback_error_shared_by_handles),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
