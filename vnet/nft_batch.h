/* nft_batch.h - nftables transport for vnet/nft.c (internal to vnet/):
 * one nfnetlink socket, transactions built as one batch and sent at once,
 * and single-object queries.
 */
#ifndef VP_VNET_NFT_BATCH_H
#define VP_VNET_NFT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct nlmsghdr;

/* Kernel 6.3+ message types missing from older uapi headers: delete that
 * succeeds when the object is absent. */
#ifndef NFT_MSG_DESTROYCHAIN
#define NFT_MSG_DESTROYCHAIN 27
#endif
#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30
#endif

struct vp_nft_batch;

/* Open a socket in the caller's current network namespace and start an
 * empty batch.  Free with vp_nft_batch_free(). */
int vp_nft_batch_new(struct vp_nft_batch **out, struct vp_error *err) VP_MUST_CHECK;
void vp_nft_batch_free(struct vp_nft_batch *b);

/* Drop every message queued so far (the socket stays open). */
void vp_nft_batch_reset(struct vp_nft_batch *b);

/* Room for one more message: returns a buffer of at least 8 KiB to build a
 * header into with nftnl_*_nlmsg_build_hdr(..., vp_nft_batch_seq(b)), or NULL
 * on ENOMEM.  Finish it with vp_nft_batch_push(), giving what it does
 * ("adding chain inet vplumb vp-..."), which names it in errors. */
char *vp_nft_batch_room(struct vp_nft_batch *b);
uint32_t vp_nft_batch_seq(const struct vp_nft_batch *b);
int vp_nft_batch_push(struct vp_nft_batch *b, const struct nlmsghdr *nlh,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4))) VP_MUST_CHECK;

/* Make the next commit happen only if the ruleset is still in the
 * generation read now (the first call per batch reads it; later ones keep
 * it): decisions taken from queries made after this call then cannot be
 * stale, and a commit after a change by anyone fails with -ERESTART (the
 * caller looks again).  -EBUSY when the batch was made unguarded. */
int vp_nft_batch_guard(struct vp_nft_batch *b) VP_MUST_CHECK;

/* Refuse later guards (a caller that keeps losing races gives up on what
 * needs one). */
void vp_nft_batch_unguarded(struct vp_nft_batch *b);

/* Number of messages queued. */
size_t vp_nft_batch_count(const struct vp_nft_batch *b);

/* Send the queued messages as one transaction (nothing queued: no-op) and
 * empty the batch.  On failure the kernel applied none of it; returns the
 * first error's -errno with err naming the message that caused it. */
int vp_nft_batch_commit(struct vp_nft_batch *b, struct vp_error *err) VP_MUST_CHECK;

/* Send one request (built by the caller in its own buffer, sequence number
 * vp_nft_batch_seq(b); nothing is queued) and feed each
 * reply to cb(nlh, data) until the ack or the end of the dump.  Returns 0,
 * or -errno from the kernel (e.g. -ENOENT) with err untouched. */
typedef int (*vp_nft_reply_cb)(const struct nlmsghdr *nlh, void *data);
int vp_nft_batch_query(struct vp_nft_batch *b, struct nlmsghdr *req, vp_nft_reply_cb cb,
		       void *data) VP_MUST_CHECK;

#endif
