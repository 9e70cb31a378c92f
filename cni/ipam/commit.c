/* commit.c - make a store session's changes durable: append to the state
 * log and release records in place, or rewrite the log compacted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/statefile.h"
#include "cni/core/cni.h"
#include "cni/ipam/store.h"

/* Dead records tolerated beyond the live ones before a rewrite. */
#define COMPACT_SLACK 1024
#define CURSOR_MAX (24 + VP_IP_STRLEN)   /* "c <set> <ip>\n" */

static size_t count_cursors(const struct vp_ipam_store *s, bool dirty_only)
{
	size_t n = 0;

	for (size_t k = 0; k < s->cfg->n_sets; k++)
		n += dirty_only ? s->cursor_dirty[k] : s->cursors[k].family != 0;
	return n;
}

/* Whether dead records, after this session, exceed live ones plus a slack:
 * then a rewrite costs O(live) once per O(live) operations. */
static bool compaction_due(const struct vp_ipam_store *s)
{
	size_t live = s->live + count_cursors(s, false);
	size_t total = s->n_records + s->n_pending + count_cursors(s, true);

	return total > live && total - live > live + COMPACT_SLACK;
}

/* Render the cursors (all, or only those changed) at buf; returns the length. */
static size_t render_cursors(const struct vp_ipam_store *s, char *buf, bool dirty_only)
{
	char ipbuf[VP_IP_STRLEN];
	size_t off = 0;

	for (size_t k = 0; k < s->cfg->n_sets && k < VP_IPAM_MAX_SETS; k++)
		if (s->cursors[k].family && (!dirty_only || s->cursor_dirty[k]))
			off += (size_t)snprintf(buf + off, CURSOR_MAX, "c %zu %s\n", k,
						vp_ip_str(&s->cursors[k], ipbuf));
	return off;
}

static int dead_cmp(const void *pa, const void *pb)
{
	const struct vp_ipam_dead *a = pa, *b = pb;

	return a->off < b->off ? -1 : a->off > b->off;
}

/* Copy the file's live allocation records, minus the dead ones, to buf. */
static size_t render_live(struct vp_ipam_store *s, char *buf)
{
	struct vp_ipam_scan sc;
	struct vp_ipam_rec rec;
	const char *why;
	size_t off = 0, d = 0;

	if (!s->map || vp_ipam_scan_init(&sc, s->map, s->valid_len, &why))
		return 0;
	if (s->n_dead)
		qsort(s->dead, s->n_dead, sizeof(*s->dead), dead_cmp);
	while (vp_ipam_scan_next(&sc, &rec, &why) > 0) {
		while (d < s->n_dead && s->dead[d].off < rec.off)
			d++;
		if (rec.kind != VP_IPAM_REC_ALLOC || (d < s->n_dead && s->dead[d].off == rec.off))
			continue;
		memcpy(buf + off, s->map + rec.off, rec.len + 1);
		off += rec.len + 1;
	}
	return off;
}

/* Replace the file with header, cursors, live records and pending ones. */
static int rewrite(struct vp_ipam_store *s, struct vp_error *err)
{
	size_t hlen = strlen(VP_IPAM_HEADER), len = hlen;
	char *buf = malloc(hlen + s->cfg->n_sets * CURSOR_MAX + s->valid_len + s->pending_len);
	int ret;

	if (!buf)
		return vp_error_set(err, ENOMEM, "ipam state");
	memcpy(buf, VP_IPAM_HEADER, hlen);
	len += render_cursors(s, buf + len, false);
	len += render_live(s, buf + len);
	if (s->pending_len)
		memcpy(buf + len, s->pending, s->pending_len);
	len += s->pending_len;
	ret = vp_statefile_write(s->path, buf, len, 0644, err);
	free(buf);
	return ret;
}

static int pwrite_all(int fd, const char *buf, size_t len, size_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
		off += (size_t)n;
	}
	return 0;
}

/* Append the pending records and changed cursors in one write (open cut
 * any torn record away, so the file ends at valid_len). */
static int append(struct vp_ipam_store *s)
{
	size_t len = s->pending_len;
	char *p = realloc(s->pending, len + s->cfg->n_sets * CURSOR_MAX);
	int ret;

	if (!p)
		return -ENOMEM;
	s->pending = p;
	len += render_cursors(s, p + len, true);
	ret = pwrite_all(s->fd, p, len, s->valid_len);
	if (ret && ftruncate(s->fd, (off_t)s->valid_len) < 0) {
		/* What was written stays: a torn record the next open cuts
		 * away, or whole records DEL or GC free. */
	}
	return ret;
}

/* Blank released records after their '-' is durable, so their keys leave
 * the file; any mix of old and blank bytes still reads as released. */
static void blank_dead(struct vp_ipam_store *s)
{
	char spaces[256];

	memset(spaces, ' ', sizeof(spaces));
	for (size_t i = 0; i < s->n_dead; i++)
		for (size_t off = 1, n; off < s->dead[i].len; off += n) {
			n = s->dead[i].len - off < sizeof(spaces) ? s->dead[i].len - off : sizeof(spaces);
			if (pwrite_all(s->fd, spaces, n, s->dead[i].off + off))
				break;   /* still released: only the blanking is lost */
		}
}

static int log_commit(struct vp_ipam_store *s, struct vp_error *err)
{
	int ret = 0;

	for (size_t i = 0; i < s->n_dead && !ret; i++)
		ret = pwrite_all(s->fd, "-", 1, s->dead[i].off);
	if (ret == 0 && (s->pending_len || count_cursors(s, true)))
		ret = append(s);
	if (ret == 0 && fdatasync(s->fd) < 0)
		ret = -errno;
	if (ret)
		return vp_error_set(err, -ret, "update %s", s->path);
	blank_dead(s);
	return 0;
}

int vp_ipam_store_commit(struct vp_ipam_store *s, struct vp_error *err)
{
	int ret;

	if (!s->pending_len && !s->n_dead && !count_cursors(s, true) && !s->compact)
		return 0;
	if (s->fd < 0 || s->compact || compaction_due(s))
		ret = rewrite(s, err);
	else
		ret = log_commit(s, err);
	if (ret && err)
		err->code = VP_CNI_ERR_IO;
	return ret;
}
