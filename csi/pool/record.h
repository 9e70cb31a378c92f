/* record.h - the metadata record of one volume or snapshot, as the pool
 * keeps it in memory and on disk (one JSON file each, written through
 * common/statefile).  The ID's prefix says which it is.
 *
 *   {"version":1,"id":"vol-…","name":"…","size":1048576,
 *    "fsType":"ext4","vmDisk":false,"source":"snap-…"}
 *   {"version":1,"id":"snap-…","name":"…","size":1048576,
 *    "source":"vol-…","created":1764720000123456789}
 */
#ifndef VP_CSI_POOL_RECORD_H
#define VP_CSI_POOL_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "csi/pool/name.h"

#define VP_RECORD_VERSION 1
#define VP_FSTYPE_MAX 8

/* A volume, or a snapshot (an ID with the snapshot prefix). */
struct vp_volume {
	char id[VP_POOL_ID_SIZE];
	char name[VP_POOL_NAME_MAX + 1];
	uint64_t size;               /* bytes, a multiple of 1 MiB */
	char fs_type[VP_FSTYPE_MAX]; /* "", "ext4" or "xfs" */
	bool vm_disk;
	/* A volume: "" or the snapshot or volume it was made from; a
	 * snapshot: the volume it was taken of. */
	char source[VP_POOL_ID_SIZE];
	int64_t created_ns;          /* a snapshot's creation time (CLOCK_REALTIME) */
	bool image_missing;          /* found at start without its image file */
};

/* The record's JSON text (malloc'd, caller frees) in *text: 0 or -ENOMEM. */
int vp_record_encode(const struct vp_volume *v, char **text) VP_MUST_CHECK;

/* Parse a record: 0, or -EINVAL with err naming the bad field. */
int vp_record_decode(const char *text, size_t len, struct vp_volume *v,
		     struct vp_error *err) VP_MUST_CHECK;

#endif
