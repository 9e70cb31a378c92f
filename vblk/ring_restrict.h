/* ring_restrict.h - the io_uring operations vblkd's rings may carry.
 *
 * io_uring operations do not pass through seccomp: an OPENAT, CONNECT or
 * SOCKET submitted on a ring would bypass vblkd's syscall allowlist
 * (vblk/daemon/sandbox.c).  Every ring of vp_engine_init is therefore
 * created disabled (IORING_SETUP_R_DISABLED), limited to the data-plane
 * opcodes and register operations in ring_restrict.c, then enabled.  A
 * refused SQE completes with -EACCES; a refused io_uring_register fails
 * with -EACCES.  No personality may be registered: SQEs always run with
 * the submitting thread's (dropped) credentials.
 */
#ifndef VP_VBLK_RING_RESTRICT_H
#define VP_VBLK_RING_RESTRICT_H

#include <liburing.h>

#include "common/error.h"

/* Restrict ring, created with IORING_SETUP_R_DISABLED, and enable it.
 * 0 or -errno (the ring then stays disabled: exit it). */
int vp_ring_restrict(struct io_uring *ring) VP_MUST_CHECK;

/* The same for ublk's control ring (vblk/ublk/ctrl.h): URING_CMD only, no
 * SQE flags, no register operation.  A device added at run time
 * (ublk-add) creates its control ring inside the sandbox. */
int vp_ring_restrict_uring_cmd(struct io_uring *ring) VP_MUST_CHECK;

#endif
