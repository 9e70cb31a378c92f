/* controller_list.c - the Controller service's read-only RPCs:
 * ListVolumes, ControllerGetVolume, GetCapacity, ControllerGetCapabilities.
 */
#include <stdlib.h>
#include <string.h>

#include "csi/pool/name.h"
#include "csi/service.h"

#include "google/protobuf/wrappers.pb-c.h"

/* ControllerGetVolume and ListVolumes report a volume that lost its image. */
static void condition_of(const struct vp_volume *v, Csi__V1__VolumeCondition *c)
{
	csi__v1__volume_condition__init(c);
	c->abnormal = v->image_missing;
	c->message = v->image_missing ? "the image file is missing from the pool" : "";
}

/* One page of volumes as ListVolumesResponse entries. */
struct list_page {
	Csi__V1__ListVolumesResponse__Entry *entries, **ptrs;
	Csi__V1__ListVolumesResponse__VolumeStatus *status;
	Csi__V1__VolumeCondition *cond;
	struct csi_volume_msg *msgs;
};

static int page_alloc(struct list_page *pg, size_t n)
{
	size_t k = n ? n : 1;

	pg->entries = calloc(k, sizeof(*pg->entries));
	pg->ptrs = calloc(k, sizeof(*pg->ptrs));
	pg->status = calloc(k, sizeof(*pg->status));
	pg->cond = calloc(k, sizeof(*pg->cond));
	pg->msgs = calloc(k, sizeof(*pg->msgs));
	return pg->entries && pg->ptrs && pg->status && pg->cond && pg->msgs ? 0 : -1;
}

static void page_free(struct list_page *pg)
{
	free(pg->entries);
	free(pg->ptrs);
	free(pg->status);
	free(pg->cond);
	free(pg->msgs);
}

static void list_answer(const struct csi_ctx *ctx, const struct vp_volume *vols, size_t n,
			char *next, struct vp_grpc_reply *r)
{
	Csi__V1__ListVolumesResponse resp = CSI__V1__LIST_VOLUMES_RESPONSE__INIT;
	struct list_page pg;

	if (page_alloc(&pg, n)) {
		csi_fail(r, VP_GRPC_INTERNAL, "out of memory listing volumes");
		page_free(&pg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		csi__v1__list_volumes_response__entry__init(&pg.entries[i]);
		csi__v1__list_volumes_response__volume_status__init(&pg.status[i]);
		csi_volume_msg(&pg.msgs[i], &vols[i], ctx->node_id);
		condition_of(&vols[i], &pg.cond[i]);
		pg.status[i].volume_condition = &pg.cond[i];
		pg.entries[i].volume = &pg.msgs[i].vol;
		pg.entries[i].status = &pg.status[i];
		pg.ptrs[i] = &pg.entries[i];
	}
	resp.n_entries = n;
	resp.entries = pg.ptrs;
	resp.next_token = next;
	csi_pack(&resp, r);
	page_free(&pg);
}

static void list_volumes(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__ListVolumesRequest *req =
		csi_unpack(&csi__v1__list_volumes_request__descriptor, buf, len, r);
	struct csi_page pg;

	if (!req)
		return;
	if (!csi_page_read(ctx, VP_VOLUME_ID_PREFIX, NULL, req->max_entries, req->starting_token,
			   &pg, r))
		list_answer(ctx, pg.items, pg.n, pg.next, r);
	free(pg.items);
	csi_free(req);
}

static void get_volume(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__ControllerGetVolumeRequest *req =
		csi_unpack(&csi__v1__controller_get_volume_request__descriptor, buf, len, r);
	Csi__V1__ControllerGetVolumeResponse resp = CSI__V1__CONTROLLER_GET_VOLUME_RESPONSE__INIT;
	Csi__V1__ControllerGetVolumeResponse__VolumeStatus status =
		CSI__V1__CONTROLLER_GET_VOLUME_RESPONSE__VOLUME_STATUS__INIT;
	Csi__V1__VolumeCondition cond;
	struct csi_volume_msg m;
	struct vp_volume v;

	if (!req)
		return;
	csi_note(r, req->volume_id);
	if (!*req->volume_id) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume_id is required");
	} else if (!vp_pool_is_volume_id(req->volume_id) ||
		   vp_pool_find_id(ctx->pool, req->volume_id, &v)) {
		csi_fail(r, VP_GRPC_NOT_FOUND, "volume %s does not exist", r->volume);
	} else {
		csi_volume_msg(&m, &v, ctx->node_id);
		condition_of(&v, &cond);
		status.volume_condition = &cond;
		resp.volume = &m.vol;
		resp.status = &status;
		csi_pack(&resp, r);
	}
	csi_free(req);
}

/* Capabilities this driver cannot serve, or another node's topology, have
 * no capacity here. */
static bool capacity_usable(const struct csi_ctx *ctx, Csi__V1__GetCapacityRequest *req)
{
	Csi__V1__TopologyRequirement here = { .n_requisite = 1,
					      .requisite = &req->accessible_topology };
	char why[256];

	if (req->n_volume_capabilities &&
	    !csi_caps_supported(req->volume_capabilities, req->n_volume_capabilities, why,
				sizeof(why)))
		return false;
	return !req->accessible_topology || csi_topology_ok(&here, ctx->node_id);
}

static void get_capacity(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__GetCapacityRequest *req =
		csi_unpack(&csi__v1__get_capacity_request__descriptor, buf, len, r);
	Csi__V1__GetCapacityResponse resp = CSI__V1__GET_CAPACITY_RESPONSE__INIT;
	Google__Protobuf__Int64Value max = GOOGLE__PROTOBUF__INT64_VALUE__INIT;
	Google__Protobuf__Int64Value min = GOOGLE__PROTOBUF__INT64_VALUE__INIT;
	struct vp_error err = { 0 };
	struct vp_volume params;
	uint64_t free_bytes;

	if (!req)
		return;
	if (!csi_parse_params((void *const *)req->parameters, req->n_parameters, &params, r->msg,
			      sizeof(r->msg))) {
		r->code = VP_GRPC_INVALID_ARGUMENT;
	} else if (vp_pool_free_bytes(ctx->pool, &free_bytes, &err)) {
		csi_fail(r, VP_GRPC_INTERNAL, "%s", err.msg);
	} else {
		resp.available_capacity = capacity_usable(ctx, req) ? (int64_t)free_bytes : 0;
		max.value = (int64_t)VP_POOL_MAX_SIZE;
		min.value = (int64_t)CSI_MIB;
		resp.maximum_volume_size = &max;
		resp.minimum_volume_size = &min;
		csi_pack(&resp, r);
	}
	csi_free(req);
}

static const Csi__V1__ControllerServiceCapability__RPC__Type controller_caps[] = {
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__VOLUME_CONDITION,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__SINGLE_NODE_MULTI_WRITER,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_SNAPSHOT,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_SNAPSHOTS,
	CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CLONE_VOLUME,
};
#define N_CAPS (sizeof(controller_caps) / sizeof(controller_caps[0]))

static void get_capabilities(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	Csi__V1__ControllerGetCapabilitiesRequest *req =
		csi_unpack(&csi__v1__controller_get_capabilities_request__descriptor, buf, len, r);
	Csi__V1__ControllerGetCapabilitiesResponse resp =
		CSI__V1__CONTROLLER_GET_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__ControllerServiceCapability caps[N_CAPS], *ptrs[N_CAPS];
	Csi__V1__ControllerServiceCapability__RPC rpcs[N_CAPS];

	(void)vctx;
	if (!req)
		return;
	for (size_t i = 0; i < N_CAPS; i++) {
		csi__v1__controller_service_capability__init(&caps[i]);
		csi__v1__controller_service_capability__rpc__init(&rpcs[i]);
		rpcs[i].type = controller_caps[i];
		caps[i].type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
		caps[i].rpc = &rpcs[i];
		ptrs[i] = &caps[i];
	}
	resp.n_capabilities = N_CAPS;
	resp.capabilities = ptrs;
	csi_pack(&resp, r);
	csi_free(req);
}

const struct vp_grpc_method csi_controller_list_methods[] = {
	{ "/csi.v1.Controller/ListVolumes", list_volumes },
	{ "/csi.v1.Controller/ControllerGetVolume", get_volume },
	{ "/csi.v1.Controller/GetCapacity", get_capacity },
	{ "/csi.v1.Controller/ControllerGetCapabilities", get_capabilities },
};
const size_t csi_controller_list_n_methods =
	sizeof(csi_controller_list_methods) / sizeof(csi_controller_list_methods[0]);
