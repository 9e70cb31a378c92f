/* nft_internal.h - the layout of vplumb's nftables tables and the pieces
 * the nft module's files share (internal to vnet/; the API is nft.h):
 *
 *   nft_objects.c  one function per object and verb: queue a table, map,
 *                  chain, rule or map element into a batch, or query one
 *   nft_owner.c    per-attachment chains: their names, the ownership record
 *                  in their userdata, and removing one with its map elements
 *   nft.c          attach and detach (vp_nft_attach, vp_nft_detach), and the
 *                  checks and rules an attachment has, shared with verify
 *   nft_verify.c   vp_nft_verify
 *   nft_gc.c       vp_nft_gc
 *
 * Each table "vplumb" (families inet and bridge) holds a base chain whose
 * rules jump through verdict maps to one chain per attachment.  Queueing
 * functions return 0 or -errno (the caller describes the failure); queries
 * return -ENOENT when the object (or its table) is absent.
 */
#ifndef VP_VNET_NFT_INTERNAL_H
#define VP_VNET_NFT_INTERNAL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"
#include "vnet/nft.h"
#include "vnet/nft_batch.h"
#include "vnet/nft_rules.h"

#define VP_NFT_TABLE "vplumb"
#define VP_NFT_SET_MASQ4 "masq4"        /* inet: ip saddr -> jump per-attachment chain */
#define VP_NFT_SET_MASQ6 "masq6"
#define VP_NFT_SET_SPOOF "spoof"        /* bridge: iifname -> jump per-attachment chain */
#define VP_NFT_MAX_MASQ 8
#define VP_NFT_CHAIN_LEN 20             /* "vp-" + 16 hex + NUL */
#define VP_NFT_OWNER_LEN 224            /* leaves room for the keys in 256 bytes */

struct nftnl_chain;

/* One of the two tables. */
struct nft_fam {
	int family;                     /* NFPROTO_* */
	const char *name;               /* as nft(8) spells the family */
	const char *base;               /* its base chain */
};

extern const struct nft_fam vp_nft_inet, vp_nft_bridge;

/* What an owner's chain is called. */
struct nft_names {
	char chain[VP_NFT_CHAIN_LEN];
	char owner[VP_NFT_OWNER_LEN];   /* "network/container/ifname" */
};

/* What a per-attachment chain's userdata says. */
struct nft_owned {
	bool present;
	char chain[VP_NFT_CHAIN_LEN];
	char owner[VP_NFT_OWNER_LEN];
	struct vp_ip keys[VP_NFT_MAX_MASQ]; /* its masq4/masq6 keys */
	size_t n_keys;
	char ifname[IFNAMSIZ];          /* its spoof key, "" for none */
};

/* ---- nft_objects.c ---- */

/* Queue the table, its maps, base chain and the base chain's vmap rules,
 * for a table seen without its base chain. */
int vp_nft_q_skeleton(struct vp_nft_batch *b, const struct nft_fam *f) VP_MUST_CHECK;

/* How many objects (chains and maps, as the kernel's table use count
 * counts them) f's skeleton has. */
unsigned vp_nft_skeleton_use(const struct nft_fam *f);

/* Queue deletion of f's table with everything in it. */
int vp_nft_q_table_delete(struct vp_nft_batch *b, const struct nft_fam *f) VP_MUST_CHECK;

/* The use count of f's table (its chains and maps): 0, -ENOENT, or -errno. */
int vp_nft_get_table_use(struct vp_nft_batch *b, const struct nft_fam *f,
			 unsigned *use) VP_MUST_CHECK;

/* Queue chain c (named by the caller) into f's table, failing if it exists;
 * what is appended to its description in errors. */
int vp_nft_q_chain(struct vp_nft_batch *b, const struct nft_fam *f, struct nftnl_chain *c,
		   const char *what) VP_MUST_CHECK;

/* Queue deletion of chain name (absent: fine). */
int vp_nft_q_chain_destroy(struct vp_nft_batch *b, const struct nft_fam *f,
			   const char *name) VP_MUST_CHECK;

/* Queue the rules of l, appended in order. */
int vp_nft_q_rules(struct vp_nft_batch *b, const struct nft_fam *f,
		   struct vp_nft_rules *l) VP_MUST_CHECK;

/* Queue ip -> jump chain into masq4/masq6, or with chain NULL the deletion
 * of ip's element (absent: fine). */
int vp_nft_q_ip_elem(struct vp_nft_batch *b, const struct vp_ip *ip,
		     const char *chain) VP_MUST_CHECK;

/* The same for interface ifname in the bridge table's spoof map. */
int vp_nft_q_ifname_elem(struct vp_nft_batch *b, const char *ifname,
			 const char *chain) VP_MUST_CHECK;

/* Fetch chain name of f's table: 0 (out, when non-NULL, filled from its
 * userdata), -ENOENT, or another -errno. */
int vp_nft_get_chain(struct vp_nft_batch *b, const struct nft_fam *f, const char *name,
		     struct nft_owned *out) VP_MUST_CHECK;

/* The chain that element key of map set jumps to ("" when no jump): 0,
 * -ENOENT, or another -errno. */
int vp_nft_get_elem_target(struct vp_nft_batch *b, const struct nft_fam *f, const char *set,
			   const void *key, uint32_t key_len,
			   char chain[VP_NFT_CHAIN_LEN]) VP_MUST_CHECK;

/* An interface name as the spoof map's key: zero-padded to IFNAMSIZ. */
void vp_nft_ifname_key(const char *ifname, char key[IFNAMSIZ]);

/* ---- nft_owner.c ---- */

/* Name the owner's chain; -EINVAL (err set, may be NULL) for an empty part
 * or one with '/', -ENAMETOOLONG for an owner too long to record. */
int vp_nft_names(const struct vp_nft_owner *o, struct nft_names *n,
		 struct vp_error *err) VP_MUST_CHECK;

/* Read c's name and ownership record into o (present set). */
void vp_nft_owned_from_chain(const struct nftnl_chain *c, struct nft_owned *o);

/* Record owner and the map keys a gives its chain in f's table (bridge: its
 * interface, inet: its addresses) as c's userdata.  -E2BIG when too long. */
int vp_nft_chain_set_owner(struct nftnl_chain *c, const char *owner,
			   const struct vp_nft_attachment *a, bool bridge) VP_MUST_CHECK;

/* Read chain's ownership record in f's table; an absent chain is success
 * with out->present false. */
int vp_nft_get_owned(struct vp_nft_batch *b, const struct nft_fam *f, const char *chain,
		     struct nft_owned *out, struct vp_error *err) VP_MUST_CHECK;

/* Queue removal of o's chain and of the map elements its record lists that
 * still jump to it (a key since taken over by another chain stays). */
int vp_nft_q_remove(struct vp_nft_batch *b, const struct nft_fam *f,
		    const struct nft_owned *o) VP_MUST_CHECK;

/* ---- nft.c ---- */

/* Called for one table f with the owner's chain there (cur; cur->present
 * false when absent) and whether a wants one there; queues what it changes. */
typedef int (*vp_nft_fam_fn)(struct vp_nft_batch *b, const struct nft_fam *f,
			     const struct vp_nft_attachment *a, const struct nft_names *n,
			     const struct nft_owned *cur, bool wanted, struct vp_error *err);

/* What vp_nft_run does with the changes fn queued. */
enum vp_nft_mode {
	VP_NFT_READ,                    /* nothing: fn only reads (verify) */
	VP_NFT_COMMIT,                  /* commit them as one transaction */
	VP_NFT_COMMIT_RETRY,            /* the same, and once more on -EEXIST or -ENOENT */
};

/* Name a's chain, check a, open a batch, and call fn for the inet table,
 * then the bridge table, stopping at the first failure; then as mode says.
 * A commit that fn guarded (vp_nft_batch_guard) and that lost a race with
 * another change is run again from the start.  0 or -errno with err set. */
int vp_nft_run(const struct vp_nft_attachment *a, vp_nft_fam_fn fn, enum vp_nft_mode mode,
	       struct vp_error *err) VP_MUST_CHECK;

/* Append the rules of a's chain (named chain) in f's table to l: in inet
 * the masquerade rules, in bridge the MAC spoof check. */
int vp_nft_attachment_rules(const struct vp_nft_attachment *a, const struct nft_fam *f,
			    const char *chain, struct vp_nft_rules *l) VP_MUST_CHECK;

#endif
