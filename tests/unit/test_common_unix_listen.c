/* test_common_unix_listen.c - vp_unix_listen (mode whatever the umask,
 * group, live/stale/non-socket paths) and vp_unix_peer_allowed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/unix_listen.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/vpt-ulisten-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static const struct vp_unix_listen_opts opts_default = {
	.mode = VP_UNIX_MODE_DEFAULT, .gid = VP_UNIX_GID_KEEP, .backlog = 4,
	.type_flags = SOCK_CLOEXEC,
};

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* Nothing but path's own file is left in the directory (no private dir). */
static void assert_dir_clean(const struct fixture *f, bool want_sock)
{
	DIR *d = opendir(f->dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	assert_int_equal(n, want_sock ? 1 : 0);
}

static void test_mode_at_umask_000(void **state)
{
	struct fixture *f = *state;
	struct vp_unix_listen_opts o = opts_default;
	struct vp_error err = { 0 };
	mode_t old = umask(0);
	struct stat st;
	int fd, c;

	fd = vp_unix_listen(f->path, &o, &err);
	assert_true(fd >= 0);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	/* The renamed socket is the one listening. */
	c = connect_to(f->path);
	assert_true(c >= 0);
	close(c);
	close(fd);
	unlink(f->path);
	/* A narrower mode under a wide-open umask, and a restrictive umask
	 * does not narrow the mode asked for either. */
	o.mode = 0600;
	fd = vp_unix_listen(f->path, &o, &err);
	assert_true(fd >= 0);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	close(fd);
	unlink(f->path);
	umask(0077);
	o.mode = 0660;
	fd = vp_unix_listen(f->path, &o, &err);
	assert_true(fd >= 0);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	close(fd);
	umask(old);
	assert_dir_clean(f, true);
}

static void test_live_socket_refused(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };
	int first, second, c, a;

	first = vp_unix_listen(f->path, &opts_default, &err);
	assert_true(first >= 0);
	second = vp_unix_listen(f->path, &opts_default, &err);
	assert_int_equal(second, -EADDRINUSE);
	assert_non_null(strstr(err.msg, "another server is listening"));
	assert_dir_clean(f, true);
	/* The first server still owns the path: a client reaches it. */
	c = connect_to(f->path);
	assert_true(c >= 0);
	a = accept(first, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(c);
	/* The probe connection is pending on first too; drain it. */
	close(first);
}

static void test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vp_error err = { 0 };
	int s = socket(AF_UNIX, SOCK_STREAM, 0), fd, c;

	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s); /* the file stays, nobody listens: stale */
	fd = vp_unix_listen(f->path, &opts_default, &err);
	assert_true(fd >= 0);
	c = connect_to(f->path);
	assert_true(c >= 0);
	close(c);
	close(fd);
}

static void test_non_socket_refused(void **state)
{
	struct fixture *f = *state;
	struct vp_error err = { 0 };
	struct stat st;
	char target[160];
	int fd;

	fd = open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	assert_int_equal(vp_unix_listen(f->path, &opts_default, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 4);
	assert_dir_clean(f, true);
	/* A symlink is not followed or replaced either. */
	snprintf(target, sizeof(target), "%s.target", f->path);
	assert_int_equal(rename(f->path, target), 0);
	assert_int_equal(symlink(target, f->path), 0);
	assert_int_equal(vp_unix_listen(f->path, &opts_default, &err), -EEXIST);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	unlink(target);
}

static void test_group_applied(void **state)
{
	struct fixture *f = *state;
	struct vp_unix_listen_opts o = opts_default;
	struct vp_error err = { 0 };
	gid_t groups[64];
	int n = getgroups(64, groups), fd;
	struct stat st;

	/* Root may pick any group; others one they are in. */
	o.gid = geteuid() == 0 ? 6 : VP_UNIX_GID_KEEP;
	for (int i = 0; o.gid == VP_UNIX_GID_KEEP && i < n; i++)
		if (groups[i] != getegid())
			o.gid = groups[i];
	if (o.gid == VP_UNIX_GID_KEEP || o.gid == getegid())
		skip(); /* not root and in no other group: no group to move to */
	fd = vp_unix_listen(f->path, &o, &err);
	assert_true(fd >= 0);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_int_equal(st.st_gid, o.gid);
	assert_int_equal(st.st_mode & 07777, 0660);
	close(fd);
}

static void test_parse(void **state)
{
	struct vp_unix_peers p = { 0 };
	struct vp_error err = { 0 };
	mode_t m;
	gid_t g;

	(void)state;
	assert_int_equal(vp_unix_parse_mode("0660", &m, &err), 0);
	assert_int_equal(m, 0660);
	assert_int_equal(vp_unix_parse_mode("600", &m, &err), 0);
	assert_int_equal(m, 0600);
	assert_int_equal(vp_unix_parse_mode("1777", &m, &err), -EINVAL);
	assert_int_equal(vp_unix_parse_mode("8", &m, &err), -EINVAL);
	assert_int_equal(vp_unix_parse_mode("", &m, &err), -EINVAL);
	assert_int_equal(vp_unix_parse_group("root", &g, &err), 0);
	assert_int_equal(g, 0);
	assert_int_equal(vp_unix_parse_group("4242", &g, &err), 0);
	assert_int_equal(g, 4242);
	assert_int_equal(vp_unix_parse_group("vpt-no-such-group", &g, &err), -ENOENT);
	assert_int_equal(vp_unix_peers_add(&p, "user:root", &err), 0);
	assert_int_equal(vp_unix_peers_add(&p, "user:1000", &err), 0);
	assert_int_equal(vp_unix_peers_add(&p, "group:7", &err), 0);
	assert_int_equal(p.n_uids, 2);
	assert_int_equal(p.n_gids, 1);
	assert_int_equal(p.uids[1], 1000);
	assert_int_equal(p.gids[0], 7);
	assert_int_equal(vp_unix_peers_add(&p, "uid:1", &err), -EINVAL);
	assert_int_equal(vp_unix_peers_add(&p, "user:-1", &err), -ENOENT);
	assert_int_equal(vp_unix_peers_add(&p, "user:vpt-no-such-user", &err), -ENOENT);
}

/* Connect to path as uid/gid with supplementary group extra (none when
 * -1) from a forked child (root only) and report whether the server kept
 * the connection: the child reads one byte. */
static bool allowed_as(const struct fixture *f, int lfd, uid_t uid, gid_t gid, gid_t extra,
		       const struct vp_unix_peers *p)
{
	uid_t puid;
	gid_t pgid;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	pid_t pid = fork();
	int a, status;
	bool ok;

	assert_true(pid >= 0);
	if (pid == 0) {
		char b;
		int c;

		if (setgroups(extra == (gid_t)-1 ? 0 : 1, &extra) || setgid(gid) || setuid(uid))
			_exit(2);
		c = connect_to(f->path);
		_exit(c >= 0 && read(c, &b, 1) == 1 ? 0 : 1);
	}
	assert_int_equal(poll(&pfd, 1, 5000), 1); /* the child connected */
	a = accept(lfd, NULL, NULL);
	assert_true(a >= 0);
	ok = vp_unix_peer_allowed(a, p, &puid, &pgid);
	assert_int_equal(puid, uid);
	assert_int_equal(pgid, gid);
	if (ok)
		assert_int_equal(write(a, "y", 1), 1);
	close(a);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == (ok ? 0 : 1));
	return ok;
}

#define NOGRP ((gid_t)-1)

static void test_peer_allow_list(void **state)
{
	struct fixture *f = *state;
	struct vp_unix_peers open = { 0 }, users = { 0 }, groups = { 0 }, self = { .always_self = true };
	struct vp_error err = { 0 };
	int fd;

	if (geteuid() != 0)
		skip(); /* needs to connect as other uids */
	assert_int_equal(chmod(f->dir, 0755), 0);
	fd = vp_unix_listen(f->path, &(struct vp_unix_listen_opts){ .mode = 0666,
			    .gid = VP_UNIX_GID_KEEP, .backlog = 4 }, &err);
	assert_true(fd >= 0);
	assert_int_equal(vp_unix_peers_add(&users, "user:65001", &err), 0);
	assert_int_equal(vp_unix_peers_add(&groups, "group:65100", &err), 0);
	assert_true(allowed_as(f, fd, 65001, 65001, NOGRP, &open));
	assert_true(allowed_as(f, fd, 65001, 65001, NOGRP, &users));
	assert_false(allowed_as(f, fd, 65002, 65001, NOGRP, &users));
	assert_true(allowed_as(f, fd, 65002, 65100, NOGRP, &groups));
	assert_false(allowed_as(f, fd, 65002, 65001, NOGRP, &groups));
	assert_true(allowed_as(f, fd, 65002, 65001, 65100, &groups)); /* supplementary */
	assert_false(allowed_as(f, fd, 65002, 65001, NOGRP, &self));
	assert_true(allowed_as(f, fd, 0, 0, NOGRP, &self));
	users.always_self = true;
	assert_true(allowed_as(f, fd, 0, 0, NOGRP, &users));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mode_at_umask_000, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_socket_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_socket_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_allow_list, setup, teardown),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
