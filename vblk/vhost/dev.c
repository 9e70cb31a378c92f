/* dev.c - vhost-user message handlers and device state. */
#include "vblk/vhost/dev.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRANSPORT_FEATURES                                                                         \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                    \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VHOST_USER_F_PROTOCOL_FEATURES))

uint64_t vp_vhost_dev_protocol_features(void)
{
	return (1ULL << VHOST_USER_PROTOCOL_F_MQ) | (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK) |
	       (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ) | (1ULL << VHOST_USER_PROTOCOL_F_CONFIG) |
	       (1ULL << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD) |
	       (1ULL << VHOST_USER_PROTOCOL_F_RESET_DEVICE) |
	       (1ULL << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void reset_queue(struct vp_vhost_queue *q)
{
	close_fd(&q->kick_fd);
	close_fd(&q->call_fd);
	close_fd(&q->err_fd);
	memset(q, 0, sizeof(*q));
	q->kick_fd = q->call_fd = q->err_fd = -1;
}

void vp_vhost_dev_init(struct vp_vhost_dev *dev, const struct vp_vhost_dev_ops *ops, void *ctx,
		       int sock, uint64_t dev_features, unsigned nqueues,
		       const struct vp_guestmap_sink *fault)
{
	memset(dev, 0, sizeof(*dev));
	dev->mt.sink = fault;
	dev->inflight.slot = -1;
	dev->ops = ops;
	dev->ctx = ctx;
	dev->sock = sock;
	dev->backend_fd = -1;
	dev->inflight_fd = -1;
	dev->dev_features = dev_features | TRANSPORT_FEATURES;
	dev->nqueues = nqueues;
	for (unsigned i = 0; i < VP_VHOST_MAX_QUEUES; i++) {
		dev->q[i].kick_fd = dev->q[i].call_fd = dev->q[i].err_fd = -1;
	}
}

static void stop_queue(struct vp_vhost_dev *dev, unsigned i)
{
	if (dev->q[i].running)
		dev->ops->queue_stop(dev, i);
	dev->q[i].running = false;
}

static void stop_all(struct vp_vhost_dev *dev)
{
	for (unsigned i = 0; i < dev->nqueues; i++)
		stop_queue(dev, i);
}

static bool should_run(const struct vp_vhost_dev *dev, const struct vp_vhost_queue *q)
{
	bool enabled = q->enabled || !(dev->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));

	return q->kicked && q->addr_set && q->num && dev->mt.n && enabled;
}

/* Attach ring i to the current memory table and inflight region. */
static int prepare_ring(struct vp_vhost_dev *dev, unsigned i, struct vp_error *err)
{
	struct vp_vhost_queue *q = &dev->q[i];
	struct vp_vring *vr = &q->vr;
	int ret = vp_vring_attach(vr, &dev->mt, q->num, q->desc_uva, q->avail_uva, q->used_uva, err);

	if (ret) {
		vp_error_prefix(err, "queue %u", i);
		return ret;
	}
	vr->event_idx = dev->features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	vr->indirect = dev->features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	vr->inflight = NULL;
	if (dev->inflight.addr) {
		if (i >= dev->inflight_nq || q->num > dev->inflight_qsize)
			return vp_error_set(err, EINVAL, "queue %u (size %u) outside the inflight region",
					    i, q->num);
		vr->inflight = vp_inflight_queue(dev->inflight.addr, dev->inflight.len, i,
						 dev->inflight_qsize);
		if (!vr->inflight)
			return vp_error_set(err, EINVAL, "inflight region too small for queue %u", i);
	}
	return 0;
}

/* Start or stop queue i to match its state. */
static int refresh(struct vp_vhost_dev *dev, unsigned i, struct vp_error *err)
{
	struct vp_vhost_queue *q = &dev->q[i];
	int ret;

	if (!should_run(dev, q)) {
		stop_queue(dev, i);
		return 0;
	}
	if (q->running)
		return 0;
	ret = prepare_ring(dev, i, err);
	if (ret)
		return ret;
	ret = dev->ops->queue_start(dev, i);
	if (ret)
		return vp_error_set(err, -ret, "start queue %u", i);
	q->running = true;
	return 0;
}

static int refresh_all(struct vp_vhost_dev *dev, struct vp_error *err)
{
	for (unsigned i = 0; i < dev->nqueues; i++) {
		int ret = refresh(dev, i, err);

		if (ret)
			return ret;
	}
	return 0;
}

static int reply(struct vp_vhost_dev *dev, struct vp_vhost_msg *msg, uint32_t size,
		 struct vp_error *err)
{
	msg->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY;
	msg->hdr.size = size;
	return vp_vhost_msg_send(dev->sock, msg, err);
}

static int reply_u64(struct vp_vhost_dev *dev, struct vp_vhost_msg *msg, uint64_t v,
		     struct vp_error *err)
{
	msg->p.u64 = v;
	msg->nfds = 0;
	return reply(dev, msg, sizeof(uint64_t), err);
}

static int queue_index(const struct vp_vhost_dev *dev, uint32_t index, struct vp_error *err)
{
	if (index >= dev->nqueues)
		return vp_error_set(err, EINVAL, "queue index %u out of range (%u queues)", index,
				    dev->nqueues);
	return 0;
}

/* ---- handlers: each validates its payload and fds first ---- */

static int set_features(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(uint64_t), 0, 0, err);

	if (ret)
		return ret;
	if (m->p.u64 & ~dev->dev_features)
		return vp_error_set(err, EINVAL, "SET_FEATURES: unoffered bits 0x%llx",
				    (unsigned long long)(m->p.u64 & ~dev->dev_features));
	stop_all(dev);
	dev->features = m->p.u64;
	return refresh_all(dev, err);
}

static int set_protocol_features(struct vp_vhost_dev *dev, struct vp_vhost_msg *m,
				 struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(uint64_t), 0, 0, err);

	if (ret)
		return ret;
	if (m->p.u64 & ~vp_vhost_dev_protocol_features())
		return vp_error_set(err, EINVAL, "SET_PROTOCOL_FEATURES: unoffered bits");
	dev->proto_features = m->p.u64;
	return 0;
}

static void drop_inflight(struct vp_vhost_dev *dev)
{
	vp_guestmap_close(&dev->inflight);
	close_fd(&dev->inflight_fd);
}

/* Map an inflight region the front end may share (GET_INFLIGHT_FD's own
 * memfd or SET_INFLIGHT_FD's fd) in place of the current one; takes fd. */
static int map_inflight(struct vp_vhost_dev *dev, int fd, uint64_t offset, uint64_t size,
			uint16_t nq, uint16_t qsize, struct vp_error *err)
{
	struct vp_guestmap m;
	int ret = vp_guestmap_open(&m, fd, offset, size, dev->mt.sink, "inflight region", err);

	if (ret) {
		close(fd);
		return ret;
	}
	stop_all(dev);
	drop_inflight(dev);
	dev->inflight = m;
	dev->inflight_fd = fd;
	dev->inflight_nq = nq;
	dev->inflight_qsize = qsize;
	return 0;
}

/* RESET_OWNER / RESET_DEVICE: back to the state after connecting (the
 * memory table and inflight region stay; the front end resends rings). */
static void reset(struct vp_vhost_dev *dev)
{
	stop_all(dev);
	for (unsigned i = 0; i < VP_VHOST_MAX_QUEUES; i++)
		reset_queue(&dev->q[i]);
	dev->features = 0;
}

static int set_mem_table(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	uint32_t n = m->p.mem.nregions;
	int ret;

	if (m->hdr.size < 8 || n > VHOST_USER_MAX_FDS)
		return vp_error_set(err, EPROTO, "SET_MEM_TABLE: bad region count");
	ret = vp_vhost_msg_expect(m, 8 + n * sizeof(struct vp_vhost_region), 0, n, err);
	if (ret)
		return ret;
	stop_all(dev);
	vp_memtable_clear(&dev->mt);
	for (uint32_t i = 0; i < n; i++) {
		ret = vp_memtable_add(&dev->mt, &m->p.mem.regions[i], m->fds[i], err);
		if (ret) {
			vp_memtable_clear(&dev->mt);
			return ret;
		}
	}
	return refresh_all(dev, err);
}

static int add_mem_reg(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(struct vp_vhost_mem_reg), 0, 1, err);

	if (ret)
		return ret;
	stop_all(dev);
	ret = vp_memtable_add(&dev->mt, &m->p.reg.region, m->fds[0], err);
	if (ret)
		return ret;
	return refresh_all(dev, err);
}

static int rem_mem_reg(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret;

	/* QEMU attaches the region's fd here too; it is not needed. */
	ret = vp_vhost_msg_expect(m, sizeof(struct vp_vhost_mem_reg), 0, m->nfds > 1 ? 0 : m->nfds,
				  err);
	if (ret)
		return ret;
	stop_all(dev);
	if (vp_memtable_remove(&dev->mt, &m->p.reg.region))
		return vp_error_set(err, ENOENT, "REM_MEM_REG: no such region");
	return refresh_all(dev, err);
}

static int set_vring_num(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(m->p.state), 0, 0, err);
	uint32_t num = m->p.state.num;

	if (ret || (ret = queue_index(dev, m->p.state.index, err)))
		return ret;
	if (num == 0 || num > VP_VRING_MAX_SIZE || (num & (num - 1)))
		return vp_error_set(err, EINVAL, "SET_VRING_NUM: size %u", num);
	stop_queue(dev, m->p.state.index);
	dev->q[m->p.state.index].num = (uint16_t)num;
	return refresh(dev, m->p.state.index, err);
}

static int set_vring_addr(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(m->p.addr), 0, 0, err);
	struct vp_vhost_queue *q;

	if (ret || (ret = queue_index(dev, m->p.addr.index, err)))
		return ret;
	q = &dev->q[m->p.addr.index];
	stop_queue(dev, m->p.addr.index);
	q->desc_uva = m->p.addr.desc;
	q->avail_uva = m->p.addr.avail;
	q->used_uva = m->p.addr.used;
	q->addr_set = true;
	return refresh(dev, m->p.addr.index, err);
}

static int set_vring_base(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(m->p.state), 0, 0, err);

	if (ret || (ret = queue_index(dev, m->p.state.index, err)))
		return ret;
	if (m->p.state.num > 0xffff)
		return vp_error_set(err, EINVAL, "SET_VRING_BASE: index %u", m->p.state.num);
	stop_queue(dev, m->p.state.index);
	dev->q[m->p.state.index].vr.last_avail_idx = (uint16_t)m->p.state.num;
	return refresh(dev, m->p.state.index, err);
}

static int get_vring_base(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(m->p.state), 0, 0, err);
	struct vp_vhost_queue *q;

	if (ret || (ret = queue_index(dev, m->p.state.index, err)))
		return ret;
	q = &dev->q[m->p.state.index];
	stop_queue(dev, m->p.state.index);   /* drains in-flight requests */
	q->kicked = false;
	close_fd(&q->kick_fd);
	m->p.state.num = q->vr.last_avail_idx;
	return reply(dev, m, sizeof(m->p.state), err);
}

/* Kick, call and err fds must be eventfds: the queue thread reads kicks on
 * its io_uring and writes calls, and a regular file (reads at EOF at once:
 * a spinning queue thread), a pipe or a socket (a write that blocks for as
 * long as the peer wants) would let the front end spin or hold it.  An
 * eventfd is an anonymous inode; only its /proc/self/fd link names the
 * kind.  The call fd is also made non-blocking (QEMU's already is): a
 * write then fails instead of waiting when the peer saturated the counter. */
static int check_eventfd(int fd, bool call, const char *what, struct vp_error *err)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[40], link[sizeof(want) + 1];
	ssize_t n;
	int fl;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n < 0)
		return vp_error_set(err, errno, "%s: cannot tell the fd's type (%s)", what, path);
	if ((size_t)n != sizeof(want) - 1 || memcmp(link, want, sizeof(want) - 1))
		return vp_error_set(err, EINVAL, "%s: fd is not an eventfd (%.*s)", what, (int)n, link);
	fl = fcntl(fd, F_GETFL);
	if (call && (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK)))
		return vp_error_set(err, errno, "%s: make the fd non-blocking", what);
	return 0;
}

static const char *vring_fd_name(uint32_t request)
{
	return request == VHOST_USER_SET_VRING_KICK ? "SET_VRING_KICK" :
	       request == VHOST_USER_SET_VRING_CALL ? "SET_VRING_CALL" : "SET_VRING_ERR";
}

/* SET_VRING_KICK/CALL/ERR: index in bits 0-7, bit 8 = no fd. */
static int set_vring_fd(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	uint64_t v = m->p.u64;
	bool nofd = v & VHOST_USER_VRING_NOFD;
	unsigned i = (unsigned)(v & VHOST_USER_VRING_IDX_MASK);
	int ret = vp_vhost_msg_expect(m, sizeof(uint64_t), 0, nofd ? 0 : 1, err);
	struct vp_vhost_queue *q;
	int *slot;

	if (ret || (ret = queue_index(dev, i, err)))
		return ret;
	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD))
		return vp_error_set(err, EINVAL, "vring fd message: reserved bits set");
	if (nofd && m->hdr.request == VHOST_USER_SET_VRING_KICK)
		return vp_error_set(err, ENOTSUP, "SET_VRING_KICK without fd (polling) unsupported");
	if (!nofd && (ret = check_eventfd(m->fds[0], m->hdr.request == VHOST_USER_SET_VRING_CALL,
					  vring_fd_name(m->hdr.request), err)))
		return ret;
	q = &dev->q[i];
	slot = m->hdr.request == VHOST_USER_SET_VRING_KICK ? &q->kick_fd :
	       m->hdr.request == VHOST_USER_SET_VRING_CALL ? &q->call_fd : &q->err_fd;
	stop_queue(dev, i);
	close_fd(slot);
	*slot = nofd ? -1 : vp_vhost_msg_take_fd(m, 0);
	if (m->hdr.request == VHOST_USER_SET_VRING_KICK)
		q->kicked = true;
	return refresh(dev, i, err);
}

static int set_vring_enable(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, sizeof(m->p.state), 0, 0, err);

	if (ret || (ret = queue_index(dev, m->p.state.index, err)))
		return ret;
	if (m->p.state.num > 1 || !(dev->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)))
		return vp_error_set(err, EINVAL, "SET_VRING_ENABLE: bad value or not negotiated");
	dev->q[m->p.state.index].enabled = m->p.state.num;
	return refresh(dev, m->p.state.index, err);
}

/* GET/SET_CONFIG: the window offset..offset+size must lie in the config
 * space and the payload must carry exactly size bytes. */
static int config_window(const struct vp_vhost_msg *m, const char *what, struct vp_error *err)
{
	const struct vp_vhost_config *c = &m->p.config;
	int ret = vp_vhost_msg_expect(m, VHOST_USER_CONFIG_HDR, 1, 0, err);

	if (ret)
		return ret;
	if (c->size > VHOST_USER_CONFIG_MAX || c->offset > VHOST_USER_CONFIG_MAX - c->size ||
	    m->hdr.size != VHOST_USER_CONFIG_HDR + c->size)
		return vp_error_set(err, EINVAL, "%s: offset %u size %u", what, c->offset, c->size);
	return 0;
}

static int get_config(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	struct vp_vhost_config *c = &m->p.config;
	int ret = config_window(m, "GET_CONFIG", err);

	if (ret)
		return ret;
	ret = dev->ops->get_config(dev, c->offset, c->data, c->size);
	if (ret)
		return vp_error_set(err, -ret, "GET_CONFIG");
	return reply(dev, m, VHOST_USER_CONFIG_HDR + c->size, err);
}

static int set_config(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	struct vp_vhost_config *c = &m->p.config;
	int ret = config_window(m, "SET_CONFIG", err);

	if (ret)
		return ret;
	ret = dev->ops->set_config(dev, c->offset, c->data, c->size);
	if (ret)
		return vp_error_set(err, -ret, "SET_CONFIG: offset %u size %u refused", c->offset,
				    c->size);
	return 0;
}

static int check_inflight_geometry(const struct vp_vhost_inflight_desc *d, struct vp_error *err)
{
	if (d->num_queues == 0 || d->num_queues > VP_VHOST_MAX_QUEUES || d->queue_size == 0 ||
	    d->queue_size > VP_VRING_MAX_SIZE)
		return vp_error_set(err, EINVAL, "inflight: %u queues of %u entries", d->num_queues,
				    d->queue_size);
	return 0;
}

static int get_inflight_fd(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	struct vp_vhost_inflight_desc *d = &m->p.inflight;
	int ret = vp_vhost_msg_expect(m, VHOST_USER_INFLIGHT_MIN, 1, 0, err);
	size_t size;
	int fd;

	if (ret || (ret = check_inflight_geometry(d, err)))
		return ret;
	ret = vp_inflight_create(d->num_queues, d->queue_size, &fd, &size, err);
	ret = ret ?: map_inflight(dev, fd, 0, size, d->num_queues, d->queue_size, err);
	if (ret)
		return ret;
	vp_inflight_format(dev->inflight.addr, dev->inflight.len, d->num_queues, d->queue_size);
	d->mmap_size = dev->inflight.len;
	d->mmap_offset = 0;
	m->fds[0] = dev->inflight_fd;
	m->nfds = 1;
	ret = reply(dev, m, sizeof(*d), err);
	m->nfds = 0;            /* the fd stays ours */
	if (ret)
		return ret;
	return refresh_all(dev, err);
}

static int set_inflight_fd(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, struct vp_error *err)
{
	struct vp_vhost_inflight_desc *d = &m->p.inflight;
	int ret = vp_vhost_msg_expect(m, VHOST_USER_INFLIGHT_MIN, 1, 1, err);

	if (ret || (ret = check_inflight_geometry(d, err)))
		return ret;
	/* Between what the geometry needs and what the largest one would. */
	if (d->mmap_size < vp_inflight_queue_bytes(d->queue_size) * d->num_queues ||
	    d->mmap_size > vp_inflight_queue_bytes(VP_VRING_MAX_SIZE) * VP_VHOST_MAX_QUEUES ||
	    (d->mmap_offset & 4095))
		return vp_error_set(err, EINVAL, "SET_INFLIGHT_FD: region of %llu bytes at %llu",
				    (unsigned long long)d->mmap_size,
				    (unsigned long long)d->mmap_offset);
	ret = map_inflight(dev, vp_vhost_msg_take_fd(m, 0), d->mmap_offset, d->mmap_size,
			   d->num_queues, d->queue_size, err);
	if (ret)
		return ret;
	return refresh_all(dev, err);
}

static int set_backend_req_fd(struct vp_vhost_dev *dev, struct vp_vhost_msg *m,
			      struct vp_error *err)
{
	int ret = vp_vhost_msg_expect(m, 0, 1, 1, err);
	struct stat st;

	if (ret)
		return ret;
	if (fstat(m->fds[0], &st) || !S_ISSOCK(st.st_mode))
		return vp_error_set(err, EINVAL, "SET_BACKEND_REQ_FD: fd is not a socket");
	close_fd(&dev->backend_fd);
	dev->backend_fd = vp_vhost_msg_take_fd(m, 0);
	return 0;
}

/* Messages without payload and fds. */
static int expect_empty(struct vp_vhost_msg *m, struct vp_error *err)
{
	return vp_vhost_msg_expect(m, 0, 0, 0, err);
}

/* The one dispatch point.  *replied is set when the handler sent a reply. */
static int dispatch(struct vp_vhost_dev *dev, struct vp_vhost_msg *m, bool *replied,
		    struct vp_error *err)
{
	int ret;

	*replied = true;
	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
		return expect_empty(m, err) ?: reply_u64(dev, m, dev->dev_features, err);
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		return expect_empty(m, err) ?: reply_u64(dev, m, vp_vhost_dev_protocol_features(), err);
	case VHOST_USER_GET_QUEUE_NUM:
		return expect_empty(m, err) ?: reply_u64(dev, m, dev->nqueues, err);
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		return expect_empty(m, err) ?: reply_u64(dev, m, VP_MEMTABLE_MAX, err);
	case VHOST_USER_GET_VRING_BASE:
		return get_vring_base(dev, m, err);
	case VHOST_USER_GET_CONFIG:
		return get_config(dev, m, err);
	case VHOST_USER_GET_INFLIGHT_FD:
		return get_inflight_fd(dev, m, err);
	default:
		break;
	}
	*replied = false;
	switch (m->hdr.request) {
	case VHOST_USER_SET_FEATURES:
		return set_features(dev, m, err);
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		return set_protocol_features(dev, m, err);
	case VHOST_USER_SET_OWNER:
		ret = expect_empty(m, err);
		dev->owner = true;
		return ret;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		ret = expect_empty(m, err);
		reset(dev);
		return ret;
	case VHOST_USER_SET_MEM_TABLE:
		return set_mem_table(dev, m, err);
	case VHOST_USER_ADD_MEM_REG:
		return add_mem_reg(dev, m, err);
	case VHOST_USER_REM_MEM_REG:
		return rem_mem_reg(dev, m, err);
	case VHOST_USER_SET_VRING_NUM:
		return set_vring_num(dev, m, err);
	case VHOST_USER_SET_VRING_ADDR:
		return set_vring_addr(dev, m, err);
	case VHOST_USER_SET_VRING_BASE:
		return set_vring_base(dev, m, err);
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return set_vring_fd(dev, m, err);
	case VHOST_USER_SET_VRING_ENABLE:
		return set_vring_enable(dev, m, err);
	case VHOST_USER_SET_CONFIG:
		return set_config(dev, m, err);
	case VHOST_USER_SET_INFLIGHT_FD:
		return set_inflight_fd(dev, m, err);
	case VHOST_USER_SET_BACKEND_REQ_FD:
		return set_backend_req_fd(dev, m, err);
	default:
		return vp_error_set(err, ENOTSUP, "vhost-user: unsupported request %u", m->hdr.request);
	}
}

int vp_vhost_dev_handle(struct vp_vhost_dev *dev, struct vp_vhost_msg *msg, struct vp_error *err)
{
	bool replied, ack = (msg->hdr.flags & VHOST_USER_NEED_REPLY) &&
			    (dev->proto_features & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	int ret = dispatch(dev, msg, &replied, err);

	vp_vhost_msg_close_fds(msg);
	if (ack && !replied) {
		struct vp_error ack_err = { 0 };
		int aret = reply_u64(dev, msg, ret ? 1 : 0, &ack_err);

		if (!ret && aret) {
			*err = ack_err;
			ret = aret;
		}
	}
	return ret;
}

int vp_vhost_dev_config_changed(struct vp_vhost_dev *dev, struct vp_error *err)
{
	struct vp_vhost_msg m = { .hdr = { VHOST_USER_BACKEND_CONFIG_CHANGE_MSG,
					   VHOST_USER_VERSION, 0 } };

	if (dev->backend_fd < 0 ||
	    !(dev->proto_features & (1ULL << VHOST_USER_PROTOCOL_F_BACKEND_REQ)))
		return vp_error_set(err, ENOTCONN, "no backend channel for config change");
	return vp_vhost_msg_send(dev->backend_fd, &m, err);
}

void vp_vhost_dev_close(struct vp_vhost_dev *dev)
{
	reset(dev);
	vp_memtable_clear(&dev->mt);
	drop_inflight(dev);
	close_fd(&dev->backend_fd);
}
