/* sandbox.c - vblkd's privilege drop (--user) and seccomp allowlist
 * (--seccomp), entered once after setup (see sandbox.h).
 *
 * The allowlist is one table, in groups by purpose.  It was collected by
 * running the integration tests (NBD clients, control socket, vhost-user
 * front ends, QEMU) under --seccomp log and reading the kernel's audit
 * lines (dmesg: type=1326 ... syscall=N), plus what code landing alongside
 * needs (a TLS relay thread, timeouts, openat2 image resolution,
 * live-socket probes).  To extend it, add the syscall to its group; a
 * syscall the daemon makes and the table lacks fails with EPERM (--seccomp
 * errno), so run the tests with --seccomp log to find it.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/fs.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"
#include "vblk/daemon/sandbox.h"

/* ---- the allowlist ---- */

/* One allowed syscall, optionally only when one argument compares as given
 * (a syscall listed several times is allowed when any entry matches). */
struct allowed {
	int nr;
	bool has_arg;
	struct scmp_arg_cmp arg;
};

#define ALLOW(name) { SCMP_SYS(name), false, { 0 } }
#define ALLOW_ARG(name, i, op, a, b) { SCMP_SYS(name), true, { (i), (op), (a), (b) } }
/* Argument i equals v (compared on its low 32 bits: ints, ioctl requests). */
#define ALLOW_EQ(name, i, v) ALLOW_ARG(name, i, SCMP_CMP_MASKED_EQ, 0xffffffffu, (v))
/* Argument i has none of the bits in mask. */
#define ALLOW_NONE_OF(name, i, mask) ALLOW_ARG(name, i, SCMP_CMP_MASKED_EQ, (mask), 0)

#define NEW_NAMESPACES (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
			CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

static const struct allowed allowlist[] = {
	/* io_uring: every disk and most socket I/O (the opcodes are
	 * restricted on the rings themselves, see vblk/ring_restrict.h). */
	ALLOW(io_uring_setup), ALLOW(io_uring_enter), ALLOW(io_uring_register),

	/* Plain fd I/O: logging, vhost-user messages, control requests,
	 * eventfds, the TLS relay. */
	ALLOW(read), ALLOW(write), ALLOW(readv), ALLOW(writev),
	ALLOW(pread64), ALLOW(pwrite64), ALLOW(preadv), ALLOW(pwritev),
	ALLOW(preadv2), ALLOW(pwritev2), ALLOW(lseek),
	ALLOW(splice), ALLOW(tee), ALLOW(pipe2),

	/* Files: control requests open and size images at run time
	 * (openat2 for --image-root), vhost-user memfds are fstat'ed and
	 * their seals read (fcntl F_GET_SEALS). */
	ALLOW(openat), ALLOW(openat2), ALLOW(close), ALLOW(close_range),
	ALLOW(fstat), ALLOW(newfstatat), ALLOW(statx), ALLOW(fcntl),
	ALLOW(fstatfs), ALLOW(statfs), ALLOW(access), ALLOW(faccessat), ALLOW(faccessat2),
	ALLOW(dup), ALLOW(dup3), ALLOW(getdents64), ALLOW(readlink), ALLOW(readlinkat),
	ALLOW(fallocate), ALLOW(ftruncate), ALLOW(fsync), ALLOW(fdatasync),
	ALLOW(sync_file_range), ALLOW(fadvise64), ALLOW(flock),
	/* Sockets bound at run time (vhost-add) are bound in a private 0700
	 * directory, given their mode and group there and renamed into place
	 * (common/unix_listen.c); they are unlinked when removed. */
	ALLOW(unlink), ALLOW(unlinkat), ALLOW(umask), ALLOW(getcwd),
	ALLOW(rename), ALLOW(renameat), ALLOW(renameat2),
	ALLOW(mkdir), ALLOW(mkdirat), ALLOW(rmdir), ALLOW(lstat),
	ALLOW(chmod), ALLOW(fchmod), ALLOW(fchmodat), ALLOW(chown), ALLOW(fchown),
	ALLOW(fchownat),

	/* ioctl: image size and sector size, FIONREAD/FIONBIO on sockets,
	 * isatty() of stdio; nothing else (no TIOCSTI and friends). */
	ALLOW_EQ(ioctl, 1, BLKGETSIZE64), ALLOW_EQ(ioctl, 1, BLKSSZGET),
	ALLOW_EQ(ioctl, 1, BLKPBSZGET), ALLOW_EQ(ioctl, 1, BLKIOMIN),
	ALLOW_EQ(ioctl, 1, BLKIOOPT), ALLOW_EQ(ioctl, 1, BLKROGET),
	ALLOW_EQ(ioctl, 1, BLKDISCARD), ALLOW_EQ(ioctl, 1, BLKZEROOUT),
	ALLOW_EQ(ioctl, 1, BLKDISCARDZEROES), ALLOW_EQ(ioctl, 1, BLKFLSBUF),
	ALLOW_EQ(ioctl, 1, FIONREAD), ALLOW_EQ(ioctl, 1, FIONBIO),
	ALLOW_EQ(ioctl, 1, FIOCLEX), ALLOW_EQ(ioctl, 1, TCGETS),

	/* Sockets: NBD and control connections, vhost-user servers added at
	 * run time, connect() probes of a live socket path, sd_notify, the
	 * TLS relay's socketpair.  Unix and IP families only. */
	ALLOW_EQ(socket, 0, AF_UNIX), ALLOW_EQ(socket, 0, AF_INET), ALLOW_EQ(socket, 0, AF_INET6),
	ALLOW_EQ(socketpair, 0, AF_UNIX),
	ALLOW(bind), ALLOW(listen), ALLOW(accept), ALLOW(accept4), ALLOW(connect),
	ALLOW(shutdown), ALLOW(getsockname), ALLOW(getpeername),
	ALLOW(getsockopt), ALLOW(setsockopt),
	ALLOW(sendto), ALLOW(recvfrom), ALLOW(sendmsg), ALLOW(recvmsg),
	ALLOW(sendmmsg), ALLOW(recvmmsg),

	/* Waiting: eventfds between threads, poll loops (vhost-user, control,
	 * TLS), timers. */
	ALLOW(eventfd2), ALLOW(poll), ALLOW(ppoll), ALLOW(pselect6),
	ALLOW(epoll_create1), ALLOW(epoll_ctl), ALLOW(epoll_wait), ALLOW(epoll_pwait),
	ALLOW(epoll_pwait2),
	ALLOW(timerfd_create), ALLOW(timerfd_settime), ALLOW(timerfd_gettime),
	ALLOW(nanosleep), ALLOW(clock_nanosleep), ALLOW(clock_gettime),
	ALLOW(clock_getres), ALLOW(gettimeofday), ALLOW(time),

	/* Memory: request slots, vhost-user guest regions (mapped from the
	 * front end's fds), thread stacks, malloc.  Never executable. */
	ALLOW_NONE_OF(mmap, 2, PROT_EXEC), ALLOW_NONE_OF(mprotect, 2, PROT_EXEC),
	ALLOW(munmap), ALLOW(mremap), ALLOW(madvise), ALLOW(brk), ALLOW(mlock),
	ALLOW(munlock), ALLOW(membarrier),
	/* The vhost-user inflight region the back end hands the front end. */
	ALLOW(memfd_create),

	/* Threads: vhost-user queue and control threads start at run time,
	 * as will the TLS relay's.  clone only without new namespaces
	 * (clone3 hides its flags from seccomp: it gets ENOSYS, and glibc
	 * falls back to clone). */
	ALLOW_NONE_OF(clone, 0, NEW_NAMESPACES),
	ALLOW(set_robust_list), ALLOW(get_robust_list), ALLOW(rseq), ALLOW(set_tid_address),
	ALLOW(futex), ALLOW(futex_waitv), ALLOW(sched_yield), ALLOW(sched_getaffinity),
	ALLOW(getpid), ALLOW(gettid), ALLOW(exit), ALLOW(exit_group),
	ALLOW_EQ(prctl, 0, PR_SET_NAME), ALLOW_EQ(prctl, 0, PR_GET_NAME),

	/* Signals: SIGTERM waited for in main, raised by a failing worker
	 * (kill and tgkill are limited to this process below). */
	ALLOW(rt_sigaction), ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn),
	ALLOW(rt_sigtimedwait), ALLOW(sigaltstack), ALLOW(restart_syscall),

	/* Process facts glibc and GnuTLS ask for. */
	ALLOW(getrandom), ALLOW(uname), ALLOW(sysinfo), ALLOW(getrlimit), ALLOW(prlimit64),
	ALLOW(getrusage), ALLOW(getuid), ALLOW(geteuid), ALLOW(getgid), ALLOW(getegid),
	ALLOW(getresuid), ALLOW(getresgid), ALLOW(getgroups),
};

/* What AddressSanitizer's runtime needs after the filter: LeakSanitizer
 * stops the threads with ptrace from a cloned tracer at exit.  Compiled in
 * sanitizer builds only, never in a production build. */
#if defined(__SANITIZE_ADDRESS__)
#define VP_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VP_SANITIZER_BUILD 1
#endif
#endif
#ifdef VP_SANITIZER_BUILD
static const struct allowed sanitizer_allowlist[] = {
	ALLOW(clone), ALLOW(ptrace), ALLOW(wait4), ALLOW(prctl),
	ALLOW(open), ALLOW(stat), ALLOW(lstat), ALLOW(getppid), ALLOW(getdents),
	ALLOW(mmap), ALLOW(mprotect),
};
#endif

static int add_rules(scmp_filter_ctx ctx, const struct allowed *list, size_t n,
		     struct vp_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct allowed *a = &list[i];
		int ret = a->has_arg ? seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, a->nr, 1, &a->arg)
				     : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, a->nr, 0);

		if (ret == -EDOM)
			continue; /* not a syscall of this architecture (open, poll on arm64) */
		if (ret < 0) {
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, a->nr);

			vp_error_set(err, -ret, "seccomp: allow %s", name ? name : "?");
			free(name);
			return ret;
		}
	}
	return 0;
}

/* The rules that are not plain allows: signals to this process only (its
 * pid is known now), and clone3 answered ENOSYS. */
static int add_self_rules(scmp_filter_ctx ctx, struct vp_error *err)
{
	struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
	int ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &self);

	ret = ret ?: seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &self);
	ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	return ret < 0 ? vp_error_set(err, -ret, "seccomp: self rules") : 0;
}

static uint32_t default_action(enum vp_seccomp_mode mode)
{
	switch (mode) {
	case VP_SECCOMP_KILL:
		return SCMP_ACT_KILL_PROCESS;
	case VP_SECCOMP_LOG:
		return SCMP_ACT_LOG;
	default:
		return SCMP_ACT_ERRNO(EPERM);
	}
}

static int install_filter(enum vp_seccomp_mode mode, struct vp_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(default_action(mode));
	int ret;

	if (!ctx)
		return vp_error_set(err, ENOMEM, "seccomp_init");
	/* Another architecture's syscall numbers (x32, i386) mean an attack. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* A binary tree over the syscall numbers: io_uring_enter, the hot
	 * one, is a few comparisons away instead of a scan of the table. */
	ret = ret ?: seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (ret < 0)
		vp_error_set(err, -ret, "seccomp: filter attributes");
	ret = ret ?: add_rules(ctx, allowlist, sizeof(allowlist) / sizeof(allowlist[0]), err);
#ifdef VP_SANITIZER_BUILD
	ret = ret ?: add_rules(ctx, sanitizer_allowlist,
			       sizeof(sanitizer_allowlist) / sizeof(sanitizer_allowlist[0]), err);
#endif
	ret = ret ?: add_self_rules(ctx, err);
	if (!ret && (ret = seccomp_load(ctx)) < 0)
		vp_error_set(err, -ret, "seccomp: load the filter");
	seccomp_release(ctx);
	return ret;
}

/* ---- the privilege drop ---- */

static int parse_id(const char *s, unsigned long *id)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*id = strtoul(s, &end, 10);
	return errno || *end || *id >= (uid_t)-1 ? -EINVAL : 0;
}

static int lookup_group(const char *name, gid_t *gid, struct vp_error *err)
{
	unsigned long id;
	struct group *gr;

	if (parse_id(name, &id) == 0) {
		*gid = (gid_t)id;
		return 0;
	}
	errno = 0;
	gr = getgrnam(name);
	if (!gr)
		return vp_error_set(err, errno ? errno : ENOENT, "--user: group '%s'", name);
	*gid = gr->gr_gid;
	return 0;
}

int vp_sandbox_parse_user(const char *spec, uid_t *uid, gid_t *gid, struct vp_error *err)
{
	char user[256];
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	unsigned long id;
	struct passwd *pw;

	if (len == 0 || len >= sizeof(user) || (colon && !colon[1]))
		return vp_error_set(err, EINVAL, "--user: expected USER[:GROUP], got '%s'", spec);
	memcpy(user, spec, len);
	user[len] = 0;
	if (parse_id(user, &id) == 0) {
		if (!colon)
			return vp_error_set(err, EINVAL, "--user %s: a numeric user needs :GROUP", spec);
		*uid = (uid_t)id;
		return lookup_group(colon + 1, gid, err);
	}
	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return vp_error_set(err, errno ? errno : ENOENT, "--user: user '%s'", user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return colon ? lookup_group(colon + 1, gid, err) : 0;
}

int vp_sandbox_parse_seccomp(const char *arg, enum vp_seccomp_mode *mode, struct vp_error *err)
{
	static const char *const names[] = {
		[VP_SECCOMP_ERRNO] = "errno", [VP_SECCOMP_OFF] = "off",
		[VP_SECCOMP_KILL] = "kill", [VP_SECCOMP_LOG] = "log",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(arg, names[i]) == 0) {
			*mode = (enum vp_seccomp_mode)i;
			return 0;
		}
	}
	return vp_error_set(err, EINVAL, "--seccomp: expected off, errno, kill or log, got '%s'", arg);
}

/* The supplementary groups of user (named as in the group database), as
 * login would set them; none for a numeric USER. */
static int set_groups(const char *spec, gid_t gid, struct vp_error *err)
{
	char user[256];
	size_t len = strcspn(spec, ":");
	gid_t groups[64];
	int n = (int)(sizeof(groups) / sizeof(groups[0]));

	if (spec[0] >= '0' && spec[0] <= '9') {
		n = 0;
	} else {
		/* vp_sandbox_parse_user accepted spec: len < sizeof(user). */
		memcpy(user, spec, len);
		user[len] = 0;
		if (getgrouplist(user, gid, groups, &n) < 0)
			return vp_error_set(err, E2BIG, "--user %s: more than %zu groups", user,
					    sizeof(groups) / sizeof(groups[0]));
	}
	if (setgroups((size_t)n, groups) < 0)
		return vp_error_set(err, errno, "--user: setgroups");
	return 0;
}

/* No way back: all three uids and gids are the new ones, root is out of
 * reach and no capability is left. */
static int check_dropped(uid_t uid, gid_t gid, struct vp_error *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2] = { { 0 } };
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return vp_error_set(err, errno, "--user: getresuid");
	if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid)
		return vp_error_set(err, EPERM, "--user: ids not dropped");
	if (setuid(0) == 0 || setgid(0) == 0)
		return vp_error_set(err, EPERM, "--user: root still reachable");
	if (syscall(SYS_capget, &hdr, caps) < 0)
		return vp_error_set(err, errno, "--user: capget");
	for (size_t i = 0; i < 2; i++)
		if (caps[i].effective || caps[i].permitted || caps[i].inheritable)
			return vp_error_set(err, EPERM, "--user: capabilities left after the drop");
	return 0;
}

static int drop_user(const char *spec, struct vp_error *err)
{
	uid_t uid;
	gid_t gid;
	int ret = vp_sandbox_parse_user(spec, &uid, &gid, err);

	if (ret)
		return ret;
	if (uid == 0)
		return vp_error_set(err, EINVAL, "--user %s: names root", spec);
	if (geteuid() != 0) {
		/* Already unprivileged (e.g. systemd's User=): only as that user. */
		if (getuid() == uid && geteuid() == uid && getgid() == gid)
			return 0;
		return vp_error_set(err, EPERM, "--user %s: vblkd runs unprivileged already", spec);
	}
	ret = set_groups(spec, gid, err);
	if (ret)
		return ret;
	if (setresgid(gid, gid, gid) < 0)
		return vp_error_set(err, errno, "--user: setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return vp_error_set(err, errno, "--user: setresuid %u", (unsigned)uid);
	return check_dropped(uid, gid, err);
}

/* ---- the self-test ---- */

/* Probes that do nothing when allowed (EFAULT, a harmless success), so
 * they open no backdoor in a production build: they only tell the
 * $VBLKD_SECCOMP_SELFTEST=1 log line whether the filter refuses them. */
static void selftest(void)
{
	static const struct {
		const char *name;
		long nr, a0, a1, a2;
	} probes[] = {
		{ "execve", SYS_execve, 0, 0, 0 },               /* EFAULT when allowed */
		{ "unshare", SYS_unshare, 0, 0, 0 },             /* 0 when allowed */
		{ "socket(AF_NETLINK)", SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 },
	};

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		long ret = syscall(probes[i].nr, probes[i].a0, probes[i].a1, probes[i].a2);
		int e = ret < 0 ? errno : 0;

		if (ret > 0 && probes[i].nr == SYS_socket)
			close((int)ret);
		vp_log(VP_LOG_WARN, "sandbox.selftest", "syscall=%s result=%s errno=%d",
		       probes[i].name, e == EPERM ? "refused" : "allowed", e);
	}
}

int vp_sandbox_enter(const struct vp_sandbox_config *cfg, struct vp_error *err)
{
	int ret = cfg->user ? drop_user(cfg->user, err) : 0;

	if (ret)
		return ret;
	/* vblkd never executes anything: no exec may gain privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return vp_error_set(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	if (cfg->seccomp != VP_SECCOMP_OFF) {
		ret = install_filter(cfg->seccomp, err);
		if (ret)
			return ret;
	}
	if (cfg->selftest)
		selftest();
	return 0;
}
