/* nft.h - the nftables rules of a pod attachment, applied in one batch.
 *
 * Rules live in vplumb's own tables ("inet vplumb" for masquerade, "bridge
 * vplumb" for MAC spoof checks).  Each attachment gets its own chains, named
 * from a hash of its owner, reached through verdict maps keyed by source
 * address and by input interface; adding or removing an attachment is one
 * atomic batch that never needs to look up rule handles, and costs the same
 * however many pods exist.
 */
#ifndef VP_VNET_NFT_H
#define VP_VNET_NFT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"
#include "common/undo.h"

/* Who an attachment is: CNI network name, container ID and interface name. */
struct vp_nft_owner {
	const char *network;
	const char *container_id;
	const char *ifname;
};

/* Masquerade traffic from ip unless it is headed into net (or multicast). */
struct vp_nft_masq {
	struct vp_ip ip;
	struct vp_prefix net;
};

struct vp_nft_attachment {
	struct vp_nft_owner owner;
	const struct vp_nft_masq *masq;
	size_t n_masq;
	const char *spoof_ifname;         /* host-side port, NULL: no MAC spoof check */
	struct vp_mac spoof_mac;          /* the only source MAC allowed in from it */
};

/* Install the attachment's rules (replacing any it already had). */
int vp_nft_attach(const struct vp_nft_attachment *a, struct vp_error *err) VP_MUST_CHECK;

/* vp_nft_attach(), then push the owner's detach onto undo (a's owner strings
 * must outlive the list). */
int vp_nft_attach_undoable(const struct vp_nft_attachment *a, struct vp_undo *undo,
			   struct vp_error *err) VP_MUST_CHECK;

/* Remove the owner's rules; nothing there is success. */
int vp_nft_detach(const struct vp_nft_owner *owner, struct vp_error *err) VP_MUST_CHECK;

/* Check that exactly a's rules are installed; -ENOENT with err describing the
 * first difference otherwise. */
int vp_nft_verify(const struct vp_nft_attachment *a, struct vp_error *err) VP_MUST_CHECK;

/* Whether the owner has rules (a chain) in either table. */
int vp_nft_owned_present(const struct vp_nft_owner *owner, bool *present,
			 struct vp_error *err) VP_MUST_CHECK;

/* Remove the rules of every attachment of network whose owner is not in
 * valid[0..n). */
int vp_nft_gc(const char *network, const struct vp_nft_owner *valid, size_t n,
	      struct vp_error *err) VP_MUST_CHECK;

#endif
