/* table.c - copy-on-write export table: workers take snapshots, the control
 * thread publishes new ones (see table.h for the lifetime rules). */
#include "vblk/nbd/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vblk/image.h"

static void shared_put(struct vp_nbd_shared *sh)
{
	if (!sh || atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) != 1)
		return;
	vp_stats_put(sh->stats);
	free(sh->name);
	free(sh->path);
	free(sh->description);
	free(sh);
}

/* Sync e's image (writable only) and close it, reporting the sync. */
static void entry_close_image(struct vp_nbd_entry *e)
{
	int ret;

	if (!e->img || e->img->readonly) {
		vp_image_close(e->img);
		return;
	}
	ret = vp_image_sync(e->img);
	vp_image_close(e->img);
	if (ret)
		vp_event(e->sh->events, "export.sync-failed", "name=%s errno=%d error=\"%s\"",
			 e->sh->name, -ret, strerror(-ret));
	else
		vp_event(e->sh->events, "export.closed", "name=%s synced=1", e->sh->name);
}

static void entry_put(struct vp_nbd_entry *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
		return;
	entry_close_image(e);
	shared_put(e->sh);
	free(e);
}

/* A new entry for sh (one reference taken on sh) over img (owned). */
static struct vp_nbd_entry *entry_new(struct vp_nbd_shared *sh, struct vp_image *img)
{
	struct vp_nbd_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	atomic_init(&e->refs, 1);
	atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
	e->sh = sh;
	e->img = img;
	return e;
}

static struct vp_nbd_snapshot *snap_alloc(size_t n)
{
	struct vp_nbd_snapshot *s = calloc(1, sizeof(*s) + n * sizeof(s->exports[0]));

	if (s) {
		atomic_init(&s->refs, 1);
		s->n = n;
	}
	return s;
}

/* Fill slot i of s with entry e, taking a reference. */
static void snap_set(struct vp_nbd_snapshot *s, size_t i, struct vp_nbd_entry *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	s->exports[i] = (struct vp_nbd_export){
		.name = e->sh->name,
		.description = e->sh->description,
		.img = e->img,
		.stats = e->sh->stats,
		.entry = e,
	};
}

void vp_nbd_snapshot_put(struct vp_nbd_snapshot *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < s->n; i++)
		entry_put(s->exports[i].entry);
	free(s);
}

struct vp_nbd_snapshot *vp_nbd_table_acquire(struct vp_nbd_table *t)
{
	struct vp_nbd_snapshot *s;

	pthread_mutex_lock(&t->lock);
	s = t->cur;
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&t->lock);
	return s;
}

int vp_nbd_table_init(struct vp_nbd_table *t, unsigned nshards, struct vp_error *err)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->nshards = nshards ? nshards : 1;
	t->cur = snap_alloc(0);
	if (!t->cur)
		return vp_error_set(err, ENOMEM, "export table");
	ret = pthread_mutex_init(&t->lock, NULL);
	if (ret) {
		free(t->cur);
		t->cur = NULL;
		return vp_error_set(err, ret, "export table lock");
	}
	return 0;
}

void vp_nbd_table_fini(struct vp_nbd_table *t)
{
	if (!t->cur)
		return;
	vp_nbd_snapshot_put(t->cur);
	t->cur = NULL;
	pthread_mutex_destroy(&t->lock);
}

/* Index of name in s, or -1. */
static long snap_find(const struct vp_nbd_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->exports[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* Publish next (caller holds t->lock); the old snapshot is released. */
static void publish(struct vp_nbd_table *t, struct vp_nbd_snapshot *next)
{
	struct vp_nbd_snapshot *old = t->cur;

	t->cur = next;
	vp_nbd_snapshot_put(old);
}

/* A copy of cur with slot `skip` left out (-1: none) and `extra` more slots
 * at the end; references taken on the copied entries. */
static struct vp_nbd_snapshot *snap_copy(const struct vp_nbd_snapshot *cur, long skip, size_t extra)
{
	struct vp_nbd_snapshot *s = snap_alloc(cur->n - (skip >= 0) + extra);
	size_t j = 0;

	if (!s)
		return NULL;
	for (size_t i = 0; i < cur->n; i++)
		if ((long)i != skip)
			snap_set(s, j++, cur->exports[i].entry);
	return s;
}

static int shared_new(struct vp_nbd_table *t, const struct vp_nbd_export_spec *spec,
		      struct vp_nbd_shared **out, struct vp_error *err)
{
	struct vp_nbd_shared *sh = calloc(1, sizeof(*sh));

	*out = NULL;
	if (!sh)
		return vp_error_set(err, ENOMEM, "export %s", spec->name);
	atomic_init(&sh->refs, 1);
	sh->flags = spec->flags;
	sh->events = &t->events;
	sh->name = strdup(spec->name);
	sh->path = strdup(spec->path);
	sh->description = spec->description ? strdup(spec->description) : NULL;
	if (!sh->name || !sh->path || (spec->description && !sh->description) ||
	    vp_stats_new(t->nshards, &sh->stats)) {
		shared_put(sh);
		return vp_error_set(err, ENOMEM, "export %s", spec->name);
	}
	*out = sh;
	return 0;
}

static int check_spec(const struct vp_nbd_export_spec *spec, struct vp_error *err)
{
	size_t len = spec->name ? strlen(spec->name) : 0;

	if (len == 0 || len > 4096)
		return vp_error_code(err, 0, EINVAL, "export name must be 1-4096 bytes");
	for (const char *p = spec->name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return vp_error_code(err, 0, EINVAL, "export name contains control characters");
	if (!spec->path || !*spec->path)
		return vp_error_code(err, 0, EINVAL, "export %s: image path required", spec->name);
	if (spec->description && strlen(spec->description) > 4096)
		return vp_error_code(err, 0, EINVAL, "export %s: description longer than 4096 bytes",
				    spec->name);
	return 0;
}

/* Publish img (owned) as spec's export (caller holds t->lock). */
static int add_locked(struct vp_nbd_table *t, const struct vp_nbd_export_spec *spec,
		      struct vp_image *img, struct vp_error *err)
{
	struct vp_nbd_shared *sh = NULL;
	struct vp_nbd_entry *e = NULL;
	struct vp_nbd_snapshot *next;
	int ret;

	if (snap_find(t->cur, spec->name) >= 0)
		ret = vp_error_code(err, 0, EEXIST, "export %s already exists", spec->name);
	else if (t->cur->n >= VP_NBD_TABLE_MAX)
		ret = vp_error_code(err, 0, E2BIG, "at most %d exports", VP_NBD_TABLE_MAX);
	else
		ret = shared_new(t, spec, &sh, err);
	if (ret)
		goto out;
	e = entry_new(sh, img);
	next = e ? snap_copy(t->cur, -1, 1) : NULL;
	if (!next) {
		ret = vp_error_set(err, ENOMEM, "export %s", spec->name);
		goto out;
	}
	snap_set(next, next->n - 1, e);
	publish(t, next);
out:
	if (e)
		img = NULL; /* e owns it even on failure */
	entry_put(e);   /* the snapshot holds its own reference */
	shared_put(sh); /* likewise the entry */
	vp_image_close(img);
	return ret;
}

int vp_nbd_table_add(struct vp_nbd_table *t, const struct vp_nbd_export_spec *spec,
		     struct vp_error *err)
{
	struct vp_image *img = NULL;
	int ret = check_spec(spec, err);

	if (ret)
		return ret;
	/* Opening may block on slow storage: do it before taking the lock
	 * that workers need to accept connections. */
	ret = vp_image_open_at(t->image_root, spec->path, spec->flags, &img, err);
	if (ret) {
		vp_error_prefix(err, "export %s", spec->name);
		return ret;
	}
	pthread_mutex_lock(&t->lock);
	ret = add_locked(t, spec, img, err);
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* A reference on e, so that its image is not synced and closed with the
 * table lock held (workers take it to accept). */
static struct vp_nbd_entry *entry_get(struct vp_nbd_entry *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	return e;
}

int vp_nbd_table_remove(struct vp_nbd_table *t, const char *name, bool force,
			unsigned *attached, struct vp_error *err)
{
	struct vp_nbd_entry *gone = NULL;
	struct vp_nbd_snapshot *next;
	struct vp_nbd_shared *sh;
	unsigned conns;
	long i;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	i = snap_find(t->cur, name);
	if (i < 0) {
		ret = vp_error_code(err, 0, ENOENT, "no export named %s", name);
		goto out;
	}
	sh = t->cur->exports[i].entry->sh;
	conns = atomic_load(&sh->conns);
	if (attached)
		*attached = conns;
	if (conns && !force) {
		ret = vp_error_code(err, 0, EBUSY, "export %s has %u connected client(s); "
				   "disconnect them or use force", name, conns);
		goto out;
	}
	next = snap_copy(t->cur, i, 0);
	if (!next) {
		ret = vp_error_set(err, ENOMEM, "remove export %s", name);
		goto out;
	}
	atomic_store(&sh->removed, true);
	gone = entry_get(t->cur->exports[i].entry);
	publish(t, next);
out:
	pthread_mutex_unlock(&t->lock);
	entry_put(gone); /* the last reference when no connection holds it */
	return ret;
}

/* Open a second handle on e's image, resize it, and publish it in slot i
 * (caller holds t->lock); *gone gets a reference on the replaced entry.
 * The new handle shares the file's writeback error (image_file.h): data
 * lost before is lost for it too. */
static int resize_locked(struct vp_nbd_table *t, long i, uint64_t size,
			 struct vp_nbd_entry **gone, struct vp_error *err)
{
	struct vp_nbd_entry *old = t->cur->exports[i].entry, *e = NULL;
	struct vp_nbd_snapshot *next = NULL;
	struct vp_image *img = NULL;
	int ret;

	if (size < old->img->size && atomic_load(&old->sh->conns))
		return vp_error_code(err, 0, EBUSY, "export %s has %u connected client(s): "
				    "cannot shrink it under them", old->sh->name,
				    atomic_load(&old->sh->conns));
	ret = vp_image_open_at(t->image_root, old->sh->path, old->sh->flags, &img, err);
	ret = ret ?: vp_image_resize(img, size, err);
	if (ret)
		goto out;
	e = entry_new(old->sh, img);
	next = e ? snap_copy(t->cur, -1, 0) : NULL;
	if (!next) {
		ret = vp_error_set(err, ENOMEM, "resize export %s", old->sh->name);
		goto out;
	}
	img = NULL;
	*gone = next->exports[i].entry; /* the copy's reference */
	snap_set(next, (size_t)i, e);
	publish(t, next);
out:
	entry_put(e);
	vp_image_close(img);
	return ret;
}

int vp_nbd_table_resize(struct vp_nbd_table *t, const char *name, uint64_t size,
			struct vp_error *err)
{
	struct vp_nbd_entry *gone = NULL;
	long i;
	int ret;

	pthread_mutex_lock(&t->lock);
	i = snap_find(t->cur, name);
	ret = i < 0 ? vp_error_code(err, 0, ENOENT, "no export named %s", name) :
		      resize_locked(t, i, size, &gone, err);
	pthread_mutex_unlock(&t->lock);
	entry_put(gone); /* the old image: closed here unless connections hold it */
	if (ret && i >= 0)
		vp_error_prefix(err, "export %s", name);
	return ret;
}

void vp_nbd_entry_attach(struct vp_nbd_entry *e, int delta)
{
	if (delta > 0)
		atomic_fetch_add(&e->sh->conns, 1);
	else
		atomic_fetch_sub(&e->sh->conns, 1);
}

bool vp_nbd_entry_removed(const struct vp_nbd_entry *e)
{
	return atomic_load_explicit(&e->sh->removed, memory_order_relaxed);
}

bool vp_nbd_table_current(struct vp_nbd_table *t, const struct vp_nbd_entry *e)
{
	long i;
	bool cur;

	pthread_mutex_lock(&t->lock);
	i = snap_find(t->cur, e->sh->name);
	cur = i >= 0 && t->cur->exports[i].entry == e;
	pthread_mutex_unlock(&t->lock);
	return cur;
}
