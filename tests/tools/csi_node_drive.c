/* csi_node_drive.c - one call of vblk-csi's Controller or Node service,
 * run in-process through the very handlers the gRPC server dispatches to
 * (csi/service.h), for tests where no CSI client can run (a QEMU guest).
 * Each run is a fresh driver process: the node records and the devices
 * they name are all that carries over, as across a vblk-csi restart.
 *
 *   csi_node_drive [--vblkd-control PATH] [--vblkd-nbd PATH] POOL KUBELET_DIR CMD ARGS...
 *     create NAME MIB            prints the new volume's ID
 *     stage ID STAGING           the mount access type, ext4
 *     publish ID STAGING TARGET
 *     unpublish ID TARGET
 *     unstage ID STAGING
 *     delete ID
 *     expand ID STAGING          NodeExpandVolume of a staged volume
 *     stats ID STAGING           NodeGetVolumeStats: prints "abnormal=0|1 MESSAGE"
 *     reconcile                  the start-up repair of node records
 *
 * Exit status: 0 OK, 1 the call failed ("code N: message" on stderr), 2 usage.
 * The driver's log lines go to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi/service.h"

#define MODE_WRITER CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER

static Csi__V1__VolumeCapability cap = CSI__V1__VOLUME_CAPABILITY__INIT;
static Csi__V1__VolumeCapability__MountVolume mount_vol =
	CSI__V1__VOLUME_CAPABILITY__MOUNT_VOLUME__INIT;
static Csi__V1__VolumeCapability__AccessMode mode = CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__INIT;

static void report(void *ctx, const char *event, const char *file, const char *detail)
{
	(void)ctx;
	fprintf(stderr, "reconcile: finding=%s file=%s detail=\"%s\"\n", event, file, detail);
}

static vp_grpc_handler find(const char *path)
{
	const struct vp_grpc_method *tables[] = { csi_controller_methods, csi_node_volume_methods,
						  csi_node_size_methods };
	const size_t sizes[] = { csi_controller_n_methods, csi_node_volume_n_methods,
				 csi_node_size_n_methods };

	for (size_t t = 0; t < 3; t++)
		for (size_t i = 0; i < sizes[t]; i++)
			if (!strcmp(tables[t][i].path, path))
				return tables[t][i].handler;
	return NULL;
}

/* Pack m, call method path; the reply's body (the response) into *r. */
static int call(struct csi_ctx *ctx, const char *path, const ProtobufCMessage *m,
		struct vp_grpc_reply *r)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	vp_grpc_handler h = find(path);

	if (!buf || !h) {
		free(buf);
		fprintf(stderr, "csi_node_drive: %s\n", h ? "out of memory" : "no such method");
		return 1;
	}
	protobuf_c_message_pack(m, buf);
	h(ctx, buf, len, r);
	free(buf);
	if (r->code == VP_GRPC_OK)
		return 0;
	fprintf(stderr, "csi_node_drive: %s: code %d: %s\n", path, r->code, r->msg);
	return 1;
}

static int create(struct csi_ctx *ctx, const char *name, const char *mib)
{
	Csi__V1__CreateVolumeRequest req = CSI__V1__CREATE_VOLUME_REQUEST__INIT;
	Csi__V1__CapacityRange cr = CSI__V1__CAPACITY_RANGE__INIT;
	Csi__V1__VolumeCapability *caps[] = { &cap };
	Csi__V1__CreateVolumeResponse *resp;
	struct vp_grpc_reply r = { 0 };
	int ret;

	req.name = (char *)name;
	cr.required_bytes = atoll(mib) * (int64_t)CSI_MIB;
	req.capacity_range = &cr;
	req.volume_capabilities = caps;
	req.n_volume_capabilities = 1;
	ret = call(ctx, "/csi.v1.Controller/CreateVolume", &req.base, &r);
	if (!ret) {
		resp = csi__v1__create_volume_response__unpack(NULL, r.len, r.body);
		ret = !resp || !resp->volume;
		if (!ret)
			printf("%s\n", resp->volume->volume_id);
		csi__v1__create_volume_response__free_unpacked(resp, NULL);
	}
	free(r.body);
	return ret;
}

/* NodeGetVolumeStats of volume id at path: prints its condition. */
static int stats(struct csi_ctx *ctx, char *id, char *path)
{
	Csi__V1__NodeGetVolumeStatsRequest req = CSI__V1__NODE_GET_VOLUME_STATS_REQUEST__INIT;
	Csi__V1__NodeGetVolumeStatsResponse *resp;
	struct vp_grpc_reply r = { 0 };
	int ret;

	req.volume_id = id;
	req.volume_path = path;
	ret = call(ctx, "/csi.v1.Node/NodeGetVolumeStats", &req.base, &r);
	if (!ret) {
		resp = csi__v1__node_get_volume_stats_response__unpack(NULL, r.len, r.body);
		ret = !resp || !resp->volume_condition;
		if (!ret)
			printf("abnormal=%d %s\n", resp->volume_condition->abnormal,
			       resp->volume_condition->message);
		csi__v1__node_get_volume_stats_response__free_unpacked(resp, NULL);
	}
	free(r.body);
	return ret;
}

static int node_call(struct csi_ctx *ctx, const char *cmd, char **a, int n)
{
	Csi__V1__NodeStageVolumeRequest stage = CSI__V1__NODE_STAGE_VOLUME_REQUEST__INIT;
	Csi__V1__NodeUnstageVolumeRequest unstage = CSI__V1__NODE_UNSTAGE_VOLUME_REQUEST__INIT;
	Csi__V1__NodePublishVolumeRequest pub = CSI__V1__NODE_PUBLISH_VOLUME_REQUEST__INIT;
	Csi__V1__NodeUnpublishVolumeRequest unpub = CSI__V1__NODE_UNPUBLISH_VOLUME_REQUEST__INIT;
	Csi__V1__DeleteVolumeRequest del = CSI__V1__DELETE_VOLUME_REQUEST__INIT;
	Csi__V1__NodeExpandVolumeRequest expand = CSI__V1__NODE_EXPAND_VOLUME_REQUEST__INIT;
	struct vp_grpc_reply r = { 0 };
	int ret = 2;

	if (!strcmp(cmd, "stage") && n == 2) {
		stage.volume_id = a[0];
		stage.staging_target_path = a[1];
		stage.volume_capability = &cap;
		ret = call(ctx, "/csi.v1.Node/NodeStageVolume", &stage.base, &r);
	} else if (!strcmp(cmd, "publish") && n == 3) {
		pub.volume_id = a[0];
		pub.staging_target_path = a[1];
		pub.target_path = a[2];
		pub.volume_capability = &cap;
		ret = call(ctx, "/csi.v1.Node/NodePublishVolume", &pub.base, &r);
	} else if (!strcmp(cmd, "unpublish") && n == 2) {
		unpub.volume_id = a[0];
		unpub.target_path = a[1];
		ret = call(ctx, "/csi.v1.Node/NodeUnpublishVolume", &unpub.base, &r);
	} else if (!strcmp(cmd, "unstage") && n == 2) {
		unstage.volume_id = a[0];
		unstage.staging_target_path = a[1];
		ret = call(ctx, "/csi.v1.Node/NodeUnstageVolume", &unstage.base, &r);
	} else if (!strcmp(cmd, "delete") && n == 1) {
		del.volume_id = a[0];
		ret = call(ctx, "/csi.v1.Controller/DeleteVolume", &del.base, &r);
	} else if (!strcmp(cmd, "expand") && n == 2) {
		expand.volume_id = a[0];
		expand.volume_path = a[1];
		ret = call(ctx, "/csi.v1.Node/NodeExpandVolume", &expand.base, &r);
	} else if (!strcmp(cmd, "stats") && n == 2) {
		ret = stats(ctx, a[0], a[1]);
	}
	free(r.body);
	return ret;
}

int main(int argc, char **argv)
{
	struct csi_ctx ctx = { .node_id = "vpt-node" };
	struct vp_error err = { 0 };
	int i = 1, ret;

	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--vblkd-control"))
			ctx.vblkd_control = argv[i + 1];
		else if (!strcmp(argv[i], "--vblkd-nbd"))
			ctx.vblkd_nbd = argv[i + 1];
		else
			break;
	}
	if (argc - i < 3) {
		fprintf(stderr, "usage: csi_node_drive [--vblkd-control PATH] [--vblkd-nbd PATH] "
				"POOL KUBELET_DIR CMD ARGS... (see the source)\n");
		return 2;
	}
	ctx.kubelet_dir = argv[i + 1];
	mount_vol.fs_type = "ext4";
	mode.mode = MODE_WRITER;
	cap.access_type_case = CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	cap.mount = &mount_vol;
	cap.access_mode = &mode;
	if (vp_pool_open(argv[i], report, NULL, &ctx.pool, &err)) {
		fprintf(stderr, "csi_node_drive: %s\n", err.msg);
		return 1;
	}
	if (!strcmp(argv[i + 2], "reconcile")) {
		csi_node_reconcile(&ctx, report, NULL);
		ret = 0;
	} else if (!strcmp(argv[i + 2], "create") && argc - i == 5) {
		ret = create(&ctx, argv[i + 3], argv[i + 4]);
	} else {
		ret = node_call(&ctx, argv[i + 2], argv + i + 3, argc - i - 3);
	}
	vp_pool_close(ctx.pool);
	if (ret == 2)
		fprintf(stderr, "csi_node_drive: unknown command or wrong arguments\n");
	return ret;
}
