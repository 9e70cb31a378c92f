/* test_vhost_ring.c - vhost-user choke points on hand-built input: memory
 * table translation bounds, split-ring pop/push (loops, out-of-range
 * descriptors, oversized chains, indirect tables, EVENT_IDX), the inflight
 * recovery scan, and message size/fd validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vblk/vhost/dev.h"
#include "vblk/vhost/inflight.h"
#include "vblk/vhost/memtable.h"
#include "vblk/vhost/msg.h"
#include "vblk/vhost/vring.h"

#define GPA 0x100000ULL
#define UVA 0x7000000ULL
#define MEM (1U << 20)
#define QN 16

struct ring_fx {
	uint8_t *mem;
	struct vp_memtable mt;
	struct vp_vring vr;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct iovec iov[8];
	struct vp_vring_elem e;
};

static uint64_t gpa(struct ring_fx *f, void *p) { return GPA + (uint64_t)((uint8_t *)p - f->mem); }

static int setup(void **state)
{
	struct ring_fx *f = calloc(1, sizeof(*f));

	f->mem = aligned_alloc(4096, MEM);
	memset(f->mem, 0, MEM);
	assert_int_equal(vp_memtable_add_host(&f->mt, GPA, UVA, f->mem, MEM), 0);
	f->desc = (void *)f->mem;
	f->avail = (void *)(f->mem + 4096);
	f->used = (void *)(f->mem + 8192);
	assert_int_equal(vp_vring_attach(&f->vr, &f->mt, QN, UVA, UVA + 4096, UVA + 8192, NULL), 0);
	f->vr.indirect = true;
	f->e.iov = f->iov;
	f->e.max_iov = 8;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct ring_fx *f = *state;

	free(f->mem);
	free(f);
	return 0;
}

static void offer(struct ring_fx *f, uint16_t head)
{
	f->avail->ring[f->avail->idx % QN] = head;
	f->avail->idx++;
}

static void test_memtable_bounds(void **state)
{
	struct ring_fx *f = *state;
	struct iovec iov[2];
	unsigned n = 0;
	uint8_t other[4096];

	assert_non_null(vp_memtable_gpa(&f->mt, GPA, MEM));
	assert_null(vp_memtable_gpa(&f->mt, GPA, MEM + 1));
	assert_null(vp_memtable_gpa(&f->mt, GPA - 1, 2));
	assert_null(vp_memtable_gpa(&f->mt, GPA + MEM, 1));
	assert_null(vp_memtable_gpa(&f->mt, ~0ULL, 2));
	assert_null(vp_memtable_uva(&f->mt, GPA, 1));           /* gpa is not a uva */
	assert_non_null(vp_memtable_uva(&f->mt, UVA + MEM - 1, 1));
	assert_int_equal(vp_memtable_add_host(&f->mt, GPA + 4096, 0, other, 4096), -EEXIST);
	assert_int_equal(vp_memtable_add_host(&f->mt, ~0ULL - 10, 0, other, 4096), -EINVAL);
	/* two adjacent regions: a range across the border is split */
	assert_int_equal(vp_memtable_add_host(&f->mt, GPA + MEM, UVA + MEM, other, sizeof(other)), 0);
	assert_int_equal(vp_memtable_iov(&f->mt, GPA + MEM - 100, 200, iov, &n, 2), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[1].iov_base, other);
	assert_int_equal(iov[0].iov_len + iov[1].iov_len, 200);
	n = 0;
	assert_int_equal(vp_memtable_iov(&f->mt, GPA + MEM - 100, 200, iov, &n, 1), -E2BIG);
	n = 0;
	assert_int_equal(vp_memtable_iov(&f->mt, GPA + MEM + 4000, 200, iov, &n, 2), -EFAULT);
	n = 0;
	assert_int_equal(vp_memtable_iov(&f->mt, ~0ULL - 5, 100, iov, &n, 2), -EFAULT);
}

static void test_attach_checks(void **state)
{
	struct ring_fx *f = *state;
	struct vp_vring vr = { 0 };

	assert_int_equal(vp_vring_attach(&vr, &f->mt, 12, UVA, UVA + 4096, UVA + 8192, NULL), -EINVAL);
	assert_int_equal(vp_vring_attach(&vr, &f->mt, 2048, UVA, UVA + 4096, UVA + 8192, NULL), -EINVAL);
	assert_int_equal(vp_vring_attach(&vr, &f->mt, 16, UVA + 8, UVA + 4096, UVA + 8192, NULL), -EINVAL);
	assert_int_equal(vp_vring_attach(&vr, &f->mt, 16, UVA + MEM - 16, UVA, UVA, NULL), -EFAULT);
}

static void test_pop_push(void **state)
{
	struct ring_fx *f = *state;

	f->desc[3] = (struct vring_desc){ GPA + 0x10000, 16, VRING_DESC_F_NEXT, 5 };
	f->desc[5] = (struct vring_desc){ GPA + 0x20000, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 7 };
	f->desc[7] = (struct vring_desc){ GPA + 0x30000, 1, VRING_DESC_F_WRITE, 0 };
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), 0);
	offer(f, 3);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), 1);
	assert_int_equal(f->e.head, 3);
	assert_int_equal(f->e.n_out, 1);
	assert_int_equal(f->e.n_in, 2);
	assert_int_equal(f->e.in_bytes, 513);
	assert_ptr_equal(f->iov[1].iov_base, f->mem + 0x20000);
	vp_vring_push(&f->vr, 3, 513);
	assert_int_equal(f->used->idx, 1);
	assert_int_equal(f->used->ring[0].id, 3);
	assert_int_equal(f->used->ring[0].len, 513);
	assert_true(vp_vring_need_call(&f->vr));
	f->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(vp_vring_need_call(&f->vr));
}

static void test_event_idx(void **state)
{
	struct ring_fx *f = *state;
	uint16_t *used_event = &f->avail->ring[QN];
	uint16_t *avail_event = (uint16_t *)&f->used->ring[QN];

	f->vr.event_idx = true;
	f->desc[0] = (struct vring_desc){ GPA, 1, VRING_DESC_F_WRITE, 0 };
	for (int i = 0; i < 3; i++)
		offer(f, 0);
	*used_event = 1;  /* interrupt once used->idx passes 1 */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vp_vring_pop(&f->vr, &f->e), 1);
		vp_vring_push(&f->vr, 0, 1);
		assert_int_equal(vp_vring_need_call(&f->vr), i != 2); /* first (no baseline), crossing 1 */
	}
	assert_false(vp_vring_rearm(&f->vr));
	assert_int_equal(*avail_event, 3);
	offer(f, 0);
	assert_true(vp_vring_rearm(&f->vr));
}

static void test_bad_chains(void **state)
{
	struct ring_fx *f = *state;

	/* head out of range */
	offer(f, QN);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
	f->vr.last_avail_idx = f->avail->idx;
	/* next out of range */
	f->desc[1] = (struct vring_desc){ GPA, 16, VRING_DESC_F_NEXT, 99 };
	offer(f, 1);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
	f->vr.last_avail_idx = f->avail->idx;
	/* loop */
	f->desc[1] = (struct vring_desc){ GPA, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	f->desc[2] = (struct vring_desc){ GPA, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1 };
	offer(f, 1);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -ELOOP);
	f->vr.last_avail_idx = f->avail->idx;
	/* address outside memory */
	f->desc[1] = (struct vring_desc){ GPA + MEM - 8, 16, 0, 0 };
	offer(f, 1);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EFAULT);
	f->vr.last_avail_idx = f->avail->idx;
	/* readable after writable */
	f->desc[1] = (struct vring_desc){ GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	f->desc[2] = (struct vring_desc){ GPA, 16, 0, 0 };
	offer(f, 1);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
	f->vr.last_avail_idx = f->avail->idx;
	/* more segments than the caller's iovecs: a chain of 9 */
	for (int i = 0; i < 9; i++)
		f->desc[i] = (struct vring_desc){ GPA, 1, (uint16_t)(i < 8 ? VRING_DESC_F_NEXT : 0),
						  (uint16_t)(i + 1) };
	offer(f, 0);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -E2BIG);
	/* avail index that jumps past the ring size */
	f->vr.last_avail_idx = f->avail->idx;
	f->avail->idx += QN + 1;
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
}

static void test_indirect(void **state)
{
	struct ring_fx *f = *state;
	struct vring_desc *t = (void *)(f->mem + 0x40000);

	t[0] = (struct vring_desc){ GPA, 16, VRING_DESC_F_NEXT, 1 };
	t[1] = (struct vring_desc){ GPA + 64, 1, VRING_DESC_F_WRITE, 0 };
	f->desc[4] = (struct vring_desc){ gpa(f, t), 32, VRING_DESC_F_INDIRECT, 0 };
	offer(f, 4);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), 1);
	assert_int_equal(f->e.n_out + f->e.n_in, 2);
	/* not negotiated */
	f->vr.indirect = false;
	offer(f, 4);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
	f->vr.indirect = true;
	f->vr.last_avail_idx = f->avail->idx;
	/* nested */
	t[1] = (struct vring_desc){ gpa(f, t), 32, VRING_DESC_F_INDIRECT, 0 };
	offer(f, 4);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
	f->vr.last_avail_idx = f->avail->idx;
	/* loop inside the table */
	t[1] = (struct vring_desc){ GPA, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0 };
	offer(f, 4);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -ELOOP);
	f->vr.last_avail_idx = f->avail->idx;
	/* length not a multiple of 16, table outside memory, INDIRECT|NEXT */
	f->desc[4].len = 24;
	offer(f, 4);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
	f->vr.last_avail_idx = f->avail->idx;
	f->desc[4] = (struct vring_desc){ GPA + MEM - 16, 32, VRING_DESC_F_INDIRECT, 0 };
	offer(f, 4);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EFAULT);
	f->vr.last_avail_idx = f->avail->idx;
	f->desc[4] = (struct vring_desc){ gpa(f, t), 32, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 5 };
	offer(f, 4);
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), -EPROTO);
}

static void test_inflight_recover(void **state)
{
	struct ring_fx *f = *state;
	size_t sz = vp_inflight_queue_bytes(QN);
	struct vp_inflight_queue *q = calloc(1, sz);
	uint16_t heads[QN];

	(void)f;
	q->desc_num = QN;
	q->desc[5] = (struct vp_inflight_desc){ .inflight = 1, .counter = 9 };
	q->desc[2] = (struct vp_inflight_desc){ .inflight = 1, .counter = 4 };
	q->desc[7] = (struct vp_inflight_desc){ .inflight = 1, .counter = 6 };
	q->desc[11] = (struct vp_inflight_desc){ .inflight = 2, .counter = 1 }; /* garbage: ignored */
	q->last_batch_head = 7;  /* completed, mark not yet cleared */
	q->used_idx = 41;
	f->vr.inflight = q;
	f->used->idx = 42;
	assert_int_equal(vp_vring_recover(&f->vr, heads), 2);
	assert_int_equal(heads[0], 2);
	assert_int_equal(heads[1], 5);
	assert_int_equal(f->vr.last_avail_idx, 44);
	assert_int_equal(f->vr.used_idx, 42);
	assert_int_equal(f->vr.counter, 10);
	assert_int_equal(q->used_idx, 42);
	assert_int_equal(q->desc[7].inflight, 0);
	/* pop marks, push clears */
	f->desc[0] = (struct vring_desc){ GPA, 1, VRING_DESC_F_WRITE, 0 };
	f->avail->idx = 45;
	f->avail->ring[44 % QN] = 0;
	assert_int_equal(vp_vring_pop(&f->vr, &f->e), 1);
	assert_int_equal(q->desc[0].inflight, 1);
	assert_int_equal(q->desc[0].counter, 10);
	vp_vring_push(&f->vr, 0, 1);
	assert_int_equal(q->desc[0].inflight, 0);
	assert_int_equal(q->used_idx, 43);
	free(q);
}

/* Message framing: sizes and fds are checked before any handler runs. */
static void test_msg_validation(void **state)
{
	int sp[2];
	struct vp_vhost_rx rx;
	struct vp_vhost_msg *m = &rx.msg;
	struct vp_vhost_hdr h = { VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 1000 };
	uint8_t junk[16] = { 0 };

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	vp_vhost_rx_init(&rx);
	/* oversized payload */
	assert_int_equal(write(sp[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), -EPROTO);
	/* bad version */
	h = (struct vp_vhost_hdr){ 1, 0x2, 0 };
	assert_int_equal(write(sp[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), -EPROTO);
	/* a good one, then expectations on it */
	h = (struct vp_vhost_hdr){ VHOST_USER_SET_VRING_NUM, VHOST_USER_VERSION, 8 };
	assert_int_equal(write(sp[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(sp[0], junk, 8), 8);
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), 1);
	assert_int_equal(vp_vhost_msg_expect(m, 8, 0, 0, NULL), 0);
	assert_int_equal(vp_vhost_msg_expect(m, 16, 0, 0, NULL), -EPROTO);
	assert_int_equal(vp_vhost_msg_expect(m, 8, 0, 1, NULL), -EPROTO);  /* missing fd */
	/* nothing there: "more needed" at once, not a wait */
	vp_vhost_rx_init(&rx);
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), 0);
	assert_false(vp_vhost_rx_partial(&rx));
	/* a message arriving in pieces: partial until its last byte */
	assert_int_equal(write(sp[0], &h, 5), 5);
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), 0);
	assert_true(vp_vhost_rx_partial(&rx));
	assert_int_equal(write(sp[0], (char *)&h + 5, sizeof(h) - 5), sizeof(h) - 5);
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), 0);
	assert_int_equal(write(sp[0], junk, 7), 7);
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), 0);
	assert_int_equal(write(sp[0], junk, 1), 1);
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), 1);
	assert_int_equal(m->hdr.size, 8);
	/* truncated payload, then EOF */
	vp_vhost_rx_init(&rx);
	assert_int_equal(write(sp[0], &h, sizeof(h)), sizeof(h));
	assert_int_equal(write(sp[0], junk, 3), 3);
	close(sp[0]);
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), -EPROTO);
	assert_false(vp_vhost_rx_partial(&rx));
	assert_int_equal(vp_vhost_rx_read(sp[1], &rx, NULL), -ECONNRESET);
	close(sp[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memtable_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop_push, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_recover, setup, teardown),
		cmocka_unit_test(test_msg_validation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
