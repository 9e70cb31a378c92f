/* nft.c - the nftables rules of a pod attachment (see nft.h for the design):
 * a per-attachment chain in "inet vplumb" (masquerade) and in "bridge
 * vplumb" (MAC spoof check), reached through verdict map elements, each
 * change one transaction.  This file attaches and detaches; the module's
 * other files are listed in nft_internal.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>

#include <libnftnl/chain.h>

#include "vnet/nft_internal.h"

/* Commits started over after losing a race (see vp_nft_run). */
#define VP_NFT_RESTARTS 8

/* ---- what an attachment has ---- */

static int check_attachment(const struct vp_nft_attachment *a, struct vp_error *err)
{
	if (a->n_masq > VP_NFT_MAX_MASQ || (a->n_masq && !a->masq))
		return vp_error_set(err, EINVAL, "nftables: at most %d masquerade entries",
				    VP_NFT_MAX_MASQ);
	for (size_t i = 0; i < a->n_masq; i++) {
		const struct vp_nft_masq *m = &a->masq[i];

		if ((m->ip.family != AF_INET && m->ip.family != AF_INET6) ||
		    m->ip.family != m->net.ip.family || m->net.len > vp_ip_bytes(&m->ip) * 8)
			return vp_error_set(err, EINVAL, "nftables: masquerade entry %zu: address "
					    "and network must be of one family", i);
		for (size_t j = 0; j < i; j++)
			if (vp_ip_equal(&m->ip, &a->masq[j].ip))
				return vp_error_set(err, EINVAL, "nftables: masquerade entry %zu "
						    "repeats an address", i);
	}
	if (a->spoof_ifname && (!a->spoof_ifname[0] || strlen(a->spoof_ifname) >= IFNAMSIZ))
		return vp_error_set(err, EINVAL, "nftables: bad interface name \"%s\"",
				    a->spoof_ifname);
	return 0;
}

static bool same_net(const struct vp_prefix *a, const struct vp_prefix *b)
{
	struct vp_prefix na = vp_prefix_network(a), nb = vp_prefix_network(b);

	return na.len == nb.len && vp_ip_equal(&na.ip, &nb.ip);
}

/* The masquerade chain's rules: each distinct net returns, then multicast
 * of each family present, then masquerade. */
static int masq_rules(const struct vp_nft_attachment *a, const char *chain,
		      struct vp_nft_rules *l)
{
	static const struct vp_prefix mcast4 = { { AF_INET, { 224 } }, 4 };
	static const struct vp_prefix mcast6 = { { AF_INET6, { 0xff } }, 8 };
	const int fam = vp_nft_inet.family;
	bool v4 = false, v6 = false, dup;
	int ret = 0;

	for (size_t i = 0; i < a->n_masq && ret == 0; i++) {
		dup = false;
		for (size_t j = 0; j < i; j++)
			dup = dup || same_net(&a->masq[i].net, &a->masq[j].net);
		v4 = v4 || a->masq[i].ip.family == AF_INET;
		v6 = v6 || a->masq[i].ip.family == AF_INET6;
		if (!dup)
			ret = vp_nft_rules_daddr_return(l, fam, VP_NFT_TABLE, chain, &a->masq[i].net);
	}
	if (ret == 0 && v4)
		ret = vp_nft_rules_daddr_return(l, fam, VP_NFT_TABLE, chain, &mcast4);
	if (ret == 0 && v6)
		ret = vp_nft_rules_daddr_return(l, fam, VP_NFT_TABLE, chain, &mcast6);
	return ret ? ret : vp_nft_rules_masq(l, fam, VP_NFT_TABLE, chain);
}

static int spoof_rules(const struct vp_nft_attachment *a, const char *chain,
		       struct vp_nft_rules *l)
{
	const int fam = vp_nft_bridge.family;
	int ret = vp_nft_rules_ether_saddr_return(l, fam, VP_NFT_TABLE, chain, &a->spoof_mac);

	return ret ? ret : vp_nft_rules_drop(l, fam, VP_NFT_TABLE, chain);
}

int vp_nft_attachment_rules(const struct vp_nft_attachment *a, const struct nft_fam *f,
			    const char *chain, struct vp_nft_rules *l)
{
	return f == &vp_nft_bridge ? spoof_rules(a, chain, l) : masq_rules(a, chain, l);
}

/* ---- per table ---- */

/* For inet, then bridge: read chain n->chain and call fn, stopping at the
 * first failure. */
static int each_fam(struct vp_nft_batch *b, const struct vp_nft_attachment *a,
		    const struct nft_names *n, vp_nft_fam_fn fn, struct vp_error *err)
{
	const struct nft_fam *fams[] = { &vp_nft_inet, &vp_nft_bridge };
	const bool wanted[] = { a->n_masq > 0, a->spoof_ifname != NULL };
	struct nft_owned cur;
	int ret = 0;

	for (size_t i = 0; i < 2 && ret == 0; i++) {
		ret = vp_nft_get_owned(b, fams[i], n->chain, &cur, err);
		if (ret == 0)
			ret = fn(b, fams[i], a, n, &cur, wanted[i], err);
	}
	return ret;
}

/* One pass of fn over both tables, committed unless mode is VP_NFT_READ;
 * the batch is empty again after it. */
static int run_once(struct vp_nft_batch *b, const struct vp_nft_attachment *a,
		    const struct nft_names *n, vp_nft_fam_fn fn, enum vp_nft_mode mode,
		    struct vp_error *err)
{
	int ret = each_fam(b, a, n, fn, err);

	if (ret == 0 && mode != VP_NFT_READ)
		ret = vp_nft_batch_commit(b, err);
	vp_nft_batch_reset(b);
	return ret;
}

int vp_nft_run(const struct vp_nft_attachment *a, vp_nft_fam_fn fn, enum vp_nft_mode mode,
	       struct vp_error *err)
{
	bool retried = false;
	struct vp_nft_batch *b;
	struct nft_names n;
	int ret;

	ret = vp_nft_names(&a->owner, &n, err);
	ret = ret ?: check_attachment(a, err);
	ret = ret ?: vp_nft_batch_new(&b, err);
	if (ret < 0)
		return ret;
	for (int restarts = 0;; restarts++) {
		ret = run_once(b, a, &n, fn, mode, err);
		/* EEXIST, ENOENT: another process created the skeleton (or this
		 * owner's chain), or deleted the table, since we looked. */
		if ((ret == -EEXIST || ret == -ENOENT) && mode == VP_NFT_COMMIT_RETRY && !retried) {
			retried = true;
			continue;
		}
		/* ERESTART: the ruleset changed after a guarded look; the last
		 * try does without what needs the guard. */
		if (ret != -ERESTART || restarts == VP_NFT_RESTARTS)
			break;
		if (restarts == VP_NFT_RESTARTS - 1)
			vp_nft_batch_unguarded(b);
	}
	vp_nft_batch_free(b);
	return ret;
}

/* ---- attach ---- */

/* The attachment's chain with its userdata, rules and map elements. */
static int q_attachment(struct vp_nft_batch *b, const struct nft_fam *f,
			const struct vp_nft_attachment *a, const struct nft_names *n)
{
	bool bridge = f == &vp_nft_bridge;
	struct vp_nft_rules l = { .n = 0 };
	struct nftnl_chain *c = nftnl_chain_alloc();
	char what[VP_NFT_OWNER_LEN + 16];
	int ret;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, n->chain);
	ret = vp_nft_chain_set_owner(c, n->owner, a, bridge);
	snprintf(what, sizeof(what), " (owner %s)", n->owner);
	if (ret == 0)
		ret = vp_nft_q_chain(b, f, c, what);
	nftnl_chain_free(c);
	if (ret == 0)
		ret = vp_nft_attachment_rules(a, f, n->chain, &l);
	if (ret == 0)
		ret = vp_nft_q_rules(b, f, &l);
	vp_nft_rules_free(&l);
	for (size_t i = 0; !bridge && ret == 0 && i < a->n_masq; i++)
		ret = vp_nft_q_ip_elem(b, &a->masq[i].ip, n->chain);
	if (bridge && ret == 0)
		ret = vp_nft_q_ifname_elem(b, a->spoof_ifname, n->chain);
	return ret;
}

/* Replace the attachment's part in one table: remove what the owner had
 * (old), then (wanted) add the table's skeleton if missing and the new
 * chain. */
static int q_replace(struct vp_nft_batch *b, const struct nft_fam *f,
		     const struct vp_nft_attachment *a, const struct nft_names *n,
		     const struct nft_owned *old, bool wanted, struct vp_error *err)
{
	int ret = 0;

	if (old->present && strcmp(old->owner, n->owner) != 0)
		return vp_error_set(err, EEXIST, "nftables: chain %s %s %s belongs to \"%s\", "
				    "not \"%s\"", f->name, VP_NFT_TABLE, n->chain, old->owner,
				    n->owner);
	if (wanted) {
		ret = vp_nft_get_chain(b, f, f->base, NULL);
		if (ret == -ENOENT)
			ret = vp_nft_q_skeleton(b, f);
	}
	if (ret == 0 && old->present)
		ret = vp_nft_q_remove(b, f, old);
	if (ret == 0 && wanted)
		ret = q_attachment(b, f, a, n);
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: preparing %s %s rules of %s", f->name,
				    VP_NFT_TABLE, n->owner);
	return 0;
}

int vp_nft_attach(const struct vp_nft_attachment *a, struct vp_error *err)
{
	return vp_nft_run(a, q_replace, VP_NFT_COMMIT_RETRY, err);
}

/* ---- detach ---- */

/* Whether f's table holds no attachment chain but the owner's: its use
 * count is then the skeleton's plus that chain.  The look is guarded, so a
 * concurrent attach or detach makes the commit start over; unguarded (after
 * many lost races), never "last". */
static int only_attachment(struct vp_nft_batch *b, const struct nft_fam *f, bool *last)
{
	unsigned use;
	int ret;

	*last = false;
	ret = vp_nft_batch_guard(b);
	if (ret == -EBUSY)
		return 0;
	if (ret == 0)
		ret = vp_nft_get_table_use(b, f, &use);
	if (ret == 0)
		*last = use <= vp_nft_skeleton_use(f) + 1;
	return ret;
}

/* Remove the owner's chain from one table (a wants none: no masquerade
 * entries, no spoof check); with the last one, the table goes, so no empty
 * vplumb table is left behind. */
static int q_detach(struct vp_nft_batch *b, const struct nft_fam *f,
		    const struct vp_nft_attachment *a, const struct nft_names *n,
		    const struct nft_owned *old, bool wanted, struct vp_error *err)
{
	bool last = false;
	int ret = 0;

	(void)a;
	(void)wanted;
	if (!old->present || strcmp(old->owner, n->owner) != 0)
		return 0;
	ret = only_attachment(b, f, &last);
	if (ret == 0)
		ret = last ? vp_nft_q_table_delete(b, f) : vp_nft_q_remove(b, f, old);
	if (ret < 0)
		vp_error_set(err, -ret, "nftables: preparing removal of %s", n->owner);
	return ret;
}

int vp_nft_detach(const struct vp_nft_owner *owner, struct vp_error *err)
{
	const struct vp_nft_attachment a = { .owner = *owner };

	return vp_nft_run(&a, q_detach, VP_NFT_COMMIT, err);
}
