/* store.c - open, load and query the IPAM state log; record changes in
 * memory until commit (commit.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/statefile.h"
#include "cni/core/cni.h"
#include "cni/ipam/store.h"

static void set_code(struct vp_error *err, int code)
{
	if (err)
		err->code = code;
}

/* The map of the range holding ip, or NULL. */
static struct vp_ipam_used *used_for(const struct vp_ipam_store *s, const struct vp_ip *ip)
{
	for (size_t i = 0; i < s->n_used; i++)
		if (vp_ipam_used_contains(&s->used[i], ip))
			return &s->used[i];
	return NULL;
}

bool vp_ipam_rec_is(const struct vp_ipam_rec *rec, const char *cid, const char *ifname)
{
	return rec->kind == VP_IPAM_REC_ALLOC && strlen(cid) == rec->cid_len &&
	       memcmp(rec->cid, cid, rec->cid_len) == 0 && strlen(ifname) == rec->ifname_len &&
	       memcmp(rec->ifname, ifname, rec->ifname_len) == 0;
}

static int push_held(struct vp_ipam_store *s, const struct vp_ipam_rec *rec)
{
	struct vp_ipam_rec *n = realloc(s->held, (s->n_held + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	s->held = n;
	s->held[s->n_held++] = *rec;
	return 0;
}

/* Account for one record at load: 0, -EBADMSG with *why, or -ENOMEM. */
static int load_record(struct vp_ipam_store *s, const struct vp_ipam_rec *rec, const char **why)
{
	struct vp_ipam_used *u;
	int ret;

	s->n_records++;
	if (rec->kind == VP_IPAM_REC_CURSOR && rec->set < s->cfg->n_sets)
		s->cursors[rec->set] = rec->ip;
	if (rec->kind != VP_IPAM_REC_ALLOC)
		return 0;
	s->live++;
	/* Addresses outside every range (the config changed) cannot be handed
	 * out again, so they need no map. */
	u = used_for(s, &rec->ip);
	ret = u ? vp_ipam_used_set(u, &rec->ip) : 0;
	if (ret == -EEXIST) {
		*why = "address allocated twice";
		return -EBADMSG;
	}
	/* Lengths first: most records differ from the key there. */
	if (ret == 0 && s->cid && rec->cid_len == s->cid_len && rec->ifname_len == s->ifname_len &&
	    vp_ipam_rec_is(rec, s->cid, s->ifname))
		ret = push_held(s, rec);
	return ret;
}

/* Cut away a torn last record (a crash mid-append; never acknowledged) so
 * that appends continue on a line boundary and the file holds no trace of
 * it.  Needs no sync: if the cut is lost, the record is still ignored.
 * Scans then stop at valid_len: pages past the new end must not be read. */
static int cut_torn(struct vp_ipam_store *s, struct vp_error *err)
{
	int e;

	if (s->map_len == s->valid_len || ftruncate(s->fd, (off_t)s->valid_len) == 0)
		return 0;
	e = errno;
	return vp_error_code(err, VP_CNI_ERR_IO, e, "cut the torn last record of %s: %s", s->path,
			     strerror(e));
}

static int load(struct vp_ipam_store *s, struct vp_error *err)
{
	struct vp_ipam_scan sc;
	struct vp_ipam_rec rec;
	const char *why = NULL;
	int ret;

	if ((ret = vp_ipam_scan_init(&sc, s->map, s->map_len, &why)) == 0)
		while ((ret = vp_ipam_scan_next(&sc, &rec, &why)) > 0)
			if ((ret = load_record(s, &rec, &why)))
				break;
	s->valid_len = sc.end;
	if (ret == 0)
		return cut_torn(s, err);
	if (ret == -ENOMEM)
		return vp_error_code(err, VP_CNI_ERR_IO, ENOMEM, "load %s: out of memory", s->path);
	return vp_error_code(err, VP_CNI_ERR_IO, EBADMSG,
			     "state file %s is damaged at line %zu: %s; refusing to reset it "
			     "(move it away to start empty)", s->path, sc.lineno, why);
}

/* Map the state file, if there is one. */
static int map_file(struct vp_ipam_store *s, struct vp_error *err)
{
	struct stat st;
	void *map;

	s->fd = open(s->path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return errno == ENOENT ? 0 : vp_error_set(err, errno, "open %s", s->path);
	if (fstat(s->fd, &st) < 0)
		return vp_error_set(err, errno, "stat %s", s->path);
	if (st.st_size == 0)
		return 0;
	/* MAP_POPULATE: one call maps every page instead of a fault per page. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, s->fd, 0);
	if (map == MAP_FAILED)
		return vp_error_set(err, errno, "map %s", s->path);
	s->map = map;
	s->map_len = (size_t)st.st_size;
	return 0;
}

/* One map per range of every set, and the per-set cursors. */
static int init_sets(struct vp_ipam_store *s)
{
	const struct vp_ipam_config *cfg = s->cfg;
	size_t n = 0;

	s->first = calloc(cfg->n_sets + 1, sizeof(*s->first));
	s->cursors = calloc(cfg->n_sets + 1, sizeof(*s->cursors));
	s->cursor_dirty = calloc(cfg->n_sets + 1, sizeof(*s->cursor_dirty));
	if (!s->first || !s->cursors || !s->cursor_dirty)
		return -ENOMEM;
	for (size_t k = 0; k < cfg->n_sets; k++)
		n += cfg->sets[k].n;
	s->used = calloc(n + 1, sizeof(*s->used));
	if (!s->used)
		return -ENOMEM;
	for (size_t k = 0; k < cfg->n_sets; k++) {
		s->first[k] = s->n_used;
		for (size_t j = 0; j < cfg->sets[k].n; j++, s->n_used++)
			if (vp_ipam_used_init(&s->used[s->n_used], &cfg->sets[k].ranges[j]))
				return -ENOMEM;
		s->first[k + 1] = s->n_used;
	}
	return 0;
}

/* "a/b" in a new buffer, or NULL. */
static char *join(const char *a, const char *b)
{
	char *out;

	return asprintf(&out, "%s/%s", a, b) < 0 ? NULL : out;
}

int vp_ipam_store_open(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		       struct vp_ipam_store **out, struct vp_error *err)
{
	struct vp_ipam_store *s = calloc(1, sizeof(*s));
	char *lock = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	if (!s)
		return vp_error_set(err, ENOMEM, "ipam store");
	s->lock_fd = s->fd = -1;
	s->cfg = cfg;
	s->cid = cid;
	s->ifname = ifname;
	s->cid_len = cid ? strlen(cid) : 0;
	s->ifname_len = ifname ? strlen(ifname) : 0;
	s->dir = join(cfg->data_dir, cfg->network);
	s->path = s->dir ? join(s->dir, VP_IPAM_STATE_FILE) : NULL;
	lock = s->dir ? join(s->dir, VP_IPAM_LOCK_FILE) : NULL;
	if (!s->path || !lock || init_sets(s)) {
		vp_error_set(err, ENOMEM, "ipam store");
		goto out;
	}
	if ((ret = vp_mkdir_p(s->dir, 0755, err)) || (ret = vp_lock_acquire(lock, &s->lock_fd, err)) ||
	    (ret = map_file(s, err))) {
		set_code(err, VP_CNI_ERR_IO);
		goto out;
	}
	if ((s->fd >= 0 && (ret = load(s, err))) || (ret = vp_ipam_hostlocal_load(s, err)))
		goto out;
	*out = s;
	ret = 0;
out:
	free(lock);
	if (ret)
		vp_ipam_store_close(s);
	return ret;
}

void vp_ipam_store_close(struct vp_ipam_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_used; i++)
		vp_ipam_used_exit(&s->used[i]);
	free(s->used);
	free(s->first);
	free(s->cursors);
	free(s->cursor_dirty);
	free(s->held);
	vp_ipam_hostlocal_free(s);
	free(s->pending);
	free(s->dead);
	if (s->map)
		munmap((void *)s->map, s->map_len);
	if (s->fd >= 0)
		close(s->fd);
	vp_lock_release(s->lock_fd);
	free(s->path);
	free(s->dir);
	free(s);
}

bool vp_ipam_store_used(const struct vp_ipam_store *s, const struct vp_ip *ip)
{
	const struct vp_ipam_used *u = used_for(s, ip);

	return u && vp_ipam_used_test(u, ip);
}

bool vp_ipam_store_in_range(const struct vp_ipam_store *s, const struct vp_ip *ip)
{
	return used_for(s, ip) != NULL;
}

int vp_ipam_store_mark(struct vp_ipam_store *s, const struct vp_ip *ip)
{
	struct vp_ipam_used *u = used_for(s, ip);
	int ret = u ? vp_ipam_used_set(u, ip) : 0;

	return ret == -EEXIST ? 0 : ret;   /* in the state file too: taken either way */
}

/* The file was validated at load, so the scan cannot fail. */
static bool next_alloc(struct vp_ipam_scan *sc, struct vp_ipam_rec *rec)
{
	const char *why;

	while (vp_ipam_scan_next(sc, rec, &why) > 0)
		if (rec->kind == VP_IPAM_REC_ALLOC)
			return true;
	return false;
}

int vp_ipam_store_owner(const struct vp_ipam_store *s, const struct vp_ip *ip,
			struct vp_ipam_rec *out)
{
	struct vp_ipam_scan sc;
	const char *why;

	if (!s->map || vp_ipam_scan_init(&sc, s->map, s->valid_len, &why))
		return -ENOENT;
	while (next_alloc(&sc, out))
		if (vp_ip_equal(&out->ip, ip))
			return 0;
	return -ENOENT;
}

void vp_ipam_store_foreach(struct vp_ipam_store *s,
			   void (*fn)(struct vp_ipam_store *s, const struct vp_ipam_rec *rec, void *ctx),
			   void *ctx)
{
	struct vp_ipam_scan sc;
	struct vp_ipam_rec rec;
	const char *why;

	if (!s->map || vp_ipam_scan_init(&sc, s->map, s->valid_len, &why))
		return;
	while (next_alloc(&sc, &rec))
		fn(s, &rec, ctx);
}

int vp_ipam_store_find_free(const struct vp_ipam_store *s, size_t idx, struct vp_ip *out)
{
	size_t first = s->first[idx];

	return vp_ipam_used_find_free(&s->used[first], s->first[idx + 1] - first,
				      &s->cursors[idx], out);
}

/* Append "a <ip> <cid> <ifname>\n" to the pending records. */
static int push_pending(struct vp_ipam_store *s, const struct vp_ip *ip, const char *cid,
			const char *ifname)
{
	char ipbuf[VP_IP_STRLEN];
	size_t need = 2 + VP_IP_STRLEN + strlen(cid) + strlen(ifname) + 3;
	int n;

	if (s->pending_len + need > s->pending_cap) {
		size_t cap = (s->pending_cap + need) * 2;
		char *p = realloc(s->pending, cap);

		if (!p)
			return -ENOMEM;
		s->pending = p;
		s->pending_cap = cap;
	}
	n = snprintf(s->pending + s->pending_len, s->pending_cap - s->pending_len, "a %s %s %s\n",
		     vp_ip_str(ip, ipbuf), cid, ifname);
	s->pending_len += (size_t)n;
	s->n_pending++;
	return 0;
}

int vp_ipam_store_add(struct vp_ipam_store *s, const struct vp_ip *ip, const char *cid,
		      const char *ifname, struct vp_error *err)
{
	struct vp_ipam_used *u = used_for(s, ip);
	char ipbuf[VP_IP_STRLEN];
	int ret;

	if (!vp_ipam_word_ok(cid, strlen(cid), VP_IPAM_MAX_CID) ||
	    !vp_ipam_word_ok(ifname, strlen(ifname), VP_IPAM_MAX_IFNAME))
		return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0,
				     "container ID \"%s\" / ifname \"%s\": empty, too long or "
				     "holds whitespace", cid, ifname);
	if (!u)
		return vp_error_set(err, EINVAL, "%s is in no range", vp_ip_str(ip, ipbuf));
	if ((ret = vp_ipam_used_set(u, ip)))
		return vp_error_set(err, -ret, "%s", vp_ip_str(ip, ipbuf));
	/* On failure the address stays marked: harmless, the session fails. */
	if (push_pending(s, ip, cid, ifname))
		return vp_error_set(err, ENOMEM, "ipam store");
	s->live++;
	return 0;
}

int vp_ipam_store_remove(struct vp_ipam_store *s, const struct vp_ipam_rec *rec)
{
	if (s->n_dead == s->dead_cap) {
		size_t cap = s->dead_cap ? s->dead_cap * 2 : 8;
		struct vp_ipam_dead *n = realloc(s->dead, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->dead = n;
		s->dead_cap = cap;
	}
	s->dead[s->n_dead++] = (struct vp_ipam_dead){ .off = rec->off, .len = rec->len };
	s->live--;
	return 0;
}

struct vp_ip vp_ipam_store_cursor(const struct vp_ipam_store *s, size_t idx)
{
	return s->cursors[idx];
}

void vp_ipam_store_set_cursor(struct vp_ipam_store *s, size_t idx, const struct vp_ip *ip)
{
	s->cursors[idx] = *ip;
	/* The format caps set indices: a set past the cap (an absurd config)
	 * restarts from its first range in each session. */
	s->cursor_dirty[idx] = idx < VP_IPAM_MAX_SETS;
}
