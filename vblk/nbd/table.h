/* table.h - the run-time export table of vblkd, shared by the NBD workers
 * and the control socket.
 *
 * Readers never lock on the I/O path: a worker takes a reference to the
 * current snapshot (an immutable array of exports) once per accepted
 * connection, under a mutex held for a pointer copy and a reference count;
 * the connection keeps that snapshot until it closes.  Writers (the control
 * thread) build a new snapshot and swap it in under the same mutex, so
 * adding, removing or resizing an export never disturbs a connection that
 * already chose one.  Everything a snapshot points to is reference counted
 * and freed with the last snapshot that uses it.
 *
 * An entry's image is closed with its last reference (a removed or resized
 * export: when its last connection ends; any export: at vp_nbd_table_fini
 * once no connection is left); a writable one is synced first, on the
 * thread that drops the reference, and the result reported as an event:
 * export.closed (synced) or export.sync-failed (errno and error).
 *
 * Two levels: a vp_nbd_shared is the export as the user named it (name,
 * path, options, stats, connection count, removed flag) and lives across
 * resizes; a vp_nbd_entry is one opened image of it (the vp_image whose
 * size a connection sees).  Resizing creates a new entry for the same
 * shared export, so existing connections keep the size they negotiated.
 */
#ifndef VP_VBLK_NBD_TABLE_H
#define VP_VBLK_NBD_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/event.h"
#include "vblk/nbd/nbd.h"
#include "vblk/stats.h"

#define VP_NBD_TABLE_MAX 1024 /* exports */

struct vp_nbd_shared {
	atomic_uint refs;
	atomic_uint conns;      /* connections in transmission, all entries */
	atomic_bool removed;    /* export-remove: connections must drain */
	char *name, *path, *description;
	unsigned flags;         /* VP_IMAGE_* */
	struct vp_stats *stats;
	const struct vp_event_sink *events; /* the table's */
};

struct vp_nbd_entry {
	atomic_uint refs;
	struct vp_nbd_shared *sh;
	struct vp_image *img;
};

struct vp_nbd_snapshot {
	atomic_uint refs;
	size_t n;
	struct vp_nbd_export exports[]; /* exports[i].entry holds a reference */
};

struct vp_nbd_table {
	pthread_mutex_t lock;         /* guards cur and serializes writers */
	struct vp_nbd_snapshot *cur;
	unsigned nshards;             /* worker count, for new stats */
	/* Export paths are opened beneath it (vblk/image_path.h); NULL: no
	 * root.  Set after vp_nbd_table_init, before the first add. */
	const struct vp_image_root *image_root;
	struct vp_event_sink events;  /* set after init: images closed (see above) */
};

/* What export-add needs. */
struct vp_nbd_export_spec {
	const char *name;             /* 1..4096 bytes */
	const char *path;
	const char *description;      /* may be NULL */
	unsigned flags;               /* VP_IMAGE_READONLY | VP_IMAGE_DIRECT */
};

/* An empty table whose exports get nshards stats shards.  0 or -errno. */
int vp_nbd_table_init(struct vp_nbd_table *t, unsigned nshards, struct vp_error *err) VP_MUST_CHECK;

/* Drop the table's snapshot (connections may still hold theirs). */
void vp_nbd_table_fini(struct vp_nbd_table *t);

/* A reference to the current snapshot (never NULL once initialised); any
 * thread.  Release with vp_nbd_snapshot_put. */
struct vp_nbd_snapshot *vp_nbd_table_acquire(struct vp_nbd_table *t);
void vp_nbd_snapshot_put(struct vp_nbd_snapshot *s);

/* Open spec->path and publish it as a new export.  -EEXIST when the name is
 * taken, -E2BIG when the table is full, -EINVAL for a bad name, or the
 * image open error; the table is unchanged on failure. */
int vp_nbd_table_add(struct vp_nbd_table *t, const struct vp_nbd_export_spec *spec,
		     struct vp_error *err) VP_MUST_CHECK;

/* Unpublish export name: new connections no longer see it.  With
 * connections attached it fails with -EBUSY unless force, which marks it
 * removed so the workers drain those connections (the caller then kicks
 * them).  *attached (may be NULL) is set to the connections attached. */
int vp_nbd_table_remove(struct vp_nbd_table *t, const char *name, bool force,
			unsigned *attached, struct vp_error *err) VP_MUST_CHECK;

/* Resize export name's image to size and publish the new size for new
 * connections; existing ones keep theirs.  Shrinking while connections are
 * attached fails with -EBUSY (they could write past the new end). */
int vp_nbd_table_resize(struct vp_nbd_table *t, const char *name, uint64_t size,
			struct vp_error *err) VP_MUST_CHECK;

/* Called by workers: a connection starts (+1) or ends (-1) transmission on
 * e; whether e's export was removed (the connection should drain). */
void vp_nbd_entry_attach(struct vp_nbd_entry *e, int delta);
bool vp_nbd_entry_removed(const struct vp_nbd_entry *e);

/* Whether e is still the entry t publishes under its export's name (not
 * replaced by a resize, not removed).  A connection attaches first, then
 * checks: a resize that replaced e before the check is seen here, and one
 * after it sees the attached connection (and refuses to shrink). */
bool vp_nbd_table_current(struct vp_nbd_table *t, const struct vp_nbd_entry *e);

#endif
