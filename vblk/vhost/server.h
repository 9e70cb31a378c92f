/* server.h - vhost-user-blk exports: one listening Unix socket per export,
 * served by a control thread (one front-end connection at a time; the next
 * one waits in the backlog, which is how QEMU reconnects), and one thread
 * per running virtqueue, each with its own io_uring (vblk/engine.h) that
 * carries kick eventfd reads and the image I/O on the guest's pages.
 */
#ifndef VP_VBLK_VHOST_SERVER_H
#define VP_VBLK_VHOST_SERVER_H

#include "common/error.h"
#include "common/event.h"
#include "common/unix_listen.h"
#include "vblk/image.h"

/* A front end that sent part of a message has this long to send the rest
 * before it is dropped (QEMU sends each message in one sendmsg). */
#define VP_VHOST_MSG_TIMEOUT_MS 2000

struct vp_vhost_server_config {
	const char *name;            /* export name; also the GET_ID serial */
	struct vp_image *img;        /* outlives the server; its own fd (the
				      * control thread updates img->size when
				      * the file is resized, and tells the guest) */
	const char *socket_path;     /* a stale socket file there is replaced,
				      * a live one or a non-socket refused */
	const struct vp_unix_listen_opts *socket; /* its mode and gid are used;
				      * NULL: 0660 in the daemon's group */
	const struct vp_unix_peers *peers; /* allowed front ends (SO_PEERCRED);
				      * NULL: whoever the mode lets connect */
	unsigned queues;             /* 1..16 */
	struct vp_event_sink events; /* connections, protocol errors, malformed
				      * rings; from the export's threads */
};

struct vp_vhost_server;

/* Bind and listen on cfg->socket_path; nothing runs yet.  *out is set on
 * success and NULL on failure (nothing left behind). */
VP_MUST_CHECK int vp_vhost_server_new(const struct vp_vhost_server_config *cfg,
				      struct vp_vhost_server **out, struct vp_error *err);

/* Start the control thread.  Returns 0 or -errno. */
VP_MUST_CHECK int vp_vhost_server_start(struct vp_vhost_server *srv, struct vp_error *err);

/* Tell a connected front end that the export's config changed (the guest
 * re-reads capacity).  Safe from any thread; no-op when nobody is
 * connected.  File resizes are also noticed by polling (about 1 s). */
void vp_vhost_server_notify_resize(struct vp_vhost_server *srv);

/* Stop: drop the connection after its queues drain (in-flight requests
 * complete), join every thread, close and unlink the socket, free srv.
 * NULL is accepted; works whether or not start succeeded. */
void vp_vhost_server_free(struct vp_vhost_server *srv);

#endif
