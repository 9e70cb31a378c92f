/* fs.h - what a device holds (libblkid) and making a filesystem on a blank
 * one (mkfs.ext4 / mkfs.xfs, found on PATH).
 */
#ifndef VP_CSI_NODE_FS_H
#define VP_CSI_NODE_FS_H

#include <stddef.h>

#include "common/error.h"

#define VP_FS_TYPE_SIZE 64

/* Probe dev for a filesystem, RAID member, partition table or any other
 * signature libblkid knows: 0 with "" in type when it holds none, 0 with
 * what it holds in type ("ext4", "partition table dos", "ambiguous"
 * signatures), or -errno with err set when it cannot be read: an unreadable
 * probe is never taken for a blank device. */
int vp_fs_probe(const char *dev, char type[VP_FS_TYPE_SIZE], struct vp_error *err) VP_MUST_CHECK;

/* Make an fstype ("ext4" or "xfs") filesystem on dev, which the caller has
 * probed blank: 0, or -errno with err set (a failed mkfs names its exit
 * status). */
int vp_fs_make(const char *dev, const char *fstype, struct vp_error *err) VP_MUST_CHECK;

/* Grow the fstype filesystem on dev, mounted at mountpoint, to the
 * device's size (resize2fs for ext4, xfs_growfs for xfs; both online). */
int vp_fs_grow(const char *dev, const char *fstype, const char *mountpoint,
	       struct vp_error *err) VP_MUST_CHECK;

#endif
