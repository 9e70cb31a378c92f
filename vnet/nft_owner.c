/* nft_owner.c - per-attachment chains as owned objects: each is named from
 * a hash of its owner, and its userdata records the owner (as nft's
 * comment, so `nft list` shows it) and the map keys that jump to it, so
 * removing it needs no dump of the maps.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/udata.h>

#include "vnet/nft_internal.h"

/* Our userdata TLVs next to nft's comment (type 0): map keys. */
#define UD_KEY4 0xf1
#define UD_KEY6 0xf2
#define UD_IFNAME 0xf3

int vp_nft_names(const struct vp_nft_owner *o, struct nft_names *n, struct vp_error *err)
{
	const char *parts[3] = { o->network, o->container_id, o->ifname };
	uint64_t h = 0xcbf29ce484222325ULL;    /* FNV-1a */
	int len;

	for (int i = 0; i < 3; i++) {
		if (!parts[i] || !parts[i][0] || strchr(parts[i], '/'))
			return vp_error_set(err, EINVAL, "nftables owner: network, container ID "
					    "and interface must be non-empty, without '/'");
		for (const char *p = parts[i]; ; p++) {
			h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
			if (!*p)
				break;
		}
	}
	len = snprintf(n->owner, sizeof(n->owner), "%s/%s/%s", parts[0], parts[1], parts[2]);
	if (len < 0 || (size_t)len >= sizeof(n->owner))
		return vp_error_set(err, ENAMETOOLONG, "nftables owner %s/%s/%s: too long",
				    parts[0], parts[1], parts[2]);
	snprintf(n->chain, sizeof(n->chain), "vp-%016llx", (unsigned long long)h);
	return 0;
}

/* ---- userdata ---- */

static int udata_cb(const struct nftnl_udata *attr, void *data)
{
	struct nft_owned *o = data;
	const char *v = nftnl_udata_get(attr);
	uint8_t len = nftnl_udata_len(attr);
	struct vp_ip *ip = &o->keys[o->n_keys];

	switch (nftnl_udata_type(attr)) {
	case NFTNL_UDATA_CHAIN_COMMENT:
		if (len && len <= sizeof(o->owner) && v[len - 1] == '\0')
			memcpy(o->owner, v, len);
		break;
	case UD_IFNAME:
		if (len && len <= IFNAMSIZ && v[len - 1] == '\0')
			memcpy(o->ifname, v, len);
		break;
	case UD_KEY4:
	case UD_KEY6:
		if (o->n_keys == VP_NFT_MAX_MASQ ||
		    len != (nftnl_udata_type(attr) == UD_KEY4 ? 4 : 16))
			break;
		ip->family = len == 4 ? AF_INET : AF_INET6;
		memset(ip->addr, 0, sizeof(ip->addr));
		memcpy(ip->addr, v, len);
		o->n_keys++;
		break;
	}
	return MNL_CB_OK;
}

void vp_nft_owned_from_chain(const struct nftnl_chain *c, struct nft_owned *o)
{
	const void *ud;
	uint32_t len = 0;

	memset(o, 0, sizeof(*o));
	o->present = true;
	snprintf(o->chain, sizeof(o->chain), "%s", nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	ud = nftnl_chain_get_data(c, NFTNL_CHAIN_USERDATA, &len);
	if (ud)
		(void)nftnl_udata_parse(ud, len, udata_cb, o);
}

int vp_nft_chain_set_owner(struct nftnl_chain *c, const char *owner,
			   const struct vp_nft_attachment *a, bool bridge)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	bool ok;

	if (!ud)
		return -ENOMEM;
	ok = nftnl_udata_put_strz(ud, NFTNL_UDATA_CHAIN_COMMENT, owner);
	if (bridge)
		ok = ok && nftnl_udata_put_strz(ud, UD_IFNAME, a->spoof_ifname);
	for (size_t i = 0; !bridge && ok && i < a->n_masq; i++) {
		const struct vp_ip *ip = &a->masq[i].ip;

		ok = nftnl_udata_put(ud, ip->family == AF_INET ? UD_KEY4 : UD_KEY6,
				     (uint32_t)vp_ip_bytes(ip), ip->addr);
	}
	if (ok)
		nftnl_chain_set_data(c, NFTNL_CHAIN_USERDATA, nftnl_udata_buf_data(ud),
				     nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	return ok ? 0 : -E2BIG;
}

/* ---- reading and removing ---- */

int vp_nft_get_owned(struct vp_nft_batch *b, const struct nft_fam *f, const char *chain,
		     struct nft_owned *out, struct vp_error *err)
{
	int ret = vp_nft_get_chain(b, f, chain, out);

	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: reading chain %s %s %s", f->name,
				    VP_NFT_TABLE, chain);
	return 0;
}

/* Whether key of map set still jumps to chain: 1, 0 (absent or elsewhere)
 * or -errno. */
static int elem_jumps_to(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
			 const void *key, uint32_t key_len, const char *chain)
{
	char target[VP_NFT_CHAIN_LEN];
	int ret = vp_nft_get_elem_target(b, f, set, key, key_len, target);

	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : strcmp(target, chain) == 0;
}

int vp_nft_q_remove(struct vp_nft_batch *b, const struct nft_fam *f, const struct nft_owned *o)
{
	char key[IFNAMSIZ];
	int ret = 0;

	for (size_t i = 0; i < o->n_keys && ret == 0; i++) {
		const struct vp_ip *ip = &o->keys[i];

		ret = elem_jumps_to(b, f, ip->family == AF_INET ? VP_NFT_SET_MASQ4 : VP_NFT_SET_MASQ6,
				    ip->addr, (uint32_t)vp_ip_bytes(ip), o->chain);
		if (ret > 0)
			ret = vp_nft_q_ip_elem(b, ip, NULL);
	}
	if (o->ifname[0] && ret == 0) {
		vp_nft_ifname_key(o->ifname, key);
		ret = elem_jumps_to(b, f, VP_NFT_SET_SPOOF, key, IFNAMSIZ, o->chain);
		if (ret > 0)
			ret = vp_nft_q_ifname_elem(b, o->ifname, NULL);
	}
	return ret ? ret : vp_nft_q_chain_destroy(b, f, o->chain);
}
