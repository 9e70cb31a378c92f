/* nft.c - the nftables rules of a pod attachment (see nft.h for the design):
 * a per-attachment chain in "inet vplumb" (masquerade) and in "bridge
 * vplumb" (MAC spoof check), reached through verdict map elements, each
 * change one transaction.  Each chain's userdata records its owner and the
 * map keys that jump to it, so removal needs no dump of the maps.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "vnet/nft.h"
#include "vnet/nft_batch.h"
#include "vnet/nft_rules.h"

#define TABLE "vplumb"
#define INET_BASE "postrouting"
#define BRIDGE_BASE "prerouting"
#define SET_MASQ4 "masq4"
#define SET_MASQ6 "masq6"
#define SET_SPOOF "spoof"
#define NAT_PRIO 100           /* srcnat */
#define SPOOF_PRIO (-300)      /* before the bridge decides anything */
#define BR_PRE_ROUTING 0       /* NF_BR_PRE_ROUTING (linux/netfilter_bridge.h) */
/* nft(8) datatype ids, so `nft list` prints the maps' keys readably. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_IFNAME 41
#define NFT_BYTEORDER_HOST 1   /* nft's enum byteorder */
#define NFT_BYTEORDER_BIG 2
/* Our userdata TLVs next to nft's comment (type 0): map keys. */
#define UD_KEY4 0xf1
#define UD_KEY6 0xf2
#define UD_IFNAME 0xf3

#define MAX_MASQ 8
#define CHAIN_LEN 20           /* "vp-" + 16 hex + NUL */
#define OWNER_LEN 224          /* leaves room for the keys in 256 bytes */
#define RULE_TEXT 1024

struct nft_fam {
	int family;
	const char *name;
	const char *base;
};

static const struct nft_fam INET = { NFPROTO_INET, "inet", INET_BASE };
static const struct nft_fam BRIDGE = { NFPROTO_BRIDGE, "bridge", BRIDGE_BASE };

struct nft_names {
	char chain[CHAIN_LEN];
	char owner[OWNER_LEN];
};

/* What a per-attachment chain's userdata says. */
struct nft_owned {
	bool present;
	char chain[CHAIN_LEN];
	char owner[OWNER_LEN];
	struct vp_ip keys[MAX_MASQ];
	size_t n_keys;
	char ifname[IFNAMSIZ];
};

/* ---- names ---- */

static int nft_names(const struct vp_nft_owner *o, struct nft_names *n, struct vp_error *err)
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

static void ifname_key(const char *ifname, char key[IFNAMSIZ])
{
	memset(key, 0, IFNAMSIZ);
	memcpy(key, ifname, strnlen(ifname, IFNAMSIZ - 1));
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
		if (o->n_keys == MAX_MASQ || len != (nftnl_udata_type(attr) == UD_KEY4 ? 4 : 16))
			break;
		ip->family = len == 4 ? AF_INET : AF_INET6;
		memset(ip->addr, 0, sizeof(ip->addr));
		memcpy(ip->addr, v, len);
		o->n_keys++;
		break;
	}
	return MNL_CB_OK;
}

static void owned_from_chain(const struct nftnl_chain *c, struct nft_owned *o)
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

/* The chain's userdata: owner as nft's comment, then the map keys. */
static int chain_set_udata(struct nftnl_chain *c, const char *owner,
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

/* ---- queries ---- */

struct chain_reply {
	struct nft_owned *out;
};

static int chain_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chain_reply *cr = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 && cr->out)
		owned_from_chain(c, cr->out);
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

/* Fetch one chain of table vplumb: 0 (out filled when non-NULL), -ENOENT
 * when it (or the table) is absent, other -errno. */
static int get_chain(struct vp_nft_batch *b, const struct nft_fam *f, const char *name,
		     struct nft_owned *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct chain_reply cr = { out };
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nlh = nftnl_chain_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, (uint16_t)f->family, 0,
					  vp_nft_batch_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return vp_nft_batch_query(b, nlh, chain_reply_cb, &cr);
}

static int get_owned(struct vp_nft_batch *b, const struct nft_fam *f, const char *chain,
		     struct nft_owned *out, struct vp_error *err)
{
	int ret = get_chain(b, f, chain, out);

	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: reading chain %s %s %s", f->name, TABLE,
				    chain);
	return 0;
}

static int elem_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	char *chain = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	const char *target;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0 && (it = nftnl_set_elems_iter_create(s))) {
		e = nftnl_set_elems_iter_cur(it);
		target = e ? nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN) : NULL;
		if (target && nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT) == (uint32_t)NFT_JUMP)
			snprintf(chain, CHAIN_LEN, "%s", target);
		nftnl_set_elems_iter_destroy(it);
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

/* The chain the element key of set jumps to ("" when it is no jump):
 * 0, -ENOENT when absent, other -errno. */
static int get_elem_target(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
			   const void *key, uint32_t key_len, char chain[CHAIN_LEN])
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	chain[0] = '\0';
	if (!s || !e) {
		nftnl_set_free(s);
		nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len);
	nftnl_set_elem_add(s, e);
	nlh = nftnl_set_elem_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, (uint16_t)f->family, 0,
					     vp_nft_batch_seq(b));
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return vp_nft_batch_query(b, nlh, elem_reply_cb, chain);
}

/* ---- queued changes ---- */

static int q_table(struct vp_nft_batch *b, const struct nft_fam *f)
{
	char *room = vp_nft_batch_room(b);
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!room || !t) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE);
	nlh = nftnl_table_nlmsg_build_hdr(room, NFT_MSG_NEWTABLE, (uint16_t)f->family,
					  NLM_F_CREATE, vp_nft_batch_seq(b));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return vp_nft_batch_push(b, nlh, "adding table %s %s", f->name, TABLE);
}

/* A verdict map keyed by key_type.  Its userdata tells nft(8) the key's
 * byte order (interface names are host-order strings to nft), so `nft list`
 * prints the keys. */
static int q_map(struct vp_nft_batch *b, const struct nft_fam *f, const char *name,
		 uint32_t key_type, uint32_t key_len, uint32_t id)
{
	char *room = vp_nft_batch_room(b);
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(16);
	struct nlmsghdr *nlh;

	if (!room || !s || !ud) {
		nftnl_set_free(s);
		nftnl_udata_buf_free(ud);
		return -ENOMEM;
	}
	(void)nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
				  key_type == NFT_TYPE_IFNAME ? NFT_BYTEORDER_HOST : NFT_BYTEORDER_BIG);
	nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)f->family);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	nlh = nftnl_set_nlmsg_build_hdr(room, NFT_MSG_NEWSET, (uint16_t)f->family, NLM_F_CREATE,
					vp_nft_batch_seq(b));
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return vp_nft_batch_push(b, nlh, "adding map %s %s %s", f->name, TABLE, name);
}

/* A chain: a base chain (type != NULL) or a per-attachment one (udata). */
static int q_chain(struct vp_nft_batch *b, const struct nft_fam *f, struct nftnl_chain *c,
		   const char *what)
{
	char *room = vp_nft_batch_room(b);
	struct nlmsghdr *nlh;

	if (!room)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)f->family);
	/* EXCL: a concurrent creator makes this transaction fail, not
	 * double the base rules; the caller retries once. */
	nlh = nftnl_chain_nlmsg_build_hdr(room, NFT_MSG_NEWCHAIN, (uint16_t)f->family,
					  NLM_F_CREATE | NLM_F_EXCL, vp_nft_batch_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	return vp_nft_batch_push(b, nlh, "adding chain %s %s %s%s", f->name, TABLE,
				 nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), what);
}

static int q_base_chain(struct vp_nft_batch *b, const struct nft_fam *f, const char *type,
			uint32_t hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	int ret;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, f->base);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	ret = q_chain(b, f, c, "");
	nftnl_chain_free(c);
	return ret;
}

static int q_chain_destroy(struct vp_nft_batch *b, const struct nft_fam *f, const char *name)
{
	char *room = vp_nft_batch_room(b);
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!room || !c) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nlh = nftnl_chain_nlmsg_build_hdr(room, NFT_MSG_DESTROYCHAIN, (uint16_t)f->family, 0,
					  vp_nft_batch_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return vp_nft_batch_push(b, nlh, "deleting chain %s %s %s", f->name, TABLE, name);
}

static int q_rules(struct vp_nft_batch *b, const struct nft_fam *f, struct vp_nft_rules *l)
{
	struct nlmsghdr *nlh;
	char *room;
	int ret = 0;

	for (size_t i = 0; i < l->n && ret == 0; i++) {
		room = vp_nft_batch_room(b);
		if (!room)
			return -ENOMEM;
		nlh = nftnl_rule_nlmsg_build_hdr(room, NFT_MSG_NEWRULE, (uint16_t)f->family,
						 NLM_F_CREATE | NLM_F_APPEND, vp_nft_batch_seq(b));
		nftnl_rule_nlmsg_build_payload(nlh, l->r[i]);
		ret = vp_nft_batch_push(b, nlh, "adding rule %zu to %s %s %s", i + 1, f->name,
					TABLE, nftnl_rule_get_str(l->r[i], NFTNL_RULE_CHAIN));
	}
	return ret;
}

/* Add (chain != NULL: key → jump chain) or destroy one map element. */
static int q_elem(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
		  const void *key, uint32_t key_len, const char *chain, const char *key_text)
{
	char *room = vp_nft_batch_room(b);
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	if (!room || !s || !e) {
		nftnl_set_free(s);
		nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len);
	if (chain) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	}
	nftnl_set_elem_add(s, e);
	nlh = nftnl_set_elem_nlmsg_build_hdr(room, chain ? NFT_MSG_NEWSETELEM : NFT_MSG_DESTROYSETELEM,
					     (uint16_t)f->family, chain ? NLM_F_CREATE : 0,
					     vp_nft_batch_seq(b));
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	if (chain)
		return vp_nft_batch_push(b, nlh, "adding element %s : jump %s to map %s %s %s",
					 key_text, chain, f->name, TABLE, set);
	return vp_nft_batch_push(b, nlh, "deleting element %s from map %s %s %s", key_text,
				 f->name, TABLE, set);
}

static int q_ip_elem(struct vp_nft_batch *b, const struct vp_ip *ip, const char *chain)
{
	char text[VP_IP_STRLEN];

	return q_elem(b, &INET, ip->family == AF_INET ? SET_MASQ4 : SET_MASQ6, ip->addr,
		      (uint32_t)vp_ip_bytes(ip), chain, vp_ip_str(ip, text));
}

static int q_ifname_elem(struct vp_nft_batch *b, const char *ifname, const char *chain)
{
	char key[IFNAMSIZ];

	ifname_key(ifname, key);
	return q_elem(b, &BRIDGE, SET_SPOOF, key, IFNAMSIZ, chain, ifname);
}

/* Queue removal of an attachment's chain and of the map elements its
 * userdata lists, those still jumping to it (a key since taken over by
 * another attachment is left alone). */
static int q_remove(struct vp_nft_batch *b, const struct nft_fam *f, const struct nft_owned *o)
{
	char target[CHAIN_LEN], key[IFNAMSIZ];
	int ret = 0;

	for (size_t i = 0; i < o->n_keys && ret == 0; i++) {
		ret = get_elem_target(b, f, o->keys[i].family == AF_INET ? SET_MASQ4 : SET_MASQ6,
				      o->keys[i].addr, (uint32_t)vp_ip_bytes(&o->keys[i]), target);
		if (ret == 0 && strcmp(target, o->chain) == 0)
			ret = q_ip_elem(b, &o->keys[i], NULL);
		else if (ret == -ENOENT)
			ret = 0;
	}
	if (o->ifname[0] && ret == 0) {
		ifname_key(o->ifname, key);
		ret = get_elem_target(b, f, SET_SPOOF, key, IFNAMSIZ, target);
		if (ret == 0 && strcmp(target, o->chain) == 0)
			ret = q_ifname_elem(b, o->ifname, NULL);
		else if (ret == -ENOENT)
			ret = 0;
	}
	return ret ? ret : q_chain_destroy(b, f, o->chain);
}

/* ---- attach ---- */

/* Table, maps, base chain and its vmap rules, for a table seen without its
 * base chain.  Set IDs let the rules find maps created in this batch. */
static int q_inet_setup(struct vp_nft_batch *b)
{
	struct vp_nft_rules l = { .n = 0 };
	int ret;

	ret = q_table(b, &INET);
	if (ret == 0)
		ret = q_map(b, &INET, SET_MASQ4, NFT_TYPE_IPADDR, 4, 1);
	if (ret == 0)
		ret = q_map(b, &INET, SET_MASQ6, NFT_TYPE_IP6ADDR, 16, 2);
	if (ret == 0)
		ret = q_base_chain(b, &INET, "nat", NF_INET_POST_ROUTING, NAT_PRIO);
	if (ret == 0)
		ret = vp_nft_rules_saddr_vmap(&l, INET.family, TABLE, INET_BASE, AF_INET,
					      SET_MASQ4, 1);
	if (ret == 0)
		ret = vp_nft_rules_saddr_vmap(&l, INET.family, TABLE, INET_BASE, AF_INET6,
					      SET_MASQ6, 2);
	if (ret == 0)
		ret = q_rules(b, &INET, &l);
	vp_nft_rules_free(&l);
	return ret;
}

static int q_bridge_setup(struct vp_nft_batch *b)
{
	struct vp_nft_rules l = { .n = 0 };
	int ret;

	ret = q_table(b, &BRIDGE);
	if (ret == 0)
		ret = q_map(b, &BRIDGE, SET_SPOOF, NFT_TYPE_IFNAME, IFNAMSIZ, 3);
	if (ret == 0)
		ret = q_base_chain(b, &BRIDGE, "filter", BR_PRE_ROUTING, SPOOF_PRIO);
	if (ret == 0)
		ret = vp_nft_rules_iifname_vmap(&l, BRIDGE.family, TABLE, BRIDGE_BASE, SET_SPOOF, 3);
	if (ret == 0)
		ret = q_rules(b, &BRIDGE, &l);
	vp_nft_rules_free(&l);
	return ret;
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
	bool v4 = false, v6 = false, dup;
	int ret = 0;

	for (size_t i = 0; i < a->n_masq && ret == 0; i++) {
		dup = false;
		for (size_t j = 0; j < i; j++)
			dup = dup || same_net(&a->masq[i].net, &a->masq[j].net);
		v4 = v4 || a->masq[i].ip.family == AF_INET;
		v6 = v6 || a->masq[i].ip.family == AF_INET6;
		if (!dup)
			ret = vp_nft_rules_daddr_return(l, INET.family, TABLE, chain, &a->masq[i].net);
	}
	if (ret == 0 && v4)
		ret = vp_nft_rules_daddr_return(l, INET.family, TABLE, chain, &mcast4);
	if (ret == 0 && v6)
		ret = vp_nft_rules_daddr_return(l, INET.family, TABLE, chain, &mcast6);
	return ret ? ret : vp_nft_rules_masq(l, INET.family, TABLE, chain);
}

static int spoof_rules(const struct vp_nft_attachment *a, const char *chain,
		       struct vp_nft_rules *l)
{
	int ret = vp_nft_rules_ether_saddr_return(l, BRIDGE.family, TABLE, chain, &a->spoof_mac);

	return ret ? ret : vp_nft_rules_drop(l, BRIDGE.family, TABLE, chain);
}

/* The attachment's chain with its userdata, rules and map elements. */
static int q_attachment(struct vp_nft_batch *b, const struct nft_fam *f,
			const struct vp_nft_attachment *a, const struct nft_names *n)
{
	bool bridge = f == &BRIDGE;
	struct vp_nft_rules l = { .n = 0 };
	struct nftnl_chain *c = nftnl_chain_alloc();
	char what[OWNER_LEN + 16];
	int ret;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, n->chain);
	ret = chain_set_udata(c, n->owner, a, bridge);
	snprintf(what, sizeof(what), " (owner %s)", n->owner);
	if (ret == 0)
		ret = q_chain(b, f, c, what);
	nftnl_chain_free(c);
	if (ret == 0)
		ret = bridge ? spoof_rules(a, n->chain, &l) : masq_rules(a, n->chain, &l);
	if (ret == 0)
		ret = q_rules(b, f, &l);
	vp_nft_rules_free(&l);
	for (size_t i = 0; !bridge && ret == 0 && i < a->n_masq; i++)
		ret = q_ip_elem(b, &a->masq[i].ip, n->chain);
	if (bridge && ret == 0)
		ret = q_ifname_elem(b, a->spoof_ifname, n->chain);
	return ret;
}

/* Replace the attachment's part in one table: remove what the owner had,
 * then (wanted) add the table's skeleton if missing and the new chain. */
static int q_replace(struct vp_nft_batch *b, const struct nft_fam *f,
		     const struct vp_nft_attachment *a, const struct nft_names *n, bool wanted,
		     struct vp_error *err)
{
	struct nft_owned old;
	int ret;

	ret = get_owned(b, f, n->chain, &old, err);
	if (ret < 0)
		return ret;
	if (old.present && strcmp(old.owner, n->owner) != 0)
		return vp_error_set(err, EEXIST, "nftables: chain %s %s %s belongs to \"%s\", "
				    "not \"%s\"", f->name, TABLE, n->chain, old.owner, n->owner);
	if (wanted) {
		ret = get_chain(b, f, f->base, NULL);
		if (ret == -ENOENT)
			ret = f == &INET ? q_inet_setup(b) : q_bridge_setup(b);
	}
	if (ret == 0 && old.present)
		ret = q_remove(b, f, &old);
	if (ret == 0 && wanted)
		ret = q_attachment(b, f, a, n);
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: preparing %s %s rules of %s", f->name,
				    TABLE, n->owner);
	return 0;
}

static int check_attachment(const struct vp_nft_attachment *a, struct vp_error *err)
{
	if (a->n_masq > MAX_MASQ || (a->n_masq && !a->masq))
		return vp_error_set(err, EINVAL, "nftables: at most %d masquerade entries",
				    MAX_MASQ);
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

static int attach_once(struct vp_nft_batch *b, const struct vp_nft_attachment *a,
		       const struct nft_names *n, struct vp_error *err)
{
	int ret;

	ret = q_replace(b, &INET, a, n, a->n_masq > 0, err);
	if (ret == 0)
		ret = q_replace(b, &BRIDGE, a, n, a->spoof_ifname != NULL, err);
	if (ret == 0)
		ret = vp_nft_batch_commit(b, err);
	vp_nft_batch_reset(b);
	return ret;
}

int vp_nft_attach(const struct vp_nft_attachment *a, struct vp_error *err)
{
	struct vp_nft_batch *b;
	struct nft_names n;
	int ret;

	ret = nft_names(&a->owner, &n, err);
	if (ret == 0)
		ret = check_attachment(a, err);
	if (ret < 0)
		return ret;
	ret = vp_nft_batch_new(&b, err);
	if (ret < 0)
		return ret;
	ret = attach_once(b, a, &n, err);
	/* EEXIST: another process created the base chain (or this owner's
	 * chain) since we looked; look again. */
	if (ret == -EEXIST)
		ret = attach_once(b, a, &n, err);
	vp_nft_batch_free(b);
	return ret;
}

/* ---- detach ---- */

int vp_nft_detach(const struct vp_nft_owner *owner, struct vp_error *err)
{
	const struct nft_fam *fams[] = { &INET, &BRIDGE };
	struct vp_nft_batch *b;
	struct nft_names n;
	struct nft_owned old;
	int ret;

	ret = nft_names(owner, &n, err);
	if (ret < 0)
		return ret;
	ret = vp_nft_batch_new(&b, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < 2 && ret == 0; i++) {
		ret = get_owned(b, fams[i], n.chain, &old, err);
		if (ret == 0 && old.present && strcmp(old.owner, n.owner) == 0) {
			ret = q_remove(b, fams[i], &old);
			if (ret < 0)
				vp_error_set(err, -ret, "nftables: preparing removal of %s", n.owner);
		}
	}
	if (ret == 0)
		ret = vp_nft_batch_commit(b, err);
	vp_nft_batch_free(b);
	return ret;
}

/* ---- verify ---- */

struct rule_texts {
	char (*text)[RULE_TEXT];
	size_t n, cap;
	bool failed;
};

static int rule_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_texts *rt = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r) {
		rt->failed = true;
		return MNL_CB_ERROR;
	}
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		if (rt->n < rt->cap)
			vp_nft_rules_text(r, rt->text[rt->n], RULE_TEXT);
		rt->n++;
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

/* The rules of one chain as text; rt->n may exceed rt->cap (count only). */
static int dump_rules(struct vp_nft_batch *b, const struct nft_fam *f, const char *chain,
		      struct rule_texts *rt)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r)
		return -ENOMEM;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)f->family, NLM_F_DUMP,
					 vp_nft_batch_seq(b));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return vp_nft_batch_query(b, nlh, rule_reply_cb, rt);
}

static int verify_rules(struct vp_nft_batch *b, const struct nft_fam *f,
			const struct vp_nft_attachment *a, const char *chain, struct vp_error *err)
{
	struct vp_nft_rules l = { .n = 0 };
	struct rule_texts rt = { .cap = VP_NFT_MAX_RULES };
	char want[RULE_TEXT];
	int ret;

	rt.text = calloc(rt.cap, sizeof(*rt.text));
	if (!rt.text)
		return vp_error_set(err, ENOMEM, "nftables: verifying %s", chain);
	ret = f == &BRIDGE ? spoof_rules(a, chain, &l) : masq_rules(a, chain, &l);
	if (ret == 0)
		ret = dump_rules(b, f, chain, &rt);
	if (ret < 0) {
		ret = vp_error_set(err, -ret, "nftables: reading rules of %s %s %s", f->name, TABLE,
				   chain);
		goto out;
	}
	if (rt.n != l.n) {
		ret = vp_error_set(err, ENOENT, "nftables: chain %s %s %s has %zu rules, "
				   "expected %zu", f->name, TABLE, chain, rt.n, l.n);
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		vp_nft_rules_text(l.r[i], want, sizeof(want));
		if (strcmp(want, rt.text[i]) != 0) {
			ret = vp_error_set(err, ENOENT, "nftables: rule %zu of %s %s %s is %s, "
					   "expected %s", i + 1, f->name, TABLE, chain,
					   rt.text[i], want);
			goto out;
		}
	}
out:
	vp_nft_rules_free(&l);
	free(rt.text);
	return ret;
}

static int verify_elem(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
		       const void *key, uint32_t key_len, const char *key_text, const char *chain,
		       struct vp_error *err)
{
	char target[CHAIN_LEN];
	int ret = get_elem_target(b, f, set, key, key_len, target);

	if (ret == -ENOENT || (ret == 0 && strcmp(target, chain) != 0))
		return vp_error_set(err, ENOENT, "nftables: map %s %s %s has no element %s : "
				    "jump %s", f->name, TABLE, set, key_text, chain);
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: reading map %s %s %s", f->name, TABLE,
				    set);
	return 0;
}

static int verify_elems(struct vp_nft_batch *b, const struct nft_fam *f,
			const struct vp_nft_attachment *a, const char *chain, struct vp_error *err)
{
	char text[VP_IP_STRLEN], key[IFNAMSIZ];
	int ret = 0;

	if (f == &BRIDGE) {
		ifname_key(a->spoof_ifname, key);
		return verify_elem(b, f, SET_SPOOF, key, IFNAMSIZ, a->spoof_ifname, chain, err);
	}
	for (size_t i = 0; i < a->n_masq && ret == 0; i++) {
		const struct vp_ip *ip = &a->masq[i].ip;

		ret = verify_elem(b, f, ip->family == AF_INET ? SET_MASQ4 : SET_MASQ6, ip->addr,
				  (uint32_t)vp_ip_bytes(ip), vp_ip_str(ip, text), chain, err);
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

static int verify_fam(struct vp_nft_batch *b, const struct nft_fam *f,
		      const struct vp_nft_attachment *a, const struct nft_names *n, bool wanted,
		      struct vp_error *err)
{
	struct nft_owned cur;
	int ret;

	ret = get_owned(b, f, n->chain, &cur, err);
	if (ret < 0)
		return ret;
	if (!wanted && cur.present)
		return vp_error_set(err, ENOENT, "nftables: unexpected chain %s %s %s for %s",
				    f->name, TABLE, n->chain, n->owner);
	if (!wanted)
		return 0;
	if (!cur.present || strcmp(cur.owner, n->owner) != 0 ||
	    !owned_keys_match(&cur, a, f == &BRIDGE))
		return vp_error_set(err, ENOENT, "nftables: chain %s %s %s of %s is %s", f->name,
				    TABLE, n->chain, n->owner, cur.present ? "stale" : "missing");
	ret = get_chain(b, f, f->base, NULL);
	if (ret < 0)
		return vp_error_set(err, -ret, "nftables: base chain %s %s %s", f->name, TABLE,
				    f->base);
	ret = verify_rules(b, f, a, n->chain, err);
	return ret ? ret : verify_elems(b, f, a, n->chain, err);
}

int vp_nft_verify(const struct vp_nft_attachment *a, struct vp_error *err)
{
	struct vp_nft_batch *b;
	struct nft_names n;
	int ret;

	ret = nft_names(&a->owner, &n, err);
	if (ret == 0)
		ret = check_attachment(a, err);
	if (ret < 0)
		return ret;
	ret = vp_nft_batch_new(&b, err);
	if (ret < 0)
		return ret;
	ret = verify_fam(b, &INET, a, &n, a->n_masq > 0, err);
	if (ret == 0)
		ret = verify_fam(b, &BRIDGE, a, &n, a->spoof_ifname != NULL, err);
	vp_nft_batch_free(b);
	return ret;
}

/* ---- gc ---- */

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
		if (nft_names(&g->valid[i], &n, NULL) == 0 && strcmp(n.owner, owner) == 0)
			return true;
	return false;
}

static int gc_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct gc_scan *g = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nft_owned o;
	size_t plen = strlen(g->network);

	if (!c || nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		nftnl_chain_free(c);
		g->failed = true;
		return MNL_CB_ERROR;
	}
	owned_from_chain(c, &o);
	if (strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), TABLE) == 0 &&
	    strncmp(o.chain, "vp-", 3) == 0 && strncmp(o.owner, g->network, plen) == 0 &&
	    o.owner[plen] == '/' && !gc_is_valid(g, o.owner)) {
		if (g->n == g->cap) {
			size_t cap = g->cap ? 2 * g->cap : 16;
			void *p = realloc(g->stale, cap * sizeof(*g->stale));

			if (!p) {
				nftnl_chain_free(c);
				g->failed = true;
				return MNL_CB_ERROR;
			}
			g->stale = p;
			g->cap = cap;
		}
		g->stale[g->n++] = o;
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
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
		ret = q_remove(b, f, &g->stale[i]);
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
	ret = gc_fam(b, &INET, &g, err);
	if (ret == 0)
		ret = gc_fam(b, &BRIDGE, &g, err);
	if (ret == 0)
		ret = vp_nft_batch_commit(b, err);
	free(g.stale);
	vp_nft_batch_free(b);
	return ret;
}
