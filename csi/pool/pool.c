/* pool.c - volumes as image files plus records, reconciled at start
 * (pool.h).
 */
#include "csi/pool/pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/statefile.h"
#include "csi/pool/copy.h"
#include "csi/pool/internal.h"

#define IMAGE_MODE 0660
#define RECORD_MODE 0600

static const char *const suffixes[] = { ".json", ".img", ".img.new", ".img.del" };

int vp_pool_path_of(const struct vp_pool *p, const char *id, enum vp_pool_file k, char *buf,
		   size_t size)
{
	int n = snprintf(buf, size, "%s/%s%s", p->vol_dir, id, suffixes[k]);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int vp_pool_image_path(const struct vp_pool *p, const char *id, char *buf, size_t size)
{
	return vp_pool_path_of(p, id, F_IMAGE, buf, size);
}

bool vp_pool_exists(const struct vp_pool *p, const char *id, enum vp_pool_file k)
{
	char path[PATH_MAX];

	return !vp_pool_path_of(p, id, k, path, sizeof(path)) && access(path, F_OK) == 0;
}

int vp_pool_fsync_dir(const char *dir, struct vp_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return vp_error_set(err, errno, "pool: open %s", dir);
	if (fsync(fd) < 0)
		ret = vp_error_set(err, errno, "pool: fsync %s", dir);
	close(fd);
	return ret;
}

/* rename id's file from kind a to kind b, durably. */
int vp_pool_move(struct vp_pool *p, const char *id, enum vp_pool_file a, enum vp_pool_file b,
		struct vp_error *err)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (vp_pool_path_of(p, id, a, from, sizeof(from)) || vp_pool_path_of(p, id, b, to, sizeof(to)))
		return vp_error_set(err, ENAMETOOLONG, "pool: volume %s", id);
	if (rename(from, to) < 0)
		return vp_error_set(err, errno, "pool: rename %s to %s", from, to);
	return vp_pool_fsync_dir(p->vol_dir, err);
}

int vp_pool_unlink_kind(struct vp_pool *p, const char *id, enum vp_pool_file k, struct vp_error *err)
{
	char path[PATH_MAX];

	if (vp_pool_path_of(p, id, k, path, sizeof(path)))
		return vp_error_set(err, ENAMETOOLONG, "pool: volume %s", id);
	if (unlink(path) < 0 && errno != ENOENT)
		return vp_error_set(err, errno, "pool: remove %s", path);
	return 0;
}

/* ---- the in-memory table (callers hold p->lock) ---- */

/* Index of id, or where it would go (with *found false). */
static size_t table_index(const struct vp_pool *p, const char *id, bool *found)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(p->vols[mid].id, id);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int vp_pool_table_insert(struct vp_pool *p, const struct vp_volume *v)
{
	bool found;
	size_t i = table_index(p, v->id, &found);

	if (found) {
		p->vols[i] = *v;
		return 0;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct vp_volume *nv = realloc(p->vols, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		p->vols = nv;
		p->cap = cap;
	}
	memmove(&p->vols[i + 1], &p->vols[i], (p->n - i) * sizeof(*p->vols));
	p->vols[i] = *v;
	p->n++;
	return 0;
}

void vp_pool_table_remove(struct vp_pool *p, const char *id)
{
	bool found;
	size_t i = table_index(p, id, &found);

	if (!found)
		return;
	memmove(&p->vols[i], &p->vols[i + 1], (p->n - i - 1) * sizeof(*p->vols));
	p->n--;
}

/* ---- lookups ---- */

int vp_pool_find_id(struct vp_pool *p, const char *id, struct vp_volume *out)
{
	bool found;
	size_t i;

	pthread_mutex_lock(&p->lock);
	i = table_index(p, id, &found);
	if (found)
		*out = p->vols[i];
	pthread_mutex_unlock(&p->lock);
	return found ? 0 : -ENOENT;
}

static bool has_prefix(const char *id, const char *prefix)
{
	return !strncmp(id, prefix, strlen(prefix));
}

int vp_pool_find_name(struct vp_pool *p, const char *prefix, const char *name,
		      struct vp_volume *out)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n && ret; i++)
		if (has_prefix(p->vols[i].id, prefix) && !strcmp(p->vols[i].name, name)) {
			*out = p->vols[i];
			ret = 0;
		}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static bool listed(const struct vp_volume *v, const char *prefix, const char *source)
{
	return has_prefix(v->id, prefix) && (!source || !strcmp(v->source, source));
}

int vp_pool_list(struct vp_pool *p, const char *prefix, const char *source, const char *start,
		 size_t max, struct vp_volume **out, size_t *n, char next[VP_POOL_ID_SIZE])
{
	bool found;
	size_t i;

	pthread_mutex_lock(&p->lock);
	*out = malloc((p->n ? p->n : 1) * sizeof(**out));
	if (!*out) {
		pthread_mutex_unlock(&p->lock);
		return -ENOMEM;
	}
	*n = 0;
	next[0] = '\0';
	/* IDs with one prefix sort together: start at the later of the two. */
	for (i = table_index(p, strcmp(start, prefix) > 0 ? start : prefix, &found); i < p->n; i++) {
		if (!has_prefix(p->vols[i].id, prefix))
			break;
		if (!listed(&p->vols[i], prefix, source))
			continue;
		if (max && *n == max) {
			strcpy(next, p->vols[i].id);
			break;
		}
		(*out)[(*n)++] = p->vols[i];
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ---- mutations ---- */

static int write_record(struct vp_pool *p, const struct vp_volume *v, struct vp_error *err)
{
	char path[PATH_MAX], *text;
	int ret;

	if (vp_pool_path_of(p, v->id, F_RECORD, path, sizeof(path)))
		return vp_error_set(err, ENAMETOOLONG, "pool: volume %s", v->id);
	if (vp_record_encode(v, &text))
		return vp_error_set(err, ENOMEM, "pool: record of %s", v->id);
	ret = vp_statefile_write(path, text, strlen(text), RECORD_MODE, err);
	free(text);
	return ret;
}

/* Copy the image of source into fd (copy.h). */
static int copy_source(struct vp_pool *p, const char *source, int fd, bool *reflinked,
		       struct vp_error *err)
{
	char path[PATH_MAX];
	int src, ret;

	if (vp_pool_path_of(p, source, F_IMAGE, path, sizeof(path)))
		return vp_error_set(err, ENAMETOOLONG, "pool: source %s", source);
	src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return vp_error_set(err, errno, "pool: open source %s", path);
	ret = vp_copy_image(src, fd, reflinked, err);
	close(src);
	return ret;
}

/* A sparse image of size bytes at id's .new name (a copy of v->source's
 * when set), its contents and size durable. */
static int create_image(struct vp_pool *p, const struct vp_volume *v, bool *reflinked,
			struct vp_error *err)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	if (vp_pool_path_of(p, v->id, F_NEW, path, sizeof(path)))
		return vp_error_set(err, ENAMETOOLONG, "pool: volume %s", v->id);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, IMAGE_MODE);
	if (fd < 0)
		return vp_error_set(err, errno, "pool: create %s", path);
	if (v->source[0])
		ret = copy_source(p, v->source, fd, reflinked, err);
	if (!ret && ftruncate(fd, (off_t)v->size) < 0)
		ret = vp_error_set(err, errno, "pool: size %s", path);
	if (!ret && fsync(fd) < 0)
		ret = vp_error_set(err, errno, "pool: fsync %s", path);
	close(fd);
	if (ret)
		unlink(path);
	return ret;
}

int vp_pool_create(struct vp_pool *p, const char *prefix, struct vp_volume *v, bool *reflinked,
		   struct vp_error *err)
{
	int ret;

	if (p->n >= VP_POOL_MAX_VOLUMES)
		return vp_error_code(err, 0, ENOSPC, "pool: %d entries already", VP_POOL_MAX_VOLUMES);
	ret = vp_pool_new_id(v->id, prefix, err);
	if (ret)
		return ret;
	v->image_missing = false;
	*reflinked = false;
	ret = create_image(p, v, reflinked, err);
	if (ret)
		return ret;
	/* The record first: a crash before it leaves a .new file that start
	 * removes, a crash after it one that start renames into place. */
	ret = write_record(p, v, err) ?: vp_pool_move(p, v->id, F_NEW, F_IMAGE, err);
	if (ret) {
		(void)vp_pool_unlink_kind(p, v->id, F_RECORD, NULL);
		(void)vp_pool_unlink_kind(p, v->id, F_NEW, NULL);
		return ret;
	}
	pthread_mutex_lock(&p->lock);
	ret = vp_pool_table_insert(p, v);
	pthread_mutex_unlock(&p->lock);
	if (ret) {
		/* Not in the table, so never acknowledged: undo it whole. */
		if (!vp_pool_move(p, v->id, F_IMAGE, F_DEL, NULL))
			(void)vp_pool_finish_delete(p, v->id, NULL);
		return vp_error_set(err, -ret, "pool: volume table");
	}
	return 0;
}

/* Remove the record and the .del image of id, durably. */
int vp_pool_finish_delete(struct vp_pool *p, const char *id, struct vp_error *err)
{
	int ret = vp_pool_unlink_kind(p, id, F_RECORD, err) ?: vp_pool_fsync_dir(p->vol_dir, err);

	return ret ?: vp_pool_unlink_kind(p, id, F_DEL, err);
}

int vp_pool_delete(struct vp_pool *p, const char *id, struct vp_error *err)
{
	struct vp_volume v;
	int ret;

	if (vp_pool_find_id(p, id, &v))
		return 0;
	/* The image goes out of the way first: a crash then leaves a .del
	 * file, and start finishes the deletion. */
	if (!v.image_missing) {
		ret = vp_pool_move(p, id, F_IMAGE, F_DEL, err);
		/* An image removed behind the driver's back since start: the
		 * volume is gone but for its record, which goes now. */
		if (ret == -ENOENT)
			vp_error_clear(err);
		else if (ret)
			return ret;
	}
	ret = vp_pool_finish_delete(p, id, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	vp_pool_table_remove(p, id);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int vp_pool_grow(struct vp_pool *p, const char *id, uint64_t size, struct vp_volume *out,
		 struct vp_error *err)
{
	char path[PATH_MAX];
	int ret;

	if (vp_pool_find_id(p, id, out))
		return vp_error_code(err, 0, ENOENT, "volume %s does not exist", id);
	if (out->image_missing)
		return vp_error_code(err, 0, EIO, "volume %s has lost its image", id);
	if (size <= out->size)
		return 0;
	if (vp_pool_path_of(p, id, F_IMAGE, path, sizeof(path)))
		return vp_error_set(err, ENAMETOOLONG, "pool: volume %s", id);
	/* The image grows before the record says so: a crash in between
	 * leaves a record smaller than its image, and a repeated expand fixes it. */
	if (truncate(path, (off_t)size) < 0)
		return vp_error_set(err, errno, "pool: grow %s", path);
	out->size = size;
	ret = write_record(p, out, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	ret = vp_pool_table_insert(p, out);
	pthread_mutex_unlock(&p->lock);
	return ret ? vp_error_set(err, -ret, "pool: volume table") : 0;
}

int vp_pool_free_bytes(struct vp_pool *p, uint64_t *bytes, struct vp_error *err)
{
	struct statvfs st;

	if (statvfs(p->vol_dir, &st) < 0)
		return vp_error_set(err, errno, "pool: statvfs %s", p->vol_dir);
	*bytes = (uint64_t)st.f_bavail * st.f_frsize;
	return 0;
}

int vp_pool_check_usable(struct vp_pool *p, struct vp_error *err)
{
	if (access(p->vol_dir, R_OK | W_OK | X_OK) < 0)
		return vp_error_set(err, errno, "pool %s", p->vol_dir);
	return 0;
}
