/* engine.c - the per-worker io_uring: registered files, queued operations,
 * batched submission and completion dispatch. */
#include "vblk/engine.h"
#include "vblk/image.h"
#include "vblk/ring_restrict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int vp_engine_init(struct vp_engine *eng, unsigned depth, unsigned max_files, struct vp_error *err)
{
	struct io_uring_params p;
	int ret;

	memset(eng, 0, sizeof(*eng));
	eng->done_tail = &eng->done_head;
	memset(&p, 0, sizeof(p));
	/* Task work runs when this thread enters the ring, not by IPI.  The
	 * ring starts disabled until its opcodes are restricted. */
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(depth, &eng->ring, &p);
	if (ret == -EINVAL) { /* older kernels lack the hint flags */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_R_DISABLED;
		ret = io_uring_queue_init_params(depth, &eng->ring, &p);
	}
	if (ret < 0)
		return vp_error_set(err, -ret, "io_uring setup (%u entries)", depth);
	if (!(p.features & IORING_FEAT_NODROP)) {
		io_uring_queue_exit(&eng->ring);
		return vp_error_set(err, ENOTSUP, "io_uring: kernel lacks IORING_FEAT_NODROP");
	}
	ret = vp_ring_restrict(&eng->ring);
	if (ret < 0) {
		io_uring_queue_exit(&eng->ring);
		return vp_error_set(err, -ret, "io_uring: restrict the ring's operations");
	}
	eng->file_used = calloc(max_files, 1);
	eng->mem_fd = malloc(max_files * sizeof(int));
	if (!eng->file_used || !eng->mem_fd) {
		free(eng->file_used);
		free(eng->mem_fd);
		eng->file_used = NULL;
		io_uring_queue_exit(&eng->ring);
		return vp_error_set(err, ENOMEM, "io_uring file table");
	}
	ret = io_uring_register_files_sparse(&eng->ring, max_files);
	if (ret < 0) {
		free(eng->file_used);
		free(eng->mem_fd);
		eng->file_used = NULL;
		io_uring_queue_exit(&eng->ring);
		return vp_error_set(err, -ret, "io_uring: register %u files", max_files);
	}
	eng->nfiles = max_files;
	return 0;
}

void vp_engine_exit(struct vp_engine *eng)
{
	if (!eng->file_used)
		return;
	io_uring_queue_exit(&eng->ring);
	free(eng->file_used);
	free(eng->mem_fd);
	free(eng->buf_used);
	eng->file_used = NULL;
	eng->buf_used = NULL;
	eng->nbufs = 0;
}

int vp_engine_bufs_init(struct vp_engine *eng, unsigned max_bufs)
{
	int ret;

	if (eng->nbufs)
		return -EEXIST;
	eng->buf_used = calloc(max_bufs, 1);
	if (!eng->buf_used)
		return -ENOMEM;
	ret = io_uring_register_buffers_sparse(&eng->ring, max_bufs);
	if (ret < 0) {
		free(eng->buf_used);
		eng->buf_used = NULL;
		return ret;
	}
	eng->nbufs = max_bufs;
	return 0;
}

int vp_engine_buf_add(struct vp_engine *eng, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	__u64 tag = 0;

	for (unsigned i = 0; i < eng->nbufs; i++) {
		int ret;

		if (eng->buf_used[i])
			continue;
		ret = io_uring_register_buffers_update_tag(&eng->ring, i, &iov, &tag, 1);
		if (ret < 0)
			return ret;
		eng->buf_used[i] = 1;
		return (int)i;
	}
	return -ENFILE;
}

void vp_engine_buf_del(struct vp_engine *eng, int index)
{
	struct iovec none = { NULL, 0 };
	__u64 tag = 0;

	if (index < 0 || (unsigned)index >= eng->nbufs || !eng->buf_used[index])
		return;
	/* Failure leaves a stale entry that the next update replaces. */
	(void)io_uring_register_buffers_update_tag(&eng->ring, (unsigned)index, &none, &tag, 1);
	eng->buf_used[index] = 0;
}

int vp_engine_file_add(struct vp_engine *eng, int fd)
{
	for (unsigned i = 0; i < eng->nfiles; i++) {
		int ret;

		if (eng->file_used[i])
			continue;
		ret = io_uring_register_files_update(&eng->ring, i, &fd, 1);
		if (ret < 0)
			return ret;
		eng->file_used[i] = 1;
		eng->mem_fd[i] = vp_fd_memory_backed(fd) ? fd : -1;
		return (int)i;
	}
	return -ENFILE;
}

void vp_engine_file_del(struct vp_engine *eng, int index)
{
	int none = -1;

	if (index < 0 || (unsigned)index >= eng->nfiles || !eng->file_used[index])
		return;
	/* Failure leaves a stale entry that the next update replaces. */
	(void)io_uring_register_files_update(&eng->ring, (unsigned)index, &none, 1);
	eng->file_used[index] = 0;
	eng->mem_fd[index] = -1;
}

/* A submission entry for op, flushing the queue once when it is full. */
static struct io_uring_sqe *get_sqe(struct vp_engine *eng, struct vp_engine_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&eng->ring);

	if (!sqe) {
		(void)io_uring_submit(&eng->ring);
		sqe = io_uring_get_sqe(&eng->ring);
	}
	if (sqe)
		io_uring_sqe_set_data(sqe, op);
	return sqe;
}

/* For a memory-backed file: do the read or write now and queue op's
 * completion on the engine's own list, dispatched by the next
 * vp_engine_run_once without a trip through the ring.  1 when file is not
 * memory-backed (queue the real operation), else 0. */
static int inline_rw(struct vp_engine *eng, struct vp_engine_op *op, int file,
		     const struct iovec *iov, unsigned iovcnt, uint64_t offset, int rw_flags,
		     bool write)
{
	int fd = eng->mem_fd[file];
	ssize_t n;

	if (fd < 0)
		return 1;
	n = write ? pwritev2(fd, iov, (int)iovcnt, (off_t)offset, rw_flags) :
		    preadv2(fd, iov, (int)iovcnt, (off_t)offset, 0);
	op->inline_res = n < 0 ? -errno : (int)n;
	op->next_done = NULL;
	*eng->done_tail = op;
	eng->done_tail = &op->next_done;
	return 0;
}

/* One data operation on a registered file: done at once when the file is
 * memory-backed (inline_rw), else queued as opcode, which reads addr and
 * len as a buffer and its length (READ, WRITE, the _FIXED pair with
 * buf_index) or as an iovec array and its count (READV, WRITEV). */
static int queue_rw(struct vp_engine *eng, struct vp_engine_op *op, int opcode, int file,
		    const struct iovec *iov, unsigned iovcnt, uint64_t offset, int rw_flags,
		    int buf_index)
{
	bool write = opcode == IORING_OP_WRITE || opcode == IORING_OP_WRITEV ||
		     opcode == IORING_OP_WRITE_FIXED;
	bool vectored = opcode == IORING_OP_READV || opcode == IORING_OP_WRITEV;
	int ret = inline_rw(eng, op, file, iov, iovcnt, offset, rw_flags, write);
	struct io_uring_sqe *sqe;

	if (ret <= 0)
		return ret;
	sqe = get_sqe(eng, op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_rw(opcode, sqe, file, vectored ? (const void *)iov : iov->iov_base,
			 vectored ? iovcnt : (unsigned)iov->iov_len, offset);
	sqe->rw_flags = rw_flags;
	sqe->buf_index = (__u16)buf_index;
	sqe->flags |= IOSQE_FIXED_FILE;
	return 0;
}

int vp_engine_read(struct vp_engine *eng, struct vp_engine_op *op, int file, void *buf,
		   uint32_t len, uint64_t offset)
{
	struct iovec iov = { buf, len };

	return queue_rw(eng, op, IORING_OP_READ, file, &iov, 1, offset, 0, 0);
}

int vp_engine_write(struct vp_engine *eng, struct vp_engine_op *op, int file, const void *buf,
		    uint32_t len, uint64_t offset, int rw_flags)
{
	struct iovec iov = { (void *)buf, len };

	return queue_rw(eng, op, IORING_OP_WRITE, file, &iov, 1, offset, rw_flags, 0);
}

int vp_engine_read_fixed(struct vp_engine *eng, struct vp_engine_op *op, int file, void *buf,
			 uint32_t len, uint64_t offset, int buf_index)
{
	struct iovec iov = { buf, len };

	return queue_rw(eng, op, IORING_OP_READ_FIXED, file, &iov, 1, offset, 0, buf_index);
}

int vp_engine_write_fixed(struct vp_engine *eng, struct vp_engine_op *op, int file,
			  const void *buf, uint32_t len, uint64_t offset, int rw_flags,
			  int buf_index)
{
	struct iovec iov = { (void *)buf, len };

	return queue_rw(eng, op, IORING_OP_WRITE_FIXED, file, &iov, 1, offset, rw_flags, buf_index);
}

int vp_engine_readv(struct vp_engine *eng, struct vp_engine_op *op, int file,
		    const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
	return queue_rw(eng, op, IORING_OP_READV, file, iov, iovcnt, offset, 0, 0);
}

int vp_engine_writev(struct vp_engine *eng, struct vp_engine_op *op, int file,
		     const struct iovec *iov, unsigned iovcnt, uint64_t offset, int rw_flags)
{
	return queue_rw(eng, op, IORING_OP_WRITEV, file, iov, iovcnt, offset, rw_flags, 0);
}

int vp_engine_fdatasync(struct vp_engine *eng, struct vp_engine_op *op, int file)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, file, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	return 0;
}

int vp_engine_fallocate(struct vp_engine *eng, struct vp_engine_op *op, int file, int mode,
			uint64_t offset, uint64_t len)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, file, mode, offset, len);
	sqe->flags |= IOSQE_FIXED_FILE;
	return 0;
}

int vp_engine_fadvise(struct vp_engine *eng, struct vp_engine_op *op, int file, uint64_t offset,
		      uint32_t len, int advice)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fadvise(sqe, file, offset, len, advice);
	sqe->flags |= IOSQE_FIXED_FILE;
	return 0;
}

int vp_engine_recv(struct vp_engine *eng, struct vp_engine_op *op, int file, void *buf,
		   uint32_t len, int recv_flags)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv(sqe, file, buf, len, recv_flags);
	sqe->flags |= IOSQE_FIXED_FILE;
	return 0;
}

int vp_engine_sendmsg(struct vp_engine *eng, struct vp_engine_op *op, int file,
		      const struct msghdr *msg)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_sendmsg(sqe, file, msg, MSG_NOSIGNAL);
	sqe->flags |= IOSQE_FIXED_FILE;
	return 0;
}

int vp_engine_splice(struct vp_engine *eng, struct vp_engine_op *op, int pipe_fd, int file,
		     uint32_t len)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_splice(sqe, pipe_fd, -1, file, -1, len, 0);
	sqe->flags |= IOSQE_FIXED_FILE; /* applies to the output (socket) only */
	return 0;
}

int vp_engine_mem_fd(const struct vp_engine *eng, int file)
{
	return file >= 0 && (unsigned)file < eng->nfiles && eng->file_used[file] ? eng->mem_fd[file] : -1;
}

int vp_engine_accept(struct vp_engine *eng, struct vp_engine_op *op, int listen_fd)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	return 0;
}

int vp_engine_eventfd_read(struct vp_engine *eng, struct vp_engine_op *op, int fd, uint64_t *val)
{
	struct io_uring_sqe *sqe = get_sqe(eng, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, fd, val, sizeof(*val), 0);
	return 0;
}

int vp_engine_cancel(struct vp_engine *eng, struct vp_engine_op *target)
{
	struct io_uring_sqe *sqe = get_sqe(eng, NULL);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel(sqe, target, 0);
	return 0;
}

/* Complete the inline operations queued before this call; those their
 * done() callbacks queue wait for the next turn. */
static void dispatch_inline(struct vp_engine *eng)
{
	struct vp_engine_op *op = eng->done_head;

	eng->done_head = NULL;
	eng->done_tail = &eng->done_head;
	while (op) {
		struct vp_engine_op *next = op->next_done;

		op->done(op, op->inline_res);
		op = next;
	}
}

int vp_engine_run_once(struct vp_engine *eng)
{
	struct io_uring_cqe *cqe;
	int ret;

	/* Inline completions are ready now: submit, but do not wait. */
	do
		ret = eng->done_head ? io_uring_submit(&eng->ring) :
				       io_uring_submit_and_wait(&eng->ring, 1);
	while (ret == -EINTR);
	if (ret < 0 && ret != -EBUSY && ret != -EAGAIN)
		return ret;
	/* Completions are consumed one at a time so that a done() callback
	 * that queues (and, when the queue is full, submits) work never sees
	 * a CQ head that is ahead of what was dispatched. */
	while (io_uring_peek_cqe(&eng->ring, &cqe) == 0) {
		struct vp_engine_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&eng->ring, cqe);
		if (op)
			op->done(op, res);
	}
	dispatch_inline(eng);
	return 0;
}
