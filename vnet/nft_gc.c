/* nft_gc.c - vp_nft_gc: list the per-attachment chains of both vplumb
 * tables and remove, in one transaction, those a network's attachments
 * own that the caller no longer knows about.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>

#include "vnet/nft_internal.h"

/* Chains of one family's vplumb table owned by network's attachments that
 * are not in the valid list. */
struct gc_scan {
	const char *network;
	const struct vp_nft_owner *valid;
	size_t n_valid;
	struct nft_owned *stale;
	size_t n, cap;
	bool failed;
};

static bool gc_is_valid(const struct gc_scan *g, const char *owner)
{
	struct nft_names n;

	for (size_t i = 0; i < g->n_valid; i++)
		if (vp_nft_names(&g->valid[i], &n, NULL) == 0 && strcmp(n.owner, owner) == 0)
			return true;
	return false;
}

/* Whether chain c (its record in o) is a stale chain of g's network. */
static bool gc_is_stale(const struct gc_scan *g, const struct nftnl_chain *c,
			const struct nft_owned *o)
{
	size_t plen = strlen(g->network);

	return strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), VP_NFT_TABLE) == 0 &&
	       strncmp(o->chain, "vp-", 3) == 0 && strncmp(o->owner, g->network, plen) == 0 &&
	       o->owner[plen] == '/' && !gc_is_valid(g, o->owner);
}

static int gc_push(struct gc_scan *g, const struct nft_owned *o)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		void *p = realloc(g->stale, cap * sizeof(*g->stale));

		if (!p)
			return -ENOMEM;
		g->stale = p;
		g->cap = cap;
	}
	g->stale[g->n++] = *o;
	return 0;
}

static int gc_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct gc_scan *g = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nft_owned o;
	int ret = -ENOMEM;

	if (c && nftnl_chain_nlmsg_parse(nlh, c) == 0) {
		vp_nft_owned_from_chain(c, &o);
		ret = gc_is_stale(g, c, &o) ? gc_push(g, &o) : 0;
	}
	nftnl_chain_free(c);
	g->failed = g->failed || ret < 0;
	return ret < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int gc_fam(struct vp_nft_batch *b, const struct nft_fam *f, struct gc_scan *g,
		  struct vp_error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int ret;

	g->n = 0;
	nlh = nftnl_chain_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, (uint16_t)f->family, NLM_F_DUMP,
					  vp_nft_batch_seq(b));
	ret = vp_nft_batch_query(b, nlh, gc_chain_cb, g);
	if (ret < 0)
		return vp_error_set(err, g->failed ? ENOMEM : -ret, "nftables: listing %s chains",
				    f->name);
	for (size_t i = 0; i < g->n && ret == 0; i++)
		ret = vp_nft_q_remove(b, f, &g->stale[i]);
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: preparing removal of stale %s chains",
				    f->name);
	return 0;
}

int vp_nft_gc(const char *network, const struct vp_nft_owner *valid, size_t n,
	      struct vp_error *err)
{
	struct gc_scan g = { .network = network, .valid = valid, .n_valid = n };
	struct vp_nft_batch *b;
	int ret;

	if (!network || !network[0] || strchr(network, '/'))
		return vp_error_set(err, EINVAL, "nftables gc: bad network name");
	ret = vp_nft_batch_new(&b, err);
	if (ret < 0)
		return ret;
	ret = gc_fam(b, &vp_nft_inet, &g, err);
	if (ret == 0)
		ret = gc_fam(b, &vp_nft_bridge, &g, err);
	if (ret == 0)
		ret = vp_nft_batch_commit(b, err);
	free(g.stale);
	vp_nft_batch_free(b);
	return ret;
}
