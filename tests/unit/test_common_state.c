/* test_common_state.c - state files, locks, undo lists and error text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/lock.h"
#include "common/statefile.h"
#include "common/undo.h"

static char dir[] = "/tmp/vp-test-state-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_statefile_roundtrip(void **state)
{
	struct vp_error err = { 0 };
	char path[256], *buf = NULL;
	size_t len = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/a/b/state", dir);
	assert_int_equal(vp_statefile_read(path, &buf, &len, &err), -ENOENT);
	assert_int_equal(vp_statefile_write(path, "x", 1, 0600, &err), -ENOENT);
	snprintf(path, sizeof(path), "%s/a/b", dir);
	assert_int_equal(vp_mkdir_p(path, 0700, &err), 0);
	assert_int_equal(vp_mkdir_p(path, 0700, &err), 0);
	snprintf(path, sizeof(path), "%s/a/b/state", dir);
	assert_int_equal(vp_statefile_write(path, "hello", 5, 0600, &err), 0);
	assert_int_equal(vp_statefile_write(path, "bye", 3, 0600, &err), 0);
	assert_int_equal(vp_statefile_read(path, &buf, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_string_equal(buf, "bye");
	free(buf);
	/* No temp file stays behind. */
	snprintf(path, sizeof(path), "%s/a/b/state.tmp.%d", dir, (int)getpid());
	assert_int_equal(access(path, F_OK), -1);
}

static void test_lock_excludes(void **state)
{
	struct vp_error err = { 0 };
	char path[256];
	int fd = -1, status;
	pid_t child;

	(void)state;
	snprintf(path, sizeof(path), "%s/lock", dir);
	assert_int_equal(vp_lock_acquire(path, &fd, &err), 0);
	child = fork();
	if (child == 0) {
		int probe = open(path, O_RDWR);

		/* Held by the parent: a non-blocking attempt must fail. */
		_exit(flock(probe, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	vp_lock_release(fd);
	vp_lock_release(-1);
}

static int undo_trace[8], undo_n;

static void record(void *arg)
{
	undo_trace[undo_n++] = *(int *)arg;
}

static void test_undo_order(void **state)
{
	struct vp_undo u = VP_UNDO_INIT;

	(void)state;
	for (int i = 1; i <= 3; i++)
		assert_int_equal(vp_undo_push(&u, record, &i, sizeof(i)), 0);
	vp_undo_run(&u);
	assert_int_equal(undo_n, 3);
	assert_int_equal(undo_trace[0], 3);
	assert_int_equal(undo_trace[2], 1);
	assert_null(u.top);
	assert_int_equal(vp_undo_push(&u, record, &undo_n, sizeof(undo_n)), 0);
	vp_undo_forget(&u);
	assert_int_equal(undo_n, 3);
}

static void test_error_text(void **state)
{
	struct vp_error err = { 0 };

	(void)state;
	assert_int_equal(vp_error_set(&err, EEXIST, "create %s", "veth0"), -EEXIST);
	assert_string_equal(err.msg, "create veth0: File exists");
	assert_int_equal(err.code, 0);
	vp_error_prefix(&err, "bridge %s", "cni0");
	assert_string_equal(err.msg, "bridge cni0: create veth0: File exists");
	assert_int_equal(vp_error_code(&err, 7, 0, "bad"), -EINVAL);
	assert_int_equal(err.code, 7);
	assert_string_equal(err.msg, "bad");
	assert_int_equal(vp_error_set(NULL, ENOENT, "x"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statefile_roundtrip),
		cmocka_unit_test(test_lock_excludes),
		cmocka_unit_test(test_undo_order),
		cmocka_unit_test(test_error_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
