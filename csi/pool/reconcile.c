/* reconcile.c - open a pool and bring its records and images back in
 * agreement after a crash (pool.h lists the rules).
 */
#include "csi/pool/pool.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/statefile.h"
#include "csi/pool/internal.h"

#define DIR_MODE 0750

struct reconcile {
	struct vp_pool *p;
	vp_pool_report_fn report;
	void *ctx;
};

/* The names in dir (malloc'd array of malloc'd strings), read before any of
 * them is renamed. */
static int list_dir(const char *dir, char ***names, size_t *n, struct vp_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return vp_error_set(err, errno, "pool: open %s", dir);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (*n == cap) {
			char **nn = realloc(*names, (cap = cap ? cap * 2 : 64) * sizeof(*nn));

			if (!nn)
				break;
			*names = nn;
		}
		if (!((*names)[*n] = strdup(e->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	return e ? vp_error_set(err, ENOMEM, "pool: listing %s", dir) : 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* When name is "<volume id><suffix>", the ID in id. */
static bool split(const char *name, const char *suffix, char id[VP_POOL_ID_SIZE])
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n <= s || n - s >= VP_POOL_ID_SIZE || strcmp(name + n - s, suffix))
		return false;
	memcpy(id, name, n - s);
	id[n - s] = '\0';
	return vp_pool_is_id(id);
}

static void quarantine(struct reconcile *r, const char *name, const char *event)
{
	char from[PATH_MAX], to[PATH_MAX];

	snprintf(from, sizeof(from), "%s/%s", r->p->vol_dir, name);
	snprintf(to, sizeof(to), "%s/lost+found/%s", r->p->dir, name);
	r->report(r->ctx, event, name, rename(from, to) < 0 ?
		  "cannot move it to lost+found; left in place" : "moved to lost+found");
}

static void load_record(struct reconcile *r, const char *name, const char *id)
{
	char path[PATH_MAX], *text = NULL;
	struct vp_error err = { 0 };
	struct vp_volume v;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", r->p->vol_dir, name);
	if (vp_statefile_read(path, &text, &len, &err) || vp_record_decode(text, len, &v, &err) ||
	    strcmp(v.id, id)) {
		r->report(r->ctx, "bad-record", name, err.msg[0] ? err.msg : "id differs from file name");
		quarantine(r, name, "bad-record");
	} else if (vp_pool_table_insert(r->p, &v)) {
		r->report(r->ctx, "bad-record", name, "out of memory; record ignored until restart");
	}
	free(text);
}

/* An unfinished write of the statefile temp name "<id>.json.tmp.<pid>". */
static bool record_temp(const char *name)
{
	const char *t = strstr(name, ".json.tmp.");

	char id[VP_POOL_ID_SIZE];

	if (!t || (size_t)(t - name) >= VP_POOL_ID_SIZE)
		return false;
	memcpy(id, name, (size_t)(t - name));
	id[t - name] = '\0';
	return vp_pool_is_id(id);
}

static void reconcile_records(struct reconcile *r, char **names, size_t n)
{
	char id[VP_POOL_ID_SIZE], path[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		if (split(names[i], ".json", id)) {
			load_record(r, names[i], id);
		} else if (record_temp(names[i])) {
			snprintf(path, sizeof(path), "%s/%s", r->p->vol_dir, names[i]);
			unlink(path);
			r->report(r->ctx, "unfinished-record-write", names[i], "removed");
		}
	}
}

static bool known(struct reconcile *r, const char *id)
{
	struct vp_volume v;

	return !vp_pool_find_id(r->p, id, &v);
}

/* What to do with one image file, given whether its record exists. */
static void reconcile_image(struct reconcile *r, const char *name)
{
	struct vp_error err = { 0 };
	char id[VP_POOL_ID_SIZE];

	if (split(name, ".img.new", id)) {
		if (known(r, id) && !vp_pool_move(r->p, id, F_NEW, F_IMAGE, &err))
			r->report(r->ctx, "unfinished-create", name, "finished");
		else if (!known(r, id) && !vp_pool_unlink_kind(r->p, id, F_NEW, &err))
			r->report(r->ctx, "unfinished-create", name, "never acknowledged; removed");
		else
			r->report(r->ctx, "unfinished-create", name, err.msg);
	} else if (split(name, ".img.del", id)) {
		if (!vp_pool_finish_delete(r->p, id, &err)) {
			vp_pool_table_remove(r->p, id);
			r->report(r->ctx, "unfinished-delete", name, "finished");
		} else {
			r->report(r->ctx, "unfinished-delete", name, err.msg);
		}
	} else if (split(name, ".img", id)) {
		if (!known(r, id))
			quarantine(r, name, "image-without-record");
	} else if (!split(name, ".json", id) && !record_temp(name)) {
		r->report(r->ctx, "unexpected-file", name, "left in place");
	}
}

static void mark_missing_images(struct reconcile *r)
{
	for (size_t i = 0; i < r->p->n; i++) {
		struct vp_volume *v = &r->p->vols[i];

		if (!vp_pool_exists(r->p, v->id, F_IMAGE)) {
			v->image_missing = true;
			r->report(r->ctx, "record-without-image", v->id,
				  "kept; the volume reports an abnormal condition until deleted");
		}
	}
}

static int reconcile(struct reconcile *r, struct vp_error *err)
{
	char **names;
	size_t n;
	int ret = list_dir(r->p->vol_dir, &names, &n, err);

	if (ret)
		return ret;
	pthread_mutex_lock(&r->p->lock);
	reconcile_records(r, names, n);
	pthread_mutex_unlock(&r->p->lock);
	for (size_t i = 0; i < n; i++)
		reconcile_image(r, names[i]);
	mark_missing_images(r);
	free_names(names, n);
	return 0;
}

static int make_dirs(struct vp_pool *p, struct vp_error *err)
{
	char lf[PATH_MAX];

	if (snprintf(lf, sizeof(lf), "%s/lost+found", p->dir) >= (int)sizeof(lf))
		return vp_error_set(err, ENAMETOOLONG, "pool %s", p->dir);
	return vp_mkdir_p(p->vol_dir, DIR_MODE, err) ?: vp_mkdir_p(lf, DIR_MODE, err);
}

int vp_pool_open(const char *dir, vp_pool_report_fn report, void *ctx, struct vp_pool **out,
		 struct vp_error *err)
{
	struct vp_pool *p = calloc(1, sizeof(*p));
	struct reconcile r = { .p = p, .report = report, .ctx = ctx };
	int ret;

	if (!p || !(p->dir = strdup(dir)) || asprintf(&p->vol_dir, "%s/volumes", dir) < 0) {
		if (p)
			free(p->dir);
		free(p);
		return vp_error_set(err, ENOMEM, "pool %s", dir);
	}
	pthread_mutex_init(&p->lock, NULL);
	vp_keylock_init(&p->keys);
	ret = make_dirs(p, err) ?: reconcile(&r, err);
	if (ret) {
		vp_pool_close(p);
		return ret;
	}
	*out = p;
	return 0;
}

void vp_pool_close(struct vp_pool *p)
{
	vp_keylock_destroy(&p->keys);
	pthread_mutex_destroy(&p->lock);
	free(p->vols);
	free(p->vol_dir);
	free(p->dir);
	free(p);
}
