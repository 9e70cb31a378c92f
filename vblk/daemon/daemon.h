/* daemon.h - vblkd's state and the parts that build it (internal to the
 * vblkd binary; vblk/vblkd.c wires them).
 *
 *   options.c         command line and --config file into struct daemon
 *   exports.c         the NBD export table every front end serves from
 *   workers.c         NBD listeners and their io_uring worker threads
 *   vhost_registry.c  vhost-user servers, at start and through the control socket
 *   ublk_exports.c    ublk block devices, at start and through the control socket
 *   notify.c          event log lines and systemd readiness messages
 *   sandbox.c         --user privilege drop and the seccomp allowlist (sandbox.h)
 *
 * main owns the one struct daemon; each part fills and tears down its own
 * fields.  Every open/start function returns 0 or -errno with err set; every
 * close/stop function accepts a part that was never (or partly) opened.
 */
#ifndef VP_VBLK_DAEMON_H
#define VP_VBLK_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"
#include "common/unix_listen.h"
#include "vblk/control.h"
#include "vblk/daemon/sandbox.h"
#include "vblk/image.h"
#include "vblk/image_path.h"
#include "vblk/nbd/server.h"
#include "vblk/nbd/table.h"
#include "vblk/nbd/tls.h"

#define VBLKD_MAX_EXPORTS 64   /* exports given at start */
#define VBLKD_MAX_WORKERS 64   /* NBD worker threads over all listeners */
#define VBLKD_MAX_LISTEN 8     /* --nbd addresses */
#define VBLKD_MAX_VHOST 64     /* vhost-user servers */
#define VBLKD_MAX_UBLK 16      /* ublk devices, --ublk and ublk-add */

struct vp_nbd_worker;
struct vhost_export;           /* private to vhost_registry.c */
struct ublk_export;            /* private to ublk_exports.c */

/* A --ublk option (name points into argv). */
struct ublk_spec {
	const char *name;
	unsigned queues, depth;
};

/* Every ublk device of the daemon: the --ublk ones, opened before the
 * sandbox and started with the other threads, and those the control
 * socket adds (ublk-add) and removes at run time.  main fills it at start
 * and empties it at shutdown (after joining the control thread); in
 * between only the control thread adds and removes.  lock guards n and
 * u[] (main starts the --ublk devices while the control thread runs). */
struct ublk_registry {
	pthread_mutex_t lock;
	struct ublk_export *u[VBLKD_MAX_UBLK];
	size_t n;
	const struct vp_image_root *image_root;  /* the daemon's, or NULL */
	/* Why this daemon cannot add ublk devices at run time (--user, or no
	 * CAP_SYS_ADMIN), decided before the sandbox; NULL: it can. */
	const char *refused;
};

/* A --vhost-user option or a config "vhost" entry (strings not owned). */
struct vhost_spec {
	const char *name, *socket;
	unsigned queues;
};

/* Every vhost-user server of the daemon.  main fills it at start and
 * empties it at shutdown (after joining the control thread); in between
 * only the control thread adds and removes.  lock guards n and v[]; the
 * servers' own threads touch only their entry's connected flag. */
struct vhost_registry {
	pthread_mutex_t lock;
	struct vhost_export *v[VBLKD_MAX_VHOST];
	size_t n;
	const struct vp_unix_listen_opts *socket; /* the daemon's data_socket */
	const struct vp_unix_peers *peers;       /* data_peers, or NULL when empty */
	const struct vp_image_root *image_root;  /* the daemon's, or NULL */
};

struct worker_thread {
	pthread_t tid;
	struct vp_nbd_worker *w;
};

struct daemon {
	/* Options (options.c). */
	bool help;                               /* --help: print usage, do nothing */
	const char *config_path, *control_path;
	json_t *config;                          /* strings of specs may point into it */
	const char *listen_specs[VBLKD_MAX_LISTEN];
	size_t n_listen;
	struct vp_nbd_export_spec specs[VBLKD_MAX_EXPORTS];
	size_t n_exports;
	unsigned n_workers;                      /* per listening socket; 0: one per CPU */
	uint64_t conn_mem;                       /* payload buffer budget per connection; 0: default */
	struct vp_nbd_tls_config tls_cfg;        /* --tls, --tls-certificates, --tls-psk, --tls-verify-peer */
	struct vp_nbd_server_limits nbd_limits;  /* --drain-timeout etc.; 0: default */
	struct vhost_spec vhost[VBLKD_MAX_VHOST];
	size_t n_vhost;
	struct ublk_spec ublk[VBLKD_MAX_UBLK];   /* --ublk */
	size_t n_ublk;
	/* Unix socket mode and group: data_socket for NBD and vhost-user
	 * (--socket-mode/-group), control_socket (--control-mode/-group). */
	struct vp_unix_listen_opts data_socket, control_socket;
	/* Allowed peers (--socket-allow, --control-allow); data_peers empty:
	 * whoever the mode lets in; control_peers always lets root and self in. */
	struct vp_unix_peers data_peers, control_peers;
	/* --image-root: every image path (control requests, command line,
	 * config) is opened beneath it; NULL without.  Opened by options.c,
	 * freed by main. */
	struct vp_image_root *image_root;
	struct vp_sandbox_config sandbox;        /* --user, --seccomp */
	/* Run-time state. */
	int listen_fds[VBLKD_MAX_LISTEN];        /* workers.c; -1: not open */
	struct vp_nbd_tls *tls;                  /* workers.c; NULL: --tls off */
	struct worker_thread threads[VBLKD_MAX_WORKERS];
	struct vp_nbd_table table;               /* exports.c */
	struct vp_nbd_shared_count nbd_count;    /* workers.c: --max-conns over all workers */
	bool table_ready;
	struct vp_control *ctl;
	struct vhost_registry vhosts;            /* vhost_registry.c */
	struct ublk_registry ublks;              /* ublk_exports.c */
};

/* ---- options.c ---- */

/* Fill d from argv and the --config file it names (command-line values add
 * to the file's; --control and --workers override it), and check that the
 * result makes a daemon.  With --help, sets d->help and checks nothing more.
 * d->config then holds the parsed file (json_decref it); specs point into
 * argv and into it. */
int vp_vblkd_options_parse(struct daemon *d, int argc, char **argv,
			   struct vp_error *err) VP_MUST_CHECK;

/* ---- exports.c ---- */

/* Build d->table from d->specs: claim every writable image (waiting for a
 * predecessor's last writes), then open and publish each export. */
int vp_vblkd_exports_open(struct daemon *d, struct vp_error *err) VP_MUST_CHECK;

/* fdatasync every writable image still published, then drop the table. */
void vp_vblkd_exports_close(struct daemon *d);

/* The start-time export spec named name, or NULL. */
const struct vp_nbd_export_spec *vp_vblkd_exports_find(const struct daemon *d, const char *name);

/* fdatasync img unless it is read-only (or NULL), logging a failure under
 * the export's name. */
void vp_vblkd_image_sync(const char *name, const struct vp_image *img);

/* ---- workers.c ---- */

/* Load the TLS credentials (--tls on|require) and bind every --nbd address
 * into d->listen_fds, warning about a TCP address beyond loopback that
 * serves plaintext (--tls off or on). */
int vp_vblkd_listeners_open(struct daemon *d, struct vp_error *err) VP_MUST_CHECK;

/* Close the listening sockets and unlink the unix ones; free the TLS
 * credentials (the workers are stopped: this waits for TLS relays). */
void vp_vblkd_listeners_close(struct daemon *d);

/* Start d->n_workers threads per listener; *started counts those running
 * (to be stopped with vp_vblkd_workers_stop, even on failure).  A worker
 * that fails later raises SIGTERM so main shuts the others down. */
int vp_vblkd_workers_start(struct daemon *d, unsigned *started,
			   struct vp_error *err) VP_MUST_CHECK;

/* Drain and join the first n workers. */
void vp_vblkd_workers_stop(struct daemon *d, unsigned n);

/* Ask every worker to drain connections of removed exports (the control
 * server's kick; ctx is the struct daemon). */
void vp_vblkd_workers_kick(void *ctx);

/* ---- vhost_registry.c ---- */

/* An empty registry; vp_vblkd_vhost_close finalises it. */
void vp_vblkd_vhost_init(struct vhost_registry *r);

/* Open each d->vhost server on its export's image and bind its socket
 * (d->data_socket's mode and group, d->data_peers at accept, for these and
 * the servers added later); they start with vp_vblkd_vhost_start. */
int vp_vblkd_vhost_open(struct daemon *d, struct vp_error *err) VP_MUST_CHECK;

/* Start the servers not started yet. */
int vp_vblkd_vhost_start(struct vhost_registry *r, struct vp_error *err) VP_MUST_CHECK;

/* Drain and stop every server, sync and close its image, and finalise the
 * registry; the control thread is no longer running. */
void vp_vblkd_vhost_close(struct vhost_registry *r);

/* The control socket's vhost-* commands; their ctx is the registry. */
extern const struct vp_control_vhost_ops vp_vblkd_vhost_ops;

/* ---- ublk_exports.c ---- */

/* An empty registry; vp_vblkd_ublk_close finalises it. */
void vp_vblkd_ublk_init(struct ublk_registry *r);

/* Decide whether ublk-add may work later (before the sandbox: --user, the
 * capabilities), then add each d->ublk device on its own fd of its
 * export's image; its queue threads start with vp_vblkd_ublk_start. */
int vp_vblkd_ublk_open(struct daemon *d, struct vp_error *err) VP_MUST_CHECK;

/* Start the devices not started yet (each appears as /dev/ublkbN). */
int vp_vblkd_ublk_start(struct ublk_registry *r, struct vp_error *err) VP_MUST_CHECK;

/* Remove every device (in-flight requests are served first), sync and
 * close its image, and finalise the registry; the control thread is no
 * longer running. */
void vp_vblkd_ublk_close(struct ublk_registry *r);

/* The control socket's ublk-* commands; their ctx is the registry. */
extern const struct vp_control_ublk_ops vp_vblkd_ublk_ops;

/* ---- notify.c ---- */

/* Log an event of the NBD workers, control server or vhost-user servers
 * (warning when its name says "error"); ctx is unused. */
void vp_vblkd_log_event(void *ctx, const char *event, const char *detail);

/* Tell systemd (Type=notify) about a state change, e.g. "READY=1"; no-op
 * without $NOTIFY_SOCKET. */
void vp_vblkd_sd_notify(const char *state);

#endif
