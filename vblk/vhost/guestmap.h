/* guestmap.h - mappings of memory a vhost-user front end hands us by fd
 * (guest memory regions, the inflight region): the fd is checked before it
 * is mapped, and the mapping survives the front end shrinking the file
 * afterwards.
 *
 * Why a SIGBUS guard and not "F_SEAL_SHRINK required": QEMU seals
 * memory-backend-memfd (seal=on by default: F_SEAL_GROW | F_SEAL_SHRINK |
 * F_SEAL_SEAL, as QEMU 7.2 on Debian 12 does), but memory-backend-file on
 * /dev/shm or hugetlbfs, the set-up most vhost-user guides use, cannot be
 * sealed, so requiring seals
 * would refuse ordinary guests.  And a sigsetjmp guard would have to wrap
 * every read and write of guest memory (descriptors, the used ring, the
 * request header and status byte, the inflight records), jumping out of
 * code that keeps state across those accesses.  Instead every mapping is
 * registered here, and a SIGBUS inside one replaces the whole mapping with
 * anonymous zero pages (mmap MAP_FIXED from the handler); the faulting
 * access is retried on them and succeeds.  The owner is then told (an
 * atomic flag and an eventfd write, both async-signal-safe) and drops the
 * front end.  Zeroes where guest memory was are no worse than what a guest
 * can write itself: every value read from guest memory is checked anyway.
 * I/O the kernel does on guest pages (io_uring readv/writev) gets EFAULT,
 * not a signal.  A SIGBUS anywhere else gets the previous disposition.
 */
#ifndef VP_VBLK_VHOST_GUESTMAP_H
#define VP_VBLK_VHOST_GUESTMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define VP_GUESTMAP_MAX 4096   /* live mappings in the process (64 servers x 33) */

/* Who is told when a mapping's file shrank under it: *flag is set to 1
 * and 1 is added to the eventfd efd (either may be absent: NULL, -1). */
struct vp_guestmap_sink {
	int *flag;
	int efd;
};

struct vp_guestmap {
	void *addr;                 /* NULL when not mapped */
	size_t len;
	int slot;                   /* registration, -1 when none */
};

/* Map bytes [offset, offset+len) of fd read-write shared.  fd must be a
 * regular file on tmpfs or hugetlbfs (memfds are) holding the whole range
 * (fstat; overflow-safe); offset must be page-aligned.  Installs the SIGBUS handler on first use.  Returns 0,
 * or -EINVAL (not a regular file in memory, range outside it, len 0), -ENOSPC
 * (too many mappings), -errno from fstat/mmap; nothing is left mapped on
 * failure.  `what` names the mapping in err. */
VP_MUST_CHECK int vp_guestmap_open(struct vp_guestmap *m, int fd, uint64_t offset, uint64_t len,
				   const struct vp_guestmap_sink *sink, const char *what,
				   struct vp_error *err);

/* Unregister and unmap (no-op when not mapped).  Nothing may touch the
 * mapping any more. */
void vp_guestmap_close(struct vp_guestmap *m);

#endif
