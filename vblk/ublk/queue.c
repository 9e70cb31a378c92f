/* queue.c - a ublk queue thread: UBLK_IO_* commands and image I/O on one
 * engine ring (see queue.h). */
#include "vblk/ublk/queue.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vblk/blkreq.h"
#include "vblk/engine.h"
#include "vblk/ublk/desc.h"

#define BUF_ALIGN 4096

struct tag {
	/* Commands go straight onto the engine's ring with this op as their
	 * user data; it is never used for engine I/O, so it is never inline. */
	struct vp_engine_op cmd_op;
	struct vp_blkreq blk;             /* image I/O (vblk/blkreq.h) */
	struct vp_ublk_queue *q;
	uint16_t tag;
	void *buf;
	struct vp_ublk_req req;
};

struct vp_ublk_queue {
	struct vp_ublk_queue_config cfg;
	const struct ublksrv_io_desc *descs; /* read-only mmap of the descriptors */
	size_t map_len;
	pthread_t tid;
	sem_t ready;
	int start_ret;                    /* set by the thread before posting ready */
	struct vp_error start_err;
	int stop_fd;                      /* eventfd: finish */
	uint64_t stop_val;
	struct vp_engine_op stop_op;
	bool stopping;
	unsigned live;                    /* tags the kernel may still hand out */
	unsigned io_inflight;             /* tags doing image I/O */
	int file;                         /* img->fd's index in the engine */
	struct vp_engine eng;
	struct tag tags[];
};

static size_t round_page(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) / page * page;
}

/* Queue a FETCH_REQ or COMMIT_AND_FETCH_REQ (with result) for t.  A tag
 * whose command cannot be queued is lost to this queue. */
static void send_cmd(struct tag *t, unsigned nr, int result)
{
	struct vp_ublk_queue *q = t->q;
	struct ublksrv_io_cmd cmd = {
		.q_id = q->cfg.qid, .tag = t->tag, .result = result, .addr = (uint64_t)(uintptr_t)t->buf,
	};
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->eng.ring);

	if (!sqe) {
		(void)io_uring_submit(&q->eng.ring);
		sqe = io_uring_get_sqe(&q->eng.ring);
	}
	if (!sqe) {
		q->live--;
		return;
	}
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, q->cfg.cdev_fd, NULL, 0, 0);
	sqe->cmd_op = vp_ublk_cmd_op(nr, sizeof(cmd), q->cfg.ioctl_encode);
	memcpy(sqe->cmd, &cmd, sizeof(cmd));
	io_uring_sqe_set_data(sqe, &t->cmd_op);
}

static void io_finish(struct tag *t, int result)
{
	t->q->io_inflight--;
	send_cmd(t, UBLK_IO_COMMIT_AND_FETCH_REQ, result);
}

static void on_blkreq(struct vp_blkreq *b, int res)
{
	struct tag *t = (struct tag *)((char *)b - offsetof(struct tag, blk));
	bool rw = t->req.kind == VP_UBLK_READ || t->req.kind == VP_UBLK_WRITE;

	io_finish(t, res < 0 ? res : rw ? (int)t->req.len : 0);
}

/* Run t->req on the block-request layer. */
static void submit_io(struct tag *t)
{
	static const enum vp_blkreq_type types[] = {
		[VP_UBLK_READ] = VP_BLKREQ_READ,
		[VP_UBLK_WRITE] = VP_BLKREQ_WRITE,
		[VP_UBLK_FLUSH] = VP_BLKREQ_FLUSH,
		[VP_UBLK_DISCARD] = VP_BLKREQ_DISCARD,
		[VP_UBLK_WRITE_ZEROES] = VP_BLKREQ_WRITE_ZEROES,
	};
	struct vp_ublk_queue *q = t->q;
	const struct vp_ublk_req *r = &t->req;
	struct vp_blkreq *b = &t->blk;
	int ret;

	if (r->kind == VP_UBLK_FLUSH && q->cfg.img->readonly) {
		io_finish(t, 0);
		return;
	}
	b->eng = &q->eng;
	b->img = q->cfg.img;
	b->file = q->file;
	b->done = on_blkreq;
	b->type = types[r->kind];
	b->flags = (r->fua ? VP_BLKREQ_FUA : 0) |
		   (r->kind == VP_UBLK_WRITE_ZEROES && !r->no_unmap ? VP_BLKREQ_MAY_UNMAP : 0);
	b->offset = r->offset;
	b->len = r->len;
	b->buf = t->buf;
	b->buf_idx = -1;
	b->iov = NULL;
	b->iovcnt = 0;
	ret = vp_blkreq_start(b);
	if (ret)
		on_blkreq(b, ret < 0 ? ret : 0);
}

/* A FETCH_REQ or COMMIT_AND_FETCH_REQ completed: the kernel has a request
 * for this tag, or it stopped the device. */
static void on_cmd(struct vp_engine_op *op, int res)
{
	struct tag *t = (struct tag *)((char *)op - offsetof(struct tag, cmd_op));
	struct vp_ublk_queue *q = t->q;
	struct ublksrv_io_desc iod;
	int ret;

	if (res != UBLK_IO_RES_OK) { /* UBLK_IO_RES_ABORT, or the command failed */
		q->live--;
		return;
	}
	memcpy(&iod, (const void *)&q->descs[t->tag], sizeof(iod));
	ret = vp_ublk_desc_decode(&iod, q->cfg.img->size, q->cfg.buf_bytes, q->cfg.img->readonly,
				  &t->req);
	q->io_inflight++;
	if (ret) {
		io_finish(t, ret);
		return;
	}
	submit_io(t);
}

static void on_stop(struct vp_engine_op *op, int res)
{
	struct vp_ublk_queue *q = (struct vp_ublk_queue *)((char *)op - offsetof(struct vp_ublk_queue, stop_op));

	(void)res;
	q->stopping = true;
}

/* Thread setup: ring, image file, a FETCH_REQ per tag, the stop watch. */
static int queue_setup(struct vp_ublk_queue *q)
{
	int ret = vp_engine_init(&q->eng, 2u * q->cfg.depth + 2, 1, &q->start_err);

	if (ret)
		return ret;
	q->file = vp_engine_file_add(&q->eng, q->cfg.img->fd);
	if (q->file < 0)
		return vp_error_set(&q->start_err, -q->file, "ublk queue %u: register image", q->cfg.qid);
	q->stop_op.done = on_stop;
	ret = vp_engine_eventfd_read(&q->eng, &q->stop_op, q->stop_fd, &q->stop_val);
	if (ret)
		return vp_error_set(&q->start_err, -ret, "ublk queue %u: queue stop watch", q->cfg.qid);
	q->live = q->cfg.depth;
	for (unsigned i = 0; i < q->cfg.depth; i++)
		send_cmd(&q->tags[i], UBLK_IO_FETCH_REQ, 0);
	ret = io_uring_submit(&q->eng.ring);
	if (ret < 0)
		return vp_error_set(&q->start_err, -ret, "ublk queue %u: submit FETCH_REQ", q->cfg.qid);
	return q->live == q->cfg.depth ? 0 :
	       vp_error_set(&q->start_err, EBUSY, "ublk queue %u: ring too small", q->cfg.qid);
}

static void *queue_main(void *arg)
{
	struct vp_ublk_queue *q = arg;
	int ret = queue_setup(q);

	q->start_ret = ret;
	sem_post(&q->ready);
	while (!ret && q->live && !(q->stopping && q->io_inflight == 0))
		ret = vp_engine_run_once(&q->eng);
	vp_engine_exit(&q->eng);
	return NULL;
}

/* Free what vp_ublk_queue_start set up, the thread excepted. */
static void queue_release(struct vp_ublk_queue *q)
{
	for (unsigned i = 0; i < q->cfg.depth; i++)
		free(q->tags[i].buf);
	if (q->descs)
		munmap((void *)q->descs, q->map_len);
	if (q->stop_fd >= 0)
		close(q->stop_fd);
	sem_destroy(&q->ready);
	free(q);
}

/* Map the queue's descriptors and allocate the tag buffers. */
static int queue_alloc(struct vp_ublk_queue *q, struct vp_error *err)
{
	size_t per_queue = round_page(UBLK_MAX_QUEUE_DEPTH * sizeof(struct ublksrv_io_desc));
	void *map;

	q->map_len = round_page(q->cfg.depth * sizeof(struct ublksrv_io_desc));
	map = mmap(NULL, q->map_len, PROT_READ, MAP_SHARED | MAP_POPULATE, q->cfg.cdev_fd,
		   (off_t)(UBLKSRV_CMD_BUF_OFFSET + q->cfg.qid * per_queue));
	if (map == MAP_FAILED)
		return vp_error_set(err, errno, "ublk queue %u: mmap descriptors", q->cfg.qid);
	q->descs = map;
	for (unsigned i = 0; i < q->cfg.depth; i++) {
		struct tag *t = &q->tags[i];
		int ret = posix_memalign(&t->buf, BUF_ALIGN, q->cfg.buf_bytes);

		if (ret) {
			t->buf = NULL;
			return vp_error_set(err, ret, "ublk queue %u: tag buffers", q->cfg.qid);
		}
		t->q = q;
		t->tag = (uint16_t)i;
		t->cmd_op.done = on_cmd;
	}
	q->stop_fd = eventfd(0, EFD_CLOEXEC);
	return q->stop_fd < 0 ? vp_error_set(err, errno, "ublk queue %u: eventfd", q->cfg.qid) : 0;
}

int vp_ublk_queue_start(const struct vp_ublk_queue_config *cfg, struct vp_ublk_queue **out,
			struct vp_error *err)
{
	struct vp_ublk_queue *q = calloc(1, sizeof(*q) + cfg->depth * sizeof(struct tag));
	int ret;

	*out = NULL;
	if (!q)
		return vp_error_set(err, ENOMEM, "ublk queue %u", cfg->qid);
	q->cfg = *cfg;
	q->stop_fd = -1;
	sem_init(&q->ready, 0, 0);
	ret = queue_alloc(q, err);
	if (!ret && (ret = pthread_create(&q->tid, NULL, queue_main, q)) != 0)
		ret = vp_error_set(err, ret, "ublk queue %u: start thread", cfg->qid);
	if (ret) {
		queue_release(q);
		return ret;
	}
	while (sem_wait(&q->ready) && errno == EINTR)
		;
	if (q->start_ret) {
		ret = q->start_ret;
		*err = q->start_err;
		pthread_join(q->tid, NULL);
		queue_release(q);
		return ret;
	}
	*out = q;
	return 0;
}

void vp_ublk_queue_free(struct vp_ublk_queue *q)
{
	uint64_t one = 1;
	ssize_t n;

	if (!q)
		return;
	n = write(q->stop_fd, &one, sizeof(one)); /* cannot fail on an eventfd below its maximum */
	(void)n;
	pthread_join(q->tid, NULL);
	queue_release(q);
}
