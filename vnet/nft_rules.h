/* nft_rules.h - the nftables rules vplumb installs, as libnftnl objects
 * (internal to vnet/): built once for adding and again for verifying.
 */
#ifndef VP_VNET_NFT_RULES_H
#define VP_VNET_NFT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/inet.h"

struct nftnl_rule;

#define VP_NFT_MAX_RULES 24

struct vp_nft_rules {
	struct nftnl_rule *r[VP_NFT_MAX_RULES];
	size_t n;
};

/* Free every rule and empty the list; accepts an empty list. */
void vp_nft_rules_free(struct vp_nft_rules *l);

/* Append `ip saddr vmap @set` (ip6 when v6) to the list for table family
 * and chain; set_id names a set created in the same batch (0: none). */
int vp_nft_rules_saddr_vmap(struct vp_nft_rules *l, int family, const char *table,
			    const char *chain, int af, const char *set, uint32_t set_id) VP_MUST_CHECK;

/* Append `ip daddr <net> return` (ip6 for an IPv6 prefix). */
int vp_nft_rules_daddr_return(struct vp_nft_rules *l, int family, const char *table,
			      const char *chain, const struct vp_prefix *net) VP_MUST_CHECK;

/* Append `masquerade`. */
int vp_nft_rules_masq(struct vp_nft_rules *l, int family, const char *table,
		      const char *chain) VP_MUST_CHECK;

/* Append `iifname vmap @set`. */
int vp_nft_rules_iifname_vmap(struct vp_nft_rules *l, int family, const char *table,
			      const char *chain, const char *set, uint32_t set_id) VP_MUST_CHECK;

/* Append `ether saddr <mac> return`, then `drop`. */
int vp_nft_rules_ether_saddr_return(struct vp_nft_rules *l, int family, const char *table,
				    const char *chain, const struct vp_mac *mac) VP_MUST_CHECK;
int vp_nft_rules_drop(struct vp_nft_rules *l, int family, const char *table,
		      const char *chain) VP_MUST_CHECK;

/* The rule's expressions as libnftnl prints them, one "[ ... ]" each, into
 * buf (truncated to len); equal texts mean equal rules. */
void vp_nft_rules_text(const struct nftnl_rule *r, char *buf, size_t len);

#endif
