/* node.c - the CSI Node service: who this node is and what its node side
 * does.  Volumes are staged and published by node_volume.c, sized and
 * checked by node_size.c.
 */
#include "csi/service.h"

static void node_get_info(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__NodeGetInfoRequest *req =
		csi_unpack(&csi__v1__node_get_info_request__descriptor, buf, len, r);
	Csi__V1__NodeGetInfoResponse resp = CSI__V1__NODE_GET_INFO_RESPONSE__INIT;
	Csi__V1__Topology topo = CSI__V1__TOPOLOGY__INIT;
	Csi__V1__Topology__SegmentsEntry seg = CSI__V1__TOPOLOGY__SEGMENTS_ENTRY__INIT, *segs[1];

	if (!req)
		return;
	seg.key = (char *)CSI_TOPOLOGY_KEY;
	seg.value = (char *)ctx->node_id;
	segs[0] = &seg;
	topo.n_segments = 1;
	topo.segments = segs;
	resp.node_id = (char *)ctx->node_id;
	resp.max_volumes_per_node = CSI_NODE_MAX_VOLUMES;
	resp.accessible_topology = &topo;
	csi_pack(&resp, r);
	csi_free(req);
}

static const Csi__V1__NodeServiceCapability__RPC__Type node_caps[] = {
	CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
	CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
	CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
	CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
	CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER,
};
#define N_NODE_CAPS (sizeof(node_caps) / sizeof(node_caps[0]))

static void node_get_capabilities(void *vctx, const uint8_t *buf, size_t len,
				  struct vp_grpc_reply *r)
{
	Csi__V1__NodeGetCapabilitiesRequest *req =
		csi_unpack(&csi__v1__node_get_capabilities_request__descriptor, buf, len, r);
	Csi__V1__NodeGetCapabilitiesResponse resp = CSI__V1__NODE_GET_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__NodeServiceCapability caps[N_NODE_CAPS], *capp[N_NODE_CAPS];
	Csi__V1__NodeServiceCapability__RPC rpcs[N_NODE_CAPS];

	(void)vctx;
	if (!req)
		return;
	for (size_t i = 0; i < N_NODE_CAPS; i++) {
		csi__v1__node_service_capability__init(&caps[i]);
		csi__v1__node_service_capability__rpc__init(&rpcs[i]);
		rpcs[i].type = node_caps[i];
		caps[i].type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
		caps[i].rpc = &rpcs[i];
		capp[i] = &caps[i];
	}
	resp.n_capabilities = N_NODE_CAPS;
	resp.capabilities = capp;
	csi_pack(&resp, r);
	csi_free(req);
}

const struct vp_grpc_method csi_node_methods[] = {
	{ "/csi.v1.Node/NodeGetInfo", node_get_info },
	{ "/csi.v1.Node/NodeGetCapabilities", node_get_capabilities },
};
const size_t csi_node_n_methods = sizeof(csi_node_methods) / sizeof(csi_node_methods[0]);
