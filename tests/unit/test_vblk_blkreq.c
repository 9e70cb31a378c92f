/* test_vblk_blkreq.c - the block-request layer on real files: reads and
 * writes through buffers and iovecs, short reads resumed and zeroes past
 * the end of the file, the sticky writeback error, and WRITE_ZEROES with
 * and without unmap and FAST_ZERO on tmpfs (punches, has no ZERO_RANGE)
 * and on ramfs (no fallocate at all: zero buffers are written). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vblk/blkreq.h"

#define IMG_SIZE (4U << 20)

struct fx {
	char dir[64];
	bool mounted;            /* dir is a ramfs of the test's own */
	char path[PATH_MAX];
	struct vp_image *img;
	struct vp_engine eng;
	int file;
};

struct probe {
	struct vp_blkreq r;
	int calls, res;
};

static void on_done(struct vp_blkreq *r, int res)
{
	struct probe *p = (struct probe *)r;

	p->calls++;
	p->res = res;
}

/* An image of IMG_SIZE bytes of 0xaa in a new directory under parent, or
 * (parent NULL) on a ramfs mounted for the test; skips when neither can be
 * had. */
static void fx_open(struct fx *f, const char *parent)
{
	struct vp_error err = { 0 };
	static unsigned char fill[IMG_SIZE];
	int fd;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/vpt-blkreq.XXXXXX", parent ? parent : "/tmp");
	if (!mkdtemp(f->dir))
		skip();
	if (!parent) {
		if (mount("vpt-blkreq", f->dir, "ramfs", 0, NULL) < 0) {
			rmdir(f->dir);
			skip(); /* not root */
		}
		f->mounted = true;
	}
	snprintf(f->path, sizeof(f->path), "%s/img", f->dir);
	memset(fill, 0xaa, sizeof(fill));
	fd = open(f->path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, fill, sizeof(fill)), (ssize_t)sizeof(fill));
	close(fd);
	assert_int_equal(vp_image_open(f->path, 0, &f->img, &err), 0);
	assert_int_equal(vp_engine_init(&f->eng, 16, 2, &err), 0);
	f->file = vp_engine_file_add(&f->eng, f->img->fd);
	assert_true(f->file >= 0);
}

static void fx_close(struct fx *f)
{
	vp_engine_exit(&f->eng);
	vp_image_close(f->img);
	unlink(f->path);
	if (f->mounted)
		umount2(f->dir, MNT_DETACH); /* the ring may still hold the file a moment */
	rmdir(f->dir);
}

/* A request of type on f, not started. */
static void prep(struct fx *f, struct probe *p, enum vp_blkreq_type type, unsigned flags,
		 uint64_t offset, uint64_t len)
{
	memset(p, 0, sizeof(*p));
	p->r.eng = &f->eng;
	p->r.img = f->img;
	p->r.file = f->file;
	p->r.done = on_done;
	p->r.type = type;
	p->r.flags = flags;
	p->r.offset = offset;
	p->r.len = len;
	p->r.buf_idx = -1;
}

/* Start p and run the engine until it is done: its result (0 or -errno). */
static int run(struct fx *f, struct probe *p)
{
	int ret = vp_blkreq_start(&p->r);

	if (ret)
		return ret < 0 ? ret : 0;
	while (!p->calls)
		assert_int_equal(vp_engine_run_once(&f->eng), 0);
	assert_int_equal(p->calls, 1);
	return p->res;
}

static int do_rw(struct fx *f, enum vp_blkreq_type type, unsigned flags, void *buf,
		 uint64_t offset, uint64_t len)
{
	struct probe p;

	prep(f, &p, type, flags, offset, len);
	p.r.buf = buf;
	return run(f, &p);
}

static int do_range(struct fx *f, enum vp_blkreq_type type, unsigned flags, uint64_t offset,
		    uint64_t len)
{
	struct probe p;

	prep(f, &p, type, flags, offset, len);
	return run(f, &p);
}

static bool all_bytes(const unsigned char *p, size_t len, unsigned char v)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Allocated bytes of f's image. */
static uint64_t allocated(const struct fx *f)
{
	struct stat st;

	assert_int_equal(fstat(f->img->fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void test_read_write_buf_and_iov(void **state)
{
	static unsigned char out[65536], in[65536];
	struct iovec iov[3];
	struct probe p;
	struct fx f;

	(void)state;
	fx_open(&f, "/tmp");
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(i * 13 + 7);
	assert_int_equal(do_rw(&f, VP_BLKREQ_WRITE, VP_BLKREQ_FUA, out, 4096, sizeof(out)), 0);
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, in, 4096, sizeof(in)), 0);
	assert_memory_equal(in, out, sizeof(in));

	/* iovecs: three pieces of in[], read back in one request */
	memset(in, 0, sizeof(in));
	iov[0] = (struct iovec){ in, 512 };
	iov[1] = (struct iovec){ in + 512, 30000 };
	iov[2] = (struct iovec){ in + 30512, sizeof(in) - 30512 };
	prep(&f, &p, VP_BLKREQ_READ, 0, 4096, sizeof(in));
	p.r.iov = iov;
	p.r.iovcnt = 3;
	assert_int_equal(run(&f, &p), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(do_range(&f, VP_BLKREQ_FLUSH, 0, 0, 0), 0);
	fx_close(&f);
}

/* A read across the end of a file that shrank: the part that exists is
 * read (a short read, resumed), the rest is zeroes. */
static void test_read_past_end_is_zeroes(void **state)
{
	static unsigned char in[16384];
	struct iovec iov[2];
	struct probe p;
	struct fx f;

	(void)state;
	fx_open(&f, "/tmp");
	assert_int_equal(truncate(f.path, IMG_SIZE - 6000), 0);
	memset(in, 0x11, sizeof(in));
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, in, IMG_SIZE - 8192, 8192), 0);
	assert_true(all_bytes(in, 2192, 0xaa));
	assert_true(all_bytes(in + 2192, 6000, 0));

	memset(in, 0x11, sizeof(in));
	iov[0] = (struct iovec){ in, 1000 };
	iov[1] = (struct iovec){ in + 1000, 15384 };
	prep(&f, &p, VP_BLKREQ_READ, 0, IMG_SIZE - 16384, sizeof(in));
	p.r.iov = iov;
	p.r.iovcnt = 2;
	assert_int_equal(run(&f, &p), 0);
	assert_true(all_bytes(in, 10384, 0xaa));
	assert_true(all_bytes(in + 10384, 6000, 0));
	fx_close(&f);
}

/* After a writeback error FLUSH and FUA fail before any I/O; plain reads
 * and writes go on. */
static void test_sticky_writeback_error(void **state)
{
	unsigned char buf[4096] = { 1 };
	struct fx f;

	(void)state;
	fx_open(&f, "/tmp");
	vp_image_wb_fail(f.img, -EIO);
	assert_int_equal(do_range(&f, VP_BLKREQ_FLUSH, 0, 0, 0), -EIO);
	assert_int_equal(do_range(&f, VP_BLKREQ_FLUSH, 0, 0, 0), -EIO);
	assert_int_equal(do_rw(&f, VP_BLKREQ_WRITE, VP_BLKREQ_FUA, buf, 0, sizeof(buf)), -EIO);
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_FUA, 0, 4096), -EIO);
	assert_int_equal(do_rw(&f, VP_BLKREQ_WRITE, 0, buf, 0, sizeof(buf)), 0);
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, buf, 0, sizeof(buf)), 0);
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, VP_BLKREQ_FUA, buf, 0, sizeof(buf)), 0); /* no-op flag */
	fx_close(&f);
}

/* tmpfs punches but has no ZERO_RANGE: unmap punches, NO_HOLE punches and
 * reallocates, FAST_ZERO without unmap fails with ENOTSUP, discards work. */
static void test_zeroes_on_tmpfs(void **state)
{
	static unsigned char in[1 << 20];
	struct fx f;

	(void)state;
	fx_open(&f, "/dev/shm");
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_MAY_UNMAP, 0, 1 << 20), 0);
	assert_int_equal(allocated(&f), IMG_SIZE - (1 << 20));
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_FAST_ZERO, 1 << 20, 1 << 20),
			 -ENOTSUP);
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, in, 1 << 20, sizeof(in)), 0);
	assert_true(all_bytes(in, sizeof(in), 0xaa)); /* untouched */
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_FUA, 1 << 20, 1 << 20), 0);
	assert_int_equal(allocated(&f), IMG_SIZE - (1 << 20)); /* allocated again */
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, in, 0, sizeof(in)), 0);
	assert_true(all_bytes(in, sizeof(in), 0));
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, in, 1 << 20, sizeof(in)), 0);
	assert_true(all_bytes(in, sizeof(in), 0));
	assert_int_equal(do_range(&f, VP_BLKREQ_DISCARD, 0, 2 << 20, 1 << 20), 0);
	assert_int_equal(allocated(&f), IMG_SIZE - (2 << 20));
	fx_close(&f);
}

/* ramfs has no fallocate: WRITE_ZEROES writes zero buffers (more than one
 * buffer's worth, from an odd offset), FAST_ZERO fails at once with
 * ENOTSUP, and DISCARD (advisory) succeeds leaving the data. */
static void test_zeroes_without_fallocate(void **state)
{
	static unsigned char in[3 << 20];
	const uint64_t off = 4096 + 512, len = (3 << 20) - 8192;
	struct fx f;

	(void)state;
	fx_open(&f, NULL);
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_MAY_UNMAP | VP_BLKREQ_FAST_ZERO,
				  0, 4096), -ENOTSUP);
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_FAST_ZERO, 0, 4096), -ENOTSUP);
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_MAY_UNMAP, off, len), 0);
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, in, 0, sizeof(in)), 0);
	assert_true(all_bytes(in, off, 0xaa));
	assert_true(all_bytes(in + off, len, 0));
	assert_true(all_bytes(in + off + len, sizeof(in) - off - len, 0xaa));
	assert_int_equal(do_range(&f, VP_BLKREQ_WRITE_ZEROES, VP_BLKREQ_FUA, 0, 512), 0);
	assert_int_equal(do_range(&f, VP_BLKREQ_DISCARD, 0, 3 << 20, 4096), 0);
	assert_int_equal(do_rw(&f, VP_BLKREQ_READ, 0, in, 3 << 20, 4096), 0);
	assert_true(all_bytes(in, 4096, 0xaa));
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_write_buf_and_iov),
		cmocka_unit_test(test_read_past_end_is_zeroes),
		cmocka_unit_test(test_sticky_writeback_error),
		cmocka_unit_test(test_zeroes_on_tmpfs),
		cmocka_unit_test(test_zeroes_without_fallocate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
