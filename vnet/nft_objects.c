/* nft_objects.c - vplumb's nftables objects, one function per object and
 * verb: the two tables with their verdict maps and base chains, and the
 * chains, rules and map elements queued into a batch or queried one at a
 * time (see nft_internal.h for the layout).
 */
#include <errno.h>
#include <stdio.h>
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

#include "vnet/nft_internal.h"

#define NAT_PRIO 100           /* srcnat */
#define SPOOF_PRIO (-300)      /* before the bridge decides anything */
#define BR_PRE_ROUTING 0       /* NF_BR_PRE_ROUTING (linux/netfilter_bridge.h) */
/* nft(8) datatype ids, so `nft list` prints the maps' keys readably. */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_IFNAME 41
#define NFT_BYTEORDER_HOST 1   /* nft's enum byteorder */
#define NFT_BYTEORDER_BIG 2
/* Set IDs let the base chain's rules find maps created in the same batch. */
#define ID_MASQ4 1
#define ID_MASQ6 2
#define ID_SPOOF 3

const struct nft_fam vp_nft_inet = { NFPROTO_INET, "inet", "postrouting" };
const struct nft_fam vp_nft_bridge = { NFPROTO_BRIDGE, "bridge", "prerouting" };

void vp_nft_ifname_key(const char *ifname, char key[IFNAMSIZ])
{
	memset(key, 0, IFNAMSIZ);
	memcpy(key, ifname, strnlen(ifname, IFNAMSIZ - 1));
}

/* ---- tables and maps ---- */

static int q_table(struct vp_nft_batch *b, const struct nft_fam *f)
{
	char *room = vp_nft_batch_room(b);
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!room || !t) {
		if (t)
			nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, VP_NFT_TABLE);
	nlh = nftnl_table_nlmsg_build_hdr(room, NFT_MSG_NEWTABLE, (uint16_t)f->family,
					  NLM_F_CREATE, vp_nft_batch_seq(b));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return vp_nft_batch_push(b, nlh, "adding table %s %s", f->name, VP_NFT_TABLE);
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
	nftnl_set_set_str(s, NFTNL_SET_TABLE, VP_NFT_TABLE);
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
	return vp_nft_batch_push(b, nlh, "adding map %s %s %s", f->name, VP_NFT_TABLE, name);
}

/* ---- chains and rules ---- */

int vp_nft_q_chain(struct vp_nft_batch *b, const struct nft_fam *f, struct nftnl_chain *c,
		   const char *what)
{
	char *room = vp_nft_batch_room(b);
	struct nlmsghdr *nlh;

	if (!room)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, VP_NFT_TABLE);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)f->family);
	/* EXCL: a concurrent creator makes this transaction fail, not
	 * double the base rules; the caller retries once. */
	nlh = nftnl_chain_nlmsg_build_hdr(room, NFT_MSG_NEWCHAIN, (uint16_t)f->family,
					  NLM_F_CREATE | NLM_F_EXCL, vp_nft_batch_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	return vp_nft_batch_push(b, nlh, "adding chain %s %s %s%s", f->name, VP_NFT_TABLE,
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
	ret = vp_nft_q_chain(b, f, c, "");
	nftnl_chain_free(c);
	return ret;
}

/* A chain message of type for chain name of f's table, built into buf. */
static struct nlmsghdr *chain_msg(char *buf, uint16_t type, uint16_t flags,
				  const struct vp_nft_batch *b, const struct nft_fam *f,
				  const char *name)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		return NULL;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, VP_NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nlh = nftnl_chain_nlmsg_build_hdr(buf, type, (uint16_t)f->family, flags,
					  vp_nft_batch_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	return nlh;
}

int vp_nft_q_chain_destroy(struct vp_nft_batch *b, const struct nft_fam *f, const char *name)
{
	char *room = vp_nft_batch_room(b);
	struct nlmsghdr *nlh = room ? chain_msg(room, NFT_MSG_DESTROYCHAIN, 0, b, f, name) : NULL;

	if (!nlh)
		return -ENOMEM;
	return vp_nft_batch_push(b, nlh, "deleting chain %s %s %s", f->name, VP_NFT_TABLE, name);
}

int vp_nft_q_rules(struct vp_nft_batch *b, const struct nft_fam *f, struct vp_nft_rules *l)
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
					VP_NFT_TABLE, nftnl_rule_get_str(l->r[i], NFTNL_RULE_CHAIN));
	}
	return ret;
}

/* ---- the skeleton of each table ---- */

static int q_inet_skeleton(struct vp_nft_batch *b)
{
	const struct nft_fam *f = &vp_nft_inet;
	struct vp_nft_rules l = { .n = 0 };
	int ret;

	ret = q_table(b, f);
	if (ret == 0)
		ret = q_map(b, f, VP_NFT_SET_MASQ4, NFT_TYPE_IPADDR, 4, ID_MASQ4);
	if (ret == 0)
		ret = q_map(b, f, VP_NFT_SET_MASQ6, NFT_TYPE_IP6ADDR, 16, ID_MASQ6);
	if (ret == 0)
		ret = q_base_chain(b, f, "nat", NF_INET_POST_ROUTING, NAT_PRIO);
	if (ret == 0)
		ret = vp_nft_rules_saddr_vmap(&l, f->family, VP_NFT_TABLE, f->base, AF_INET,
					      VP_NFT_SET_MASQ4, ID_MASQ4);
	if (ret == 0)
		ret = vp_nft_rules_saddr_vmap(&l, f->family, VP_NFT_TABLE, f->base, AF_INET6,
					      VP_NFT_SET_MASQ6, ID_MASQ6);
	if (ret == 0)
		ret = vp_nft_q_rules(b, f, &l);
	vp_nft_rules_free(&l);
	return ret;
}

static int q_bridge_skeleton(struct vp_nft_batch *b)
{
	const struct nft_fam *f = &vp_nft_bridge;
	struct vp_nft_rules l = { .n = 0 };
	int ret;

	ret = q_table(b, f);
	if (ret == 0)
		ret = q_map(b, f, VP_NFT_SET_SPOOF, NFT_TYPE_IFNAME, IFNAMSIZ, ID_SPOOF);
	if (ret == 0)
		ret = q_base_chain(b, f, "filter", BR_PRE_ROUTING, SPOOF_PRIO);
	if (ret == 0)
		ret = vp_nft_rules_iifname_vmap(&l, f->family, VP_NFT_TABLE, f->base,
						VP_NFT_SET_SPOOF, ID_SPOOF);
	if (ret == 0)
		ret = vp_nft_q_rules(b, f, &l);
	vp_nft_rules_free(&l);
	return ret;
}

int vp_nft_q_skeleton(struct vp_nft_batch *b, const struct nft_fam *f)
{
	return f == &vp_nft_inet ? q_inet_skeleton(b) : q_bridge_skeleton(b);
}

unsigned vp_nft_skeleton_use(const struct nft_fam *f)
{
	return f == &vp_nft_inet ? 3 : 2;   /* the maps and the base chain above */
}

int vp_nft_q_table_delete(struct vp_nft_batch *b, const struct nft_fam *f)
{
	char *room = vp_nft_batch_room(b);
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!room || !t) {
		if (t)
			nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, VP_NFT_TABLE);
	nlh = nftnl_table_nlmsg_build_hdr(room, NFT_MSG_DELTABLE, (uint16_t)f->family, 0,
					  vp_nft_batch_seq(b));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return vp_nft_batch_push(b, nlh, "deleting table %s %s", f->name, VP_NFT_TABLE);
}

/* ---- map elements ---- */

/* A set element message of type for key (-> jump chain unless NULL) in map
 * set of f's table, built into buf. */
static struct nlmsghdr *elem_msg(char *buf, uint16_t type, uint16_t flags,
				 const struct vp_nft_batch *b, const struct nft_fam *f,
				 const char *set, const void *key, uint32_t key_len,
				 const char *chain)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	if (!s || !e) {
		nftnl_set_free(s);
		nftnl_set_elem_free(e);
		return NULL;
	}
	nftnl_set_set_str(s, NFTNL_SET_TABLE, VP_NFT_TABLE);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, key_len);
	if (chain) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	}
	nftnl_set_elem_add(s, e);
	nlh = nftnl_set_elem_nlmsg_build_hdr(buf, type, (uint16_t)f->family, flags,
					     vp_nft_batch_seq(b));
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh;
}

/* Add (chain != NULL: key → jump chain) or destroy one map element. */
static int q_elem(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
		  const void *key, uint32_t key_len, const char *chain, const char *key_text)
{
	char *room = vp_nft_batch_room(b);
	struct nlmsghdr *nlh = NULL;

	if (room)
		nlh = elem_msg(room, chain ? NFT_MSG_NEWSETELEM : NFT_MSG_DESTROYSETELEM,
			       chain ? NLM_F_CREATE : 0, b, f, set, key, key_len, chain);
	if (!nlh)
		return -ENOMEM;
	if (chain)
		return vp_nft_batch_push(b, nlh, "adding element %s : jump %s to map %s %s %s",
					 key_text, chain, f->name, VP_NFT_TABLE, set);
	return vp_nft_batch_push(b, nlh, "deleting element %s from map %s %s %s", key_text,
				 f->name, VP_NFT_TABLE, set);
}

int vp_nft_q_ip_elem(struct vp_nft_batch *b, const struct vp_ip *ip, const char *chain)
{
	char text[VP_IP_STRLEN];

	return q_elem(b, &vp_nft_inet, ip->family == AF_INET ? VP_NFT_SET_MASQ4 : VP_NFT_SET_MASQ6,
		      ip->addr, (uint32_t)vp_ip_bytes(ip), chain, vp_ip_str(ip, text));
}

int vp_nft_q_ifname_elem(struct vp_nft_batch *b, const char *ifname, const char *chain)
{
	char key[IFNAMSIZ];

	vp_nft_ifname_key(ifname, key);
	return q_elem(b, &vp_nft_bridge, VP_NFT_SET_SPOOF, key, IFNAMSIZ, chain, ifname);
}

/* ---- queries ---- */

static int chain_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_owned *out = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 && out)
		vp_nft_owned_from_chain(c, out);
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

int vp_nft_get_chain(struct vp_nft_batch *b, const struct nft_fam *f, const char *name,
		     struct nft_owned *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	if (out)
		memset(out, 0, sizeof(*out));
	nlh = chain_msg(buf, NFT_MSG_GETCHAIN, 0, b, f, name);
	if (!nlh)
		return -ENOMEM;
	return vp_nft_batch_query(b, nlh, chain_reply_cb, out);
}

static int table_reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table *t = nftnl_table_alloc();
	int ret = MNL_CB_ERROR;

	if (!t)
		return ret;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0) {
		*(unsigned *)data = nftnl_table_get_u32(t, NFTNL_TABLE_USE);
		ret = MNL_CB_OK;
	}
	nftnl_table_free(t);
	return ret;
}

int vp_nft_get_table_use(struct vp_nft_batch *b, const struct nft_fam *f, unsigned *use)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	*use = 0;
	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, VP_NFT_TABLE);
	nlh = nftnl_table_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)f->family, 0,
					  vp_nft_batch_seq(b));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return vp_nft_batch_query(b, nlh, table_reply_cb, use);
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
			snprintf(chain, VP_NFT_CHAIN_LEN, "%s", target);
		nftnl_set_elems_iter_destroy(it);
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

int vp_nft_get_elem_target(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
			   const void *key, uint32_t key_len, char chain[VP_NFT_CHAIN_LEN])
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	chain[0] = '\0';
	nlh = elem_msg(buf, NFT_MSG_GETSETELEM, 0, b, f, set, key, key_len, NULL);
	if (!nlh)
		return -ENOMEM;
	return vp_nft_batch_query(b, nlh, elem_reply_cb, chain);
}
