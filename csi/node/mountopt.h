/* mountopt.h - a volume capability's mount_flags (CSI
 * VolumeCapability.MountVolume) turned into mount(2)'s arguments: the
 * well-known flags ("ro", "noexec", "noatime", ...) into MS_* bits, every
 * other flag, comma-joined, into the filesystem's option string.  Flags
 * that would change what kind of mount is made (bind, remount, move,
 * propagation), undo the driver's nosuid/nodev, or point the filesystem at
 * another device (an external journal or log) are refused.
 */
#ifndef VP_CSI_NODE_MOUNTOPT_H
#define VP_CSI_NODE_MOUNTOPT_H

#include <stddef.h>
#include <sys/mount.h>

#include "common/error.h"

#define VP_MOUNTOPT_MAX_FLAGS 32    /* flags in one capability */
#define VP_MOUNTOPT_FLAG_MAX 128    /* one flag's length */
#define VP_MOUNTOPT_DATA_SIZE 1024  /* the filesystem's options, comma-joined */

/* The bits a bind mount takes per mount point: a publish applies them by
 * remounting its bind (MS_REMOUNT | MS_BIND); the rest (sync, dirsync,
 * lazytime, the filesystem's options) belong to the filesystem, set when
 * it is staged. */
#define VP_MOUNTOPT_PER_MOUNT (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | \
			       MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)

/* Every bit vp_mountopt_parse may set. */
#define VP_MOUNTOPT_ALL (VP_MOUNTOPT_PER_MOUNT | MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME)

struct vp_mountopt {
	unsigned long flags;              /* MS_* bits */
	char data[VP_MOUNTOPT_DATA_SIZE]; /* "" when there are none */
};

/* Parse n flags into *o: 0, or -EINVAL with err naming the flag refused
 * and why.  A later flag overrides an earlier one ("ro" then "rw"; one of
 * noatime/relatime/strictatime). */
int vp_mountopt_parse(char *const *flags, size_t n, struct vp_mountopt *o,
		      struct vp_error *err) VP_MUST_CHECK;

#endif
