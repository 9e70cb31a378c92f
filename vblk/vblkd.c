/* vblkd.c - the vplumb disk daemon: serves raw images and block devices
 * over NBD from io_uring workers, managed at run time through a control
 * socket (vblk/control.h, driven by vblkctl).
 *
 *   vblkd [--config FILE] --nbd unix:PATH|tcp:HOST:PORT [--nbd ...]
 *         --export name=NAME,image=PATH[,readonly=on][,cache=none][,description=TEXT]
 *         [--export ...] [--control PATH] [--workers N] [--conn-mem SIZE]
 *         [--vhost-user name=NAME,socket=PATH[,queues=N] ...]
 *         [--ublk name=NAME[,queues=N][,depth=D] ...]
 *         [--socket-mode MODE] [--socket-group GROUP] [--socket-allow user:X,group:Y]
 *         [--control-mode MODE] [--control-group GROUP] [--control-allow user:X,group:Y]
 *         [--image-root DIR]
 *         [--user USER[:GROUP]] [--seccomp off|errno|kill|log]
 *         [--tls off|on|require] [--tls-certificates DIR | --tls-psk FILE]
 *         [--tls-verify-peer]
 *
 * --workers defaults to one per CPU; --conn-mem (default 64M) caps the request
 * buffers one NBD connection may hold.
 * tcp::PORT (no host) listens on 127.0.0.1 only.  --tls (default off) offers
 * NBD_OPT_STARTTLS on every --nbd address with x509 credentials from DIR
 * (ca-cert.pem, server-cert.pem, server-key.pem) or the "user:hexkey" keys
 * of FILE; require refuses everything else before TLS (vblk/nbd/tls.h).
 * --vhost-user serves export NAME (from --export or the config) to one
 * vhost-user-blk front end (QEMU) at a time on PATH; --nbd is then optional.
 * Unix sockets get --socket-mode (default 0660) / --control-mode (0600)
 * whatever the umask; a live socket at the path is never taken over.
 * With --image-root DIR every image path is opened beneath DIR, no symlink
 * on the way (vblk/image_path.h); FIFOs and other non-images are refused.
 * --ublk exposes export NAME as the local block device /dev/ublkbN through
 * the kernel's ublk driver (vblk/ublk/dev.h); without /dev/ublk-control the
 * daemon fails at start.  ublk devices are also added and removed at run
 * time through the control socket (ublk-add, ublk-remove), in one registry
 * (struct ublk_registry) with the --ublk ones.
 * FILE is JSON {"nbd":[...],"control":"PATH","workers":N,"exports":[{...}],
 * "vhost":[{"name":..,"socket":..,"queues":N}]}; command-line options add to
 * it (--control and --workers override it).  vhost-user servers are also
 * added and removed at run time through the control socket (vhost-add,
 * vhost-remove); they are kept in one registry (struct vhost_registry).
 * SIGTERM/SIGINT drain: no new connections, in-flight requests finish and
 * are answered, images are synced, then the daemon exits 0.  With
 * $NOTIFY_SOCKET set it reports READY=1 and STOPPING=1 (Type=notify).
 * After setup and before any thread starts the daemon enters its sandbox
 * (vblk/daemon/sandbox.h): --user drops root, then a seccomp allowlist
 * goes in (--seccomp, default errno: other syscalls fail with EPERM).
 *
 * This file wires the parts in vblk/daemon/ (listed in daemon.h) together.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vblkd [--config FILE] --nbd unix:PATH|tcp:HOST:PORT [--nbd ...]\n"
		   "             --export name=NAME,image=PATH[,readonly=on][,cache=none][,description=TEXT]\n"
		   "             [--export ...] [--control PATH] [--workers N] [--conn-mem SIZE]\n"
		   "             [--vhost-user name=NAME,socket=PATH[,queues=N] ...]\n"
		   "             [--ublk name=NAME[,queues=N][,depth=D] ...]\n"
		   "             [--socket-mode MODE] [--socket-group GROUP] [--socket-allow user:X,group:Y]\n"
		   "             [--control-mode MODE] [--control-group GROUP] [--control-allow user:X,group:Y]\n"
		   "             [--image-root DIR]\n"
		   "             [--user USER[:GROUP]] [--seccomp off|errno|kill|log]\n"
		   "             [--tls off|on|require] [--tls-certificates DIR | --tls-psk FILE]\n"
		   "             [--tls-verify-peer]\n"
		   "             [--nbd-mem SIZE] [--conn-unsent SIZE] [--max-conns N]\n"
		   "             [--handshake-timeout S] [--idle-timeout S] [--send-timeout S]\n"
		   "             [--drain-timeout S]\n");
}

static int open_control(struct daemon *d, struct vp_error *err)
{
	struct vp_control_config cfg = {
		.path = d->control_path, .socket = &d->control_socket, .peers = &d->control_peers,
		.table = &d->table,
		.kick = vp_vblkd_workers_kick, .kick_ctx = d, .events = { vp_vblkd_log_event, NULL },
		.vhost = &vp_vblkd_vhost_ops, .vhost_ctx = &d->vhosts,
		.ublk = &vp_vblkd_ublk_ops, .ublk_ctx = &d->ublks,
	};

	return d->control_path ? vp_control_new(&cfg, &d->ctl, err) : 0;
}

/* Everything that can fail before any thread runs. */
static int open_all(struct daemon *d, struct vp_error *err)
{
	int ret = vp_vblkd_exports_open(d, err);

	ret = ret ?: vp_vblkd_ublk_open(d, err);
	ret = ret ?: open_control(d, err);
	ret = ret ?: vp_vblkd_listeners_open(d, err);
	return ret ?: vp_vblkd_vhost_open(d, err);
}

/* Start every thread; on failure those started are stopped again. */
static int start_all(struct daemon *d, unsigned *started, struct vp_error *err)
{
	int ret = vp_vblkd_workers_start(d, started, err);

	ret = ret ?: d->ctl ? vp_control_start(d->ctl, err) : 0;
	ret = ret ?: vp_vblkd_vhost_start(&d->vhosts, err);
	ret = ret ?: vp_vblkd_ublk_start(&d->ublks, err);
	if (ret)
		vp_vblkd_workers_stop(d, *started);
	return ret;
}

/* Serve until SIGTERM or SIGINT (blocked in every thread), then drain. */
static void serve(struct daemon *d, const sigset_t *sigs, unsigned started)
{
	int sig = 0;

	vp_log(VP_LOG_INFO, "vblkd.ready", "listen=%s%s exports=%zu workers=%u control=%s",
	       d->n_listen ? d->listen_specs[0] : "none", d->n_listen > 1 ? ",..." : "", d->n_exports, started,
	       d->control_path ? d->control_path : "none");
	vp_vblkd_sd_notify("READY=1");
	sigwait(sigs, &sig);
	vp_log(VP_LOG_INFO, "vblkd.draining", "signal=%d", sig);
	vp_vblkd_sd_notify("STOPPING=1");
	vp_control_stop(d->ctl);
	vp_vblkd_workers_stop(d, started);
}

/* Stop and free whatever is open, in the reverse order of opening. */
static void close_all(struct daemon *d)
{
	vp_control_stop(d->ctl); /* a failed start may have left it running */
	vp_control_free(d->ctl);
	vp_vblkd_ublk_close(&d->ublks);
	vp_vblkd_vhost_close(&d->vhosts);
	vp_vblkd_listeners_close(d);
	vp_vblkd_exports_close(d);
}

int main(int argc, char **argv)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct vp_error err = { 0 };
	unsigned started = 0;
	sigset_t sigs;
	int ret = 1;

	if (!d)
		return 1;
	vp_vblkd_vhost_init(&d->vhosts);
	vp_vblkd_ublk_init(&d->ublks);
	for (size_t i = 0; i < VBLKD_MAX_LISTEN; i++)
		d->listen_fds[i] = -1;
	if (vp_vblkd_options_parse(d, argc, argv, &err))
		goto out;
	if (d->help) {
		usage(stdout);
		ret = 0;
		goto out;
	}
	if (open_all(d, &err))
		goto out;
	/* Single-threaded still: the ids and the filter apply to every thread. */
	if (vp_sandbox_enter(&d->sandbox, &err))
		goto out;
	/* Threads inherit the mask; only main takes the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start_all(d, &started, &err))
		goto out;
	serve(d, &sigs, started);
	ret = 0;
out:
	if (ret)
		vp_log(VP_LOG_ERROR, "vblkd.failed", "error=\"%s\"", err.msg);
	close_all(d);
	if (!ret && !d->help)
		vp_log(VP_LOG_INFO, "vblkd.stopped", "exports=%zu", d->n_exports);
	json_decref(d->config);
	vp_image_root_free(d->image_root);
	free(d);
	return ret;
}
