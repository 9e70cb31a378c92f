/* snapshot.c - the Controller service's snapshots: CreateSnapshot,
 * DeleteSnapshot, ListSnapshots.  A snapshot is an image of its own in the
 * pool, a reflink (or sparse copy) of its volume made while the volume's
 * key is held, so it is complete (ready_to_use) when CreateSnapshot returns
 * and independent of its volume afterwards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csi/pool/name.h"
#include "csi/service.h"

static void answer_snapshot(const struct vp_volume *s, struct vp_grpc_reply *r)
{
	Csi__V1__CreateSnapshotResponse resp = CSI__V1__CREATE_SNAPSHOT_RESPONSE__INIT;
	struct csi_snapshot_msg m;

	csi_snapshot_msg(&m, s);
	resp.snapshot = &m.snap;
	csi_pack(&resp, r);
	csi_note(r, s->id);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Copy the source volume, holding its key. */
static void snapshot_new(struct csi_ctx *ctx, const char *name, const char *source,
			 struct vp_grpc_reply *r)
{
	struct vp_volume src, snap = { 0 };
	struct vp_error err = { 0 };
	char key[CSI_KEY_SIZE];
	bool reflinked;

	csi_key(key, "id", source);
	vp_keylock_acquire(&ctx->pool->keys, key);
	if (!vp_pool_is_volume_id(source) || vp_pool_find_id(ctx->pool, source, &src)) {
		csi_fail(r, VP_GRPC_NOT_FOUND, "source volume %s does not exist",
			 vp_pool_is_id(source) ? source : "(not an ID)");
	} else if (src.image_missing) {
		csi_fail(r, VP_GRPC_FAILED_PRECONDITION, "source volume %s has lost its image", source);
	} else {
		strcpy(snap.name, name);
		strcpy(snap.source, src.id);
		snap.size = src.size;
		snap.created_ns = now_ns();
		if (vp_pool_create(ctx->pool, VP_SNAPSHOT_ID_PREFIX, &snap, &reflinked, &err))
			csi_fail(r, err.errnum == ENOSPC ? VP_GRPC_RESOURCE_EXHAUSTED : VP_GRPC_INTERNAL,
				 "%s", err.msg);
		else
			answer_snapshot(&snap, r);
	}
	vp_keylock_release(&ctx->pool->keys, key);
}

static int snapshot_request(const Csi__V1__CreateSnapshotRequest *req, struct vp_grpc_reply *r)
{
	struct vp_error err = { 0 };

	if (vp_pool_check_name(req->name, &err))
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "name: %s", err.msg);
	else if (!*req->source_volume_id)
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "source_volume_id is required");
	else if (!csi_only_k8s_params((void *const *)req->parameters, req->n_parameters, r->msg,
				      sizeof(r->msg)))
		r->code = VP_GRPC_INVALID_ARGUMENT;
	return r->code;
}

static void create_snapshot(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__CreateSnapshotRequest *req =
		csi_unpack(&csi__v1__create_snapshot_request__descriptor, buf, len, r);
	struct vp_volume have;
	char key[CSI_KEY_SIZE];

	if (!req)
		return;
	csi_note(r, req->name);
	if (snapshot_request(req, r)) {
		csi_free(req);
		return;
	}
	csi_key(key, "snapname", req->name);
	vp_keylock_acquire(&ctx->pool->keys, key);
	if (vp_pool_find_name(ctx->pool, VP_SNAPSHOT_ID_PREFIX, req->name, &have))
		snapshot_new(ctx, req->name, req->source_volume_id, r);
	else if (strcmp(have.source, req->source_volume_id))
		csi_fail(r, VP_GRPC_ALREADY_EXISTS, "snapshot %s already exists as %s of volume %s",
			 req->name, have.id, have.source);
	else
		answer_snapshot(&have, r);
	vp_keylock_release(&ctx->pool->keys, key);
	csi_free(req);
}

static void delete_snapshot(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__DeleteSnapshotRequest *req =
		csi_unpack(&csi__v1__delete_snapshot_request__descriptor, buf, len, r);
	Csi__V1__DeleteSnapshotResponse resp = CSI__V1__DELETE_SNAPSHOT_RESPONSE__INIT;
	char key[CSI_KEY_SIZE], id_key[CSI_KEY_SIZE];
	struct vp_error err = { 0 };
	struct vp_volume s;

	if (!req)
		return;
	csi_note(r, req->snapshot_id);
	if (!*req->snapshot_id) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "snapshot_id is required");
	} else if (vp_pool_is_snapshot_id(req->snapshot_id) &&
		   !vp_pool_find_id(ctx->pool, req->snapshot_id, &s)) {
		/* Its name's key, then its ID's key: a restore from it waits. */
		csi_key(key, "snapname", s.name);
		csi_key(id_key, "id", s.id);
		vp_keylock_acquire(&ctx->pool->keys, key);
		vp_keylock_acquire(&ctx->pool->keys, id_key);
		if (vp_pool_delete(ctx->pool, s.id, &err))
			csi_fail(r, VP_GRPC_INTERNAL, "%s", err.msg);
		vp_keylock_release(&ctx->pool->keys, id_key);
		vp_keylock_release(&ctx->pool->keys, key);
	}
	if (r->code == VP_GRPC_OK)
		csi_pack(&resp, r);  /* an unknown snapshot is already deleted */
	csi_free(req);
}

static void list_answer(const struct vp_volume *snaps, size_t n, char *next,
			struct vp_grpc_reply *r)
{
	Csi__V1__ListSnapshotsResponse resp = CSI__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
	Csi__V1__ListSnapshotsResponse__Entry *entries = calloc(n ? n : 1, sizeof(*entries));
	Csi__V1__ListSnapshotsResponse__Entry **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	struct csi_snapshot_msg *msgs = calloc(n ? n : 1, sizeof(*msgs));

	if (!entries || !ptrs || !msgs) {
		csi_fail(r, VP_GRPC_INTERNAL, "out of memory listing snapshots");
	} else {
		for (size_t i = 0; i < n; i++) {
			csi__v1__list_snapshots_response__entry__init(&entries[i]);
			csi_snapshot_msg(&msgs[i], &snaps[i]);
			entries[i].snapshot = &msgs[i].snap;
			ptrs[i] = &entries[i];
		}
		resp.n_entries = n;
		resp.entries = ptrs;
		resp.next_token = next;
		csi_pack(&resp, r);
	}
	free(entries);
	free(ptrs);
	free(msgs);
}

/* By snapshot ID: that one snapshot (if it matches the source filter). */
static void list_one(struct csi_ctx *ctx, const Csi__V1__ListSnapshotsRequest *req,
		     struct vp_grpc_reply *r)
{
	struct vp_volume s;
	bool found = vp_pool_is_snapshot_id(req->snapshot_id) &&
		     !vp_pool_find_id(ctx->pool, req->snapshot_id, &s) &&
		     (!*req->source_volume_id || !strcmp(s.source, req->source_volume_id));

	list_answer(&s, found ? 1 : 0, "", r);
}

static void list_snapshots(void *vctx, const uint8_t *buf, size_t len, struct vp_grpc_reply *r)
{
	struct csi_ctx *ctx = vctx;
	Csi__V1__ListSnapshotsRequest *req =
		csi_unpack(&csi__v1__list_snapshots_request__descriptor, buf, len, r);
	struct csi_page pg;

	if (!req)
		return;
	if (*req->snapshot_id) {
		if (!csi_page_check(VP_SNAPSHOT_ID_PREFIX, req->max_entries, req->starting_token, r))
			list_one(ctx, req, r);
	} else {
		if (!csi_page_read(ctx, VP_SNAPSHOT_ID_PREFIX,
				   *req->source_volume_id ? req->source_volume_id : NULL,
				   req->max_entries, req->starting_token, &pg, r))
			list_answer(pg.items, pg.n, pg.next, r);
		free(pg.items);
	}
	csi_free(req);
}

const struct vp_grpc_method csi_snapshot_methods[] = {
	{ "/csi.v1.Controller/CreateSnapshot", create_snapshot },
	{ "/csi.v1.Controller/DeleteSnapshot", delete_snapshot },
	{ "/csi.v1.Controller/ListSnapshots", list_snapshots },
};
const size_t csi_snapshot_n_methods = sizeof(csi_snapshot_methods) / sizeof(csi_snapshot_methods[0]);
