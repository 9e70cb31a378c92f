/* main.c - vblk-csi: the CSI driver's process.  Opens (and reconciles) the
 * pool, serves the Identity service and, by --mode, the Controller and
 * Node services on the endpoint (repairing the node side's records
 * first), and drains on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unix_listen.h"
#include "csi/options.h"
#include "csi/service.h"

#define SOCKET_MODE 0660
#define MAX_METHODS 32

static void report(void *ctx, const char *event, const char *file, const char *detail)
{
	(void)ctx;
	vp_log(VP_LOG_WARN, "csi.reconcile", "finding=%s file=%s detail=\"%s\"", event, file, detail);
}

static void add_methods(struct vp_grpc_method *all, size_t *n, const struct vp_grpc_method *m,
			size_t count)
{
	for (size_t i = 0; i < count && *n < MAX_METHODS; i++)
		all[(*n)++] = m[i];
}

/* The methods --mode serves. */
static size_t methods_for(enum csi_mode mode, struct vp_grpc_method *all)
{
	size_t n = 0;

	add_methods(all, &n, csi_identity_methods, csi_identity_n_methods);
	if (mode != CSI_MODE_NODE) {
		add_methods(all, &n, csi_controller_methods, csi_controller_n_methods);
		add_methods(all, &n, csi_controller_list_methods, csi_controller_list_n_methods);
		add_methods(all, &n, csi_snapshot_methods, csi_snapshot_n_methods);
	}
	if (mode != CSI_MODE_CONTROLLER)
	{
		add_methods(all, &n, csi_node_methods, csi_node_n_methods);
		add_methods(all, &n, csi_node_volume_methods, csi_node_volume_n_methods);
		add_methods(all, &n, csi_node_size_methods, csi_node_size_n_methods);
	}
	return n;
}

/* gRPC binds the socket itself: a live server there is an error, a stale
 * socket is removed first, and the umask makes the new one SOCKET_MODE
 * from its creation on. */
static int serve(const struct csi_options *o, const struct vp_grpc_method *methods, size_t n,
		 struct csi_ctx *ctx, struct vp_grpc_server **server, struct vp_error *err)
{
	char addr[PATH_MAX + 8];
	mode_t old;
	int ret = vp_unix_clear_stale(o->socket, err);

	if (ret)
		return ret;
	snprintf(addr, sizeof(addr), "unix:%s", o->socket);
	old = umask(0777 & ~SOCKET_MODE);
	ret = vp_grpc_server_start(addr, methods, n, ctx, server, err);
	umask(old);
	if (!ret && chmod(o->socket, SOCKET_MODE) < 0)
		ret = vp_error_set(err, errno, "chmod %s", o->socket);
	return ret;
}

static int wait_for_stop(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigwait(&set, &sig);
	return sig;
}

static int run(const struct csi_options *o)
{
	struct vp_grpc_method methods[MAX_METHODS];
	struct vp_grpc_server *server;
	struct vp_error err = { 0 };
	struct csi_ctx ctx = { .node_id = o->node_id, .vblkd_control = o->vblkd_control,
			       .vblkd_nbd = o->vblkd_nbd, .kubelet_dir = o->kubelet_dir };
	size_t n = methods_for(o->mode, methods);

	if (vp_pool_open(o->pool, report, NULL, &ctx.pool, &err)) {
		fprintf(stderr, "vblk-csi: %s\n", err.msg);
		return 1;
	}
	if (o->mode != CSI_MODE_CONTROLLER) {
		csi_node_reconcile(&ctx, report, NULL);
		csi_node_report_unrecorded(&ctx, report, NULL);
	}
	if (serve(o, methods, n, &ctx, &server, &err)) {
		fprintf(stderr, "vblk-csi: %s\n", err.msg);
		vp_pool_close(ctx.pool);
		return 1;
	}
	vp_log(VP_LOG_INFO, "csi.started", "endpoint=unix://%s node=%s pool=%s methods=%zu",
	       o->socket, o->node_id, o->pool, n);
	vp_log(VP_LOG_INFO, "csi.stopping", "signal=%d", wait_for_stop());
	vp_grpc_server_stop(server);
	vp_grpc_server_wait(server);
	unlink(o->socket);
	vp_pool_close(ctx.pool);
	vp_log(VP_LOG_INFO, "csi.stopped", "in_flight=0");
	return 0;
}

int main(int argc, char **argv)
{
	struct csi_options o;
	struct vp_error err = { 0 };
	sigset_t set;
	int ret = csi_parse_options(argc, argv, &o, &err);

	if (ret == 1) {
		fputs(csi_usage, stdout);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "vblk-csi: %s\n%s", err.msg, csi_usage);
		return 2;
	}
	/* Blocked before gRPC starts any thread, so only sigwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return run(&o);
}
