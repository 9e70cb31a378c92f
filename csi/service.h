/* service.h - what the CSI service files (identity.c, controller*.c) share:
 * the driver's context, their method tables, and the helpers that turn
 * request bytes into generated structs and back (reply.c) and volumes into
 * CSI messages (volume.c).
 */
#ifndef VP_CSI_SERVICE_H
#define VP_CSI_SERVICE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csi.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "csi/grpc/server.h"
#include "csi/pool/pool.h"

#define CSI_DRIVER_NAME "vblk.vplumb.dev"
#define CSI_TOPOLOGY_KEY "topology.vblk.vplumb.dev/node"
#define CSI_MIB (1ULL << 20)
#define CSI_DEFAULT_SIZE (1ULL << 30)  /* a CreateVolume without capacity_range */
#define CSI_NODE_MAX_VOLUMES 256       /* NodeGetInfo's max_volumes_per_node */

struct csi_ctx {
	struct vp_pool *pool;
	const char *node_id;
	const char *vblkd_control;  /* vblkd's control socket, or NULL */
	const char *vblkd_nbd;      /* vblkd's NBD unix socket, or NULL */
	const char *kubelet_dir;    /* staging and target paths are under it */
};

extern const struct vp_grpc_method csi_identity_methods[];
extern const size_t csi_identity_n_methods;
extern const struct vp_grpc_method csi_controller_methods[];
extern const size_t csi_controller_n_methods;
extern const struct vp_grpc_method csi_controller_list_methods[];
extern const size_t csi_controller_list_n_methods;
extern const struct vp_grpc_method csi_snapshot_methods[];
extern const size_t csi_snapshot_n_methods;
extern const struct vp_grpc_method csi_node_methods[];
extern const size_t csi_node_n_methods;
extern const struct vp_grpc_method csi_node_volume_methods[];
extern const size_t csi_node_volume_n_methods;
extern const struct vp_grpc_method csi_node_size_methods[];
extern const size_t csi_node_size_n_methods;

/* ---- reply.c ---- */

/* Unpack a request of descriptor d, or answer INVALID_ARGUMENT and return
 * NULL.  Bytes that do not repack to the same length are refused too: they
 * hide a NUL inside a string (which C would silently cut) or repeat a field. */
void *csi_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		 struct vp_grpc_reply *r);
void csi_free(void *msg);

/* Answer OK with message m. */
void csi_pack(const void *m, struct vp_grpc_reply *r);

/* Answer code with a formatted message. */
void csi_fail(struct vp_grpc_reply *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Name the volume (or name) an RPC is about, for the log line. */
void csi_note(struct vp_grpc_reply *r, const char *what);

/* ---- page.c (ListVolumes and ListSnapshots) ---- */

/* One page of pool records. */
struct csi_page {
	struct vp_volume *items;    /* malloc'd (free it), or NULL */
	size_t n;
	char next[VP_POOL_ID_SIZE]; /* the next page's starting_token, "" after the last */
};

/* Check a List request's paging for records of ID prefix: VP_GRPC_OK, or r
 * failed with INVALID_ARGUMENT (negative max_entries) or ABORTED (a
 * starting_token that is not such an ID) and its code returned. */
int csi_page_check(const char *prefix, int32_t max_entries, const char *starting_token,
		   struct vp_grpc_reply *r);

/* Check it, then read up to max_entries (0: all) records of ID prefix (and,
 * when source is not NULL, of that source volume) from starting_token into
 * *pg: VP_GRPC_OK, or r failed (INTERNAL: out of memory) and its code. */
int csi_page_read(struct csi_ctx *ctx, const char *prefix, const char *source,
		  int32_t max_entries, const char *starting_token, struct csi_page *pg,
		  struct vp_grpc_reply *r);

/* ---- volume.c ---- */

/* The {key, value} layout every generated map entry has. */
struct csi_map_entry {
	ProtobufCMessage base;
	char *key;
	char *value;
};

/* Whether the driver supports every capability of caps: true, or false
 * with why in msg. */
bool csi_caps_supported(Csi__V1__VolumeCapability *const *caps, size_t n, char *msg,
			size_t size);

/* Whether every capability of caps (supported ones) fits volume v: fs_type
 * vhost-user-blk only for a vmDisk volume.  True, or false with why in msg. */
bool csi_caps_fit_volume(Csi__V1__VolumeCapability *const *caps, size_t n,
			 const struct vp_volume *v, char *msg, size_t size);

/* Parse CreateVolume/GetCapacity parameters into v's fs_type and vm_disk:
 * true, or false with why in msg. */
bool csi_parse_params(void *const *entries, size_t n, struct vp_volume *v, char *msg,
		      size_t size);

/* The size for capacity range cr, in whole MiB: VP_GRPC_OK, or the code
 * with why in msg.  def is used when cr asks for nothing. */
int csi_capacity(const Csi__V1__CapacityRange *cr, uint64_t def, uint64_t *size, char *msg,
		 size_t size_msg);

/* Whether size satisfies cr. */
bool csi_capacity_fits(const Csi__V1__CapacityRange *cr, uint64_t size);

/* A CSI Volume message built over v (which must outlive it). */
struct csi_volume_msg {
	Csi__V1__Volume vol;
	Csi__V1__Topology topo, *topos[1];
	Csi__V1__Topology__SegmentsEntry seg, *segs[1];
	Csi__V1__Volume__VolumeContextEntry ctx[2], *ctxs[2];
	Csi__V1__VolumeContentSource src;
	Csi__V1__VolumeContentSource__SnapshotSource src_snap;
	Csi__V1__VolumeContentSource__VolumeSource src_vol;
};
void csi_volume_msg(struct csi_volume_msg *m, const struct vp_volume *v, const char *node_id);

/* Whether the topology requirement can be met on this node. */
bool csi_topology_ok(const Csi__V1__TopologyRequirement *req, const char *node_id);

/* Whether every parameter is one of Kubernetes' informative
 * csi.storage.k8s.io/ keys (CreateSnapshot takes no others): true, or false
 * with why in msg. */
bool csi_only_k8s_params(void *const *entries, size_t n, char *msg, size_t size);

/* A CSI Snapshot message built over s (which must outlive it). */
struct csi_snapshot_msg {
	Csi__V1__Snapshot snap;
	Google__Protobuf__Timestamp created;
};
void csi_snapshot_msg(struct csi_snapshot_msg *m, const struct vp_volume *s);

/* ---- node_volume.c ---- */

/* The pool's node directory (node records, csi/node/record.h) in buf. */
void csi_node_dir(const struct csi_ctx *ctx, char buf[PATH_MAX]);

/* What every Node volume call checks first: id is given (INVALID_ARGUMENT)
 * and names a volume, copied into v (NOT_FOUND); also notes id for the log. */
bool csi_node_volume(struct csi_ctx *ctx, const char *id, struct vp_volume *v,
		     struct vp_grpc_reply *r);

/* A required string field is set, else INVALID_ARGUMENT naming it. */
bool csi_node_required(const char *value, const char *field, struct vp_grpc_reply *r);


/* Volume id's node record into rec: true when there is one; false when
 * there is none (r untouched) or it cannot be read (r failed). */
struct vp_node_record;
bool csi_node_record(struct csi_ctx *ctx, const char *id, struct vp_node_record *rec,
		     struct vp_grpc_reply *r);

/* Whether fd is the root of a mount (something is mounted on it). */
bool csi_node_mounted(int fd);

/* Bind-mount dev on parent/leaf (a file created when missing), read-only
 * when readonly: 0, -EEXIST when something else is mounted there (left
 * alone), or another -errno with err set. */
int csi_node_mount_target(int parent, const char *leaf, const char *dev, bool readonly,
			  struct vp_error *err) VP_MUST_CHECK;

/* ---- node_attach.c (kernel devices: the attach order) ---- */

/* A staged volume's kernel device. */
struct csi_device {
	int index;                  /* N of /dev/loopN or /dev/nbdN */
	char dev[32];               /* its node */
	bool direct_io;             /* a loop device the kernel took LO_FLAGS_DIRECT_IO for */
};

/* Set rec->attach to the kind a new stage attaches, by the attach order
 * (ublk, nbd, loop); why receives the reasons the earlier kinds were
 * skipped, for the attach's log line. */
void csi_node_attach_choose(struct csi_ctx *ctx, struct vp_node_record *rec, char *why,
			    size_t size);

/* The device of rec's volume, of kind rec->attach, into d: 0, -ENOENT
 * when none is attached, another -errno with err set. */
int csi_node_device_find(struct csi_ctx *ctx, const struct vp_node_record *rec,
			 struct csi_device *d, struct vp_error *err) VP_MUST_CHECK;

/* The device of rec's volume into d, attached (read-only when
 * rec->readonly) when there is none and logged with why (the skipped
 * kinds; NULL: the kind is the record's); an nbd device whose export
 * vblkd lost (restarted) is reconnected: 0 or -errno with err set,
 * nothing attached or exported then. */
int csi_node_attach(struct csi_ctx *ctx, const struct vp_node_record *rec, const char *why,
		    struct csi_device *d, struct vp_error *err) VP_MUST_CHECK;

/* Detach rec's device and, for nbd, remove vblkd's export of the volume
 * (its image synced): 0, also when neither is there; -EIO when the final
 * sync failed; another -errno with err set. */
int csi_node_detach(struct csi_ctx *ctx, const struct vp_node_record *rec,
		    struct vp_error *err) VP_MUST_CHECK;

/* ---- node_mount.c (the mount access type) ---- */

/* Mount volume id's device dev at the staging directory (fstype, read-only
 * when readonly, with mount flags mo, NULL for none), formatting it first
 * only when libblkid finds it blank: 0 (also when mounted already), -EEXIST
 * when it holds anything else, -EROFS when it is blank and readonly (never
 * formatted), or another -errno with err set (-EINVAL when the filesystem
 * refuses mo). */
struct vp_mountopt;
int csi_node_stage_mount(struct csi_ctx *ctx, const char *id, const char *staging,
			 const char *dev, const char *fstype, bool readonly,
			 const struct vp_mountopt *mo, struct vp_error *err) VP_MUST_CHECK;

/* Unmount what is mounted at directory path: 0, also when nothing is. */
int csi_node_unmount_dir(struct csi_ctx *ctx, const char *path,
			 struct vp_error *err) VP_MUST_CHECK;

/* Bind-mount the staging directory's filesystem on parent/leaf (a
 * directory created when missing), read-only when readonly, with the
 * per-mount MS_* bits mount_flags (0: the staging mount's): 0 (also when
 * bound already), -EEXIST when something else is mounted there, or another
 * -errno with err set. */
int csi_node_bind_dir_target(struct csi_ctx *ctx, int parent, const char *leaf,
			     const char *staging, bool readonly, unsigned long mount_flags,
			     struct vp_error *err) VP_MUST_CHECK;

/* Bind-mount directory src (an fd; src_name for messages) on parent/leaf
 * (a directory created when missing), remounted with the per-mount MS_*
 * bits flags (and nosuid, nodev) when there are any: 0 (also when bound
 * already), -EEXIST when something else is mounted there, or another
 * -errno with err set. */
int csi_node_bind_dir(int parent, const char *leaf, int src, const char *src_name,
		      unsigned long flags, struct vp_error *err) VP_MUST_CHECK;

/* ---- node_vmdisk.c (vmDisk volumes: vhost-user-blk sockets of vblkd) ---- */

/* The fixed name of the socket in a vmDisk volume's directory target. */
#define CSI_VMDISK_SOCKET_NAME "disk.sock"

/* The socket vblkd serves vmDisk volume id on: DIR/node/sockets/<id>.sock,
 * or DIR/node/sockets/<id>/disk.sock when in_dir (published as a
 * directory, vp_node_record_vmdisk_dir). */
void csi_node_vmdisk_socket(const struct csi_ctx *ctx, const char *id, bool in_dir,
			    char buf[PATH_MAX]);

/* The directory of vmDisk volume id's socket when it is published as a
 * directory: DIR/node/sockets/<id>. */
void csi_node_vmdisk_dir(const struct csi_ctx *ctx, const char *id, char buf[PATH_MAX]);

/* Bind-mount the socket directory of rec's vmDisk volume (published as a
 * directory) read-only on parent/leaf: as csi_node_bind_dir. */
int csi_node_vmdisk_bind_dir(struct csi_ctx *ctx, const struct vp_node_record *rec, int parent,
			     const char *leaf, struct vp_error *err) VP_MUST_CHECK;

/* Have vblkd export rec's volume (read-only when rec->readonly) under its
 * ID and serve it as vhost-user-blk on sock (filled in): 0, also when it
 * does already; -EOPNOTSUPP without --vblkd-control; another -errno with
 * err set. */
int csi_node_vmdisk_serve(struct csi_ctx *ctx, const struct vp_node_record *rec,
			  char sock[PATH_MAX], struct vp_error *err) VP_MUST_CHECK;

/* Have vblkd stop serving rec's volume (vhost-remove, export-remove) and
 * remove its socket directory (if any): 0, also when it does not serve
 * it; -EIO when the image's final fdatasync failed (the export is gone all
 * the same); another -errno with err set. */
int csi_node_vmdisk_release(struct csi_ctx *ctx, const struct vp_node_record *rec,
			    struct vp_error *err) VP_MUST_CHECK;

/* Tell vblkd that vmDisk volume id's image is size bytes now (vblkd tells
 * a connected VM through a vhost-user config change): 0; -ENOENT when vblkd
 * does not serve it; -EOPNOTSUPP without --vblkd-control; another -errno
 * with err set. */
int csi_node_vmdisk_resized(struct csi_ctx *ctx, const char *id, uint64_t size,
			    struct vp_error *err) VP_MUST_CHECK;

/* ---- node_reconcile.c ---- */

/* At start: every node record's device is attached again and every target
 * mounted again when it is not (after a reboot, or a mount removed behind
 * the driver); a target that cannot be is dropped from its record.  Each
 * repair goes to report. */
void csi_node_reconcile(struct csi_ctx *ctx, vp_pool_report_fn report, void *report_ctx);

/* ---- node_unrecorded.c ---- */

/* At start, after csi_node_reconcile: every mount under the kubelet
 * directory of a pool volume's device or vmDisk socket that the volume's
 * node record does not list, and every vblkd export of a pool volume
 * without a record, goes to report (node-mount-unrecorded,
 * node-export-unrecorded) and is left alone. */
void csi_node_report_unrecorded(struct csi_ctx *ctx, vp_pool_report_fn report,
				void *report_ctx);

/* Keys of pool->keys: a name's key is always taken before an ID's, and an
 * RPC takes at most one ID key. */
#define CSI_KEY_SIZE (VP_POOL_NAME_MAX + 16)

struct vp_node_record;

/* Every Node call that changes a volume's node state runs under the
 * volume's key lock with a record buffer: csi_node_lock takes both (key
 * receives the lock's name) and returns the buffer, or NULL with r failed
 * (out of memory, no lock held); csi_node_unlock gives both back. */
struct vp_node_record *csi_node_lock(struct csi_ctx *ctx, const char *id,
				     char key[CSI_KEY_SIZE], struct vp_grpc_reply *r);
void csi_node_unlock(struct csi_ctx *ctx, const char *key, struct vp_node_record *rec);

void csi_key(char *key, const char *kind, const char *what);

#endif
