/* test_vblk_image_path.c - vp_image_path_open / vp_image_path_create
 * beneath an image root and without one: outside paths, "..", symlinks,
 * FIFOs, devices and directories refused; regular files opened blocking;
 * create exclusive, never through a symlink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vblk/image_path.h"

struct fixture {
	char top[64], root[96], out[96];
	struct vp_image_root *r;
};

static void path_of(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[160], q[160];
	int fd;

	strcpy(f->top, "/tmp/vpt-ipath-XXXXXX");
	if (!mkdtemp(f->top))
		return -1;
	path_of(f->root, sizeof(f->root), f->top, "root");
	path_of(f->out, sizeof(f->out), f->top, "out");
	if (mkdir(f->root, 0755) || mkdir(f->out, 0755))
		return -1;
	path_of(p, sizeof(p), f->root, "a.img");
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || ftruncate(fd, 8192) || close(fd))
		return -1;
	path_of(p, sizeof(p), f->out, "secret");
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || write(fd, "secret", 6) != 6 || close(fd))
		return -1;
	path_of(q, sizeof(q), f->root, "link.img");
	if (symlink(p, q))
		return -1;
	path_of(q, sizeof(q), f->root, "sub");
	if (symlink(f->out, q))
		return -1;
	path_of(q, sizeof(q), f->root, "fifo");
	if (mkfifo(q, 0600))
		return -1;
	path_of(q, sizeof(q), f->root, "dir");
	if (mkdir(q, 0755))
		return -1;
	*state = f;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vp_image_root_free(f->r);
	(void)nftw(f->top, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* vp_image_path_open of dir/name: the fd (closed) or -errno. */
static int try_open(const struct vp_image_root *r, const char *dir, const char *name, int oflags)
{
	char p[192];
	struct vp_error err = { 0 };
	struct stat st;
	int fd;

	path_of(p, sizeof(p), dir, name);
	fd = vp_image_path_open(r, p, oflags, &st, &err);
	if (fd < 0) {
		assert_true(err.msg[0] != 0);
		return fd;
	}
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* blocking again */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	return 0;
}

static void test_beneath_root(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };
	char withslash[128];

	snprintf(withslash, sizeof(withslash), "%s//", f->root);
	assert_int_equal(vp_image_root_open(withslash, &f->r, &err), 0);
	assert_int_equal(try_open(f->r, f->root, "a.img", O_RDWR), 0);
	assert_int_equal(try_open(f->r, f->root, "dir/../a.img", O_RDONLY), 0);
	assert_int_equal(try_open(f->r, f->out, "secret", O_RDONLY), -EACCES);
	assert_int_equal(try_open(f->r, "/etc", "passwd", O_RDONLY), -EACCES);
	assert_int_equal(try_open(f->r, f->root, "../out/secret", O_RDONLY), -EACCES);
	assert_int_equal(try_open(f->r, f->root, "", O_RDONLY), -EACCES); /* the root itself */
	assert_int_equal(try_open(f->r, f->root, "link.img", O_RDWR), -ELOOP);
	assert_int_equal(try_open(f->r, f->root, "sub/secret", O_RDONLY), -ELOOP);
	assert_int_equal(try_open(f->r, f->root, "fifo", O_RDONLY), -EINVAL);
	assert_int_equal(try_open(f->r, f->root, "fifo", O_RDWR), -EINVAL);
	assert_int_equal(try_open(f->r, f->root, "dir", O_RDONLY), -EISDIR);
	assert_int_equal(try_open(f->r, f->root, "none.img", O_RDONLY), -ENOENT);
}

static void test_without_root(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(try_open(NULL, f->root, "a.img", O_RDWR), 0);
	assert_int_equal(try_open(NULL, f->root, "sub/secret", O_RDONLY), 0); /* dirs may be links */
	assert_int_equal(try_open(NULL, f->root, "link.img", O_RDWR), -ELOOP);
	assert_int_equal(try_open(NULL, f->root, "fifo", O_RDONLY), -EINVAL);
	assert_int_equal(try_open(NULL, "/dev", "null", O_RDONLY), -EINVAL);
	assert_int_equal(try_open(NULL, f->root, "dir", O_RDONLY), -EISDIR);
}

static void test_create(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };
	char p[192];
	struct stat st;

	assert_int_equal(vp_image_root_open(f->root, &f->r, &err), 0);
	path_of(p, sizeof(p), f->root, "new.img");
	assert_int_equal(vp_image_path_create(f->r, p, 1 << 20, false, &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(vp_image_path_create(f->r, p, 4096, false, &err), -EEXIST);
	path_of(p, sizeof(p), f->root, "dir/pre.img");
	assert_int_equal(vp_image_path_create(f->r, p, 65536, true, &err), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_true(st.st_blocks * 512 >= 65536);
	/* Never through a symlink, as the name or a directory. */
	path_of(p, sizeof(p), f->root, "link.img");
	assert_int_equal(vp_image_path_create(f->r, p, 4096, false, &err), -EEXIST);
	path_of(p, sizeof(p), f->out, "secret");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 6);
	path_of(p, sizeof(p), f->root, "sub/new.img");
	assert_int_equal(vp_image_path_create(f->r, p, 4096, false, &err), -ELOOP);
	path_of(p, sizeof(p), f->out, "new.img");
	assert_int_equal(access(p, F_OK), -1);
	path_of(p, sizeof(p), f->out, "x.img");
	assert_int_equal(vp_image_path_create(f->r, p, 4096, false, &err), -EACCES);
	path_of(p, sizeof(p), f->root, "..");
	assert_int_equal(vp_image_path_create(f->r, p, 4096, false, &err), -EINVAL);
	path_of(p, sizeof(p), f->root, "big.img");
	assert_int_equal(vp_image_path_create(f->r, p, (uint64_t)INT64_MAX + 1, false, &err), -EFBIG);
	assert_int_equal(access(p, F_OK), -1);
	/* Without a root, the same exclusive create. */
	path_of(p, sizeof(p), f->out, "plain.img");
	assert_int_equal(vp_image_path_create(NULL, p, 4096, false, &err), 0);
	assert_int_equal(vp_image_path_create(NULL, p, 4096, false, &err), -EEXIST);
}

static void test_root_open(void **state)
{
	struct fixture *f = *state;
	struct vp_image_root *r = NULL;
	struct vp_error err = { 0 };
	char p[192];

	assert_int_equal(vp_image_root_open("relative/dir", &r, &err), -EINVAL);
	assert_null(r);
	path_of(p, sizeof(p), f->root, "a.img");
	assert_int_equal(vp_image_root_open(p, &r, &err), -ENOTDIR);
	path_of(p, sizeof(p), f->top, "none");
	assert_int_equal(vp_image_root_open(p, &r, &err), -ENOENT);
	/* A root reached through a symlink: paths may use either spelling. */
	path_of(p, sizeof(p), f->root, "sub");
	assert_int_equal(vp_image_root_open(p, &r, &err), 0);
	assert_int_equal(try_open(r, p, "secret", O_RDONLY), 0);
	assert_int_equal(try_open(r, f->out, "secret", O_RDONLY), 0);
	vp_image_root_free(r);
	vp_image_root_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_beneath_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_open, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
