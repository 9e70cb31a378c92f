/* vblkd.h - what vblk-csi asks vblkd over its control socket
 * (newline-delimited JSON, vblk/control.h).
 */
#ifndef VP_CSI_VBLKD_H
#define VP_CSI_VBLKD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define CSI_VBLKD_TIMEOUT_MS 2000  /* per request, connect to answer */

/* 0 when vblkd answers a "stats"-free no-op request on path. */
int csi_vblkd_ping(const char *path, struct vp_error *err) VP_MUST_CHECK;

/* Whether vblkd serves an export called name: 0 with *serves set, or
 * -errno when vblkd cannot be asked. */
int csi_vblkd_serves(const char *path, const char *name, bool *serves,
		     struct vp_error *err) VP_MUST_CHECK;

/* Tell vblkd that export name's image now has size bytes: 0, -ENOENT when
 * vblkd has no such export (nothing to tell), another -errno on failure. */
int csi_vblkd_resized(const char *path, const char *name, uint64_t size,
		      struct vp_error *err) VP_MUST_CHECK;

#endif
