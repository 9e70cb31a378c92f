/* server.h - NBD server workers: each owns one io_uring (vblk/engine.h) that
 * carries accept, the handshake, request/reply socket I/O and image I/O for
 * all of its connections.  Several workers may share one listening socket;
 * the kernel hands each new connection to one of them.
 */
#ifndef VP_VBLK_NBD_SERVER_H
#define VP_VBLK_NBD_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/event.h"
#include "common/unix_listen.h"
#include "vblk/nbd/nbd.h"

/* Limits and timeouts of the NBD server; 0 means the default
 * (docs/vblkd.md, "Limits and timeouts"). */
struct vp_nbd_server_limits {
	unsigned drain_timeout_ms;           /* stop or export removal: then shut down */
	unsigned handshake_timeout_ms;       /* from accept to entering transmission */
	unsigned idle_timeout_ms;            /* transmission, nothing in flight (0: none) */
	unsigned send_timeout_ms;            /* a send that makes no progress (client not reading) */
	unsigned max_conns;                  /* connections of all workers sharing `shared` */
	uint64_t mem_max;                    /* slot buffers of all workers sharing `shared` */
	uint64_t unsent_max;                 /* READ data a connection has admitted, not yet sent */
};

/* What the workers of one daemon count together (zero it; it outlives them). */
struct vp_nbd_shared_count {
	atomic_uint conns;                   /* connections, from accept to close */
	atomic_uint_fast64_t mem;            /* bytes of slot buffers allocated */
};

struct vp_nbd_server_config {
	const struct vp_nbd_export *exports; /* outlive the worker */
	size_t n_exports;
	int listen_fd;                       /* owned by the caller */
	struct vp_event_sink events;         /* connections made, dropped, and why */
	/* Run-time exports (nbd/table.h): when set, exports/n_exports are
	 * ignored and each connection works on the snapshot current when it
	 * was accepted.  Owned by the caller, outlives the worker. */
	struct vp_nbd_table *table;
	unsigned worker_index;               /* this worker's stats shard */
	/* Request buffer budget per connection in bytes (0: the default); a
	 * request that would exceed it waits for earlier ones to complete.
	 * At least VP_NBD_CONN_MEM_MIN (one largest request). */
	size_t conn_mem;
	/* Peers allowed on a unix listen_fd (SO_PEERCRED); NULL for TCP or
	 * to let in whoever the socket's mode lets connect.  Outlives the
	 * worker. */
	const struct vp_unix_peers *peers;
	/* NBD_OPT_STARTTLS (nbd/tls.h): NULL serves in NOTLS mode.  Owned by
	 * the caller, outlives the worker. */
	struct vp_nbd_tls *tls;
	struct vp_nbd_server_limits limits;
	struct vp_nbd_shared_count *shared;  /* NULL: this worker counts alone */
};

#define VP_NBD_DRAIN_TIMEOUT_MS_DEFAULT 10000U
#define VP_NBD_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000U
#define VP_NBD_SEND_TIMEOUT_MS_DEFAULT 60000U
#define VP_NBD_MAX_CONNS_DEFAULT 1024U
#define VP_NBD_MEM_MAX_DEFAULT (1ULL << 30)
#define VP_NBD_UNSENT_MAX_DEFAULT (32ULL << 20)

#define VP_NBD_CONN_MEM_DEFAULT (64U << 20)
#define VP_NBD_CONN_MEM_MIN     (VP_NBD_MAX_PAYLOAD + (64U << 10))

struct vp_nbd_worker;

/* Open a listening socket for "unix:PATH" (vp_unix_listen with unix_opts'
 * mode and gid, or 0660 in the daemon's group when NULL; a stale socket
 * file replaced, a live one or a non-socket refused) or "tcp:HOST:PORT"
 * (HOST may be [v6]; empty, as in "tcp::10809", is 127.0.0.1, never every
 * interface: that takes 0.0.0.0 or [::]).  *fd is set on success. */
VP_MUST_CHECK int vp_nbd_listen(const char *spec, const struct vp_unix_listen_opts *unix_opts,
				int *fd, struct vp_error *err);

/* Create a worker (ring, registered image files, stop eventfd).  *out is set
 * on success and NULL on failure. */
VP_MUST_CHECK int vp_nbd_worker_new(const struct vp_nbd_server_config *cfg,
				    struct vp_nbd_worker **out, struct vp_error *err);

/* Serve until vp_nbd_worker_stop, then drain: stop accepting, let each
 * connection finish the requests it has sent (their replies go out), close
 * them, and return 0.  Returns -errno if the ring itself fails. */
VP_MUST_CHECK int vp_nbd_worker_run(struct vp_nbd_worker *w, struct vp_error *err);

/* Ask a running worker to drain and return; safe from any thread and from a
 * signal handler. */
void vp_nbd_worker_stop(struct vp_nbd_worker *w);

/* Ask a running worker to drain the connections of exports removed from
 * cfg->table (vp_nbd_table_remove with force); safe from any thread. */
void vp_nbd_worker_kick(struct vp_nbd_worker *w);

/* Free a worker that is not running; NULL is accepted. */
void vp_nbd_worker_free(struct vp_nbd_worker *w);

#endif
