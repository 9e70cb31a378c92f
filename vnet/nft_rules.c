/* nft_rules.c - builders for the handful of nftables rules vplumb uses,
 * expression by expression, the way nft(8) itself encodes them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "vnet/nft_rules.h"

/* Network header offsets of the source and destination address. */
#define IP4_SADDR 12
#define IP4_DADDR 16
#define IP6_SADDR 8
#define IP6_DADDR 24
#define ETH_SADDR 6

/* A rule under construction: the first allocation failure sticks. */
struct rule_b {
	struct nftnl_rule *r;
	bool failed;
};

static struct nftnl_expr *rb_add(struct rule_b *rb, const char *name)
{
	struct nftnl_expr *e = rb->failed ? NULL : nftnl_expr_alloc(name);

	if (!e) {
		rb->failed = true;
		return NULL;
	}
	nftnl_rule_add_expr(rb->r, e);
	return e;
}

static void rb_meta(struct rule_b *rb, uint32_t key)
{
	struct nftnl_expr *e = rb_add(rb, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
}

static void rb_payload(struct rule_b *rb, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = rb_add(rb, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
}

static void rb_cmp_eq(struct rule_b *rb, const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_add(rb, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void rb_mask(struct rule_b *rb, const uint8_t *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *e = rb_add(rb, "bitwise");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
}

static void rb_lookup(struct rule_b *rb, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = rb_add(rb, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (set_id)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
}

static void rb_verdict(struct rule_b *rb, int verdict)
{
	struct nftnl_expr *e = rb_add(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
}

/* `meta nfproto ipv4|ipv6`: the dependency nft adds before ip/ip6 matches
 * in an inet table. */
static void rb_nfproto(struct rule_b *rb, int af)
{
	uint8_t proto = af == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	rb_meta(rb, NFT_META_NFPROTO);
	rb_cmp_eq(rb, &proto, sizeof(proto));
}

static int rb_begin(struct rule_b *rb, struct vp_nft_rules *l, int family, const char *table,
		    const char *chain)
{
	if (l->n == VP_NFT_MAX_RULES)
		return -E2BIG;
	rb->failed = false;
	rb->r = nftnl_rule_alloc();
	if (!rb->r)
		return -ENOMEM;
	nftnl_rule_set_u32(rb->r, NFTNL_RULE_FAMILY, (uint32_t)family);
	nftnl_rule_set_str(rb->r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(rb->r, NFTNL_RULE_CHAIN, chain);
	return 0;
}

static int rb_end(struct rule_b *rb, struct vp_nft_rules *l)
{
	if (rb->failed) {
		nftnl_rule_free(rb->r);
		return -ENOMEM;
	}
	l->r[l->n++] = rb->r;
	return 0;
}

void vp_nft_rules_free(struct vp_nft_rules *l)
{
	while (l->n)
		nftnl_rule_free(l->r[--l->n]);
}

int vp_nft_rules_saddr_vmap(struct vp_nft_rules *l, int family, const char *table,
			    const char *chain, int af, const char *set, uint32_t set_id)
{
	struct rule_b rb;
	int ret = rb_begin(&rb, l, family, table, chain);

	if (ret < 0)
		return ret;
	rb_nfproto(&rb, af);
	rb_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER, af == AF_INET ? IP4_SADDR : IP6_SADDR,
		   af == AF_INET ? 4 : 16);
	rb_lookup(&rb, set, set_id);
	return rb_end(&rb, l);
}

int vp_nft_rules_daddr_return(struct vp_nft_rules *l, int family, const char *table,
			      const char *chain, const struct vp_prefix *net)
{
	struct vp_prefix p = vp_prefix_network(net);
	uint32_t bytes = (uint32_t)vp_ip_bytes(&p.ip);
	uint8_t mask[16] = { 0 };
	struct rule_b rb;
	int ret = rb_begin(&rb, l, family, table, chain);

	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < p.len; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	rb_nfproto(&rb, p.ip.family);
	rb_payload(&rb, NFT_PAYLOAD_NETWORK_HEADER,
		   p.ip.family == AF_INET ? IP4_DADDR : IP6_DADDR, bytes);
	if (p.len < bytes * 8)
		rb_mask(&rb, mask, bytes);
	rb_cmp_eq(&rb, p.ip.addr, bytes);
	rb_verdict(&rb, NFT_RETURN);
	return rb_end(&rb, l);
}

int vp_nft_rules_masq(struct vp_nft_rules *l, int family, const char *table, const char *chain)
{
	struct rule_b rb;
	int ret = rb_begin(&rb, l, family, table, chain);

	if (ret < 0)
		return ret;
	rb_add(&rb, "masq");
	return rb_end(&rb, l);
}

int vp_nft_rules_iifname_vmap(struct vp_nft_rules *l, int family, const char *table,
			      const char *chain, const char *set, uint32_t set_id)
{
	struct rule_b rb;
	int ret = rb_begin(&rb, l, family, table, chain);

	if (ret < 0)
		return ret;
	rb_meta(&rb, NFT_META_IIFNAME);
	rb_lookup(&rb, set, set_id);
	return rb_end(&rb, l);
}

int vp_nft_rules_ether_saddr_return(struct vp_nft_rules *l, int family, const char *table,
				    const char *chain, const struct vp_mac *mac)
{
	struct rule_b rb;
	int ret = rb_begin(&rb, l, family, table, chain);

	if (ret < 0)
		return ret;
	rb_payload(&rb, NFT_PAYLOAD_LL_HEADER, ETH_SADDR, sizeof(mac->addr));
	rb_cmp_eq(&rb, mac->addr, sizeof(mac->addr));
	rb_verdict(&rb, NFT_RETURN);
	return rb_end(&rb, l);
}

int vp_nft_rules_drop(struct vp_nft_rules *l, int family, const char *table, const char *chain)
{
	struct rule_b rb;
	int ret = rb_begin(&rb, l, family, table, chain);

	if (ret < 0)
		return ret;
	rb_verdict(&rb, NF_DROP);
	return rb_end(&rb, l);
}

void vp_nft_rules_text(const struct nftnl_rule *r, char *buf, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	size_t used = 0;
	int n;

	buf[0] = '\0';
	if (!it)
		return;
	while ((e = nftnl_expr_iter_next(it)) && used < len) {
		n = snprintf(buf + used, len - used, "[ %s ", nftnl_expr_get_str(e, NFTNL_EXPR_NAME));
		used += n > 0 ? (size_t)n : 0;
		if (used >= len)
			break;
		n = nftnl_expr_snprintf(buf + used, len - used, e, NFTNL_OUTPUT_DEFAULT, 0);
		used += n > 0 ? (size_t)n : 0;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "]");
	}
	nftnl_expr_iter_destroy(it);
}
