/* allocator.c - allocate, release, check and garbage-collect addresses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cni/ipam/allocator.h"
#include "cni/ipam/store.h"

#define SET_STR 256

static void hold(const struct vp_ipam_config *cfg, const struct vp_ip *ip, struct vp_ip *held)
{
	for (size_t k = 0; k < cfg->n_sets; k++)
		if (!held[k].family && vp_ipam_rangeset_find(&cfg->sets[k], ip))
			held[k] = *ip;
}

/* The address the session's key holds in each range set (family 0: none),
 * in the state file or in a host-local reservation. */
static void held_by(const struct vp_ipam_config *cfg, const struct vp_ipam_store *s,
		    struct vp_ip *held)
{
	memset(held, 0, cfg->n_sets * sizeof(*held));
	for (size_t i = 0; i < s->n_held; i++)
		hold(cfg, &s->held[i].ip, held);
	for (size_t i = 0; i < s->n_hl; i++)
		if (vp_ipam_hostlocal_is(&s->hl[i], s->cid, s->ifname))
			hold(cfg, &s->hl[i].ip, held);
}

/* Take the requested address req of set idx. */
static int take_requested(const struct vp_ipam_store *s, const struct vp_ip *req,
			  struct vp_error *err)
{
	char a[VP_IP_STRLEN];
	struct vp_ipam_rec owner;

	if (!vp_ipam_store_used(s, req))
		return 0;
	if (vp_ipam_store_owner(s, req, &owner))
		return vp_error_code(err, VP_CNI_ERR_TRY_AGAIN, 0,
				     "requested IP %s is already allocated", vp_ip_str(req, a));
	return vp_error_code(err, VP_CNI_ERR_TRY_AGAIN, 0,
			     "requested IP %s is already allocated to container %.*s ifname %.*s",
			     vp_ip_str(req, a), (int)owner.cid_len, owner.cid,
			     (int)owner.ifname_len, owner.ifname);
}

/* Pick the address of set idx: the requested one, or the next free one. */
static int pick(const struct vp_ipam_config *cfg, struct vp_ipam_store *s, size_t idx,
		struct vp_ip *out, struct vp_error *err)
{
	const struct vp_ip *req = &cfg->requested[idx];
	char buf[SET_STR];
	int ret;

	if (req->family) {
		if ((ret = take_requested(s, req, err)))
			return ret;
		*out = *req;
		return 0;
	}
	if (vp_ipam_store_find_free(s, idx, out))
		return vp_error_code(err, VP_CNI_ERR_EXHAUSTED, ENOSPC,
				     "no free address in range set %zu (%s)", idx,
				     vp_ipam_rangeset_str(&cfg->sets[idx], buf, sizeof(buf)));
	return 0;
}

/* A key holding an address in a range set already is an ADD repeated
 * without DEL, maybe for another pod (another netns): handing the address
 * back would give two pods one address, so it is refused, as host-local
 * does. */
static int refuse_repeat(const struct vp_ipam_config *cfg, const struct vp_ipam_store *s,
			 struct vp_error *err)
{
	char buf[VP_IP_STRLEN];
	struct vp_ip *held = calloc(cfg->n_sets, sizeof(*held));
	int ret = 0;

	if (!held)
		return vp_error_set(err, ENOMEM, "ipam add");
	held_by(cfg, s, held);
	for (size_t i = 0; i < cfg->n_sets && !ret; i++)
		if (held[i].family)
			ret = vp_error_code(err, VP_CNI_ERR_ATTACHMENT_EXISTS, EEXIST,
					    "container %s ifname %s already holds %s: ADD repeated "
					    "without DEL", s->cid, s->ifname, vp_ip_str(&held[i], buf));
	free(held);
	return ret;
}

static int reserve(const struct vp_ipam_config *cfg, struct vp_ipam_store *s, struct vp_ip *ips,
		   struct vp_error *err)
{
	int ret = refuse_repeat(cfg, s, err);

	for (size_t i = 0; i < cfg->n_sets && !ret; i++) {
		if ((ret = pick(cfg, s, i, &ips[i], err)))
			continue;
		if ((ret = vp_ipam_store_add(s, &ips[i], s->cid, s->ifname, err)) == 0)
			vp_ipam_store_set_cursor(s, i, &ips[i]);
	}
	return ret;
}

static int fill_result(const struct vp_ipam_config *cfg, const struct vp_ip *ips,
		       struct vp_cni_result *out)
{
	for (size_t i = 0; i < cfg->n_sets; i++) {
		const struct vp_ipam_range *r = vp_ipam_rangeset_find(&cfg->sets[i], &ips[i]);
		struct vp_cni_ip ip = {
			.address = { .ip = ips[i], .len = r->subnet.len },
			.gateway = r->gateway,
			.interface = -1,
		};

		if (vp_cni_result_add_ip(out, &ip) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_routes; i++)
		if (vp_cni_result_add_route(out, &cfg->routes[i]) < 0)
			return -ENOMEM;
	if (cfg->dns && !(out->dns = json_deep_copy(cfg->dns)))
		return -ENOMEM;
	return 0;
}

int vp_ipam_add(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		struct vp_cni_result *out, struct vp_error *err)
{
	struct vp_ipam_store *s = NULL;
	struct vp_ip *ips = calloc(cfg->n_sets, sizeof(*ips));
	int ret = -ENOMEM;

	if (!ips) {
		vp_error_set(err, ENOMEM, "ipam add");
		goto out;
	}
	if ((ret = vp_ipam_store_open(cfg, cid, ifname, &s, err)) ||
	    (ret = reserve(cfg, s, ips, err)))
		goto out;
	if ((ret = fill_result(cfg, ips, out))) {
		vp_error_set(err, ENOMEM, "ipam result");
		goto out;
	}
	/* Durable before the caller can report success. */
	ret = vp_ipam_store_commit(s, err);
out:
	if (ret)
		vp_cni_result_clear(out);
	vp_ipam_store_close(s);
	free(ips);
	return ret;
}

int vp_ipam_del(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		struct vp_error *err)
{
	struct vp_ipam_store *s;
	int ret;

	if ((ret = vp_ipam_store_open(cfg, cid, ifname, &s, err)))
		return ret;
	for (size_t i = 0; i < s->n_held && !ret; i++)
		if (vp_ipam_store_remove(s, &s->held[i]))
			ret = vp_error_set(err, ENOMEM, "ipam del");
	if (ret == 0)
		ret = vp_ipam_store_commit(s, err);
	/* A pod host-local gave its address to, before the switch. */
	for (size_t i = 0; i < s->n_hl && !ret; i++)
		if (vp_ipam_hostlocal_is(&s->hl[i], cid, ifname))
			ret = vp_ipam_hostlocal_remove(s, &s->hl[i], err);
	vp_ipam_store_close(s);
	return ret;
}

static bool in_any_set(const struct vp_ipam_config *cfg, const struct vp_ip *ip)
{
	for (size_t k = 0; k < cfg->n_sets; k++)
		if (vp_ipam_rangeset_find(&cfg->sets[k], ip))
			return true;
	return false;
}

static bool is_held(const struct vp_ipam_store *s, const struct vp_ip *ip)
{
	for (size_t i = 0; i < s->n_held; i++)
		if (vp_ip_equal(&s->held[i].ip, ip))
			return true;
	for (size_t i = 0; i < s->n_hl; i++)
		if (vp_ip_equal(&s->hl[i].ip, ip) && vp_ipam_hostlocal_is(&s->hl[i], s->cid, s->ifname))
			return true;
	return false;
}

static bool holds_any(const struct vp_ipam_store *s)
{
	for (size_t i = 0; i < s->n_hl; i++)
		if (vp_ipam_hostlocal_is(&s->hl[i], s->cid, s->ifname))
			return true;
	return s->n_held > 0;
}

static int check_prev(const struct vp_ipam_config *cfg, const struct vp_ipam_store *s,
		      const char *cid, const char *ifname, const struct vp_cni_result *prev,
		      struct vp_error *err)
{
	char buf[VP_IP_STRLEN];

	/* Not code 3: the spec says 3 means the runtime need not clean up, but
	 * an attachment that lost its allocation still has links (and rules)
	 * that DEL must remove.  100 with ENOENT, as the network plugins' CHECK
	 * failures. */
	if (!holds_any(s))
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
				     "no address allocated to container %s ifname %s", cid, ifname);
	for (size_t i = 0; i < prev->n_ips; i++) {
		const struct vp_ip *ip = &prev->ips[i].address.ip;

		if (in_any_set(cfg, ip) && !is_held(s, ip))
			return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOENT,
					     "%s is not allocated to container %s ifname %s",
					     vp_ip_str(ip, buf), cid, ifname);
	}
	return 0;
}

int vp_ipam_check(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		  const struct vp_cni_result *prev, struct vp_error *err)
{
	struct vp_ipam_store *s;
	int ret;

	if (!prev)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "CHECK needs a prevResult");
	if ((ret = vp_ipam_store_open(cfg, cid, ifname, &s, err)))
		return ret;
	ret = check_prev(cfg, s, cid, ifname, prev, err);
	vp_ipam_store_close(s);
	return ret;
}

/* Order attachments by container ID, then ifname. */
static int attachment_cmp(const void *pa, const void *pb)
{
	const struct vp_cni_attachment *a = pa, *b = pb;
	int c = strcmp(a->container_id, b->container_id);

	return c ? c : strcmp(a->ifname, b->ifname);
}

/* Compare an allocation's key with an attachment (for bsearch). */
static int alloc_key_cmp(const void *key, const void *elem)
{
	const struct vp_ipam_rec *a = key;
	const struct vp_cni_attachment *v = elem;
	size_t n = strlen(v->container_id);
	int c = strncmp(a->cid, v->container_id, a->cid_len < n ? a->cid_len : n);

	if (c || a->cid_len != n)
		return c ? c : (a->cid_len < n ? -1 : 1);
	n = strlen(v->ifname);
	c = strncmp(a->ifname, v->ifname, a->ifname_len < n ? a->ifname_len : n);
	return c ? c : (a->ifname_len < n ? -1 : (a->ifname_len > n ? 1 : 0));
}

struct gc_ctx {
	const struct vp_cni_attachment *sorted;
	size_t n;
	int ret;
};

static void gc_one(struct vp_ipam_store *s, const struct vp_ipam_rec *rec, void *ctx)
{
	struct gc_ctx *gc = ctx;

	if (!gc->ret && !bsearch(rec, gc->sorted, gc->n, sizeof(*gc->sorted), alloc_key_cmp))
		gc->ret = vp_ipam_store_remove(s, rec);
}

/* A host-local reservation whose owner is known and not in the valid list. */
static bool hostlocal_stale(const struct vp_ipam_hostlocal *h, const struct gc_ctx *gc)
{
	struct vp_ipam_rec key = {
		.cid = h->cid, .cid_len = strlen(h->cid),
		.ifname = h->ifname, .ifname_len = strlen(h->ifname),
	};

	return vp_ipam_hostlocal_owned(h) &&
	       !bsearch(&key, gc->sorted, gc->n, sizeof(*gc->sorted), alloc_key_cmp);
}

int vp_ipam_gc(const struct vp_ipam_config *cfg, const struct vp_cni_attachment *valid,
	       size_t n_valid, struct vp_error *err)
{
	struct vp_cni_attachment *sorted = malloc((n_valid ? n_valid : 1) * sizeof(*sorted));
	struct gc_ctx gc = { .sorted = sorted, .n = n_valid };
	struct vp_ipam_store *s = NULL;
	int ret;

	if (!sorted)
		return vp_error_set(err, ENOMEM, "ipam gc");
	if (n_valid)
		memcpy(sorted, valid, n_valid * sizeof(*sorted));
	qsort(sorted, n_valid, sizeof(*sorted), attachment_cmp);
	if ((ret = vp_ipam_store_open(cfg, NULL, NULL, &s, err)))
		goto out;
	vp_ipam_store_foreach(s, gc_one, &gc);
	if ((ret = gc.ret)) {
		vp_error_set(err, -ret, "ipam gc");
		goto out;
	}
	s->compact = true;   /* GC is rare: leave a file without dead records */
	ret = vp_ipam_store_commit(s, err);
	for (size_t i = 0; i < s->n_hl && !ret; i++)
		if (hostlocal_stale(&s->hl[i], &gc))
			ret = vp_ipam_hostlocal_remove(s, &s->hl[i], err);
out:
	vp_ipam_store_close(s);
	free(sorted);
	return ret;
}

int vp_ipam_status(const struct vp_ipam_config *cfg, struct vp_error *err)
{
	struct vp_ipam_store *s;
	char buf[SET_STR];
	struct vp_ip ip;
	int ret;

	if ((ret = vp_ipam_store_open(cfg, NULL, NULL, &s, err))) {
		err->code = VP_CNI_ERR_NOT_AVAILABLE;
		return ret;
	}
	for (size_t i = 0; i < cfg->n_sets && !ret; i++) {
		if (vp_ipam_store_find_free(s, i, &ip))
			ret = vp_error_code(err, VP_CNI_ERR_NOT_AVAILABLE, ENOSPC,
					    "no free address in range set %zu (%s)", i,
					    vp_ipam_rangeset_str(&cfg->sets[i], buf, sizeof(buf)));
	}
	vp_ipam_store_close(s);
	return ret;
}
