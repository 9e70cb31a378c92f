/* mountinfo.h - the mount points under a directory, as /proc/self/mountinfo
 * lists them (the kernel's octal escapes of space, tab, newline and
 * backslash undone).
 */
#ifndef VP_CSI_NODE_MOUNTINFO_H
#define VP_CSI_NODE_MOUNTINFO_H

#include "common/error.h"

/* Call fn with every mount point strictly under dir (absolute, without a
 * trailing slash), in mountinfo's order (a point mounted over twice comes
 * twice): 0, or -errno with err set when mountinfo cannot be read. */
int vp_mountinfo_under(const char *dir, void (*fn)(void *ctx, const char *mountpoint),
		       void *ctx, struct vp_error *err) VP_MUST_CHECK;

#endif
