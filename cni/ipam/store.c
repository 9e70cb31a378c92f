/* store.c - load, query, change and atomically rewrite the IPAM state file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lock.h"
#include "common/statefile.h"
#include "cni/core/cni.h"
#include "cni/ipam/store.h"

#define STATE_MAGIC "vplumb-ipam 1"
#define MAX_CURSORS 1024
#define MAX_CID 1024
#define MAX_IFNAME 15

static void set_code(struct vp_error *err, int code)
{
	if (err)
		err->code = code;
}

static uint64_t ip_hash(const struct vp_ip *ip)
{
	uint64_t a, b, h;

	memcpy(&a, ip->addr, 8);
	memcpy(&b, ip->addr + 8, 8);
	h = (a ^ (b * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)ip->family) * 0xff51afd7ed558ccdULL;
	return h ^ (h >> 29);
}

/* The slot holding ip (live or dead), or the empty slot where it would go. */
static size_t find_slot(const struct vp_ipam_store *s, const struct vp_ip *ip)
{
	size_t mask = s->table_cap - 1, i = (size_t)ip_hash(ip) & mask;

	while (s->table[i] && !vp_ip_equal(&s->allocs[s->table[i] - 1].ip, ip))
		i = (i + 1) & mask;
	return i;
}

static int table_grow(struct vp_ipam_store *s)
{
	size_t cap = s->table_cap ? s->table_cap * 2 : 64;
	uint32_t *old = s->table;
	size_t old_cap = s->table_cap;

	s->table = calloc(cap, sizeof(*s->table));
	if (!s->table) {
		s->table = old;
		return -ENOMEM;
	}
	s->table_cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			s->table[find_slot(s, &s->allocs[old[i] - 1].ip)] = old[i];
	free(old);
	return 0;
}

/* Append a record and index it; the caller checked ip is not live. */
static int push_alloc(struct vp_ipam_store *s, const struct vp_ipam_alloc *a)
{
	size_t slot;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct vp_ipam_alloc *n;

		if (cap >= UINT32_MAX / 2)
			return -ENOMEM;
		n = realloc(s->allocs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->allocs = n;
		s->cap = cap;
	}
	if ((s->n + 1) * 2 > s->table_cap && table_grow(s))
		return -ENOMEM;
	s->allocs[s->n] = *a;
	slot = find_slot(s, &a->ip);
	s->table[slot] = (uint32_t)(s->n + 1);
	s->n++;
	s->live++;
	return 0;
}

struct vp_ipam_alloc *vp_ipam_store_find(const struct vp_ipam_store *s, const struct vp_ip *ip)
{
	size_t slot;

	if (!s->table_cap)
		return NULL;
	slot = find_slot(s, ip);
	if (!s->table[slot] || s->allocs[s->table[slot] - 1].dead)
		return NULL;
	return &s->allocs[s->table[slot] - 1];
}

bool vp_ipam_store_used(void *ctx, const struct vp_ip *ip)
{
	return vp_ipam_store_find(ctx, ip) != NULL;
}

bool vp_ipam_alloc_is(const struct vp_ipam_alloc *a, const char *cid, const char *ifname)
{
	return !a->dead && strlen(cid) == a->cid_len && memcmp(a->cid, cid, a->cid_len) == 0 &&
	       strlen(ifname) == a->ifname_len && memcmp(a->ifname, ifname, a->ifname_len) == 0;
}

/* A field of the file: non-empty, bounded, printable without spaces. */
static bool word_ok(const char *w, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)w[i]))
			return false;
	return true;
}

/* Split "ip cid ifname" (len bytes at line) into a record. */
static int parse_alloc(const char *line, size_t len, struct vp_ipam_alloc *a)
{
	const char *sp1 = memchr(line, ' ', len), *sp2;
	char ipbuf[VP_IP_STRLEN];

	memset(a, 0, sizeof(*a));
	if (!sp1 || (size_t)(sp1 - line) >= sizeof(ipbuf))
		return -EINVAL;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
	if (!sp2 || len > UINT16_MAX)
		return -EINVAL;
	memcpy(ipbuf, line, (size_t)(sp1 - line));
	ipbuf[sp1 - line] = '\0';
	a->line = line;
	a->line_len = (uint16_t)len;
	a->cid = sp1 + 1;
	a->cid_len = (uint16_t)(sp2 - a->cid);
	a->ifname = sp2 + 1;
	a->ifname_len = (uint16_t)(line + len - a->ifname);
	if (vp_ip_parse(ipbuf, &a->ip) || !word_ok(a->cid, a->cid_len, MAX_CID) ||
	    !word_ok(a->ifname, a->ifname_len, MAX_IFNAME))
		return -EINVAL;
	return 0;
}

static int grow_cursors(struct vp_ipam_store *s, size_t idx)
{
	struct vp_ip *n;

	if (idx < s->n_cursors)
		return 0;
	if (idx >= MAX_CURSORS)
		return -EINVAL;
	n = realloc(s->cursors, (idx + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + s->n_cursors, 0, (idx + 1 - s->n_cursors) * sizeof(*n));
	s->cursors = n;
	s->n_cursors = idx + 1;
	return 0;
}

static int parse_cursor(struct vp_ipam_store *s, const char *line, size_t len)
{
	char buf[80];
	unsigned idx;
	int used = 0;
	struct vp_ip ip;
	char ipbuf[VP_IP_STRLEN];

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (sscanf(buf, "cursor %u %45s%n", &idx, ipbuf, &used) != 2 || (size_t)used != len ||
	    vp_ip_parse(ipbuf, &ip) || grow_cursors(s, idx))
		return -EINVAL;
	s->cursors[idx] = ip;
	return 0;
}

/* Parse one line; *end is set by the trailer, after which nothing may follow. */
static int parse_line(struct vp_ipam_store *s, const char *line, size_t len, bool *end,
		      const char **why)
{
	struct vp_ipam_alloc a;
	unsigned long count;
	char *stop;

	*why = "malformed line";
	if (*end)
		return -EINVAL;
	if (len > 4 && memcmp(line, "end ", 4) == 0) {
		count = strtoul(line + 4, &stop, 10);
		*why = "allocation count does not match the trailer";
		*end = true;
		return stop == line + len && count == s->n ? 0 : -EINVAL;
	}
	if (len > 7 && memcmp(line, "cursor ", 7) == 0)
		return parse_cursor(s, line, len);
	if (parse_alloc(line, len, &a))
		return -EINVAL;
	*why = "address allocated twice";
	if (vp_ipam_store_find(s, &a.ip))
		return -EINVAL;
	*why = "out of memory";
	return push_alloc(s, &a) ? -ENOMEM : 0;
}

static int parse_state(struct vp_ipam_store *s, size_t len, struct vp_error *err)
{
	const char *p = s->buf, *stop = s->buf + len, *why = "missing header";
	size_t lineno = 1;
	bool end = false;
	int ret = -EINVAL;

	if (len < sizeof(STATE_MAGIC) || memcmp(p, STATE_MAGIC "\n", sizeof(STATE_MAGIC)) != 0)
		goto out;
	for (p += sizeof(STATE_MAGIC), lineno = 2; p < stop; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));

		why = "truncated line";
		if (!nl || (ret = parse_line(s, p, (size_t)(nl - p), &end, &why)))
			goto out;
		p = nl + 1;
	}
	why = "missing trailer (truncated?)";
	ret = end ? 0 : -EINVAL;
out:
	if (ret)
		vp_error_code(err, VP_CNI_ERR_IO, 0,
			      "state file %s is damaged at line %zu: %s; refusing to reset it "
			      "(move it away to start empty)", s->path, lineno, why);
	return ret ? -EBADMSG : 0;
}

static int store_load(struct vp_ipam_store *s, struct vp_error *err)
{
	size_t len;
	int ret = vp_statefile_read(s->path, &s->buf, &len, err);

	if (ret == -ENOENT)
		return 0;
	if (ret) {
		set_code(err, VP_CNI_ERR_IO);
		return ret;
	}
	return parse_state(s, len, err);
}

/* "a/b" in a new buffer, or NULL. */
static char *join(const char *a, const char *b)
{
	char *out;

	return asprintf(&out, "%s/%s", a, b) < 0 ? NULL : out;
}

int vp_ipam_store_open(const char *data_dir, const char *network, struct vp_ipam_store **out,
		       struct vp_error *err)
{
	struct vp_ipam_store *s = calloc(1, sizeof(*s));
	char *lock = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	if (!s)
		return vp_error_set(err, ENOMEM, "ipam store");
	s->lock_fd = -1;
	s->dir = join(data_dir, network);
	s->path = s->dir ? join(s->dir, VP_IPAM_STATE_FILE) : NULL;
	lock = s->dir ? join(s->dir, VP_IPAM_LOCK_FILE) : NULL;
	if (!s->path || !lock) {
		vp_error_set(err, ENOMEM, "ipam store");
		goto out;
	}
	if ((ret = vp_mkdir_p(s->dir, 0755, err)) || (ret = vp_lock_acquire(lock, &s->lock_fd, err))) {
		set_code(err, VP_CNI_ERR_IO);
		goto out;
	}
	if ((ret = store_load(s, err)))
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
	for (size_t i = 0; i < s->n; i++)
		free(s->allocs[i].owned);
	free(s->allocs);
	free(s->table);
	free(s->cursors);
	free(s->buf);
	vp_lock_release(s->lock_fd);
	free(s->path);
	free(s->dir);
	free(s);
}

int vp_ipam_store_add(struct vp_ipam_store *s, const struct vp_ip *ip, const char *cid,
		      const char *ifname, struct vp_error *err)
{
	char ipbuf[VP_IP_STRLEN];
	struct vp_ipam_alloc a = { .ip = *ip };
	int len;

	if (!word_ok(cid, strlen(cid), MAX_CID) || !word_ok(ifname, strlen(ifname), MAX_IFNAME))
		return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0,
				     "container ID \"%s\" / ifname \"%s\": empty, too long or "
				     "holds whitespace", cid, ifname);
	if (vp_ipam_store_find(s, ip))
		return vp_error_set(err, EEXIST, "%s", vp_ip_str(ip, ipbuf));
	len = asprintf(&a.owned, "%s %s %s", vp_ip_str(ip, ipbuf), cid, ifname);
	if (len < 0)
		return vp_error_set(err, ENOMEM, "ipam store");
	a.line = a.owned;
	a.line_len = (uint16_t)len;
	a.cid = a.owned + strlen(ipbuf) + 1;
	a.cid_len = (uint16_t)strlen(cid);
	a.ifname = a.cid + a.cid_len + 1;
	a.ifname_len = (uint16_t)strlen(ifname);
	if (push_alloc(s, &a)) {
		free(a.owned);
		return vp_error_set(err, ENOMEM, "ipam store");
	}
	s->dirty = true;
	return 0;
}

void vp_ipam_store_remove(struct vp_ipam_store *s, struct vp_ipam_alloc *a)
{
	if (a->dead)
		return;
	a->dead = true;
	s->live--;
	s->dirty = true;
}

struct vp_ip vp_ipam_store_cursor(const struct vp_ipam_store *s, size_t idx)
{
	struct vp_ip none = { 0 };

	return idx < s->n_cursors ? s->cursors[idx] : none;
}

int vp_ipam_store_set_cursor(struct vp_ipam_store *s, size_t idx, const struct vp_ip *ip,
			     struct vp_error *err)
{
	if (grow_cursors(s, idx))
		return vp_error_set(err, ENOMEM, "ipam store cursor %zu", idx);
	s->cursors[idx] = *ip;
	s->dirty = true;
	return 0;
}

/* Render the whole state into one malloc'd buffer. */
static char *render(const struct vp_ipam_store *s, size_t *len)
{
	size_t cap = sizeof(STATE_MAGIC) + 32 + s->n_cursors * (16 + VP_IP_STRLEN), off;
	char *buf, ipbuf[VP_IP_STRLEN];

	for (size_t i = 0; i < s->n; i++)
		cap += s->allocs[i].dead ? 0 : s->allocs[i].line_len + 1u;
	buf = malloc(cap);
	if (!buf)
		return NULL;
	off = (size_t)sprintf(buf, STATE_MAGIC "\n");
	for (size_t i = 0; i < s->n_cursors; i++)
		if (s->cursors[i].family)
			off += (size_t)sprintf(buf + off, "cursor %zu %s\n", i,
					       vp_ip_str(&s->cursors[i], ipbuf));
	for (size_t i = 0; i < s->n; i++) {
		const struct vp_ipam_alloc *a = &s->allocs[i];

		if (a->dead)
			continue;
		memcpy(buf + off, a->line, a->line_len);
		off += a->line_len;
		buf[off++] = '\n';
	}
	off += (size_t)snprintf(buf + off, cap - off, "end %zu\n", s->live);
	*len = off;
	return buf;
}

int vp_ipam_store_commit(struct vp_ipam_store *s, struct vp_error *err)
{
	size_t len;
	char *buf;
	int ret;

	if (!s->dirty)
		return 0;
	buf = render(s, &len);
	if (!buf)
		return vp_error_set(err, ENOMEM, "ipam state");
	ret = vp_statefile_write(s->path, buf, len, 0644, err);
	free(buf);
	if (ret) {
		set_code(err, VP_CNI_ERR_IO);
		return ret;
	}
	s->dirty = false;
	return 0;
}
