/* engine.h - one io_uring per worker thread, carrying socket and disk I/O.
 *
 * The caller embeds a struct vp_engine_op in its own request state (a
 * preallocated slot) and queues operations on it; the engine submits
 * everything queued in one io_uring_submit per loop turn and calls
 * op->done(op, res) for each completion, where res is the CQE result (bytes
 * or -errno).  A done callback may queue further operations.  Files used on
 * the ring are registered (IOSQE_FIXED_FILE) in a sparse table.
 *
 * Memory-backed files (tmpfs, ramfs) are detected when registered: their
 * reads and writes are done at once in the calling thread, and their done()
 * runs from the next vp_engine_run_once, as for any other operation (the
 * engine keeps them on its own list: no ring round trip, no wait).
 * They cannot do non-blocking I/O (no RWF_NOWAIT), so io_uring would hand
 * every one to an io-wq thread, two context switches for a memcpy.
 * vp_engine_mem_fd exposes such a file's fd so that a caller can also move
 * its pages without copying them (splice into a pipe, vp_engine_splice out).
 * Buffers may be registered too (vp_engine_bufs_init, vp_engine_buf_add):
 * O_DIRECT I/O from them skips pinning the pages on every operation.
 * Not thread-safe: one engine belongs to one thread.
 */
#ifndef VP_VBLK_ENGINE_H
#define VP_VBLK_ENGINE_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/error.h"

struct vp_engine_op;
typedef void (*vp_engine_done_fn)(struct vp_engine_op *op, int res);

struct vp_engine_op {
	vp_engine_done_fn done;
	struct vp_engine_op *next_done; /* engine-private: queued inline completion */
	int inline_res;                 /* engine-private: its result */
};

struct vp_engine {
	struct io_uring ring;
	unsigned nfiles;            /* size of the registered file table */
	unsigned char *file_used;   /* nfiles flags */
	int *mem_fd;                /* nfiles: fd of a memory-backed file, else -1 */
	struct vp_engine_op *done_head, **done_tail; /* inline completions to dispatch */
	unsigned nbufs;             /* size of the registered buffer table (0: none) */
	unsigned char *buf_used;    /* nbufs flags */
};

/* Set up a ring of `depth` entries and a sparse table of max_files
 * registered files.  Returns 0 or -errno (err says which step failed). */
VP_MUST_CHECK int vp_engine_init(struct vp_engine *eng, unsigned depth, unsigned max_files,
				 struct vp_error *err);

/* Tear the ring down (in-flight operations are abandoned, so callers drain
 * first).  Accepts an engine whose init failed or was never run if zeroed. */
void vp_engine_exit(struct vp_engine *eng);

/* Register fd in a free slot of the file table: returns the index (>= 0) to
 * pass to the I/O calls, or -ENFILE when the table is full, or -errno. */
VP_MUST_CHECK int vp_engine_file_add(struct vp_engine *eng, int fd);

/* Release a registered index (the fd itself is not closed). */
void vp_engine_file_del(struct vp_engine *eng, int index);

/* Set up a sparse table of max_bufs registered buffers (optional; once).
 * Returns 0 or -errno (then the engine works without registered buffers). */
VP_MUST_CHECK int vp_engine_bufs_init(struct vp_engine *eng, unsigned max_bufs);

/* Register buf[0..len) (pinned until released): returns the index (>= 0) to
 * pass to vp_engine_read_fixed/write_fixed, -ENFILE when the table is full
 * or absent, or -errno (e.g. -ENOMEM past RLIMIT_MEMLOCK).  The memory must
 * stay allocated until vp_engine_buf_del. */
VP_MUST_CHECK int vp_engine_buf_add(struct vp_engine *eng, void *buf, size_t len);

/* Release a registered buffer index; the kernel keeps the pages pinned
 * until operations still using them complete.  A negative index is
 * ignored. */
void vp_engine_buf_del(struct vp_engine *eng, int index);

/* Queue operations.  `file` is a registered index.  op->done must be set.
 * Each returns 0, or -EBUSY when no submission entry could be had even after
 * flushing the queue (the operation was not queued). */
VP_MUST_CHECK int vp_engine_read(struct vp_engine *eng, struct vp_engine_op *op, int file,
				 void *buf, uint32_t len, uint64_t offset);
/* rw_flags: 0 or RWF_DSYNC (FUA). */
VP_MUST_CHECK int vp_engine_write(struct vp_engine *eng, struct vp_engine_op *op, int file,
				  const void *buf, uint32_t len, uint64_t offset, int rw_flags);
/* As read/write, with buf[0..len) inside registered buffer buf_index: the
 * kernel skips pinning the pages for each O_DIRECT operation. */
VP_MUST_CHECK int vp_engine_read_fixed(struct vp_engine *eng, struct vp_engine_op *op, int file,
				       void *buf, uint32_t len, uint64_t offset, int buf_index);
VP_MUST_CHECK int vp_engine_write_fixed(struct vp_engine *eng, struct vp_engine_op *op, int file,
					const void *buf, uint32_t len, uint64_t offset,
					int rw_flags, int buf_index);
/* Vectored read/write into/from iovcnt buffers (vhost-user: the guest's own
 * pages).  iov must stay valid until done() runs.  rw_flags as for write. */
VP_MUST_CHECK int vp_engine_readv(struct vp_engine *eng, struct vp_engine_op *op, int file,
				  const struct iovec *iov, unsigned iovcnt, uint64_t offset);
VP_MUST_CHECK int vp_engine_writev(struct vp_engine *eng, struct vp_engine_op *op, int file,
				   const struct iovec *iov, unsigned iovcnt, uint64_t offset,
				   int rw_flags);
/* fdatasync of the whole file. */
VP_MUST_CHECK int vp_engine_fdatasync(struct vp_engine *eng, struct vp_engine_op *op, int file);
VP_MUST_CHECK int vp_engine_fallocate(struct vp_engine *eng, struct vp_engine_op *op, int file,
				      int mode, uint64_t offset, uint64_t len);
VP_MUST_CHECK int vp_engine_fadvise(struct vp_engine *eng, struct vp_engine_op *op, int file,
				    uint64_t offset, uint32_t len, int advice);
/* Stream-socket I/O.  recv_flags: 0 (whatever is there, at least a byte)
 * or MSG_WAITALL (the caller still handles short results). */
VP_MUST_CHECK int vp_engine_recv(struct vp_engine *eng, struct vp_engine_op *op, int file,
				 void *buf, uint32_t len, int recv_flags);
VP_MUST_CHECK int vp_engine_sendmsg(struct vp_engine *eng, struct vp_engine_op *op, int file,
				   const struct msghdr *msg);
/* Move up to len bytes from the pipe pipe_fd (a plain fd) to the socket
 * `file` (a registered index) without copying: the pipe's page references
 * go into the socket buffer.  The kernel runs it in an io-wq thread, where
 * it may wait for socket space; res is the bytes moved (may be short). */
VP_MUST_CHECK int vp_engine_splice(struct vp_engine *eng, struct vp_engine_op *op, int pipe_fd,
				   int file, uint32_t len);
/* The fd of registered file `file` when it is memory-backed, else -1. */
int vp_engine_mem_fd(const struct vp_engine *eng, int file);
/* Accept on a listening socket given as a plain fd (shared by workers). */
VP_MUST_CHECK int vp_engine_accept(struct vp_engine *eng, struct vp_engine_op *op, int listen_fd);
/* Read 8 bytes from an eventfd (plain fd) into *val. */
VP_MUST_CHECK int vp_engine_eventfd_read(struct vp_engine *eng, struct vp_engine_op *op, int fd,
					 uint64_t *val);
/* Ask the kernel to cancel the operation `target`; its done() then sees
 * -ECANCELED (or its normal result if it won the race).  Best effort:
 * returns -EBUSY when the request could not be queued. */
int vp_engine_cancel(struct vp_engine *eng, struct vp_engine_op *target);

/* One loop turn: submit everything queued, wait for at least one
 * completion, and dispatch every completion available.  Returns 0 or
 * -errno (-EINTR is retried). */
VP_MUST_CHECK int vp_engine_run_once(struct vp_engine *eng);

#endif
