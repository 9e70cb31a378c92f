/* record.h - the node record of one staged volume: where it is staged and
 * at which targets it is published, one JSON file per volume in the pool's
 * node directory (DIR/node/<id>.json), written through common/statefile.
 *
 *   {"version":1,"volume":"vol-…","staging":"/var/lib/kubelet/…",
 *    "readonly":false,"vmDisk":false,"fsType":"ext4","attach":"loop",
 *    "mountFlags":1024,"mountData":"discard",
 *    "targets":[{"path":"/var/lib/kubelet/…","readonly":false,"mountFlags":0}]}
 *
 * fsType is "" for the block access type, else the filesystem mounted at
 * the staging path.  vmDisk is true for a vmDisk volume: vblkd serves it
 * as a vhost-user-blk socket (csi/node_vmdisk.c) instead of a kernel
 * device, published as the socket itself (fsType "", the block access
 * type) or as a directory holding it (fsType "vhost-user-blk", the mount
 * access type: nothing is mounted at the staging path).  attach (kernel
 * devices only; "loop" when absent) is the kind of device chosen at stage
 * (csi/node_attach.c): "loop", "nbd" or "ublk".
 * mountFlags and mountData (a mount volume's; 0 and "" when absent) are
 * the stage's mount_flags as mount(2) takes them (mountopt.h: MS_* bits
 * and the filesystem's options), and a target's mountFlags its publish's
 * per-mount bits: the start-up repair mounts with them again, and a
 * repeated call with other flags is told the volume is staged (published)
 * otherwise.
 *
 * The record is written before the device is attached or a target mounted
 * and removed after it is detached or unmounted, so after a crash every
 * device and mount the driver made has a record.  The device itself is not
 * recorded: it is found by its backing image (loop.h), backend identifier
 * (nbd.h), or in vblkd's export list (ublk).
 */
#ifndef VP_CSI_NODE_RECORD_H
#define VP_CSI_NODE_RECORD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "csi/node/mountopt.h"
#include "csi/pool/name.h"

#define VP_NODE_RECORD_VERSION 1
#define VP_NODE_MAX_TARGETS 16  /* publications of one volume on this node */
#define VP_NODE_FS_TYPE_SIZE 16 /* "ext4", "xfs", "vhost-user-blk" and a NUL */
#define VP_NODE_FS_VHOST_USER_BLK "vhost-user-blk"  /* a vmDisk socket in a directory */

struct vp_node_target {
	char path[PATH_MAX];
	bool readonly;
	unsigned long mount_flags;     /* the publish's per-mount MS_* bits */
};

/* The kind of kernel device a volume is attached as. */
enum vp_node_attach {
	VP_NODE_ATTACH_LOOP = 0,       /* a loop device over the image */
	VP_NODE_ATTACH_NBD,            /* the kernel NBD client on vblkd's export */
	VP_NODE_ATTACH_UBLK,           /* vblkd's ublk device of its export */
};

struct vp_node_record {
	char volume[VP_POOL_ID_SIZE];
	char staging[PATH_MAX];
	bool readonly;                 /* staged read-only (a reader-only access mode) */
	bool vm_disk;                  /* served by vblkd over vhost-user, not a kernel device */
	char fs_type[VP_NODE_FS_TYPE_SIZE]; /* "" (block), "ext4", "xfs" or, for vmDisk,
					      * "vhost-user-blk" (mount) */
	enum vp_node_attach attach;    /* the kernel device's kind (not vm_disk) */
	struct vp_mountopt mount;      /* the staging mount's flags (mount volumes) */
	size_t n_targets;
	struct vp_node_target targets[VP_NODE_MAX_TARGETS];
};

/* Volume id's record from node_dir into *r: 0, -ENOENT when there is none,
 * or another -errno with err set. */
int vp_node_record_load(const char *node_dir, const char *id, struct vp_node_record *r,
			struct vp_error *err) VP_MUST_CHECK;

/* Write r durably (node_dir is created when missing). */
int vp_node_record_save(const char *node_dir, const struct vp_node_record *r,
			struct vp_error *err) VP_MUST_CHECK;

/* Remove volume id's record durably: 0, also when there is none. */
int vp_node_record_remove(const char *node_dir, const char *id,
			  struct vp_error *err) VP_MUST_CHECK;

/* Whether volume id has a record (is staged on this node). */
bool vp_node_record_exists(const char *node_dir, const char *id);

/* Whether rec's volume has a filesystem mounted at its staging path (a
 * mount volume, not a vmDisk one published as a directory). */
bool vp_node_record_has_fs(const struct vp_node_record *r);

/* Whether rec's vmDisk volume is published as a directory holding its
 * socket (fsType "vhost-user-blk"), not as the socket itself. */
bool vp_node_record_vmdisk_dir(const struct vp_node_record *r);

/* "loop", "nbd" or "ublk". */
const char *vp_node_attach_name(enum vp_node_attach a);

/* Index of target path in r, or -1. */
int vp_node_record_target(const struct vp_node_record *r, const char *path);

#endif
