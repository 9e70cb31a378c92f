/* vring.c - split virtqueue pop/push over guest memory. */
#include "vblk/vhost/vring.h"

#include <errno.h>
#include <string.h>

#define ACCESS_ONCE_U16(p) __atomic_load_n((p), __ATOMIC_RELAXED)

int vp_vring_attach(struct vp_vring *vr, const struct vp_memtable *mt, uint16_t num,
		    uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva, struct vp_error *err)
{
	size_t dsz = sizeof(struct vring_desc) * (size_t)num;
	size_t asz = sizeof(struct vring_avail) + sizeof(uint16_t) * ((size_t)num + 1);
	size_t usz = sizeof(struct vring_used) + sizeof(struct vring_used_elem) * (size_t)num +
		     sizeof(uint16_t);

	if (num == 0 || num > VP_VRING_MAX_SIZE || (num & (num - 1)))
		return vp_error_set(err, EINVAL, "vring size %u: not a power of two in 1..%d", num,
				    VP_VRING_MAX_SIZE);
	if ((desc_uva & 15) || (avail_uva & 1) || (used_uva & 3))
		return vp_error_set(err, EINVAL, "vring addresses misaligned");
	vr->desc = vp_memtable_uva(mt, desc_uva, dsz);
	vr->avail = vp_memtable_uva(mt, avail_uva, asz);
	vr->used = vp_memtable_uva(mt, used_uva, usz);
	if (!vr->desc || !vr->avail || !vr->used)
		return vp_error_set(err, EFAULT, "vring addresses outside guest memory");
	vr->mt = mt;
	vr->num = num;
	return 0;
}

static int add_segment(const struct vp_vring *vr, const struct vring_desc *d,
		       struct vp_vring_elem *elem)
{
	unsigned n = elem->n_out + elem->n_in, before = n;
	int ret;

	if (d->flags & VRING_DESC_F_WRITE) {
		ret = vp_memtable_iov(vr->mt, d->addr, d->len, elem->iov, &n, elem->max_iov);
		elem->n_in += n - before;
		elem->in_bytes += d->len;
	} else {
		if (elem->n_in) /* readable after writable: not a valid chain */
			return -EPROTO;
		ret = vp_memtable_iov(vr->mt, d->addr, d->len, elem->iov, &n, elem->max_iov);
		elem->n_out += n - before;
	}
	return ret;
}

/* Walk a descriptor table of tsize entries from idx.  `top` is true for
 * the ring's own table, where one INDIRECT descriptor may appear. */
static int walk(const struct vp_vring *vr, const struct vring_desc *table, uint32_t tsize,
		uint16_t idx, bool top, struct vp_vring_elem *elem)
{
	for (uint32_t count = 0;; count++) {
		struct vring_desc d;
		int ret;

		if (idx >= tsize)
			return -EPROTO;
		if (count >= tsize)
			return -ELOOP;
		memcpy(&d, &table[idx], sizeof(d));   /* one read of guest data */
		if (d.flags & VRING_DESC_F_INDIRECT) {
			const struct vring_desc *ind;

			if (!top || !vr->indirect || (d.flags & VRING_DESC_F_NEXT) || count ||
			    d.len == 0 || d.len % sizeof(d) ||
			    d.len / sizeof(d) > VP_VRING_MAX_INDIRECT)
				return -EPROTO;
			ind = vp_memtable_gpa(vr->mt, d.addr, d.len);
			if (!ind || ((uintptr_t)ind & 7))
				return -EFAULT;
			return walk(vr, ind, d.len / sizeof(d), 0, false, elem);
		}
		ret = add_segment(vr, &d, elem);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

int vp_vring_chain(const struct vp_vring *vr, struct vp_vring_elem *elem)
{
	elem->n_out = elem->n_in = 0;
	elem->in_bytes = 0;
	return walk(vr, vr->desc, vr->num, elem->head, true, elem);
}

int vp_vring_pop(struct vp_vring *vr, struct vp_vring_elem *elem)
{
	uint16_t avail_idx = ACCESS_ONCE_U16(&vr->avail->idx);
	uint16_t pending = (uint16_t)(avail_idx - vr->last_avail_idx);
	int ret;

	if (pending == 0)
		return 0;
	if (pending > vr->num)
		return -EPROTO;
	/* Read the ring entry only after seeing the index that covers it. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	elem->head = ACCESS_ONCE_U16(&vr->avail->ring[vr->last_avail_idx & (vr->num - 1)]);
	ret = vp_vring_chain(vr, elem);
	if (ret)
		return ret;
	vr->last_avail_idx++;
	if (vr->inflight) {
		vr->inflight->desc[elem->head].counter = vr->counter++;
		vr->inflight->desc[elem->head].inflight = 1;
	}
	return 1;
}

void vp_vring_push(struct vp_vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vr->used->ring[vr->used_idx & (vr->num - 1)];

	if (vr->inflight)
		vr->inflight->last_batch_head = head;
	e->id = head;
	e->len = len;
	vr->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n(&vr->used->idx, vr->used_idx, __ATOMIC_RELEASE);
	if (vr->inflight) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		vr->inflight->desc[head].inflight = 0;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		vr->inflight->used_idx = vr->used_idx;
	}
}

bool vp_vring_need_call(struct vp_vring *vr)
{
	uint16_t old = vr->signalled_used, new = vr->used_idx;
	bool valid = vr->signalled_valid;

	/* Our used->idx store must be ordered before reading the driver's
	 * suppression fields. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vr->event_idx)
		return !(ACCESS_ONCE_U16(&vr->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	vr->signalled_used = new;
	vr->signalled_valid = true;
	if (!valid)
		return true;
	return vring_need_event(ACCESS_ONCE_U16(&vr->avail->ring[vr->num]), new, old);
}

bool vp_vring_rearm(struct vp_vring *vr)
{
	if (vr->event_idx)
		__atomic_store_n((uint16_t *)&vr->used->ring[vr->num], vr->last_avail_idx,
				 __ATOMIC_RELAXED);
	/* Publish avail_event before re-reading avail->idx (pairs with the
	 * driver's barrier between writing idx and reading avail_event). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ACCESS_ONCE_U16(&vr->avail->idx) != vr->last_avail_idx;
}

unsigned vp_vring_recover(struct vp_vring *vr, uint16_t *heads)
{
	uint16_t used = ACCESS_ONCE_U16(&vr->used->idx);
	unsigned n = 0;

	vr->used_idx = used;
	vr->signalled_valid = false;
	if (!vr->inflight)
		return 0;
	n = vp_inflight_recover(vr->inflight, vr->num, used, heads, &vr->counter);
	/* Every head taken is either completed (counted in used->idx) or
	 * still in flight, whatever SET_VRING_BASE said. */
	vr->last_avail_idx = (uint16_t)(used + n);
	return n;
}
