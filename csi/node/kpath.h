/* kpath.h - staging and target paths, which must lie under the kubelet
 * directory and are opened from it with openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS: a request can name nothing outside it, through ".."
 * or a symlink, and a path swapped for a symlink meanwhile is refused.
 */
#ifndef VP_CSI_NODE_KPATH_H
#define VP_CSI_NODE_KPATH_H

#include <limits.h>

#include "common/error.h"

/* Open path, absolute and strictly under kubelet_dir, with open flags
 * (O_CLOEXEC is added): an fd, or -errno with err set (-EINVAL when path
 * is not under kubelet_dir, -ENOENT when it does not exist). */
int vp_kpath_open(const char *kubelet_dir, const char *path, int flags,
		  struct vp_error *err) VP_MUST_CHECK;

/* Open path's parent directory the same way (O_PATH): an fd, with path's
 * last component in leaf. */
int vp_kpath_open_parent(const char *kubelet_dir, const char *path, char leaf[NAME_MAX + 1],
			 struct vp_error *err) VP_MUST_CHECK;

/* "/proc/self/fd/<fd>", the name mount(2) and umount2(2) take for what fd
 * refers to, so they act on the file opened, not on a path looked up again. */
#define VP_KPATH_PROC_SIZE 32
void vp_kpath_proc(char buf[VP_KPATH_PROC_SIZE], int fd);

#endif
