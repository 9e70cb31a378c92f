/* test_vblkd_sandbox.c - vblkd's sandbox: --user and --seccomp parsing, and
 * the filter itself in a forked child (what it allows, what it refuses,
 * the argument rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/sched.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "vblk/daemon/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

static void test_parse_user_ok(void **state)
{
	struct passwd *nobody = getpwnam("nobody");
	uid_t uid = 1;
	gid_t gid = 1;

	(void)state;
	assert_int_equal(vp_sandbox_parse_user("0:0", &uid, &gid, NULL), 0);
	assert_true(uid == 0 && gid == 0);
	assert_int_equal(vp_sandbox_parse_user("4242:4343", &uid, &gid, NULL), 0);
	assert_true(uid == 4242 && gid == 4343);
	assert_int_equal(vp_sandbox_parse_user("root:root", &uid, &gid, NULL), 0);
	assert_true(uid == 0 && gid == 0);
	if (!nobody)
		return;
	assert_int_equal(vp_sandbox_parse_user("nobody", &uid, &gid, NULL), 0);
	assert_true(uid == nobody->pw_uid && gid == nobody->pw_gid);
	assert_int_equal(vp_sandbox_parse_user("nobody:0", &uid, &gid, NULL), 0);
	assert_true(uid == nobody->pw_uid && gid == 0);
}

static void test_parse_user_bad(void **state)
{
	static const struct { const char *in; int want; } cases[] = {
		{ "", -EINVAL }, { ":", -EINVAL }, { ":0", -EINVAL }, { "root:", -EINVAL },
		{ "4242", -EINVAL },                 /* a numeric user needs a group */
		{ "vpt-nosuch-user", -ENOENT }, { "root:vpt-nosuch-group", -ENOENT },
		{ "12ab", -ENOENT },                 /* not a number: a name, and none such */
	};
	char longname[300];
	struct vp_error err = { 0 };
	uid_t uid;
	gid_t gid;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(vp_sandbox_parse_user(cases[i].in, &uid, &gid, &err), cases[i].want);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(vp_sandbox_parse_user(longname, &uid, &gid, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "USER[:GROUP]"));
}

static void test_parse_seccomp(void **state)
{
	static const struct { const char *in; enum vp_seccomp_mode want; } ok[] = {
		{ "off", VP_SECCOMP_OFF }, { "errno", VP_SECCOMP_ERRNO },
		{ "kill", VP_SECCOMP_KILL }, { "log", VP_SECCOMP_LOG },
	};
	enum vp_seccomp_mode mode;
	struct vp_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(vp_sandbox_parse_seccomp(ok[i].in, &mode, NULL), 0);
		assert_int_equal(mode, ok[i].want);
	}
	assert_int_equal(vp_sandbox_parse_seccomp("ERRNO", &mode, &err), -EINVAL);
	assert_int_equal(vp_sandbox_parse_seccomp("", &mode, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "expected off, errno, kill or log"));
}

/* In the child: 0 when syscall result r failed with errno want (or, for
 * want 0, succeeded); the failing check's number otherwise. */
#define EXPECT(n, r, want) \
	do { \
		errno = 0; \
		long r_ = (long)(r); \
		if ((want) ? !(r_ == -1 && errno == (want)) : r_ < 0) \
			return (n); \
	} while (0)

static int filtered_child(void)
{
	struct vp_sandbox_config cfg = { .seccomp = VP_SECCOMP_ERRNO };
	struct vp_error err = { 0 };
	int fds[2];
	void *p;

	if (vp_sandbox_enter(&cfg, &err))
		return 100;
	/* Refused. */
	EXPECT(1, syscall(SYS_execve, NULL, NULL, NULL), EPERM);
	EXPECT(2, syscall(SYS_unshare, 0), EPERM);
	EXPECT(3, socket(AF_NETLINK, SOCK_RAW, 0), EPERM);
	EXPECT(4, socket(AF_PACKET, SOCK_RAW, 0), EPERM);
	EXPECT(5, kill(1, 0), EPERM);                              /* another process */
	EXPECT(6, ioctl(0, TIOCSTI, "x"), EPERM);
	EXPECT(7, syscall(SYS_clone3, NULL, 0), ENOSYS);          /* glibc falls back to clone */
	EXPECT(9, syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL), EPERM);
#ifndef SANITIZER_BUILD /* LeakSanitizer needs these (sandbox.c) */
	EXPECT(8, syscall(SYS_ptrace, 0, 0, 0, 0), EPERM);
	EXPECT(10, (long)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	       EPERM);
	EXPECT(11, syscall(SYS_clone, CLONE_NEWUSER, NULL, NULL, NULL, 0), EPERM);
#endif
	/* Allowed. */
	EXPECT(20, socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	EXPECT(21, write(fds[0], "x", 1), 0);
	EXPECT(22, close(fds[0]) | close(fds[1]), 0);
	EXPECT(23, kill(getpid(), 0), 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(24, p == MAP_FAILED ? -1 : 0, 0);
	EXPECT(25, munmap(p, 4096), 0);
	return 0;
}

static void test_filter(void **state)
{
	int status = 0;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(filtered_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0); /* else: the number of the failed check */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_user_ok),
		cmocka_unit_test(test_parse_user_bad),
		cmocka_unit_test(test_parse_seccomp),
		cmocka_unit_test(test_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
