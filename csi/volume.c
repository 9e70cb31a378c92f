/* volume.c - capabilities, parameters, capacity and topology of CSI
 * volumes, and their Volume messages (service.h).
 */
#include <stdio.h>
#include <string.h>

#include "csi/node/record.h"
#include "csi/service.h"
#include "csi/pool/name.h"

#define K8S_PARAM_PREFIX "csi.storage.k8s.io/"

static bool mode_supported(int mode, bool block)
{
	switch (mode) {
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER:
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER:
		return true;
	case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER:
		return block;  /* raw block shared by a VM's two hosts during live migration */
	default:
		return false;
	}
}

static bool fs_type_ok(const char *fs)
{
	return !*fs || !strcmp(fs, "ext4") || !strcmp(fs, "xfs");
}

/* A mount capability asking for a vmDisk volume's socket in a directory. */
static bool vhost_user_blk(const Csi__V1__VolumeCapability *c)
{
	return c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT &&
	       !strcmp(c->mount->fs_type, VP_NODE_FS_VHOST_USER_BLK);
}

static bool cap_supported(const Csi__V1__VolumeCapability *c, char *msg, size_t size)
{
	bool block = c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;

	if (c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE__NOT_SET) {
		snprintf(msg, size, "volume capability without an access type (block or mount)");
		return false;
	}
	if (!c->access_mode) {
		snprintf(msg, size, "volume capability without an access mode");
		return false;
	}
	if (!mode_supported(c->access_mode->mode, block)) {
		snprintf(msg, size, "access mode %d is not supported%s", c->access_mode->mode,
			 block ? "" : " for mount volumes");
		return false;
	}
	if (!block && !fs_type_ok(c->mount->fs_type) && !vhost_user_blk(c)) {
		snprintf(msg, size, "fs_type must be ext4, xfs or (vmDisk volumes) "
			 VP_NODE_FS_VHOST_USER_BLK);
		return false;
	}
	return true;
}

bool csi_caps_supported(Csi__V1__VolumeCapability *const *caps, size_t n, char *msg, size_t size)
{
	if (!n) {
		snprintf(msg, size, "volume_capabilities is required");
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!cap_supported(caps[i], msg, size))
			return false;
	return true;
}

bool csi_caps_fit_volume(Csi__V1__VolumeCapability *const *caps, size_t n,
			 const struct vp_volume *v, char *msg, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		if (vhost_user_blk(caps[i]) && !v->vm_disk) {
			snprintf(msg, size, "fs_type " VP_NODE_FS_VHOST_USER_BLK " is for vmDisk "
				 "volumes (parameter vmDisk \"true\")");
			return false;
		}
	}
	return true;
}

static bool param(const struct csi_map_entry *e, struct vp_volume *v, char *msg, size_t size)
{
	if (!vp_pool_utf8_ok(e->key) || !vp_pool_utf8_ok(e->value)) {
		snprintf(msg, size, "a parameter is not UTF-8 or has a control character");
		return false;
	}
	if (!strcmp(e->key, "fsType")) {
		if (!*e->value || !fs_type_ok(e->value)) {
			snprintf(msg, size, "parameter fsType must be ext4 or xfs");
			return false;
		}
		snprintf(v->fs_type, sizeof(v->fs_type), "%s", e->value);
	} else if (!strcmp(e->key, "vmDisk")) {
		if (strcmp(e->value, "true") && strcmp(e->value, "false")) {
			snprintf(msg, size, "parameter vmDisk must be true or false");
			return false;
		}
		v->vm_disk = !strcmp(e->value, "true");
	} else if (strncmp(e->key, K8S_PARAM_PREFIX, strlen(K8S_PARAM_PREFIX))) {
		/* Kubernetes' own keys (--extra-create-metadata) are informative. */
		snprintf(msg, size, "unknown parameter \"%.64s\" (known: fsType, vmDisk)", e->key);
		return false;
	}
	return true;
}

bool csi_parse_params(void *const *entries, size_t n, struct vp_volume *v, char *msg, size_t size)
{
	v->fs_type[0] = '\0';
	v->vm_disk = false;
	for (size_t i = 0; i < n; i++)
		if (!param(entries[i], v, msg, size))
			return false;
	return true;
}

int csi_capacity(const Csi__V1__CapacityRange *cr, uint64_t def, uint64_t *size, char *msg,
		 size_t size_msg)
{
	int64_t req = cr ? cr->required_bytes : 0, lim = cr ? cr->limit_bytes : 0;
	uint64_t s;

	if (req < 0 || lim < 0) {
		snprintf(msg, size_msg, "capacity_range: negative bytes");
		return VP_GRPC_INVALID_ARGUMENT;
	}
	if (req)
		s = ((uint64_t)req + CSI_MIB - 1) / CSI_MIB * CSI_MIB;
	else if (lim && (uint64_t)lim < def)
		s = (uint64_t)lim / CSI_MIB * CSI_MIB;
	else
		s = def;
	if (!s || (lim && s > (uint64_t)lim) || (lim && req > lim) || s > VP_POOL_MAX_SIZE) {
		snprintf(msg, size_msg, "capacity_range [%lld, %lld] has no whole MiB size up to %llu "
			 "bytes", (long long)req, (long long)lim, (unsigned long long)VP_POOL_MAX_SIZE);
		return VP_GRPC_OUT_OF_RANGE;
	}
	*size = s;
	return VP_GRPC_OK;
}

bool csi_capacity_fits(const Csi__V1__CapacityRange *cr, uint64_t size)
{
	if (!cr)
		return true;
	return size >= (uint64_t)cr->required_bytes &&
	       (!cr->limit_bytes || size <= (uint64_t)cr->limit_bytes);
}

void csi_volume_msg(struct csi_volume_msg *m, const struct vp_volume *v, const char *node_id)
{
	size_t n = 0;

	csi__v1__volume__init(&m->vol);
	csi__v1__topology__init(&m->topo);
	csi__v1__topology__segments_entry__init(&m->seg);
	m->seg.key = (char *)CSI_TOPOLOGY_KEY;
	m->seg.value = (char *)node_id;
	m->segs[0] = &m->seg;
	m->topo.n_segments = 1;
	m->topo.segments = m->segs;
	m->topos[0] = &m->topo;
	m->vol.capacity_bytes = (int64_t)v->size;
	m->vol.volume_id = (char *)v->id;
	m->vol.n_accessible_topology = 1;
	m->vol.accessible_topology = m->topos;
	if (v->fs_type[0]) {
		csi__v1__volume__volume_context_entry__init(&m->ctx[n]);
		m->ctx[n].key = "fsType";
		m->ctx[n].value = (char *)v->fs_type;
		m->ctxs[n] = &m->ctx[n];
		n++;
	}
	csi__v1__volume__volume_context_entry__init(&m->ctx[n]);
	m->ctx[n].key = "vmDisk";
	m->ctx[n].value = v->vm_disk ? "true" : "false";
	m->ctxs[n] = &m->ctx[n];
	n++;
	m->vol.n_volume_context = n;
	m->vol.volume_context = m->ctxs;
	if (v->source[0]) {
		csi__v1__volume_content_source__init(&m->src);
		if (vp_pool_is_snapshot_id(v->source)) {
			csi__v1__volume_content_source__snapshot_source__init(&m->src_snap);
			m->src_snap.snapshot_id = (char *)v->source;
			m->src.type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT;
			m->src.snapshot = &m->src_snap;
		} else {
			csi__v1__volume_content_source__volume_source__init(&m->src_vol);
			m->src_vol.volume_id = (char *)v->source;
			m->src.type_case = CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME;
			m->src.volume = &m->src_vol;
		}
		m->vol.content_source = &m->src;
	}
}

void csi_snapshot_msg(struct csi_snapshot_msg *m, const struct vp_volume *s)
{
	csi__v1__snapshot__init(&m->snap);
	google__protobuf__timestamp__init(&m->created);
	m->created.seconds = s->created_ns / 1000000000;
	m->created.nanos = (int32_t)(s->created_ns % 1000000000);
	m->snap.size_bytes = (int64_t)s->size;
	m->snap.snapshot_id = (char *)s->id;
	m->snap.source_volume_id = (char *)s->source;
	m->snap.creation_time = &m->created;
	m->snap.ready_to_use = true;  /* the copy is complete when CreateSnapshot returns */
}

void csi_key(char *key, const char *kind, const char *what)
{
	snprintf(key, CSI_KEY_SIZE, "%s:%s", kind, what);
}

bool csi_only_k8s_params(void *const *entries, size_t n, char *msg, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		const struct csi_map_entry *e = entries[i];

		if (strncmp(e->key, K8S_PARAM_PREFIX, strlen(K8S_PARAM_PREFIX)) ||
		    !vp_pool_utf8_ok(e->key) || !vp_pool_utf8_ok(e->value)) {
			snprintf(msg, size, "unknown parameter \"%.64s\" (snapshots take none)",
				 vp_pool_utf8_ok(e->key) ? e->key : "?");
			return false;
		}
	}
	return true;
}

static bool topology_here(const Csi__V1__Topology *t, const char *node_id)
{
	for (size_t i = 0; i < t->n_segments; i++)
		if (strcmp(t->segments[i]->key, CSI_TOPOLOGY_KEY) ||
		    strcmp(t->segments[i]->value, node_id))
			return false;
	return true;
}

bool csi_topology_ok(const Csi__V1__TopologyRequirement *req, const char *node_id)
{
	if (!req || !req->n_requisite)
		return true;
	for (size_t i = 0; i < req->n_requisite; i++)
		if (topology_here(req->requisite[i], node_id))
			return true;
	return false;
}
