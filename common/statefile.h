/* statefile.h - crash-safe whole-file state.
 *
 * A write goes to a temp file in the same directory, is fsync'd, renamed over
 * the target, and the directory is fsync'd: after a crash the file holds
 * either the old or the new contents, never a mix, and a successful return
 * means the new contents are durable.
 */
#ifndef VP_COMMON_STATEFILE_H
#define VP_COMMON_STATEFILE_H

#include <stddef.h>

#include "common/error.h"

/* Replace path's contents with buf[0..len).  mode applies to a new file. */
int vp_statefile_write(const char *path, const void *buf, size_t len, unsigned mode,
		       struct vp_error *err) VP_MUST_CHECK;

/* Read a whole file into a NUL-terminated malloc'd buffer (caller frees).
 * Returns -ENOENT (without touching err) when the file does not exist. */
int vp_statefile_read(const char *path, char **buf, size_t *len,
		      struct vp_error *err) VP_MUST_CHECK;

/* mkdir -p with mode for each missing component. */
int vp_mkdir_p(const char *path, unsigned mode, struct vp_error *err) VP_MUST_CHECK;

#endif
