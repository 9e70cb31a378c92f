/* vring.h - split virtqueues in guest memory: pop a descriptor chain
 * (direct or indirect) as iovecs over guest pages, push a used element,
 * and decide whether the driver wants an interrupt (EVENT_IDX).
 *
 * Every index read from guest memory is checked against the ring size,
 * every address goes through the memory table, a chain may hold at most
 * the ring size (or indirect table size) of descriptors, so loops end.
 * Descriptors are copied before use, so a guest rewriting them cannot
 * change what was checked.  Not thread-safe: one thread owns a ring.
 */
#ifndef VP_VBLK_VHOST_VRING_H
#define VP_VBLK_VHOST_VRING_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"
#include "vblk/vhost/inflight.h"
#include "vblk/vhost/memtable.h"

#define VP_VRING_MAX_SIZE 1024
#define VP_VRING_MAX_INDIRECT 1024  /* descriptors in one indirect table */

struct vp_vring {
	const struct vp_memtable *mt;
	uint16_t num;                 /* entries; a power of two */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail_idx;      /* next avail entry to take */
	uint16_t used_idx;            /* next used entry to fill */
	uint16_t signalled_used;
	bool signalled_valid;
	bool event_idx;               /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;                /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	struct vp_inflight_queue *inflight; /* NULL without INFLIGHT_SHMFD */
	uint64_t counter;
};

/* A popped chain: iov[0..n_out) are device-readable, iov[n_out..n_out+n_in)
 * device-writable.  The caller provides iov and max_iov. */
struct vp_vring_elem {
	uint16_t head;
	unsigned n_out, n_in;
	uint32_t in_bytes;            /* total device-writable bytes */
	struct iovec *iov;
	unsigned max_iov;
};

/* Attach ring memory given as front-end virtual addresses (SET_VRING_ADDR)
 * for a ring of num entries.  Checks num (power of two, 1..1024), alignment,
 * and that each part lies inside one region.  Indices are not reset.
 * Returns 0 or -EINVAL/-EFAULT with err set. */
VP_MUST_CHECK int vp_vring_attach(struct vp_vring *vr, const struct vp_memtable *mt, uint16_t num,
				  uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva,
				  struct vp_error *err);

/* Take the next available chain into elem.  Returns 1 when one was taken,
 * 0 when the ring is empty, or -errno for a malformed ring or chain
 * (-EPROTO bad index or flags, -ELOOP chain too long/looping, -EFAULT
 * address outside guest memory, -E2BIG more segments than elem->max_iov):
 * the ring is then unusable and the caller should stop the device.
 * With an inflight region the head is recorded as in flight. */
VP_MUST_CHECK int vp_vring_pop(struct vp_vring *vr, struct vp_vring_elem *elem);

/* Walk the chain starting at elem->head (used to resubmit recovered heads);
 * same checks and errors as vp_vring_pop. */
VP_MUST_CHECK int vp_vring_chain(const struct vp_vring *vr, struct vp_vring_elem *elem);

/* Publish one completion (head, bytes written to the guest) and clear its
 * inflight record. */
void vp_vring_push(struct vp_vring *vr, uint16_t head, uint32_t len);

/* After a batch of pushes: true when the driver asked to be interrupted
 * (EVENT_IDX used_event, or no VRING_AVAIL_F_NO_INTERRUPT). */
bool vp_vring_need_call(struct vp_vring *vr);

/* When the ring looks empty: publish how far we have read (EVENT_IDX
 * avail_event) and report whether more entries arrived meanwhile, in which
 * case the caller pops again instead of waiting for a kick. */
bool vp_vring_rearm(struct vp_vring *vr);

/* Start processing: take used_idx from the used ring.  With an inflight
 * region also repair it, put in-flight heads (oldest first) into heads[]
 * (capacity num) and set last_avail_idx = used->idx + count.  Returns the
 * count (0 without a region: last_avail_idx stays as SET_VRING_BASE set it). */
unsigned vp_vring_recover(struct vp_vring *vr, uint16_t *heads);

#endif
