/* pool.h - the volume pool: a directory of sparse image files plus one
 * crash-safe record per volume and per snapshot (a snapshot is an image of
 * its own, a reflink or sparse copy of its volume at the time).
 *
 * Layout under DIR (<id> is vol-… for a volume, snap-… for a snapshot):
 *   volumes/<id>.json   the record (record.h), written temp+fsync+rename+fsync dir
 *   volumes/<id>.img    the image, created as <id>.img.new and renamed once the
 *                       record is durable; renamed to <id>.img.del before the
 *                       record goes when the volume is deleted
 *   lost+found/         images found without a record, kept for the operator
 *
 * vp_pool_open reconciles the two at start: an unfinished create without a
 * record is removed (it was never acknowledged), one with a record is
 * finished; an unfinished delete is finished; an image without a record is
 * moved to lost+found/; a record whose image is gone stays, marked
 * image_missing (its volume reports an abnormal condition until deleted).
 * Every such finding goes to the report callback.
 *
 * Thread safety: every function may be called from any thread.  The pool
 * does not serialize operations on the same volume: callers take the
 * volume's key in pool->keys first (keylock.h).
 */
#ifndef VP_CSI_POOL_POOL_H
#define VP_CSI_POOL_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "csi/pool/keylock.h"
#include "csi/pool/record.h"

#define VP_POOL_MAX_VOLUMES 100000
#define VP_POOL_MAX_SIZE (1ULL << 50)  /* 1 PiB: largest volume */

struct vp_pool {
	char *dir;
	char *vol_dir;                 /* DIR/volumes */
	pthread_mutex_t lock;          /* guards vols and n */
	struct vp_volume *vols;        /* sorted by id */
	size_t n, cap;
	struct vp_keylock keys;
};

/* What reconcile found: event is "orphan-image", "record-without-image", ... */
typedef void (*vp_pool_report_fn)(void *ctx, const char *event, const char *file,
				  const char *detail);

int vp_pool_open(const char *dir, vp_pool_report_fn report, void *ctx, struct vp_pool **out,
		 struct vp_error *err) VP_MUST_CHECK;
void vp_pool_close(struct vp_pool *p);

/* Copies of the entry with ID prefix (VP_VOLUME_ID_PREFIX or
 * VP_SNAPSHOT_ID_PREFIX) called name / with ID id: 0 or -ENOENT. */
int vp_pool_find_name(struct vp_pool *p, const char *prefix, const char *name,
		      struct vp_volume *out);
int vp_pool_find_id(struct vp_pool *p, const char *id, struct vp_volume *out);

/* Create an entry from v's name, size, fs_type, vm_disk, source and
 * created_ns; its ID is generated with prefix into v->id.  With a source,
 * the image starts as a copy of the source's (copy.h; *reflinked says how)
 * grown to v->size, which must not be smaller.  Durable when it returns 0.
 * The caller holds the source's key, so it cannot go meanwhile. */
int vp_pool_create(struct vp_pool *p, const char *prefix, struct vp_volume *v, bool *reflinked,
		   struct vp_error *err) VP_MUST_CHECK;

/* Delete volume id (0 when it does not exist). */
int vp_pool_delete(struct vp_pool *p, const char *id, struct vp_error *err) VP_MUST_CHECK;

/* Grow volume id's image and record to size bytes; *out gets the record. */
int vp_pool_grow(struct vp_pool *p, const char *id, uint64_t size, struct vp_volume *out,
		 struct vp_error *err) VP_MUST_CHECK;

/* Up to max entries (all when 0) with ID prefix, IDs >= start ("" for the
 * first) and, when source is not NULL, that source, in ID order, into a
 * malloc'd *out (caller frees); next gets the ID to start the following
 * page at, "" when there is none. */
int vp_pool_list(struct vp_pool *p, const char *prefix, const char *source, const char *start,
		 size_t max, struct vp_volume **out, size_t *n,
		 char next[VP_POOL_ID_SIZE]) VP_MUST_CHECK;

/* Bytes free for new data on the pool's filesystem. */
int vp_pool_free_bytes(struct vp_pool *p, uint64_t *bytes, struct vp_error *err) VP_MUST_CHECK;

/* 0 when the pool directory is there and writable. */
int vp_pool_check_usable(struct vp_pool *p, struct vp_error *err) VP_MUST_CHECK;

/* Path of volume id's image in buf. */
int vp_pool_image_path(const struct vp_pool *p, const char *id, char *buf, size_t size);

#endif
