/* inflight.h - the shared inflight region of VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD
 * (split-ring layout of vhost-user.rst): one queue region per virtqueue that
 * records which descriptor heads the back end has taken but not completed,
 * so that a restarted back end can resubmit them in the order they came.
 * The region is shared with the front end, so everything read from it is
 * checked before use.
 */
#ifndef VP_VBLK_VHOST_INFLIGHT_H
#define VP_VBLK_VHOST_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct vp_inflight_desc {
	uint8_t inflight;        /* 1 while the head is being processed */
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;        /* order in which heads were taken */
};

struct vp_inflight_queue {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;       /* ring size */
	uint16_t last_batch_head;
	uint16_t used_idx;       /* used->idx after the last completion recorded */
	struct vp_inflight_desc desc[];
};

/* Bytes of one queue region for a ring of queue_size entries (64-aligned). */
size_t vp_inflight_queue_bytes(uint16_t queue_size);

/* Create a zeroed memfd sized for num_queues regions, sealed against
 * shrinking and growing (the front end gets this fd and maps it too).
 * *fd and *size are set on success; nothing is left open on failure. */
VP_MUST_CHECK int vp_inflight_create(uint16_t num_queues, uint16_t queue_size, int *fd,
				     size_t *size, struct vp_error *err);

/* Initialise each queue region of a fresh (zeroed) mapping: version 1,
 * desc_num = queue_size. */
void vp_inflight_format(void *map, size_t size, uint16_t num_queues, uint16_t queue_size);

/* Queue region q of a mapping of `size` bytes for rings of queue_size, or
 * NULL when it does not fit. */
struct vp_inflight_queue *vp_inflight_queue(void *map, size_t size, unsigned q,
					    uint16_t queue_size);

/* Recover after a restart: repair the last batch when the ring's used index
 * (ring_used) moved past the region's, then collect every head still marked
 * in flight into heads[] (capacity desc_num) oldest first.  Heads at or
 * beyond num are ignored.  Returns the count and sets *next_counter. */
unsigned vp_inflight_recover(struct vp_inflight_queue *q, uint16_t num, uint16_t ring_used,
			     uint16_t *heads, uint64_t *next_counter);

#endif
