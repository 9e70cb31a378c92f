/* nft_verify.c - vp_nft_verify: compare what the kernel holds for an
 * attachment (its chains' ownership records, rules and map elements) with
 * what vp_nft_attach would install, and describe the first difference.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>

#include "vnet/nft_internal.h"

#define RULE_TEXT 1024

/* The rules of one chain as text; n may exceed cap (counted only). */
struct rule_texts {
	char (*text)[RULE_TEXT];
	size_t n, cap;
};

static int rule_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_texts *rt = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		if (rt->n < rt->cap)
			vp_nft_rules_text(r, rt->text[rt->n], RULE_TEXT);
		rt->n++;
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int dump_rules(struct vp_nft_batch *b, const struct nft_fam *f, const char *chain,
		      struct rule_texts *rt)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r)
		return -ENOMEM;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, VP_NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)f->family, NLM_F_DUMP,
					 vp_nft_batch_seq(b));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return vp_nft_batch_query(b, nlh, rule_reply_cb, rt);
}

/* The rules wanted (l) against those found (rt). */
static int compare_rules(const struct nft_fam *f, const char *chain,
			 const struct vp_nft_rules *l, const struct rule_texts *rt,
			 struct vp_error *err)
{
	char want[RULE_TEXT];

	if (rt->n != l->n)
		return vp_error_set(err, ENOENT, "nftables: chain %s %s %s has %zu rules, "
				    "expected %zu", f->name, VP_NFT_TABLE, chain, rt->n, l->n);
	for (size_t i = 0; i < l->n; i++) {
		vp_nft_rules_text(l->r[i], want, sizeof(want));
		if (strcmp(want, rt->text[i]) != 0)
			return vp_error_set(err, ENOENT, "nftables: rule %zu of %s %s %s is %s, "
					    "expected %s", i + 1, f->name, VP_NFT_TABLE, chain,
					    rt->text[i], want);
	}
	return 0;
}

static int verify_rules(struct vp_nft_batch *b, const struct nft_fam *f,
			const struct vp_nft_attachment *a, const char *chain, struct vp_error *err)
{
	struct vp_nft_rules l = { .n = 0 };
	struct rule_texts rt = { .cap = VP_NFT_MAX_RULES };
	int ret;

	rt.text = calloc(rt.cap, sizeof(*rt.text));
	if (!rt.text)
		return vp_error_set(err, ENOMEM, "nftables: verifying %s", chain);
	ret = vp_nft_attachment_rules(a, f, chain, &l);
	if (ret == 0)
		ret = dump_rules(b, f, chain, &rt);
	if (ret < 0)
		ret = vp_error_set(err, -ret, "nftables: reading rules of %s %s %s", f->name,
				   VP_NFT_TABLE, chain);
	else
		ret = compare_rules(f, chain, &l, &rt, err);
	vp_nft_rules_free(&l);
	free(rt.text);
	return ret;
}

static int verify_elem(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
		       const void *key, uint32_t key_len, const char *key_text, const char *chain,
		       struct vp_error *err)
{
	char target[VP_NFT_CHAIN_LEN];
	int ret = vp_nft_get_elem_target(b, f, set, key, key_len, target);

	if (ret == -ENOENT || (ret == 0 && strcmp(target, chain) != 0))
		return vp_error_set(err, ENOENT, "nftables: map %s %s %s has no element %s : "
				    "jump %s", f->name, VP_NFT_TABLE, set, key_text, chain);
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: reading map %s %s %s", f->name,
				    VP_NFT_TABLE, set);
	return 0;
}

static int verify_elems(struct vp_nft_batch *b, const struct nft_fam *f,
			const struct vp_nft_attachment *a, const char *chain, struct vp_error *err)
{
	char text[VP_IP_STRLEN], key[IFNAMSIZ];
	int ret = 0;

	if (f == &vp_nft_bridge) {
		vp_nft_ifname_key(a->spoof_ifname, key);
		return verify_elem(b, f, VP_NFT_SET_SPOOF, key, IFNAMSIZ, a->spoof_ifname, chain,
				   err);
	}
	for (size_t i = 0; i < a->n_masq && ret == 0; i++) {
		const struct vp_ip *ip = &a->masq[i].ip;

		ret = verify_elem(b, f, ip->family == AF_INET ? VP_NFT_SET_MASQ4 : VP_NFT_SET_MASQ6,
				  ip->addr, (uint32_t)vp_ip_bytes(ip), vp_ip_str(ip, text), chain,
				  err);
	}
	return ret;
}

/* The userdata lists exactly the keys a maps, so detach removes them. */
static bool owned_keys_match(const struct nft_owned *o, const struct vp_nft_attachment *a,
			     bool bridge)
{
	if (bridge)
		return o->n_keys == 0 && strcmp(o->ifname, a->spoof_ifname) == 0;
	if (o->n_keys != a->n_masq || o->ifname[0])
		return false;
	for (size_t i = 0; i < a->n_masq; i++)
		if (!vp_ip_equal(&o->keys[i], &a->masq[i].ip))
			return false;
	return true;
}

/* a's part of f's table: its chain (cur) only when wanted, and then with
 * the right ownership record, base chain, rules and map elements. */
static int verify_fam(struct vp_nft_batch *b, const struct nft_fam *f,
		      const struct vp_nft_attachment *a, const struct nft_names *n,
		      const struct nft_owned *cur, bool wanted, struct vp_error *err)
{
	int ret;

	if (!wanted && cur->present)
		return vp_error_set(err, ENOENT, "nftables: unexpected chain %s %s %s for %s",
				    f->name, VP_NFT_TABLE, n->chain, n->owner);
	if (!wanted)
		return 0;
	if (!cur->present || strcmp(cur->owner, n->owner) != 0 ||
	    !owned_keys_match(cur, a, f == &vp_nft_bridge))
		return vp_error_set(err, ENOENT, "nftables: chain %s %s %s of %s is %s", f->name,
				    VP_NFT_TABLE, n->chain, n->owner, cur->present ? "stale" : "missing");
	ret = vp_nft_get_chain(b, f, f->base, NULL);
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: base chain %s %s %s", f->name,
				    VP_NFT_TABLE, f->base);
	ret = verify_rules(b, f, a, n->chain, err);
	return ret ? ret : verify_elems(b, f, a, n->chain, err);
}

int vp_nft_verify(const struct vp_nft_attachment *a, struct vp_error *err)
{
	return vp_nft_run(a, verify_fam, VP_NFT_READ, err);
}

/* vp_nft_run's callbacks see only the attachment: the presence answer
 * travels in the struct around it. */
struct presence {
	struct vp_nft_attachment a;
	bool present;
};

static int presence_fam(struct vp_nft_batch *b, const struct nft_fam *f,
			const struct vp_nft_attachment *a, const struct nft_names *n,
			const struct nft_owned *cur, bool wanted, struct vp_error *err)
{
	(void)b, (void)f, (void)n, (void)wanted, (void)err;
	if (cur->present)
		((struct presence *)a)->present = true;
	return 0;
}

int vp_nft_owned_present(const struct vp_nft_owner *owner, bool *present, struct vp_error *err)
{
	struct presence p = { .a = { .owner = *owner } };
	int ret;

	ret = vp_nft_run(&p.a, presence_fam, VP_NFT_READ, err);
	*present = p.present;
	return ret;
}
