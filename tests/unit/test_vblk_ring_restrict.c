/* test_vblk_ring_restrict.c - the rings of vp_engine_init carry only the
 * allowed operations: data-plane SQEs run, OPENAT/CONNECT/SOCKET-like ones
 * complete with -EACCES, and no personality can be registered; a ublk
 * control ring (SQE128, vp_ring_restrict_uring_cmd) takes no other opcode
 * and no register operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "vblk/engine.h"
#include "vblk/ring_restrict.h"

/* Submit the one prepared SQE and return its result. */
static int run_one(struct vp_engine *eng)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(&eng->ring), 1);
	assert_int_equal(io_uring_wait_cqe(&eng->ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(&eng->ring, cqe);
	return res;
}

static void test_allowed_ops_run(void **state)
{
	struct vp_engine eng;
	char buf[4] = { 0 };
	int p[2];

	(void)state;
	assert_int_equal(vp_engine_init(&eng, 8, 4, NULL), 0);
	io_uring_prep_nop(io_uring_get_sqe(&eng.ring));
	assert_int_equal(run_one(&eng), 0);
	assert_int_equal(pipe(p), 0);
	io_uring_prep_write(io_uring_get_sqe(&eng.ring), p[1], "abc", 3, 0);
	assert_int_equal(run_one(&eng), 3);
	io_uring_prep_read(io_uring_get_sqe(&eng.ring), p[0], buf, 3, 0);
	assert_int_equal(run_one(&eng), 3);
	assert_string_equal(buf, "abc");
	close(p[0]);
	close(p[1]);
	vp_engine_exit(&eng);
}

static void test_forbidden_ops_refused(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/nonexistent/vpt-ring.sock" };
	struct vp_engine eng;
	int fd;

	(void)state;
	assert_int_equal(vp_engine_init(&eng, 8, 4, NULL), 0);
	io_uring_prep_openat(io_uring_get_sqe(&eng.ring), AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	assert_int_equal(run_one(&eng), -EACCES);
	io_uring_prep_statx(io_uring_get_sqe(&eng.ring), AT_FDCWD, "/", 0, 0, NULL);
	assert_int_equal(run_one(&eng), -EACCES);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	io_uring_prep_connect(io_uring_get_sqe(&eng.ring), fd, (struct sockaddr *)&sa, sizeof(sa));
	assert_int_equal(run_one(&eng), -EACCES);
	close(fd);
	io_uring_prep_unlinkat(io_uring_get_sqe(&eng.ring), AT_FDCWD, "/nonexistent", 0);
	assert_int_equal(run_one(&eng), -EACCES);
	/* Register operations outside the list, and a second set of restrictions. */
	assert_int_equal(syscall(__NR_io_uring_register, eng.ring.ring_fd, IORING_REGISTER_PERSONALITY,
				 NULL, 0), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(syscall(__NR_io_uring_register, eng.ring.ring_fd, IORING_REGISTER_RESTRICTIONS,
				 NULL, 0), -1);
	vp_engine_exit(&eng);
}

/* Submit the one prepared SQE on ring and return its result. */
static int ring_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void test_uring_cmd_only(void **state)
{
	struct io_uring ring;
	int p[2];

	(void)state;
	assert_int_equal(io_uring_queue_init(4, &ring, IORING_SETUP_SQE128 | IORING_SETUP_R_DISABLED), 0);
	assert_int_equal(vp_ring_restrict_uring_cmd(&ring), 0);
	io_uring_prep_nop(io_uring_get_sqe(&ring));
	assert_int_equal(ring_one(&ring), -EACCES);
	io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, "/etc/passwd", O_RDONLY, 0);
	assert_int_equal(ring_one(&ring), -EACCES);
	/* URING_CMD passes the restriction: a pipe has no uring_cmd of its own. */
	assert_int_equal(pipe(p), 0);
	io_uring_prep_rw(IORING_OP_URING_CMD, io_uring_get_sqe(&ring), p[0], NULL, 0, 0);
	assert_int_not_equal(ring_one(&ring), -EACCES);
	close(p[0]);
	close(p[1]);
	assert_int_equal(syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_PROBE,
				 NULL, 0), -1);
	assert_int_equal(errno, EACCES);
	io_uring_queue_exit(&ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_ops_run),
		cmocka_unit_test(test_forbidden_ops_refused),
		cmocka_unit_test(test_uring_cmd_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
