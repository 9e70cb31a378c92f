/* image_path.h - how vblkd turns an image path it was given (a control
 * request, the command line, the config) into an open file, so that a
 * client of the control socket cannot make it serve /etc/shadow, truncate
 * through a symlink or hang on a FIFO:
 *
 *   - with an image root (--image-root DIR), the path must name something
 *     beneath DIR and is resolved with openat2(RESOLVE_BENEATH |
 *     RESOLVE_NO_SYMLINKS) from DIR's fd: no "..", no symlink anywhere;
 *   - without one, only the last component is checked (O_NOFOLLOW);
 *   - the open never blocks (O_NONBLOCK, cleared afterwards), and only a
 *     regular file or a block device is accepted (fstat).
 */
#ifndef VP_VBLK_IMAGE_PATH_H
#define VP_VBLK_IMAGE_PATH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/error.h"

struct vp_image_root {
	int dirfd;           /* O_PATH | O_DIRECTORY */
	char *path;          /* as given, without trailing slashes ("" for "/") */
	char *real;          /* its realpath(3); paths may start with either */
};

/* Open the image root dir (an absolute path to a directory).  *out is set
 * on success (free with vp_image_root_free), NULL on failure. */
int vp_image_root_open(const char *dir, struct vp_image_root **out,
		       struct vp_error *err) VP_MUST_CHECK;

/* NULL is accepted. */
void vp_image_root_free(struct vp_image_root *root);

/* Open the image at path with open(2) flags oflags (O_RDONLY or O_RDWR,
 * maybe O_DIRECT; O_CLOEXEC is added) beneath root (NULL: no root), as the
 * header comment says, and fill *st.  Returns the fd (blocking mode), or
 * -errno with err set: -EACCES outside the root, -ELOOP for a symlink,
 * -EISDIR for a directory, -EINVAL for another non-image file. */
int vp_image_path_open(const struct vp_image_root *root, const char *path, int oflags,
		       struct stat *st, struct vp_error *err) VP_MUST_CHECK;

/* Create a new raw image of size bytes at path (mode 0600, O_EXCL: never
 * through a symlink), beneath root when set; sparse unless preallocate,
 * and fsynced.  -EEXIST when something is at path; on failure nothing is
 * left behind. */
int vp_image_path_create(const struct vp_image_root *root, const char *path, uint64_t size,
			 bool preallocate, struct vp_error *err) VP_MUST_CHECK;

#endif
