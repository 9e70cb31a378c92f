/* fe.h - a minimal vhost-user front end for tests: guest memory in a memfd,
 * split rings built by hand, the handshake QEMU does, and virtio-blk
 * requests.  It keeps its memfd and inflight fd across reconnects, like
 * QEMU with reconnect=1.  Test code: errors are reported as -errno with a
 * message in fe->err.
 */
#ifndef VP_TESTS_VHOST_FE_H
#define VP_TESTS_VHOST_FE_H

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vblk/vhost/proto.h"

#define FE_MAX_Q 16
#define FE_QSIZE 128
#define FE_SLOTS (FE_QSIZE / 4)       /* requests in flight per queue */
#define FE_SLOT_DATA (256U << 10)     /* data bytes per slot */
#define FE_GPA_BASE 0x40000000ULL     /* guest-physical base (differs from uva) */

struct fe_slot {
	bool busy, done;
	uint32_t used_len;
	uint64_t tag;                    /* caller's */
};

struct fe_queue {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kick, call;
	uint16_t avail_idx, last_used;
	struct fe_slot slots[FE_SLOTS];
	unsigned inflight;
	unsigned missed_calls;           /* completions seen without an interrupt */
};

struct fe {
	char err[256];
	const char *path;
	int sock, backend;               /* backend: our end of the BACKEND_REQ channel */
	int memfd;
	uint8_t *mem;
	size_t memsize;
	unsigned nregions;               /* SET_MEM_TABLE splits memory in this many */
	uint64_t features, proto;
	int inflight_fd;
	uint64_t inflight_size;
	unsigned nq;
	bool event_idx, indirect;
	struct fe_queue q[FE_MAX_Q];
	unsigned config_changes;         /* CONFIG_CHANGE_MSG received */
};

/* Guest memory and rings; nothing is connected yet. */
int fe_init(struct fe *fe, const char *path, unsigned nq);
void fe_fini(struct fe *fe);

/* Connect (retrying for up to wait_ms) and do the whole start sequence;
 * on a reconnect the inflight fd is handed back with SET_INFLIGHT_FD and
 * ring bases come from the used rings, as QEMU does after a crash. */
int fe_connect(struct fe *fe, unsigned wait_ms);
void fe_disconnect(struct fe *fe);
/* Only connect the socket (no messages). */
int fe_open(struct fe *fe, unsigned wait_ms);
/* Count CONFIG_CHANGE_MSG notices waiting on the backend channel. */
void fe_drain_backend(struct fe *fe);

/* Raw messages (for hostile tests).  fe_send: hdr.size payload bytes from
 * payload, and nfds fds.  fe_call: send and, when reply, receive it. */
int fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds);
int fe_recv(struct fe *fe, struct vp_vhost_hdr *hdr, void *payload, size_t cap);
int fe_get_u64(struct fe *fe, uint32_t req, uint64_t *v);
/* True when the daemon closed the connection (waits up to ms). */
bool fe_closed(struct fe *fe, unsigned ms);

/* Pointers into guest memory for slot s of queue q. */
uint8_t *fe_slot_data(struct fe *fe, unsigned q, unsigned s);
uint64_t fe_slot_data_gpa(unsigned q, unsigned s);

/* Queue a virtio-blk request in a free slot: header, then data (len bytes
 * of the slot's data area, device-readable for OUT/DISCARD/WRITE_ZEROES,
 * writable for IN/GET_ID), then the status byte.  segs splits the data
 * into that many descriptors; indirect uses an indirect table.  Kicks when
 * kick is true.  Returns the slot or -EBUSY. */
int fe_submit(struct fe *fe, unsigned q, uint32_t type, uint64_t sector, uint32_t len,
	      unsigned segs, bool indirect, bool kick, uint64_t tag);
void fe_kick(struct fe *fe, unsigned q);
/* After publishing requests (avail index was `old` before them): whether
 * the device wants a kick (EVENT_IDX avail_event, else VRING_USED_F_NO_NOTIFY),
 * as a guest driver decides. */
bool fe_need_kick(struct fe *fe, unsigned q, uint16_t old);
/* The slot the next fe_submit on q will use (fill its data first: the
 * device may take a request as soon as it is published), or -EBUSY. */
int fe_next_slot(struct fe *fe, unsigned q);

/* Collect completions of queue q, waiting up to ms for at least one when
 * none is ready.  Returns completions collected (>= 0), or -ECONNRESET when
 * the daemon went away. */
int fe_reap(struct fe *fe, unsigned q, unsigned ms);

/* Status byte of slot s (valid once done); releases the slot. */
uint8_t fe_status(struct fe *fe, unsigned q, unsigned s);

/* Submit one request, wait for it, return its status (or -errno). */
int fe_do(struct fe *fe, unsigned q, uint32_t type, uint64_t sector, uint32_t len, unsigned segs,
	  bool indirect, uint32_t *used_len);

/* Inflight region (mapped from the fd the daemon gave). */
void *fe_inflight_map(struct fe *fe);

#endif
