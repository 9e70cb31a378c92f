/* test_vblk_engine.c - the per-worker io_uring engine: inline I/O on
 * memory-backed files completes from the next loop turn (never from the
 * call that queued it), and registered buffers carry reads and writes. */
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
#include <unistd.h>

#include "vblk/engine.h"

struct probe {
	struct vp_engine_op op;
	int calls;
	int res;
};

static void on_done(struct vp_engine_op *op, int res)
{
	struct probe *p = (struct probe *)op;

	p->calls++;
	p->res = res;
}

/* A file of len zero bytes under dir (a tmpfs or not), opened O_RDWR. */
static int temp_file(const char *dir, char *path, size_t len)
{
	int fd;

	snprintf(path, PATH_MAX, "%s/vpt-engine.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd >= 0 && ftruncate(fd, (off_t)len) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void test_inline_completes_next_turn(void **state)
{
	struct vp_engine eng;
	struct vp_error err = { 0 };
	struct probe w = { .op.done = on_done }, r = { .op.done = on_done };
	char path[PATH_MAX], out[4096], in[4096];
	int fd, file;

	(void)state;
	fd = temp_file("/dev/shm", path, 1 << 20);
	if (fd < 0)
		skip();
	unlink(path);
	assert_int_equal(vp_engine_init(&eng, 8, 4, &err), 0);
	file = vp_engine_file_add(&eng, fd);
	assert_true(file >= 0);
	assert_int_equal(vp_engine_mem_fd(&eng, file), fd);
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(vp_engine_write(&eng, &w.op, file, out, sizeof(out), 8192, 0), 0);
	assert_int_equal(vp_engine_read(&eng, &r.op, file, in, sizeof(in), 8192), 0);
	assert_int_equal(w.calls + r.calls, 0); /* done() only from run_once */
	assert_int_equal(vp_engine_run_once(&eng), 0); /* must not wait: nothing on the ring */
	assert_int_equal(w.calls, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(w.res, (int)sizeof(out));
	assert_int_equal(r.res, (int)sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	vp_engine_exit(&eng);
	close(fd);
}

static void test_registered_buffers(void **state)
{
	struct vp_engine eng;
	struct vp_error err = { 0 };
	struct probe w = { .op.done = on_done }, r = { .op.done = on_done };
	char path[PATH_MAX];
	unsigned char *buf = NULL;
	int fd, file, idx, idx2;

	(void)state;
	fd = temp_file("/tmp", path, 1 << 20); /* not memory-backed: the ring does it */
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(vp_engine_init(&eng, 8, 4, &err), 0);
	assert_int_equal(vp_engine_buf_add(&eng, NULL, 0), -ENFILE); /* no table yet */
	assert_int_equal(vp_engine_bufs_init(&eng, 2), 0);
	assert_int_equal(vp_engine_bufs_init(&eng, 2), -EEXIST);
	assert_int_equal(posix_memalign((void **)&buf, 4096, 2 * 65536), 0);
	idx = vp_engine_buf_add(&eng, buf, 65536);
	idx2 = vp_engine_buf_add(&eng, buf + 65536, 65536);
	assert_true(idx >= 0 && idx2 >= 0 && idx != idx2);
	assert_int_equal(vp_engine_buf_add(&eng, buf, 4096), -ENFILE); /* table full */
	file = vp_engine_file_add(&eng, fd);
	assert_true(file >= 0);
	assert_int_equal(vp_engine_mem_fd(&eng, file), -1);

	memset(buf, 0xa5, 65536);
	assert_int_equal(vp_engine_write_fixed(&eng, &w.op, file, buf + 4096, 8192, 4096, 0, idx), 0);
	while (w.calls == 0)
		assert_int_equal(vp_engine_run_once(&eng), 0);
	assert_int_equal(w.res, 8192);
	memset(buf + 65536, 0, 65536);
	assert_int_equal(vp_engine_read_fixed(&eng, &r.op, file, buf + 65536, 8192, 4096, idx2), 0);
	while (r.calls == 0)
		assert_int_equal(vp_engine_run_once(&eng), 0);
	assert_int_equal(r.res, 8192);
	assert_memory_equal(buf + 65536, buf + 4096, 8192);

	vp_engine_buf_del(&eng, idx);
	vp_engine_buf_del(&eng, -1); /* ignored */
	assert_int_equal(vp_engine_buf_add(&eng, buf, 65536), idx); /* the slot is reused */
	vp_engine_exit(&eng);
	free(buf);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inline_completes_next_turn),
		cmocka_unit_test(test_registered_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
