/* unix_listen.h - the one way vplumb's servers listen on a unix socket
 * path: an explicit mode and group set before anyone can reach the socket,
 * no silent takeover of a socket another server answers on, and an
 * optional allow-list of peer uids/gids checked at accept (SO_PEERCRED).
 */
#ifndef VP_COMMON_UNIX_LISTEN_H
#define VP_COMMON_UNIX_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

#define VP_UNIX_MODE_DEFAULT 0660   /* owner and group may connect */
#define VP_UNIX_GID_KEEP ((gid_t)-1) /* leave the socket in the creator's group */
#define VP_UNIX_PEERS_MAX 32        /* uids + gids in one allow-list */

struct vp_unix_listen_opts {
	mode_t mode;                 /* permission bits of the socket file (07777 mask) */
	gid_t gid;                   /* group of the socket file, or VP_UNIX_GID_KEEP */
	int backlog;
	int type_flags;              /* SOCK_NONBLOCK and/or SOCK_CLOEXEC for the fd */
};

/* Bind and listen on path.  The socket is bound inside a fresh 0700
 * directory next to path, given opts->mode and opts->gid there, and only
 * then renamed to path (without replacing anything), so it is never
 * reachable with wider permissions or another group than asked, whatever
 * the umask.  What may already be at path:
 *   - nothing: fine;
 *   - a socket nobody answers on (ECONNREFUSED): stale, replaced;
 *   - a socket a server answers on: -EADDRINUSE;
 *   - anything else (or a socket we cannot probe): -EEXIST / -errno.
 * Returns the listening fd, or -errno with err set (nothing left behind).
 * The caller closes the fd and unlinks path. */
int vp_unix_listen(const char *path, const struct vp_unix_listen_opts *opts,
		   struct vp_error *err) VP_MUST_CHECK;

/* Make path free for a server that binds it itself (vp_unix_listen does
 * this internally; gRPC binds its own sockets): 0 when nothing is there or a
 * stale socket (ECONNREFUSED) was removed; -EADDRINUSE when a server
 * answers, -EEXIST for a non-socket, another -errno when the socket cannot
 * be probed.  err says which. */
int vp_unix_clear_stale(const char *path, struct vp_error *err) VP_MUST_CHECK;

/* Who may connect, beyond what the file mode allows. */
struct vp_unix_peers {
	uid_t uids[VP_UNIX_PEERS_MAX];
	gid_t gids[VP_UNIX_PEERS_MAX];
	size_t n_uids, n_gids;
	bool always_self;            /* root and this process's euid pass too */
};

/* Add "user:NAME|UID" or "group:NAME|GID" to peers: 0, or -errno with err
 * set (unknown name, bad number, list full). */
int vp_unix_peers_add(struct vp_unix_peers *peers, const char *item,
		      struct vp_error *err) VP_MUST_CHECK;

/* Whether the peer of connected socket fd may talk to us: an empty list
 * (without always_self) lets everyone in; otherwise its uid must be listed,
 * or its primary or a supplementary gid (SO_PEERGROUPS), or it is root or
 * our euid when always_self.  *uid and *gid get the peer's credentials for
 * the caller's log (-1 when unknown).  A peer whose credentials cannot be
 * read is refused unless the list lets everyone in. */
bool vp_unix_peer_allowed(int fd, const struct vp_unix_peers *peers, uid_t *uid, gid_t *gid);

/* Group name or number as a gid: 0, or -errno with err set. */
int vp_unix_parse_group(const char *name, gid_t *gid, struct vp_error *err) VP_MUST_CHECK;

/* Octal permission bits 0..0777 as a mode: 0, or -EINVAL with err set. */
int vp_unix_parse_mode(const char *text, mode_t *mode, struct vp_error *err) VP_MUST_CHECK;

#endif
