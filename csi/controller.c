/* controller.c - the CSI Controller service's volume lifecycle:
 * CreateVolume, DeleteVolume, ControllerExpandVolume and
 * ValidateVolumeCapabilities (listing and capabilities: controller_list.c).
 *
 * Every mutating RPC holds its name's or volume's key (pool->keys) for its
 * whole run, so two RPCs on the same volume are serialized, never both
 * applied; RPCs on different volumes run in parallel.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "csi/node/record.h"
#include "csi/pool/name.h"
#include "csi/service.h"
#include "csi/vblkd.h"

static void answer_volume(const struct csi_ctx *ctx, const struct vp_volume *v,
			  struct vp_grpc_reply *r)
{
	Csi__V1__CreateVolumeResponse resp = CSI__V1__CREATE_VOLUME_RESPONSE__INIT;
	struct csi_volume_msg m;

	csi_volume_msg(&m, v, ctx->node_id);
	resp.volume = &m.vol;
	csi_pack(&resp, r);
}

/* The snapshot or volume a new volume is made from, which must exist and
 * have its image: VP_GRPC_OK with *src filled (want->source stays "" when
 * there is no source). */
static int find_source(struct csi_ctx *ctx, const char *id, bool snapshot, struct vp_volume *src,
		       struct vp_grpc_reply *r)
{
	if (!(snapshot ? vp_pool_is_snapshot_id(id) : vp_pool_is_volume_id(id)) ||
	    vp_pool_find_id(ctx->pool, id, src) || src->image_missing) {
		csi_fail(r, VP_GRPC_NOT_FOUND, "volume_content_source: %s %s does not exist",
			 snapshot ? "snapshot" : "volume", vp_pool_is_id(id) ? id : "(not an ID)");
		return r->code;
	}
	return VP_GRPC_OK;
}

static int source_request(struct csi_ctx *ctx, const Csi__V1__VolumeContentSource *cs,
			  struct vp_volume *want, struct vp_volume *src, struct vp_grpc_reply *r)
{
	const char *id;
	bool snapshot;

	if (!cs)
		return VP_GRPC_OK;
	if (cs->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT)
		id = cs->snapshot->snapshot_id, snapshot = true;
	else if (cs->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME)
		id = cs->volume->volume_id, snapshot = false;
	else {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume_content_source without a snapshot or volume");
		return r->code;
	}
	if (find_source(ctx, id, snapshot, src, r))
		return r->code;
	strcpy(want->source, src->id);
	return VP_GRPC_OK;
}

/* What the request asks for, checked: VP_GRPC_OK with *want filled. */
static int create_request(struct csi_ctx *ctx, const Csi__V1__CreateVolumeRequest *req,
			  struct vp_volume *want, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	struct vp_volume src;
	int code;

	*want = (struct vp_volume){ 0 };
	if (vp_pool_check_name(req->name, &err)) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "name: %s", err.msg);
		return r->code;
	}
	strcpy(want->name, req->name);
	if (!csi_caps_supported(req->volume_capabilities, req->n_volume_capabilities, r->msg,
				sizeof(r->msg)) ||
	    !csi_parse_params((void *const *)req->parameters, req->n_parameters, want, r->msg,
			      sizeof(r->msg)) ||
	    !csi_caps_fit_volume(req->volume_capabilities, req->n_volume_capabilities, want,
				 r->msg, sizeof(r->msg)))
		return r->code = VP_GRPC_INVALID_ARGUMENT;
	code = source_request(ctx, req->volume_content_source, want, &src, r);
	if (code)
		return code;
	code = csi_capacity(req->capacity_range, *want->source ? src.size : CSI_DEFAULT_SIZE,
			    &want->size, r->msg, sizeof(r->msg));
	if (code)
		return r->code = code;
	if (*want->source && want->size < src.size) {
		csi_fail(r, VP_GRPC_OUT_OF_RANGE, "capacity_range: the source %s has %llu bytes; a "
			 "volume made from it cannot be smaller", src.id, (unsigned long long)src.size);
		return r->code;
	}
	if (!csi_topology_ok(req->accessibility_requirements, ctx->node_id)) {
		csi_fail(r, VP_GRPC_RESOURCE_EXHAUSTED, "accessibility_requirements: no requisite "
			 "topology is this node (%s=%s)", CSI_TOPOLOGY_KEY, ctx->node_id);
		return r->code;
	}
	return VP_GRPC_OK;
}

/* CreateVolume for a name that exists: the same volume when compatible. */
static void create_again(const struct csi_ctx *ctx, const Csi__V1__CreateVolumeRequest *req,
			 const struct vp_volume *have, const struct vp_volume *want,
			 struct vp_grpc_reply *r)
{
	if (have->image_missing) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s (%s) has lost its image file; "
			 "delete it to create it again", req->name, have->id);
		return;
	}
	if (!csi_capacity_fits(req->capacity_range, have->size) ||
	    strcmp(have->fs_type, want->fs_type) || have->vm_disk != want->vm_disk ||
	    strcmp(have->source, want->source)) {
		csi_fail(r, VP_GRPC_ALREADY_EXISTS, "volume %s already exists as %s with "
			 "%llu bytes, fsType \"%s\", vmDisk %s, source \"%s\"", req->name, have->id,
			 (unsigned long long)have->size, have->fs_type, have->vm_disk ? "true" : "false",
			 have->source);
		return;
	}
	answer_volume(ctx, have, r);
}

/* Create want, holding its source's key (if any) so the source cannot be
 * deleted or grown while it is copied. */
static void create_new(struct csi_ctx *ctx, struct vp_volume *want, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	char src_key[CSI_KEY_SIZE];
	struct vp_volume src;
	bool reflinked;

	csi_key(src_key, "id", want->source);
	if (*want->source) {
		vp_keylock_acquire(&ctx->pool->keys, src_key);
		if (find_source(ctx, want->source, vp_pool_is_snapshot_id(want->source), &src, r))
			goto out;
	}
	if (vp_pool_create(ctx->pool, VP_VOLUME_ID_PREFIX, want, &reflinked, &err))
		csi_fail(r, err.errnum == ENOSPC ? VP_GRPC_RESOURCE_EXHAUSTED : VP_GRPC_INTERNAL,
			 "%s", err.msg);
	else
		answer_volume(ctx, want, r);
out:
	if (*want->source)
		vp_keylock_release(&ctx->pool->keys, src_key);
}

static void create_volume(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__CreateVolumeRequest *req =
		csi_unpack(&csi__v1__create_volume_request__descriptor, buf, len, r);
	struct vp_volume want, have;
	char key[CSI_KEY_SIZE];

	if (!req)
		return;
	csi_note(r, req->name);
	if (create_request(ctx, req, &want, r)) {
		csi_free(req);
		return;
	}
	csi_key(key, "name", req->name);
	vp_keylock_acquire(&ctx->pool->keys, key);
	if (!vp_pool_find_name(ctx->pool, VP_VOLUME_ID_PREFIX, req->name, &have))
		create_again(ctx, req, &have, &want, r);
	else
		create_new(ctx, &want, r);
	if (r->code == VP_GRPC_OK)
		csi_note(r, want.id[0] ? want.id : have.id);
	vp_keylock_release(&ctx->pool->keys, key);
	csi_free(req);
}

/* A volume staged on this node (it has a node record) or that vblkd
 * serves (as the export named by its ID) is in use and stays:
 * FAILED_PRECONDITION.  When vblkd cannot be asked, nothing is deleted
 * (UNAVAILABLE). */
static bool delete_allowed(struct csi_ctx *ctx, const char *id, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };
	char node_dir[PATH_MAX];
	bool serves;

	csi_node_dir(ctx, node_dir);
	if (vp_node_record_exists(node_dir, id)) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is in use: staged on node %s",
			 id, ctx->node_id);
		return false;
	}
	if (!ctx->vblkd_control)
		return true;
	if (csi_vblkd_serves(ctx->vblkd_control, id, &serves, &err)) {
		csi_fail(r, VP_GRPC_UNAVAILABLE, "cannot ask vblkd whether volume %s is in use: %s",
			 id, err.msg);
		return false;
	}
	if (serves)
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "volume %s is in use: vblkd serves it", id);
	return !serves;
}

static void delete_volume(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__DeleteVolumeRequest *req =
		csi_unpack(&csi__v1__delete_volume_request__descriptor, buf, len, r);
	Csi__V1__DeleteVolumeResponse resp = CSI__V1__DELETE_VOLUME_RESPONSE__INIT;
	struct vp_error err = { 0 };
	struct vp_volume v;
	char key[CSI_KEY_SIZE], id_key[CSI_KEY_SIZE];

	if (!req)
		return;
	csi_note(r, req->volume_id);
	if (!*req->volume_id) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume_id is required");
		csi_free(req);
		return;
	}
	/* An ID that is not one of ours names no volume: nothing to delete. */
	if (vp_pool_is_volume_id(req->volume_id) && !vp_pool_find_id(ctx->pool, req->volume_id, &v)) {
		/* Its name's key (always before an ID's key) so a CreateVolume of
		 * the same name waits, and its ID's key for ControllerExpandVolume. */
		csi_key(key, "name", v.name);
		csi_key(id_key, "id", v.id);
		vp_keylock_acquire(&ctx->pool->keys, key);
		vp_keylock_acquire(&ctx->pool->keys, id_key);
		if (delete_allowed(ctx, v.id, r) && vp_pool_delete(ctx->pool, req->volume_id, &err))
			csi_fail(r, VP_GRPC_INTERNAL, "%s", err.msg);
		vp_keylock_release(&ctx->pool->keys, id_key);
		vp_keylock_release(&ctx->pool->keys, key);
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);
	csi_free(req);
}

static bool needs_node_expansion(const Csi__V1__ControllerExpandVolumeRequest *req,
				 const struct vp_volume *v)
{
	if (req->volume_capability)
		return req->volume_capability->access_type_case ==
		       CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT;
	return v->fs_type[0] != '\0';
}

/* Grow the volume and tell vblkd, which serves it as the export named by
 * its ID (a volume vblkd does not serve is only grown). */
static void expand(struct csi_ctx *ctx, const Csi__V1__ControllerExpandVolumeRequest *req,
		   uint64_t size, struct vp_grpc_reply *r)
{
	Csi__V1__ControllerExpandVolumeResponse resp = CSI__V1__CONTROLLER_EXPAND_VOLUME_RESPONSE__INIT;
	struct vp_error err = { 0 };
	struct vp_volume v;
	int ret = vp_pool_grow(ctx->pool, req->volume_id, size, &v, &err);

	if (ret) {
		csi_fail(r, ret == -ENOENT ? VP_GRPC_NOT_FOUND : VP_GRPC_INTERNAL, "%s", err.msg);
		return;
	}
	if (ctx->vblkd_control) {
		ret = csi_vblkd_resized(ctx->vblkd_control, v.id, v.size, &err);
		if (ret && ret != -ENOENT) {
			csi_fail(r, VP_GRPC_UNAVAILABLE, "volume %s grown; telling vblkd failed: %s",
				 v.id, err.msg);
			return;
		}
	}
	resp.capacity_bytes = (int64_t)v.size;
	resp.node_expansion_required = needs_node_expansion(req, &v);
	csi_pack(&resp, r);
}

static void expand_volume(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__ControllerExpandVolumeRequest *req =
		csi_unpack(&csi__v1__controller_expand_volume_request__descriptor, buf, len, r);
	char key[CSI_KEY_SIZE];
	uint64_t size;
	int code;

	if (!req)
		return;
	csi_note(r, req->volume_id);
	if (!*req->volume_id || !req->capacity_range) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume_id and capacity_range are required");
	} else if (!vp_pool_is_volume_id(req->volume_id)) {
		csi_fail(r, VP_GRPC_NOT_FOUND, "volume %s does not exist", r->volume);
	} else if ((code = csi_capacity(req->capacity_range, 0, &size, r->msg, sizeof(r->msg)))) {
		r->code = code;
	} else {
		csi_key(key, "id", req->volume_id);
		vp_keylock_acquire(&ctx->pool->keys, key);
		expand(ctx, req, size, r);
		vp_keylock_release(&ctx->pool->keys, key);
	}
	csi_free(req);
}

/* Confirm what the request asked: its entries are reused, since every
 * generated map entry has the same {key, value} layout. */
static void confirm(Csi__V1__ValidateVolumeCapabilitiesRequest *req,
		    Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed *ok)
{
	ok->n_volume_capabilities = req->n_volume_capabilities;
	ok->volume_capabilities = req->volume_capabilities;
	ok->n_volume_context = req->n_volume_context;
	ok->volume_context = (Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed__VolumeContextEntry **)
		req->volume_context;
	ok->n_parameters = req->n_parameters;
	ok->parameters = (Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed__ParametersEntry **)
		req->parameters;
}

static void validate(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__ValidateVolumeCapabilitiesRequest *req =
		csi_unpack(&csi__v1__validate_volume_capabilities_request__descriptor, buf, len, r);
	Csi__V1__ValidateVolumeCapabilitiesResponse resp =
		CSI__V1__VALIDATE_VOLUME_CAPABILITIES_RESPONSE__INIT;
	Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed ok =
		CSI__V1__VALIDATE_VOLUME_CAPABILITIES_RESPONSE__CONFIRMED__INIT;
	struct vp_volume v, params;
	char why[256];

	if (!req)
		return;
	csi_note(r, req->volume_id);
	if (!*req->volume_id || !req->n_volume_capabilities) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "volume_id and volume_capabilities are required");
	} else if (!vp_pool_is_volume_id(req->volume_id) ||
		   vp_pool_find_id(ctx->pool, req->volume_id, &v)) {
		csi_fail(r, VP_GRPC_NOT_FOUND, "volume %s does not exist", r->volume);
	} else {
		/* Unsupported capabilities or parameters are an answer, not an error. */
		if (!csi_caps_supported(req->volume_capabilities, req->n_volume_capabilities, why,
					sizeof(why)) ||
		    !csi_parse_params((void *const *)req->parameters, req->n_parameters, &params, why,
				      sizeof(why)) ||
		    !csi_caps_fit_volume(req->volume_capabilities, req->n_volume_capabilities, &v,
					 why, sizeof(why))) {
			resp.message = why;
		} else {
			confirm(req, &ok);
			resp.confirmed = &ok;
		}
		csi_pack(&resp, r);
	}
	csi_free(req);
}

const struct vp_grpc_method csi_controller_methods[] = {
	{ "/csi.v1.Controller/CreateVolume", create_volume },
	{ "/csi.v1.Controller/DeleteVolume", delete_volume },
	{ "/csi.v1.Controller/ControllerExpandVolume", expand_volume },
	{ "/csi.v1.Controller/ValidateVolumeCapabilities", validate },
};
const size_t csi_controller_n_methods =
	sizeof(csi_controller_methods) / sizeof(csi_controller_methods[0]);
