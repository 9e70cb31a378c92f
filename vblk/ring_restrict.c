/* ring_restrict.c - the opcode, flag and register-operation allowlist of
 * vblkd's io_uring rings, and the narrower one of ublk's control rings (see
 * ring_restrict.h).  To use a new opcode, add it to its group here. */
#include "vblk/ring_restrict.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

static const unsigned char allowed_ops[] = {
	/* Disk and socket data. */
	IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READV, IORING_OP_WRITEV,
	IORING_OP_READ_FIXED, IORING_OP_WRITE_FIXED,
	IORING_OP_SEND, IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_RECVMSG,
	IORING_OP_SEND_ZC, IORING_OP_SENDMSG_ZC, IORING_OP_SPLICE, IORING_OP_TEE,
	/* Durability, zeroing, hints. */
	IORING_OP_FSYNC, IORING_OP_SYNC_FILE_RANGE, IORING_OP_FALLOCATE,
	IORING_OP_FADVISE, IORING_OP_MADVISE,
	/* Connections on the listening sockets the daemon bound before its
	 * sandbox; closing them. */
	IORING_OP_ACCEPT, IORING_OP_SHUTDOWN, IORING_OP_CLOSE, IORING_OP_FILES_UPDATE,
	/* Waiting, timeouts, cancellation. */
	IORING_OP_NOP, IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE,
	IORING_OP_TIMEOUT, IORING_OP_TIMEOUT_REMOVE, IORING_OP_LINK_TIMEOUT,
	IORING_OP_ASYNC_CANCEL, IORING_OP_PROVIDE_BUFFERS, IORING_OP_REMOVE_BUFFERS,
	/* ublk's FETCH_REQ / COMMIT_AND_FETCH_REQ on /dev/ublkcN. */
	IORING_OP_URING_CMD,
	/* Not: OPENAT(2), STATX, CONNECT, SOCKET, EPOLL_CTL, MSG_RING, the
	 * path operations (RENAMEAT, UNLINKAT, MKDIRAT, SYMLINKAT, LINKAT)
	 * and xattrs. */
};

static const unsigned char allowed_register_ops[] = {
	IORING_REGISTER_BUFFERS, IORING_UNREGISTER_BUFFERS,
	IORING_REGISTER_BUFFERS2, IORING_REGISTER_BUFFERS_UPDATE,
	IORING_REGISTER_FILES, IORING_UNREGISTER_FILES, IORING_REGISTER_FILES2,
	IORING_REGISTER_FILES_UPDATE, IORING_REGISTER_FILES_UPDATE2,
	IORING_REGISTER_FILE_ALLOC_RANGE,
	IORING_REGISTER_EVENTFD, IORING_REGISTER_EVENTFD_ASYNC, IORING_UNREGISTER_EVENTFD,
	IORING_REGISTER_PROBE, IORING_REGISTER_SYNC_CANCEL,
	IORING_REGISTER_IOWQ_AFF, IORING_UNREGISTER_IOWQ_AFF, IORING_REGISTER_IOWQ_MAX_WORKERS,
	IORING_REGISTER_RING_FDS, IORING_UNREGISTER_RING_FDS,
	IORING_REGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING,
	/* Not: PERSONALITY (SQEs under credentials saved earlier), and
	 * RESTRICTIONS / ENABLE_RINGS (done here, once). */
};

#define ALLOWED_SQE_FLAGS (IOSQE_FIXED_FILE | IOSQE_IO_DRAIN | IOSQE_IO_LINK | IOSQE_IO_HARDLINK | \
			   IOSQE_ASYNC | IOSQE_BUFFER_SELECT | IOSQE_CQE_SKIP_SUCCESS)

/* io_uring_register(2) itself: Debian's liburing 2.3 declares
 * io_uring_register_restrictions and io_uring_enable_rings but does not
 * export them. */
static int ring_register(struct io_uring *ring, unsigned op, const void *arg, unsigned n)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ? -errno : 0;
}

#define N_OPS (sizeof(allowed_ops) / sizeof(allowed_ops[0]))
#define N_REGISTER_OPS (sizeof(allowed_register_ops) / sizeof(allowed_register_ops[0]))

/* Allow ops[0..n_ops), reg_ops[0..n_reg) and sqe_flags on ring, then
 * enable it. */
static int restrict_ring(struct io_uring *ring, const unsigned char *ops, size_t n_ops,
			 const unsigned char *reg_ops, size_t n_reg, unsigned char sqe_flags)
{
	struct io_uring_restriction res[N_OPS + N_REGISTER_OPS + 1] = { { 0 } };
	size_t n = 0;
	int ret;

	for (size_t i = 0; i < n_ops; i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = ops[i];
	}
	for (size_t i = 0; i < n_reg; i++) {
		res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
		res[n++].register_op = reg_ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = sqe_flags;
	ret = ring_register(ring, IORING_REGISTER_RESTRICTIONS, res, (unsigned)n);
	return ret ?: ring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

int vp_ring_restrict(struct io_uring *ring)
{
	return restrict_ring(ring, allowed_ops, N_OPS, allowed_register_ops, N_REGISTER_OPS,
			     ALLOWED_SQE_FLAGS);
}

int vp_ring_restrict_uring_cmd(struct io_uring *ring)
{
	static const unsigned char uring_cmd[] = { IORING_OP_URING_CMD };

	return restrict_ring(ring, uring_cmd, 1, NULL, 0, 0);
}
