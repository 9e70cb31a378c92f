/* lock.h - exclusive advisory locks on a lock file (flock).
 *
 * flock locks die with their holder, so a process killed with SIGKILL never
 * leaves a stale lock behind.
 */
#ifndef VP_COMMON_LOCK_H
#define VP_COMMON_LOCK_H

#include "common/error.h"

/* Open (creating, mode 0600) and exclusively lock path, waiting for other
 * holders.  On success *fd holds the lock until vp_lock_release(). */
int vp_lock_acquire(const char *path, int *fd, struct vp_error *err) VP_MUST_CHECK;

/* Drop the lock and close fd; accepts -1. */
void vp_lock_release(int fd);

#endif
