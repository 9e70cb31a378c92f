/* unix_listen.c - listening unix sockets with an exact mode and group, no
 * takeover of a live socket, and the SO_PEERCRED allow-list (unix_listen.h).
 */
#include "common/unix_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TMP_SUFFIX "/s"

/* sa for path: 0, or -ENAMETOOLONG/-EINVAL with err set. */
static int unix_addr(const char *path, struct sockaddr_un *sa, struct vp_error *err)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (!*path)
		return vp_error_set(err, EINVAL, "unix socket: empty path");
	if (strlen(path) >= sizeof(sa->sun_path))
		return vp_error_set(err, ENAMETOOLONG, "unix socket %s: path longer than %zu bytes",
				    path, sizeof(sa->sun_path) - 1);
	strcpy(sa->sun_path, path);
	return 0;
}

int vp_unix_clear_stale(const char *path, struct vp_error *err)
{
	struct sockaddr_un sa;
	struct stat st;
	int s, ret, e;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : vp_error_set(err, errno, "unix socket %s", path);
	if (!S_ISSOCK(st.st_mode))
		return vp_error_code(err, 0, EEXIST, "unix socket %s: exists and is not a socket; "
				     "not replacing it", path);
	ret = unix_addr(path, &sa, err);
	if (ret)
		return ret;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return vp_error_set(err, errno, "unix socket %s: probe", path);
	ret = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(s);
	/* EAGAIN: a full backlog, so someone is listening. */
	if (ret == 0 || e == EAGAIN)
		return vp_error_code(err, 0, EADDRINUSE, "unix socket %s: another server is "
				     "listening on it; not taking it over", path);
	if (e != ECONNREFUSED)
		return e == ENOENT ? 0 : vp_error_set(err, e, "unix socket %s: probe", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return vp_error_set(err, errno, "unix socket %s: remove stale socket", path);
	return 0;
}

/* A fresh 0700 directory next to path, in dir (PATH_MAX bytes). */
static int private_dir(const char *path, char *dir, struct vp_error *err)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (slash)
		n = snprintf(dir, PATH_MAX, "%.*s/.vp-sock-XXXXXX", (int)(slash - path), path);
	else
		n = snprintf(dir, PATH_MAX, ".vp-sock-XXXXXX");
	if (n < 0 || n >= PATH_MAX)
		return vp_error_set(err, ENAMETOOLONG, "unix socket %s", path);
	if (!mkdtemp(dir))
		return vp_error_set(err, errno, "unix socket %s: private directory", path);
	return 0;
}

/* Bind s at tmp (inside a 0700 directory: nobody else can reach it yet)
 * and give it its final mode and group. */
static int bind_private(int s, const char *path, const char *tmp,
			const struct vp_unix_listen_opts *o, struct vp_error *err)
{
	struct sockaddr_un sa;
	int ret = unix_addr(tmp, &sa, err);

	if (ret) {
		vp_error_prefix(err, "unix socket %s: temporary name", path);
		return ret;
	}
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return vp_error_set(err, errno, "unix socket %s: bind", path);
	if (o->gid != VP_UNIX_GID_KEEP && chown(tmp, (uid_t)-1, o->gid) < 0)
		return vp_error_set(err, errno, "unix socket %s: set group %u", path, (unsigned)o->gid);
	/* chmod after chown: chown may clear set-id bits. */
	if (chmod(tmp, o->mode & 07777) < 0)
		return vp_error_set(err, errno, "unix socket %s: set mode %04o", path,
				    (unsigned)o->mode);
	return 0;
}

int vp_unix_listen(const char *path, const struct vp_unix_listen_opts *opts, struct vp_error *err)
{
	char dir[PATH_MAX], tmp[PATH_MAX + sizeof(TMP_SUFFIX)];
	struct sockaddr_un sa;
	int s, ret;

	ret = unix_addr(path, &sa, err);
	if (ret)
		return ret;
	ret = private_dir(path, dir, err);
	if (ret)
		return ret;
	snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, dir);
	s = socket(AF_UNIX, SOCK_STREAM | opts->type_flags, 0);
	if (s < 0) {
		ret = vp_error_set(err, errno, "unix socket %s", path);
		goto out;
	}
	ret = bind_private(s, path, tmp, opts, err);
	if (!ret && listen(s, opts->backlog) < 0)
		ret = vp_error_set(err, errno, "unix socket %s: listen", path);
	ret = ret ?: vp_unix_clear_stale(path, err);
	/* NOREPLACE: whatever appeared at path since the probe stays. */
	if (!ret && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
		ret = errno == EEXIST ?
			vp_error_code(err, 0, EADDRINUSE, "unix socket %s: created by someone else "
				      "meanwhile; not replacing it", path) :
			vp_error_set(err, errno, "unix socket %s: rename into place", path);
out:
	if (ret && s >= 0)
		close(s);
	(void)unlink(tmp);  /* only there when something failed */
	(void)rmdir(dir);
	return ret ? ret : s;
}

/* ---- peers ---- */

/* An unsigned decimal id (not -1): 0 with *id set, or -EINVAL. */
static int parse_id(const char *text, unsigned *id)
{
	char *end;
	unsigned long v;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end || v >= (unsigned)-1)
		return -EINVAL;
	*id = (unsigned)v;
	return 0;
}

static int lookup_user(const char *name, uid_t *uid, struct vp_error *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	unsigned id;
	int ret;

	if (parse_id(name, &id) == 0) {
		*uid = (uid_t)id;
		return 0;
	}
	ret = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (!res)
		return vp_error_set(err, ret ? ret : ENOENT, "user '%s'", name);
	*uid = pw.pw_uid;
	return 0;
}

int vp_unix_parse_group(const char *name, gid_t *gid, struct vp_error *err)
{
	struct group gr, *res = NULL;
	char buf[16384];
	unsigned id;
	int ret;

	if (parse_id(name, &id) == 0) {
		*gid = (gid_t)id;
		return 0;
	}
	ret = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (!res)
		return vp_error_set(err, ret ? ret : ENOENT, "group '%s'", name);
	*gid = gr.gr_gid;
	return 0;
}

int vp_unix_parse_mode(const char *text, mode_t *mode, struct vp_error *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 8);
	if (errno || *end || !*text || *text == '-' || v > 0777)
		return vp_error_set(err, EINVAL, "mode '%s': expected octal 0..0777", text);
	*mode = (mode_t)v;
	return 0;
}

int vp_unix_peers_add(struct vp_unix_peers *p, const char *item, struct vp_error *err)
{
	bool user = strncmp(item, "user:", 5) == 0, group = strncmp(item, "group:", 6) == 0;
	int ret;

	if (!user && !group)
		return vp_error_set(err, EINVAL, "peer '%s': expected user:NAME|UID or group:NAME|GID",
				    item);
	if ((user ? p->n_uids : p->n_gids) == VP_UNIX_PEERS_MAX)
		return vp_error_set(err, E2BIG, "peer '%s': at most %d %s", item, VP_UNIX_PEERS_MAX,
				    user ? "users" : "groups");
	if (user) {
		ret = lookup_user(item + 5, &p->uids[p->n_uids], err);
		p->n_uids += ret == 0;
		return ret;
	}
	ret = vp_unix_parse_group(item + 6, &p->gids[p->n_gids], err);

	p->n_gids += ret == 0;
	return ret;
}

static bool gid_listed(const struct vp_unix_peers *p, gid_t gid)
{
	for (size_t i = 0; i < p->n_gids; i++)
		if (p->gids[i] == gid)
			return true;
	return false;
}

/* Whether one of fd's peer's supplementary groups is listed. */
static bool peer_groups_listed(int fd, const struct vp_unix_peers *p)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (!p->n_gids || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (gid_listed(p, groups[i]))
			return true;
	return false;
}

bool vp_unix_peer_allowed(int fd, const struct vp_unix_peers *p, uid_t *uid, gid_t *gid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	bool open = !p || (!p->n_uids && !p->n_gids && !p->always_self);

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return open;
	*uid = cred.uid;
	*gid = cred.gid;
	if (open)
		return true;
	if (p->always_self && (cred.uid == 0 || cred.uid == geteuid()))
		return true;
	for (size_t i = 0; i < p->n_uids; i++)
		if (p->uids[i] == cred.uid)
			return true;
	return gid_listed(p, cred.gid) || peer_groups_listed(fd, p);
}
