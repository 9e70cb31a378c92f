/* image_file.h - what every handle of one image file in the process shares:
 * the sticky writeback error.
 *
 * Each frontend opens its own handle (struct vp_image) of an export's image:
 * the NBD export table one, replaced by a resize; each vhost-user server and
 * ublk device its own, with a lifetime of its own (a vhost-user server can be
 * added and removed at run time).  Rather than tie those lifetimes to the
 * NBD table's handle, every handle holds a reference on the one record of its
 * file, found at open by identity: the same file through any path or link
 * shares the record.  The record goes with the last handle, so reopening the
 * image (all handles closed) starts without an error.  Only open and close
 * take the registry's lock; a request reads the error with one atomic load.
 */
#ifndef VP_VBLK_IMAGE_FILE_H
#define VP_VBLK_IMAGE_FILE_H

#include <stdbool.h>
#include <sys/stat.h>

struct vp_image_file {
	/* errno of the first failed fdatasync or FUA write through any
	 * handle of the file, 0 while there was none; atomic, any thread. */
	int wb_err;
	/* The rest: under the registry's lock. */
	dev_t dev;          /* st_dev; for a block device its st_rdev */
	ino_t ino;          /* st_ino; 0 for a block device */
	bool blockdev;
	unsigned refs;
	struct vp_image_file *next;
};

/* The record of the file st describes (from fstat of an open fd), with a
 * new reference; NULL when out of memory. */
struct vp_image_file *vp_image_file_get(const struct stat *st);

/* Drop a reference from vp_image_file_get; the last frees it.  NULL is
 * accepted. */
void vp_image_file_put(struct vp_image_file *f);

#endif
