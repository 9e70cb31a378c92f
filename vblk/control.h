/* control.h - vblkd's control socket: newline-delimited JSON requests on a
 * unix socket (mode 0600 by default; root, same-uid and allow-listed peers
 * only), served by one thread with
 * blocking-style I/O off the data path.
 *
 * Request:  {"command":"export-add","name":"disk0","image":"/var/lib/x.img"}
 * Response: {"ok":true,...}  or  {"ok":false,"error":"...","errno":N}
 * One request per line, one response line per request, in order.  The
 * commands and their fields are listed in docs/vblkd.md.
 */
#ifndef VP_VBLK_CONTROL_H
#define VP_VBLK_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/event.h"
#include "common/unix_listen.h"
#include "vblk/nbd/table.h"

#define VP_CONTROL_MAX_LINE (64U << 10) /* longest request accepted */
#define VP_CONTROL_MAX_CLIENTS 16
#define VP_CONTROL_TICK_MS 1000         /* stats interval */
#define VP_CONTROL_VHOST_MAX_QUEUES 16  /* vhost-add queues: 1..this */
#define VP_CONTROL_MODE_DEFAULT 0600    /* socket file mode */

/* A vhost-user-blk server of an export, as the daemon keeps it. */
struct vp_control_vhost {
	const char *name;                /* the export it serves */
	const char *socket;              /* absolute path */
	unsigned queues;                 /* 1..16 */
	bool connected;                  /* a front end is attached now */
};

/* The daemon's vhost-user registry, called on the control thread only (the
 * daemon stops the control thread before it tears the registry down). */
struct vp_control_vhost_ops {
	/* Serve export v->name (its image at path, opened with VP_IMAGE_*
	 * flags) on v->socket with v->queues.  -EEXIST when the export already
	 * has a server or the socket is taken, -EADDRINUSE when something else
	 * answers there; nothing is left behind on failure. */
	int (*add)(void *ctx, const struct vp_control_vhost *v, const char *path, unsigned flags,
		   struct vp_error *err);
	/* Stop name's server: the front end is dropped once its in-flight
	 * requests complete, the socket is unlinked.  -ENOENT when none. */
	int (*remove)(void *ctx, const char *name, struct vp_error *err);
	/* Fill *out for name's server: 0, or -ENOENT when it has none.  The
	 * strings stay valid until the next add or remove. */
	int (*get)(void *ctx, const char *name, struct vp_control_vhost *out);
	/* name's image file changed size: tell its front end now. */
	void (*resized)(void *ctx, const char *name);
};

/* A ublk block device of an export (/dev/ublkbN), as the daemon keeps it. */
struct vp_control_ublk {
	const char *name;                /* the export it serves */
	unsigned queues;                 /* 1..VP_UBLK_MAX_QUEUES (vblk/ublk/dev.h) */
	unsigned depth;                  /* 1..VP_UBLK_MAX_DEPTH */
	uint32_t id;                     /* N of /dev/ublkbN */
};

/* The daemon's ublk registry, called on the control thread only (the
 * daemon stops the control thread before it tears the registry down). */
struct vp_control_ublk_ops {
	/* Serve export u->name (its image at path, opened with VP_IMAGE_*
	 * flags) as a ublk device with u->queues and u->depth, started, and
	 * set u->id.  -ENODEV when the kernel has no ublk, -EPERM when the
	 * daemon may not add devices (dropped privileges), -EEXIST when the
	 * export has a device already; nothing is left behind on failure. */
	int (*add)(void *ctx, struct vp_control_ublk *u, const char *path, unsigned flags,
		   struct vp_error *err);
	/* Remove name's device (its in-flight requests are served first), its
	 * image synced.  -ENOENT when none. */
	int (*remove)(void *ctx, const char *name, struct vp_error *err);
	/* Fill *out for name's device: 0, or -ENOENT when it has none.  The
	 * strings stay valid until the next add or remove. */
	int (*get)(void *ctx, const char *name, struct vp_control_ublk *out);
};

struct vp_control_config {
	const char *path;                /* socket path */
	/* Its mode and gid are used; NULL: VP_CONTROL_MODE_DEFAULT in the
	 * daemon's group. */
	const struct vp_unix_listen_opts *socket;
	/* Peers allowed to connect (always_self keeps root and the daemon's
	 * euid in); NULL: root and the daemon's euid only. */
	const struct vp_unix_peers *peers;
	struct vp_nbd_table *table;      /* outlives the control server */
	void (*kick)(void *ctx);         /* ask workers to drain removed exports */
	void *kick_ctx;
	struct vp_event_sink events;     /* requests and their outcome */
	const struct vp_control_vhost_ops *vhost; /* NULL: vhost-* commands fail */
	void *vhost_ctx;
	const struct vp_control_ublk_ops *ublk;   /* NULL: ublk-* commands fail */
	void *ublk_ctx;
};

struct vp_control;

/* Create the listening socket at cfg->path with cfg->socket's mode and
 * group (vp_unix_listen: never reachable with wider permissions, whatever
 * the umask).  A stale socket file is replaced; a live one (another daemon
 * answers) is -EADDRINUSE, a non-socket -EEXIST.  *out is set on success,
 * NULL on failure.  cfg->socket and cfg->peers must outlive the server. */
int vp_control_new(const struct vp_control_config *cfg, struct vp_control **out,
		   struct vp_error *err) VP_MUST_CHECK;

/* Serve on a new thread until vp_control_stop.  0 or -errno. */
int vp_control_start(struct vp_control *ctl, struct vp_error *err) VP_MUST_CHECK;

/* Stop the thread (a request in progress completes first) and join it;
 * accepts a server that was never started. */
void vp_control_stop(struct vp_control *ctl);

/* Close the socket, remove its file and free; NULL is accepted. */
void vp_control_free(struct vp_control *ctl);

/* Handle one request (len bytes of JSON, no newline) and return the
 * response as a malloc'd NUL-terminated JSON line without the newline, or
 * NULL on ENOMEM.  Runs on the control thread (or a test's thread). */
char *vp_control_handle(struct vp_control *ctl, const char *req, size_t len);

#endif
