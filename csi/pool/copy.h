/* copy.h - copy an image for a snapshot, clone or restore: a reflink
 * (FICLONE, O(1) in the size) where the filesystem shares extents, else a
 * sparse-aware copy (SEEK_DATA/SEEK_HOLE + copy_file_range) that copies
 * only the allocated ranges and leaves holes as holes.
 */
#ifndef VP_CSI_POOL_COPY_H
#define VP_CSI_POOL_COPY_H

#include <stdbool.h>

#include "common/error.h"

/* Make dst (empty, opened for writing) a copy of src.  *reflinked says
 * which way it went.  dst's size is src's; the caller may grow it after. */
int vp_copy_image(int src, int dst, bool *reflinked, struct vp_error *err) VP_MUST_CHECK;

/* The sparse copy alone (the bench compares it with the reflink). */
int vp_copy_sparse(int src, int dst, struct vp_error *err) VP_MUST_CHECK;

#endif
