/* image_file.c - the process-wide registry of open image files
 * (image_file.h): a list under a mutex, looked up at open and close only. */
#include "vblk/image_file.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vp_image_file *files; /* the daemon opens a handful of images */

/* A block device's page cache belongs to the device, not to the node it
 * was opened through (two nodes, one device): identify it by st_rdev. */
static void file_identity(const struct stat *st, dev_t *dev, ino_t *ino, bool *blockdev)
{
	*blockdev = S_ISBLK(st->st_mode);
	*dev = *blockdev ? st->st_rdev : st->st_dev;
	*ino = *blockdev ? 0 : st->st_ino;
}

struct vp_image_file *vp_image_file_get(const struct stat *st)
{
	struct vp_image_file *f;
	bool blockdev;
	dev_t dev;
	ino_t ino;

	file_identity(st, &dev, &ino, &blockdev);
	pthread_mutex_lock(&files_lock);
	for (f = files; f; f = f->next)
		if (f->dev == dev && f->ino == ino && f->blockdev == blockdev)
			break;
	if (!f && (f = calloc(1, sizeof(*f)))) {
		f->dev = dev;
		f->ino = ino;
		f->blockdev = blockdev;
		f->next = files;
		files = f;
	}
	if (f)
		f->refs++;
	pthread_mutex_unlock(&files_lock);
	return f;
}

void vp_image_file_put(struct vp_image_file *f)
{
	struct vp_image_file **p;

	if (!f)
		return;
	pthread_mutex_lock(&files_lock);
	if (--f->refs == 0) {
		for (p = &files; *p != f; p = &(*p)->next)
			;
		*p = f->next;
		free(f);
	}
	pthread_mutex_unlock(&files_lock);
}
