/* sandbox.h - vblkd's least privilege inside the process: after setup
 * (sockets bound, images opened) and before any thread starts, drop to an
 * unprivileged user and install a seccomp allowlist of the syscalls the
 * running daemon makes (vblk/daemon/sandbox.c holds the table).
 *
 * The filter is inherited by every thread started afterwards (NBD workers,
 * control, vhost-user and ublk queue threads), so it holds outside systemd
 * too.  io_uring operations do not pass through seccomp: the rings' opcodes
 * are restricted separately (vblk/ring_restrict.h).
 */
#ifndef VP_VBLK_DAEMON_SANDBOX_H
#define VP_VBLK_DAEMON_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

/* What a syscall outside the allowlist gets (--seccomp). */
enum vp_seccomp_mode {
	VP_SECCOMP_ERRNO,  /* default: fails with EPERM, the daemon carries on */
	VP_SECCOMP_OFF,    /* no filter (no_new_privs is still set) */
	VP_SECCOMP_KILL,   /* the whole process dies with SIGSYS */
	VP_SECCOMP_LOG,    /* allowed, and logged by the kernel (audit/dmesg) */
};

struct vp_sandbox_config {
	const char *user;              /* --user USER[:GROUP]; NULL: keep the ids */
	enum vp_seccomp_mode seccomp;  /* --seccomp */
	bool selftest;                 /* $VBLKD_SECCOMP_SELFTEST=1: probe forbidden syscalls */
};

/* The ids --user USER[:GROUP] names.  USER and GROUP are names or numbers;
 * without GROUP the user's primary group.  0 or -EINVAL (malformed),
 * -ENOENT (no such user or group), with err set. */
int vp_sandbox_parse_user(const char *spec, uid_t *uid, gid_t *gid,
			  struct vp_error *err) VP_MUST_CHECK;

/* "off", "errno", "kill" or "log" into *mode; -EINVAL otherwise. */
int vp_sandbox_parse_seccomp(const char *arg, enum vp_seccomp_mode *mode,
			     struct vp_error *err) VP_MUST_CHECK;

/* Enter the sandbox; call once, while the process is single-threaded.
 * With cfg->user: requires root, sets the supplementary groups (the user's
 * groups in the group database; none for a numeric USER), gid and uid, and
 * checks that no way back to root and no capability is left.  Then sets
 * no_new_privs and, unless cfg->seccomp is off, installs the filter.
 * 0 or -errno with err set; a failure leaves the process to exit. */
int vp_sandbox_enter(const struct vp_sandbox_config *cfg, struct vp_error *err) VP_MUST_CHECK;

#endif
