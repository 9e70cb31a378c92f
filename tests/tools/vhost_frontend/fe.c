/* fe.c - the test front end: memfd guest memory, hand-built split rings,
 * QEMU's start sequence and virtio-blk requests. */
#include "fe.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RING_AREA (64U << 10)
#define CTRL_BASE (1U << 20)
#define CTRL_SLOT 4096U
#define DATA_BASE (4U << 20)
/* Protocol features we take when offered (other back ends, e.g.
 * qemu-storage-daemon, offer more: those are left off). */
#define FE_PROTO                                                                                   \
	((1ULL << VHOST_USER_PROTOCOL_F_MQ) | (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |          \
	 (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ) | (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |    \
	 (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |                                          \
	 (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                                            \
	 (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS))

__attribute__((format(printf, 3, 4)))
static int fail(struct fe *fe, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fe->err, sizeof(fe->err), fmt, ap);
	va_end(ap);
	return -e;
}

static uint64_t gpa_of(const struct fe *fe, const void *p)
{
	return FE_GPA_BASE + (uint64_t)((const uint8_t *)p - fe->mem);
}

static uint8_t *ctrl(struct fe *fe, unsigned q, unsigned s)
{
	return fe->mem + CTRL_BASE + (q * FE_SLOTS + s) * CTRL_SLOT;
}

uint64_t fe_slot_data_gpa(unsigned q, unsigned s)
{
	return FE_GPA_BASE + DATA_BASE + (uint64_t)(q * FE_SLOTS + s) * FE_SLOT_DATA;
}

uint8_t *fe_slot_data(struct fe *fe, unsigned q, unsigned s)
{
	return fe->mem + (fe_slot_data_gpa(q, s) - FE_GPA_BASE);
}

int fe_init(struct fe *fe, const char *path, unsigned nq)
{
	memset(fe, 0, sizeof(*fe));
	fe->path = path;
	fe->sock = fe->backend = fe->inflight_fd = -1;
	fe->nq = nq;
	fe->nregions = 2;
	fe->memsize = DATA_BASE + (size_t)nq * FE_SLOTS * FE_SLOT_DATA;
	fe->memfd = memfd_create("fe-guest", MFD_CLOEXEC);
	if (fe->memfd < 0 || ftruncate(fe->memfd, (off_t)fe->memsize))
		return fail(fe, errno, "memfd");
	fe->mem = mmap(NULL, fe->memsize, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
	if (fe->mem == MAP_FAILED)
		return fail(fe, errno, "mmap guest memory");
	for (unsigned i = 0; i < nq; i++) {
		struct fe_queue *q = &fe->q[i];
		uint8_t *base = fe->mem + i * RING_AREA;

		q->desc = (void *)base;
		q->avail = (void *)(base + 4096);
		q->used = (void *)(base + 8192);
		q->desc_gpa = gpa_of(fe, q->desc);
		q->avail_gpa = gpa_of(fe, q->avail);
		q->used_gpa = gpa_of(fe, q->used);
		q->kick = q->call = -1;
	}
	return 0;
}

void fe_disconnect(struct fe *fe)
{
	if (fe->sock >= 0)
		close(fe->sock);
	if (fe->backend >= 0)
		close(fe->backend);
	fe->sock = fe->backend = -1;
	for (unsigned i = 0; i < fe->nq; i++) {
		if (fe->q[i].kick >= 0)
			close(fe->q[i].kick);
		if (fe->q[i].call >= 0)
			close(fe->q[i].call);
		fe->q[i].kick = fe->q[i].call = -1;
	}
}

void fe_fini(struct fe *fe)
{
	fe_disconnect(fe);
	if (fe->mem && fe->mem != MAP_FAILED)
		munmap(fe->mem, fe->memsize);
	if (fe->memfd >= 0)
		close(fe->memfd);
	if (fe->inflight_fd >= 0)
		close(fe->inflight_fd);
}

int fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds)
{
	struct vp_vhost_hdr hdr = { req, flags ? flags : VHOST_USER_VERSION, size };
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(fe->sock, &mh, MSG_NOSIGNAL) != (ssize_t)(sizeof(hdr) + size))
		return fail(fe, errno ? errno : EPIPE, "send request %u", req);
	return 0;
}

int fe_recv(struct fe *fe, struct vp_vhost_hdr *hdr, void *payload, size_t cap)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { hdr, sizeof(*hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	struct pollfd p = { fe->sock, POLLIN, 0 };

	if (poll(&p, 1, 5000) != 1)
		return fail(fe, ETIMEDOUT, "no reply");
	if (recvmsg(fe->sock, &mh, MSG_CMSG_CLOEXEC) != sizeof(*hdr))
		return fail(fe, ECONNRESET, "reply header");
	if (hdr->size > cap || (hdr->size && recv(fe->sock, payload, hdr->size, MSG_WAITALL) !=
							      (ssize_t)hdr->size))
		return fail(fe, EPROTO, "reply payload (%u bytes)", hdr->size);
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS) {
		int fd;

		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
		if (fe->inflight_fd >= 0)
			close(fe->inflight_fd);
		fe->inflight_fd = fd; /* only GET_INFLIGHT_FD replies carry an fd */
	}
	return 0;
}

int fe_get_u64(struct fe *fe, uint32_t req, uint64_t *v)
{
	struct vp_vhost_hdr h;
	int ret = fe_send(fe, req, 0, NULL, 0, NULL, 0);

	ret = ret ?: fe_recv(fe, &h, v, sizeof(*v));
	if (!ret && (h.request != req || h.size != 8 || !(h.flags & VHOST_USER_REPLY)))
		return fail(fe, EPROTO, "bad reply to %u", req);
	return ret;
}

static int send_u64(struct fe *fe, uint32_t req, uint64_t v, int fd)
{
	return fe_send(fe, req, 0, &v, sizeof(v), &fd, fd >= 0 ? 1 : 0);
}

static int send_state(struct fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
	struct vp_vhost_vring_state s = { index, num };

	return fe_send(fe, req, 0, &s, sizeof(s), NULL, 0);
}

bool fe_closed(struct fe *fe, unsigned ms)
{
	struct pollfd p = { fe->sock, POLLIN, 0 };
	char c;

	if (poll(&p, 1, (int)ms) != 1)
		return false;
	return recv(fe->sock, &c, 1, MSG_DONTWAIT) <= 0;
}

static int set_mem_table(struct fe *fe)
{
	struct vp_vhost_mem_table mt = { .nregions = fe->nregions };
	size_t per = (fe->memsize / fe->nregions + 4095) & ~(size_t)4095;
	int fds[VHOST_USER_MAX_FDS];
	struct vp_vhost_hdr h;
	uint64_t ack = 1;
	int ret;

	/* Split inside the data area so some buffers straddle two regions. */
	if (fe->nregions == 2)
		per = DATA_BASE + (fe->memsize - DATA_BASE) / 2 + FE_SLOT_DATA / 2;
	for (unsigned i = 0; i < fe->nregions; i++) {
		uint64_t off = per * i, len = i + 1 == fe->nregions ? fe->memsize - off : per;

		mt.regions[i] = (struct vp_vhost_region){ FE_GPA_BASE + off, len,
							  (uint64_t)(uintptr_t)(fe->mem + off), off };
		fds[i] = fe->memfd;
	}
	ret = fe_send(fe, VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY, &mt,
		      8 + fe->nregions * sizeof(struct vp_vhost_region), fds, fe->nregions);
	ret = ret ?: fe_recv(fe, &h, &ack, sizeof(ack));
	if (!ret && ack)
		return fail(fe, EPROTO, "SET_MEM_TABLE refused");
	return ret;
}

static int start_queue(struct fe *fe, unsigned i, bool reconnect)
{
	struct fe_queue *q = &fe->q[i];
	struct vp_vhost_vring_addr a = { i, 0, (uint64_t)(uintptr_t)q->desc,
					 (uint64_t)(uintptr_t)q->used,
					 (uint64_t)(uintptr_t)q->avail, 0 };
	int ret;

	q->kick = eventfd(0, EFD_CLOEXEC);
	q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick < 0 || q->call < 0)
		return fail(fe, errno, "eventfd");
	/* After a crash QEMU cannot ask for the base and uses used->idx. */
	ret = send_state(fe, VHOST_USER_SET_VRING_NUM, i, FE_QSIZE);
	ret = ret ?: send_state(fe, VHOST_USER_SET_VRING_BASE, i, reconnect ? q->used->idx : 0);
	ret = ret ?: fe_send(fe, VHOST_USER_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	ret = ret ?: send_u64(fe, VHOST_USER_SET_VRING_KICK, i, q->kick);
	ret = ret ?: send_u64(fe, VHOST_USER_SET_VRING_CALL, i, q->call);
	ret = ret ?: send_state(fe, VHOST_USER_SET_VRING_ENABLE, i, 1);
	return ret;
}

int fe_open(struct fe *fe, unsigned wait_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fe->path);
	for (unsigned t = 0;; t += 20) {
		fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fe->sock >= 0 && connect(fe->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		if (fe->sock >= 0)
			close(fe->sock);
		fe->sock = -1;
		if (t >= wait_ms)
			return fail(fe, errno, "connect %s", fe->path);
		usleep(20000);
	}
}

static int inflight(struct fe *fe)
{
	struct vp_vhost_inflight_desc d = { 0, 0, (uint16_t)fe->nq, FE_QSIZE, 0 };
	struct vp_vhost_hdr h;
	int ret;

	if (fe->inflight_fd < 0) {
		ret = fe_send(fe, VHOST_USER_GET_INFLIGHT_FD, 0, &d, sizeof(d), NULL, 0);
		ret = ret ?: fe_recv(fe, &h, &d, sizeof(d));
		if (ret)
			return ret;
		if (fe->inflight_fd < 0 || h.size != sizeof(d) || d.mmap_size == 0)
			return fail(fe, EPROTO, "GET_INFLIGHT_FD reply");
		fe->inflight_size = d.mmap_size;
	}
	d = (struct vp_vhost_inflight_desc){ fe->inflight_size, 0, (uint16_t)fe->nq, FE_QSIZE, 0 };
	return fe_send(fe, VHOST_USER_SET_INFLIGHT_FD, 0, &d, sizeof(d), &fe->inflight_fd, 1);
}

int fe_connect(struct fe *fe, unsigned wait_ms)
{
	const uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			      (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES) |
			      0xffffULL; /* every virtio-blk device bit offered */
	bool reconnect = fe->inflight_fd >= 0;
	int sp[2] = { -1, -1 };
	uint64_t v;
	int ret = fe_open(fe, wait_ms);

	ret = ret ?: fe_get_u64(fe, VHOST_USER_GET_FEATURES, &fe->features);
	ret = ret ?: fe_get_u64(fe, VHOST_USER_GET_PROTOCOL_FEATURES, &fe->proto);
	fe->proto &= FE_PROTO;
	ret = ret ?: send_u64(fe, VHOST_USER_SET_PROTOCOL_FEATURES, fe->proto, -1);
	ret = ret ?: fe_get_u64(fe, VHOST_USER_GET_QUEUE_NUM, &v);
	if (!ret && v < fe->nq)
		return fail(fe, EINVAL, "daemon has %llu queues, need %u", (unsigned long long)v, fe->nq);
	ret = ret ?: fe_get_u64(fe, VHOST_USER_GET_MAX_MEM_SLOTS, &v);
	if (!ret && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		ret = fail(fe, errno, "socketpair");
	ret = ret ?: fe_send(fe, VHOST_USER_SET_BACKEND_REQ_FD, 0, NULL, 0, &sp[1], 1);
	if (sp[1] >= 0)
		close(sp[1]);
	fe->backend = sp[0];
	ret = ret ?: fe_send(fe, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	if (fe->proto & (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))
		ret = ret ?: inflight(fe);
	fe->features &= want;
	fe->event_idx = fe->features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	fe->indirect = fe->features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	ret = ret ?: send_u64(fe, VHOST_USER_SET_FEATURES, fe->features, -1);
	ret = ret ?: set_mem_table(fe);
	for (unsigned i = 0; i < fe->nq && !ret; i++)
		ret = start_queue(fe, i, reconnect);
	return ret;
}

void fe_kick(struct fe *fe, unsigned q)
{
	uint64_t one = 1;

	if (write(fe->q[q].kick, &one, sizeof(one)) < 0)
		fail(fe, errno, "kick");
}

bool fe_need_kick(struct fe *fe, unsigned qi, uint16_t old)
{
	struct fe_queue *q = &fe->q[qi];

	/* Our avail->idx store before reading the device's suppression fields. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (fe->event_idx)
		return vring_need_event(__atomic_load_n((uint16_t *)&q->used->ring[FE_QSIZE],
							__ATOMIC_RELAXED),
					q->avail_idx, old);
	return !(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
}

int fe_next_slot(struct fe *fe, unsigned qi)
{
	for (unsigned s = 0; s < FE_SLOTS; s++)
		if (!fe->q[qi].slots[s].busy)
			return (int)s;
	return -EBUSY;
}

int fe_submit(struct fe *fe, unsigned qi, uint32_t type, uint64_t sector, uint32_t len,
	      unsigned segs, bool indirect, bool kick, uint64_t tag)
{
	struct fe_queue *q = &fe->q[qi];
	unsigned s, n = 0;
	uint8_t *c;
	struct vring_desc chain[64];
	struct virtio_blk_outhdr *h;
	uint16_t writable = (type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID) ?
				    VRING_DESC_F_WRITE : 0;

	for (s = 0; s < FE_SLOTS && q->slots[s].busy; s++)
		;
	if (s == FE_SLOTS)
		return -EBUSY;
	if (segs == 0 || (len && segs > len) || segs > 60 || len > FE_SLOT_DATA ||
	    (!indirect && segs > 2))
		return fail(fe, EINVAL, "bad request shape");
	c = ctrl(fe, qi, s);
	h = (void *)c;
	*h = (struct virtio_blk_outhdr){ type, 0, sector };
	c[64] = 0xee; /* status, overwritten by the device */
	chain[n++] = (struct vring_desc){ gpa_of(fe, c), sizeof(*h), 0, 0 };
	for (unsigned i = 0; len && i < segs; i++) {
		uint32_t part = len / segs, off = part * i;

		if (i == segs - 1)
			part = len - off;
		chain[n++] = (struct vring_desc){ fe_slot_data_gpa(qi, s) + off, part, writable, 0 };
	}
	chain[n++] = (struct vring_desc){ gpa_of(fe, c + 64), 1, VRING_DESC_F_WRITE, 0 };
	if (indirect) {
		struct vring_desc *t = (void *)(c + 128);

		for (unsigned i = 0; i < n; i++) {
			t[i] = chain[i];
			if (i + 1 < n) {
				t[i].flags |= VRING_DESC_F_NEXT;
				t[i].next = (uint16_t)(i + 1);
			}
		}
		q->desc[s * 4] = (struct vring_desc){ gpa_of(fe, t), n * sizeof(*t), VRING_DESC_F_INDIRECT, 0 };
	} else {
		for (unsigned i = 0; i < n; i++) {
			q->desc[s * 4 + i] = chain[i];
			if (i + 1 < n) {
				q->desc[s * 4 + i].flags |= VRING_DESC_F_NEXT;
				q->desc[s * 4 + i].next = (uint16_t)(s * 4 + i + 1);
			}
		}
	}
	q->slots[s] = (struct fe_slot){ .busy = true, .tag = tag };
	q->avail->ring[q->avail_idx % FE_QSIZE] = (uint16_t)(s * 4);
	__atomic_store_n(&q->avail->idx, ++q->avail_idx, __ATOMIC_RELEASE);
	q->inflight++;
	if (kick)
		fe_kick(fe, qi);
	return (int)s;
}

static unsigned collect(struct fe *fe, unsigned qi)
{
	struct fe_queue *q = &fe->q[qi];
	unsigned n = 0;

	while (__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) != q->last_used) {
		struct vring_used_elem *e = &q->used->ring[q->last_used % FE_QSIZE];
		unsigned s = e->id / 4;

		if (e->id % 4 || s >= FE_SLOTS || !q->slots[s].busy || q->slots[s].done) {
			fail(fe, EPROTO, "queue %u: used id %u not in flight", qi, e->id);
			q->last_used++;
			return n | 0x80000000U;
		}
		q->slots[s].done = true;
		q->slots[s].used_len = e->len;
		q->last_used++;
		q->inflight--;
		n++;
	}
	/* EVENT_IDX: interrupt us for the next completion. */
	q->avail->ring[FE_QSIZE] = q->last_used;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return n;
}

void fe_drain_backend(struct fe *fe)
{
	struct vp_vhost_hdr h;

	while (fe->backend >= 0 && recv(fe->backend, &h, sizeof(h), MSG_DONTWAIT) == sizeof(h))
		if (h.request == VHOST_USER_BACKEND_CONFIG_CHANGE_MSG)
			fe->config_changes++;
}

int fe_reap(struct fe *fe, unsigned qi, unsigned ms)
{
	struct fe_queue *q = &fe->q[qi];
	unsigned n = collect(fe, qi);
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n == 0 && q->inflight) {
		struct pollfd p[3] = { { q->call, POLLIN, 0 }, { fe->sock, POLLIN, 0 },
				       { fe->backend, POLLIN, 0 } };
		uint64_t v;
		int r = poll(p, 3, 200);

		if (p[2].revents)
			fe_drain_backend(fe);
		if (p[1].revents && fe_closed(fe, 0))
			return fail(fe, ECONNRESET, "daemon closed the connection");
		if (p[0].revents && read(q->call, &v, sizeof(v)) < 0)
			return fail(fe, errno, "call eventfd");
		n = collect(fe, qi);
		if (r == 0 && n)
			q->missed_calls++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (n == 0 && (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			break;
	}
	if (n & 0x80000000U)
		return -EPROTO;
	return (int)n;
}

uint8_t fe_status(struct fe *fe, unsigned q, unsigned s)
{
	fe->q[q].slots[s].busy = false;
	return ctrl(fe, q, s)[64];
}

int fe_do(struct fe *fe, unsigned q, uint32_t type, uint64_t sector, uint32_t len, unsigned segs,
	  bool indirect, uint32_t *used_len)
{
	int s = fe_submit(fe, q, type, sector, len, segs, indirect, true, 0);

	if (s < 0)
		return s;
	while (!fe->q[q].slots[s].done) {
		int r = fe_reap(fe, q, 5000);

		if (r < 0)
			return r;
		if (r == 0 && !fe->q[q].slots[s].done)
			return fail(fe, ETIMEDOUT, "request type %u timed out", type);
	}
	if (used_len)
		*used_len = fe->q[q].slots[s].used_len;
	return fe_status(fe, q, (unsigned)s);
}

void *fe_inflight_map(struct fe *fe)
{
	void *m = mmap(NULL, fe->inflight_size, PROT_READ | PROT_WRITE, MAP_SHARED, fe->inflight_fd, 0);

	return m == MAP_FAILED ? NULL : m;
}
