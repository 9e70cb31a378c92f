/* identity.c - the CSI Identity service: who the driver is, what it can
 * do, and whether it is ready.
 */
#include "csi/service.h"
#include "csi/vblkd.h"

#include "google/protobuf/wrappers.pb-c.h"

static void get_plugin_info(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	Csi__V1__GetPluginInfoRequest *req =
		csi_unpack(&csi__v1__get_plugin_info_request__descriptor, buf, len, r);
	Csi__V1__GetPluginInfoResponse resp = CSI__V1__GET_PLUGIN_INFO_RESPONSE__INIT;

	(void)vctx;
	if (!req)
		return;
	resp.name = CSI_DRIVER_NAME;
	resp.vendor_version = VP_VERSION;
	csi_pack(&resp, r);
	csi_free(req);
}

static void get_plugin_capabilities(void *vctx, const uint8_t *buf, size_t len,
				    struct vp_grpc_reply *r)
{
	Csi__V1__GetPluginCapabilitiesRequest *req =
		csi_unpack(&csi__v1__get_plugin_capabilities_request__descriptor, buf, len, r);
	Csi__V1__GetPluginCapabilitiesResponse resp = CSI__V1__GET_PLUGIN_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__PluginCapability caps[3], *capp[3];
	Csi__V1__PluginCapability__Service svc[2];
	Csi__V1__PluginCapability__VolumeExpansion exp;

	(void)vctx;
	if (!req)
		return;
	for (int i = 0; i < 3; i++) {
		csi__v1__plugin_capability__init(&caps[i]);
		capp[i] = &caps[i];
	}
	for (int i = 0; i < 2; i++) {
		csi__v1__plugin_capability__service__init(&svc[i]);
		caps[i].type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
		caps[i].service = &svc[i];
	}
	svc[0].type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE;
	svc[1].type = CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS;
	csi__v1__plugin_capability__volume_expansion__init(&exp);
	exp.type = CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
	caps[2].type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
	caps[2].volume_expansion = &exp;
	resp.n_capabilities = 3;
	resp.capabilities = capp;
	csi_pack(&resp, r);
	csi_free(req);
}

/* Ready when the pool directory is usable and vblkd, where one is
 * configured, answers on its control socket; otherwise FAILED_PRECONDITION
 * (the spec's code for an unhealthy plugin). */
static void probe(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__ProbeRequest *req = csi_unpack(&csi__v1__probe_request__descriptor, buf, len, r);
	Csi__V1__ProbeResponse resp = CSI__V1__PROBE_RESPONSE__INIT;
	Google__Protobuf__BoolValue ready = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
	struct vp_error err = { 0 };

	if (!req)
		return;
	if (vp_pool_check_usable(ctx->pool, &err) ||
	    (ctx->vblkd_control && csi_vblkd_ping(ctx->vblkd_control, &err))) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "not ready: %s", err.msg);
	} else {
		ready.value = true;
		resp.ready = &ready;
		csi_pack(&resp, r);
	}
	csi_free(req);
}

const struct vp_grpc_method csi_identity_methods[] = {
	{ "/csi.v1.Identity/GetPluginInfo", get_plugin_info },
	{ "/csi.v1.Identity/GetPluginCapabilities", get_plugin_capabilities },
	{ "/csi.v1.Identity/Probe", probe },
};
const size_t csi_identity_n_methods = sizeof(csi_identity_methods) / sizeof(csi_identity_methods[0]);
