/* conn.h - what the parts of vblkd's NBD server worker share (internal to
 * vp_vblk; the public API is vblk/nbd/server.h, the protocol logic free of
 * I/O is vblk/nbd/nbd.h).  All of it runs on the worker's thread.
 *
 *   server.c     the worker: its ring, loop, accept, stop, kick; listening sockets
 *   conn.c       a connection's life (new, drain, drop, free), its one receive
 *                and one send at a time, request slots and their memory budget
 *   negotiate.c  the handshake on the ring (greeting, options until GO), then
 *                entering transmission (export, pipes, slots)
 *   rx.c         transmission input: request headers, WRITE data (buffered,
 *                or received into the slot)
 *   exec.c       running a request on the image (vblk/blkreq.h)
 *   tx.c         replies: encoding, batched sendmsg, READ data spliced from a
 *                memory-backed image
 *
 * NBD connections on a worker's io_uring:
 *
 * Every socket and disk operation goes through the worker's engine; nothing
 * blocks, so a slow or hostile client only ever holds its own connection.
 * The handshake is a per-connection state machine on the same ring (send
 * greeting, receive flags, then receive option / send replies until GO).
 * In transmission a connection owns CONN_SLOTS preallocated request slots.
 * One receive is in flight at a time, into a 64 KiB input buffer from which
 * as many requests (headers and small WRITE payloads) are parsed as it holds;
 * the rest of a large WRITE payload is received straight into its slot's
 * buffer.  After a large WRITE the next receive takes one header only: in
 * a stream of them, 64 KiB of each payload would otherwise come through
 * the input buffer and be copied once more.  Up to CONN_SLOTS requests run on the image at once; replies leave
 * in completion order, and every reply that became ready during one batch of
 * completions goes out in one sendmsg.  Slot buffers come from a
 * per-connection budget (conn_mem): a request that would exceed it waits,
 * without reading further requests, until earlier ones complete.
 *
 * Large READs of a memory-backed image (tmpfs) are not copied at all: the
 * reply is ready at once with no data in the slot, its header ends a send
 * batch, and the data follows from the page cache through a per-connection
 * pipe (splice file -> pipe inline, then a ring splice pipe -> socket), so
 * the pages go by reference into the socket and the client's recv is the
 * only copy.  pread + sendmsg cost two copies of every byte, which made a
 * 1 MiB read cost more CPU than nbdkit's.  Data that short-reads (the image
 * shrank) cannot be reported after the header went out: the connection is
 * dropped.  The client gets what the pages hold when it copies them out of
 * the socket, not when the request completed; only a WRITE in flight at the
 * same time (whose order against the READ NBD leaves open) can tell.
 *
 * A WRITE is executed only once all of its data is in the slot's buffer
 * (or the input buffer): a client that dies half-way through the data
 * leaves the image as it was, never a sector partly new.
 * Slot buffers of an O_DIRECT image are registered with the ring, which
 * spares the kernel pinning their pages on every request.
 *
 * Limits (struct vp_nbd_server_limits) hold whatever clients do.  The
 * workers of a daemon count connections (from accept) and slot buffer
 * bytes together (struct vp_nbd_shared_count, atomics touched only when a
 * connection comes or goes or a buffer is allocated or freed), so the
 * connection cap and the memory budget are the daemon's, not a worker's.
 * READ data admitted and not yet sent is counted per connection: at
 * unsent_max the connection stops being read.  Timeouts need no syscall
 * on the request path: a timerfd read on the ring wakes the worker every
 * TICK_MS, which reads the clock once into now_ms; connections stamp
 * their state changes with it (accept, last reply, send posted, drain
 * start) and the tick compares (server.c check_timeouts).  At the fd limit
 * accept closes a reserve fd to accept and close one connection, and other
 * accept errors wait for the next tick instead of spinning.
 */
#ifndef VP_VBLK_NBD_CONN_H
#define VP_VBLK_NBD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "vblk/blkreq.h"
#include "vblk/engine.h"
#include "vblk/nbd/proto.h"
#include "vblk/nbd/server.h"
#include "vblk/nbd/table.h"

#define CONN_SLOTS 64             /* requests in flight per connection (fio QD32 needs 32) */
#define IN_BUF (64U << 10)        /* socket input buffer per connection */
#define TX_IOV 64                 /* iovecs per reply sendmsg (2 per reply) */

#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* Where the pending transmission receive puts its bytes. */
enum rx_target {
	RX_INPUT,         /* the input buffer: request headers, small WRITE data */
	RX_SLOT,          /* rx_slot's buffer: the rest of a large WRITE's data */
};

struct nbd_conn;

struct nbd_slot {
	struct vp_engine_op op; /* CACHE's fadvise */
	struct vp_blkreq blk;   /* READ, WRITE, FLUSH, TRIM, WRITE_ZEROES */
	struct nbd_conn *c;
	struct vp_nbd_request req;
	unsigned char *buf;     /* BUF_ALIGN-aligned, grows to the largest request */
	size_t cap;
	int buf_idx;            /* buf's registered index (O_DIRECT images), else < 0 */
	uint32_t done;          /* BLOCK_STATUS: descriptors in buf */
	uint32_t nbd_err;       /* error to reply with (0 = success) */
	unsigned char hdr[32];  /* reply header */
	struct iovec iov[2];
	struct nbd_slot *next;  /* free list or send queue */
	uint64_t t0;            /* CLOCK_MONOTONIC ns when the header arrived */
	uint32_t payload;       /* WRITE data bytes following the header */
	uint32_t unsent;        /* READ data it adds to its connection's unsent */
	bool splice;            /* READ whose data is spliced from the image when sent */
};

struct vp_nbd_worker {
	struct vp_engine eng;
	struct vp_nbd_server_config cfg;
	int *img_files;         /* registered index per export */
	int efd;
	uint64_t efd_val;
	struct vp_engine_op stop_op, accept_op;
	bool stop_pending, accept_pending, draining;
	int kick_fd;            /* vp_nbd_worker_kick: drain removed exports */
	uint64_t kick_val;
	struct vp_engine_op kick_op;
	bool kick_pending;
	struct nbd_conn *conns;
	unsigned nconns, next_id;
	size_t conn_mem;        /* slot buffer budget per connection */
	struct nbd_conn *dirty; /* connections with replies to flush */
	/* the timeout check: a timerfd read on the ring every TICK_MS */
	int tick_fd;
	uint64_t tick_val;
	struct vp_engine_op tick_op;
	bool tick_pending;
	uint64_t now_ms;        /* CLOCK_MONOTONIC at the last tick: stamps, no syscall */
	uint64_t drain_deadline; /* now_ms when draining connections are shut down */
	struct vp_nbd_shared_count own_count, *shared; /* shared, or own_count */
	/* accept at the fd limit: the reserve fd is closed to accept and close
	 * one connection; other accept errors wait for the next tick */
	int reserve_fd;
	bool shedding, accept_backoff;
	struct vp_event_limit refused_log, accept_log;
};

struct nbd_conn {
	struct vp_nbd_worker *w;
	struct nbd_conn *prev, *next;
	unsigned id;
	int fd, file;
	unsigned inflight;      /* engine operations not yet completed */
	bool dead;              /* no new I/O; freed once inflight is 0 */
	bool in_tx;             /* handshake done */
	bool rx_stopped;        /* no further requests (DISC, EOF, drain) */
	bool export_gone;       /* its export was removed: draining */
	uint64_t drain_since;   /* w->now_ms when export_gone was noticed */
	uint64_t opened;        /* w->now_ms at accept (handshake timeout) */
	uint64_t active;        /* w->now_ms at entering transmission or the last reply */
	uint64_t tx_since;      /* w->now_ms when the pending send was posted */
	/* receive: one at a time */
	struct vp_engine_op recv_op;
	bool rx_pending;
	unsigned char *rx_buf;
	uint32_t rx_len, rx_got;
	void (*rx_then)(struct nbd_conn *c);
	/* send: one at a time */
	struct vp_engine_op send_op;
	bool tx_pending;
	struct msghdr msg;
	void (*tx_then)(struct nbd_conn *c);
	/* handshake */
	struct vp_nbd_hs hs;
	struct vp_nbd_buf hs_out;
	enum vp_nbd_hs_next hs_next;
	unsigned char hs_small[NBD_OPTION_HDR_SIZE + 2];
	struct iovec hs_iov;
	unsigned char *opt_data;
	uint32_t opt, opt_len, opt_cap;
	/* transmission */
	struct vp_nbd_limits lim;
	const struct vp_image *img;
	int img_file;
	bool reg_bufs;          /* register slot buffers: the image does O_DIRECT */
	struct vp_nbd_snapshot *snap; /* table mode: the exports the handshake saw */
	struct vp_nbd_entry *entry;   /* table mode: attached export (img_file is ours) */
	struct vp_stats *stats;
	unsigned char *in;      /* IN_BUF bytes; unparsed input is in[in_head, in_tail) */
	uint32_t in_head, in_tail;
	enum rx_target rx_to;   /* where the pending receive goes */
	bool rx_header_only;    /* after a large WRITE, the next header is received
				 * alone: the data that likely follows it then goes
				 * straight to its place, not through in[] */
	struct nbd_slot *rx_slot;  /* WRITE whose data is being received */
	uint32_t pay_got;       /* bytes of rx_slot's data received */
	struct nbd_slot *wait_slot; /* parsed request waiting for buffer memory */
	size_t mem;             /* bytes of slot buffers allocated */
	uint64_t unsent;        /* READ data admitted, not yet sent (limits.unsent_max) */
	struct nbd_slot *free_slots, *sendq_head, *sendq_tail;
	unsigned busy;          /* slots not on the free list */
	unsigned tx_batch;      /* replies in the send in flight */
	struct iovec tx_iov[TX_IOV];
	bool dirty;             /* on w->dirty: replies to flush after this batch */
	struct nbd_conn *dirty_next;
	/* splicing READ data: the slot last in the send batch, then its data */
	int mem_fd;             /* the image's fd when memory-backed, else -1 */
	int pipe[2];            /* -1 when not splicing on this connection */
	uint32_t pipe_cap;      /* bytes one splice into the pipe may take */
	struct vp_engine_op splice_op;
	struct nbd_slot *tx_splice; /* its header is in (or went out with) the send batch */
	bool splicing;          /* the pending send is splice_op */
	uint32_t splice_left, pipe_fill;
	uint64_t splice_off;
	struct nbd_slot slots[CONN_SLOTS];
};

/* CLOCK_MONOTONIC in ns (request latency for the stats). */
static inline uint64_t vp_nbd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t vp_nbd_now_ms(void)
{
	return vp_nbd_now_ns() / 1000000U;
}

/* ---- conn.c ---- */

/* Take the accepted socket fd (always consumed, and already counted in
 * w->shared->conns: the count goes with it) as a new connection of w and
 * start its handshake; refused with an event when out of resources. */
void vp_nbd_conn_new(struct vp_nbd_worker *w, int fd);

/* Stop all I/O on c: pending socket operations are cancelled, disk
 * operations finish on their own, and c is freed when the last completes. */
void vp_nbd_conn_drop(struct nbd_conn *c, const char *why);

/* Run after every event on c, as the last use of c. */
void vp_nbd_conn_settle(struct nbd_conn *c);

/* Stop taking requests on c; those already received finish and are
 * answered, then c closes. */
void vp_nbd_conn_drain(struct nbd_conn *c);

/* Whether c's export was removed from the table; the first time it
 * notices (in rx or in on_kick, whichever runs first), log the drain. */
bool vp_nbd_conn_export_gone(struct nbd_conn *c);

/* Receive exactly len bytes into buf, then call then(c) (handshake). */
void vp_nbd_conn_recv(struct nbd_conn *c, void *buf, uint32_t len,
		      void (*then)(struct nbd_conn *));

/* Send all of iov[0..cnt) (the array is consumed), then call then(c). */
void vp_nbd_conn_sendv(struct nbd_conn *c, struct iovec *iov, int cnt,
		       void (*then)(struct nbd_conn *));

/* Return the busy slot s to c's free list. */
void vp_nbd_slot_put(struct nbd_conn *c, struct nbd_slot *s);

/* Make s->buf hold at least len bytes (aligned for O_DIRECT) within the
 * connection's budget and the daemon's (limits.mem_max over all workers):
 * an idle slot's big enough buffer is swapped in, else idle slots' buffers
 * are freed as needed to allocate one (registered with the ring for an
 * O_DIRECT image, when the table has room).  A READ also waits while the
 * connection has limits.unsent_max of READ data admitted and not yet sent
 * (a client that does not read its replies stops being read).  Returns 0,
 * -EAGAIN when it must wait (retried when a slot is released, and on every
 * tick for the daemon's memory), or -ENOMEM.  Steady state allocates
 * nothing. */
int vp_nbd_slot_reserve(struct nbd_conn *c, struct nbd_slot *s, size_t len);

/* ---- negotiate.c ---- */

/* Send the new connection c's greeting and run the handshake; on GO, c
 * enters transmission (rx.c takes over its input). */
void vp_nbd_negotiate_start(struct nbd_conn *c);

/* ---- rx.c ---- */

/* Consume the input: WRITE data, then as many request headers as are
 * complete, while slots and memory last; post a receive when it runs out.
 * Runs after each receive and whenever slots are released. */
void vp_nbd_rx_process(struct nbd_conn *c);

/* Completion of a transmission connection's recv_op. */
void vp_nbd_rx_on_recv(struct vp_engine_op *op, int res);

/* ---- exec.c ---- */

/* Run the received request s on the image (or reply at once when it was
 * refused or has nothing to do); its reply is queued when it completes. */
void vp_nbd_slot_exec(struct nbd_slot *s);

/* Completion of a slot's CACHE fadvise (op of struct nbd_slot). */
void vp_nbd_exec_on_disk(struct vp_engine_op *op, int res);

/* ---- tx.c ---- */

/* Encode the reply for s and queue it for sending. */
void vp_nbd_slot_reply(struct nbd_slot *s);

/* Reply to s with the NBD error for errno err. */
void vp_nbd_slot_fail(struct nbd_slot *s, int err);

/* Send the queued replies (as many as TX_IOV holds) in one sendmsg.  A
 * spliced READ ends the batch: its data must follow its header at once. */
void vp_nbd_tx_flush(struct nbd_conn *c);

/* Completion of a transmission connection's splice_op (READ data). */
void vp_nbd_tx_on_splice(struct vp_engine_op *op, int res);

#endif
