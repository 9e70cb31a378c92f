/* vblkd.h - what vblk-csi asks vblkd over its control socket
 * (newline-delimited JSON, vblk/control.h).
 */
#ifndef VP_CSI_VBLKD_H
#define VP_CSI_VBLKD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define CSI_VBLKD_TIMEOUT_MS 2000  /* per request, connect to answer */
#define CSI_VBLKD_CLAIM_WAIT_MS 3000
#define CSI_VBLKD_CLAIM_STEP_MS 20

/* 0 when vblkd answers a "stats"-free no-op request on path. */
int csi_vblkd_ping(const char *path, struct vp_error *err) VP_MUST_CHECK;

/* Whether vblkd serves an export called name: 0 with *serves set, or
 * -errno when vblkd cannot be asked. */
int csi_vblkd_serves(const char *path, const char *name, bool *serves,
		     struct vp_error *err) VP_MUST_CHECK;

/* Call fn with the name of every export vblkd has: 0, or -errno when
 * vblkd cannot be asked. */
int csi_vblkd_each_export(const char *path, void (*fn)(void *ctx, const char *name), void *ctx,
			  struct vp_error *err) VP_MUST_CHECK;

/* Tell vblkd that export name's image now has size bytes: 0, -ENOENT when
 * vblkd has no such export (nothing to tell), another -errno on failure. */
int csi_vblkd_resized(const char *path, const char *name, uint64_t size,
		      struct vp_error *err) VP_MUST_CHECK;

/* Export image as name (read-only when readonly): 0, -EEXIST when vblkd
 * has an export called name already, another -errno on failure. */
int csi_vblkd_export_add(const char *path, const char *name, const char *image, bool readonly,
			 struct vp_error *err) VP_MUST_CHECK;

/* csi_vblkd_export_add, asked again for up to CSI_VBLKD_CLAIM_WAIT_MS
 * while vblkd answers EBUSY: the image's lock lingers a moment after vblkd
 * itself let go of it (the kernel closes an io_uring's files after the
 * ring is gone), as after an unstage.  0, -EEXIST, or another -errno. */
int csi_vblkd_export_claim(const char *path, const char *name, const char *image,
			   bool readonly, struct vp_error *err) VP_MUST_CHECK;

/* Remove export name, its image synced: 0 (with *synced false when the
 * final fdatasync failed, err then saying why), -ENOENT when there is no
 * such export, another -errno on failure. */
int csi_vblkd_export_remove(const char *path, const char *name, bool *synced,
			    struct vp_error *err) VP_MUST_CHECK;

/* Serve export name to one vhost-user-blk front end at a time on the unix
 * socket socket: 0, -EEXIST when the export has a server already. */
int csi_vblkd_vhost_add(const char *path, const char *name, const char *socket,
			struct vp_error *err) VP_MUST_CHECK;

/* Stop export name's vhost-user server (its socket file is removed): 0,
 * -ENOENT when it has none. */
int csi_vblkd_vhost_remove(const char *path, const char *name,
			   struct vp_error *err) VP_MUST_CHECK;

/* Export name's ublk device as vblkd's export-list shows it: 0 with *id
 * (N of /dev/ublkbN), -ENOENT when vblkd has no such export or it has no
 * ublk device, another -errno when vblkd cannot be asked. */
int csi_vblkd_ublk_find(const char *path, const char *name, uint32_t *id,
			struct vp_error *err) VP_MUST_CHECK;

/* Serve export name as a ublk device (vblkd's default queues and depth):
 * 0 with *id, -ENODEV when the kernel has no ublk, -EEXIST when the export
 * has a device already, another -errno on failure (nothing added). */
int csi_vblkd_ublk_add(const char *path, const char *name, uint32_t *id,
		       struct vp_error *err) VP_MUST_CHECK;

/* Remove export name's ublk device: 0, -ENOENT when it has none. */
int csi_vblkd_ublk_remove(const char *path, const char *name, struct vp_error *err) VP_MUST_CHECK;

#endif
