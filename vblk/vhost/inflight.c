/* inflight.c - the inflight region: layout, creation and recovery scan. */
#include "vblk/vhost/inflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define INFLIGHT_ALIGN 64

size_t vp_inflight_queue_bytes(uint16_t queue_size)
{
	size_t n = sizeof(struct vp_inflight_queue) + sizeof(struct vp_inflight_desc) * queue_size;

	return (n + INFLIGHT_ALIGN - 1) & ~(size_t)(INFLIGHT_ALIGN - 1);
}

int vp_inflight_create(uint16_t num_queues, uint16_t queue_size, int *fd, size_t *size,
		       struct vp_error *err)
{
	size_t len = vp_inflight_queue_bytes(queue_size) * num_queues;
	int mfd, e;

	if (!num_queues || !queue_size)
		return vp_error_set(err, EINVAL, "inflight region: %u queues of %u entries",
				    num_queues, queue_size);
	mfd = memfd_create("vblkd-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return vp_error_set(err, errno, "inflight region: memfd_create");
	/* Sealed so that the front end cannot shrink it under our mapping. */
	if (ftruncate(mfd, (off_t)len) ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		e = errno;
		close(mfd);
		return vp_error_set(err, e, "inflight region: size %zu and seals", len);
	}
	*fd = mfd;
	*size = len;
	return 0;
}

void vp_inflight_format(void *map, size_t size, uint16_t num_queues, uint16_t queue_size)
{
	for (unsigned q = 0; q < num_queues; q++) {
		struct vp_inflight_queue *r = vp_inflight_queue(map, size, q, queue_size);

		if (!r)
			return;
		r->version = 1;
		r->desc_num = queue_size;
	}
}

struct vp_inflight_queue *vp_inflight_queue(void *map, size_t size, unsigned q, uint16_t queue_size)
{
	size_t per = vp_inflight_queue_bytes(queue_size);

	if (!map || q >= size / per)
		return NULL;
	return (struct vp_inflight_queue *)((char *)map + per * q);
}

static int by_counter(const void *a, const void *b, void *arg)
{
	const struct vp_inflight_desc *d = arg;
	uint64_t ca = d[*(const uint16_t *)a].counter, cb = d[*(const uint16_t *)b].counter;

	return ca < cb ? -1 : ca > cb;
}

unsigned vp_inflight_recover(struct vp_inflight_queue *q, uint16_t num, uint16_t ring_used,
			     uint16_t *heads, uint64_t *next_counter)
{
	unsigned n = 0;
	uint64_t max = 0;

	/* Crash between publishing used->idx and clearing the head: that
	 * head did complete, so it is no longer in flight. */
	if (q->used_idx != ring_used) {
		uint16_t last = q->last_batch_head;

		if (last < num)
			q->desc[last].inflight = 0;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		q->used_idx = ring_used;
	}
	for (uint16_t i = 0; i < num; i++) {
		if (q->desc[i].inflight != 1)
			continue;
		heads[n++] = i;
		if (q->desc[i].counter >= max)
			max = q->desc[i].counter + 1;
	}
	qsort_r(heads, n, sizeof(*heads), by_counter, q->desc);
	*next_counter = max;
	return n;
}
