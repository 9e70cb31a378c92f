/* image.c - open/create/resize raw images and block devices; allocation map
 * through SEEK_DATA/SEEK_HOLE. */
#include "vblk/image.h"
#include "vblk/image_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

/* Alignment used for O_DIRECT on regular files: the page size covers every
 * logical block size in use and is what slot buffers are aligned to. */
#define IMAGE_DIRECT_ALIGN 4096U

static int blockdev_geometry(struct vp_image *img, const char *path, struct vp_error *err)
{
	int lbs = 512;

	if (ioctl(img->fd, BLKGETSIZE64, &img->size) < 0)
		return vp_error_set(err, errno, "%s: BLKGETSIZE64", path);
	if (img->direct && ioctl(img->fd, BLKSSZGET, &lbs) < 0)
		return vp_error_set(err, errno, "%s: BLKSSZGET", path);
	img->min_block = img->direct ? (uint32_t)lbs : 1;
	return 0;
}

bool vp_fd_memory_backed(int fd)
{
	struct statfs sfs;
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fstatfs(fd, &sfs) == 0 &&
	       (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

void vp_image_wb_fail(const struct vp_image *img, int res)
{
	int none = 0;

	__atomic_compare_exchange_n(&img->file->wb_err, &none, -res, false,
				    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

int vp_image_sync(const struct vp_image *img)
{
	if (img->readonly)
		return 0;
	if (fdatasync(img->fd) < 0) {
		int ret = -errno;

		vp_image_wb_fail(img, ret);
		return ret;
	}
	return vp_image_wb_error(img);
}

int vp_image_open_at(const struct vp_image_root *root, const char *path, unsigned flags,
		     struct vp_image **out, struct vp_error *err)
{
	int oflags = O_CLOEXEC | ((flags & VP_IMAGE_READONLY) ? O_RDONLY : O_RDWR);
	struct vp_image *img;
	struct stat st;
	int ret;

	*out = NULL;
	if (flags & VP_IMAGE_DIRECT)
		oflags |= O_DIRECT;
	img = calloc(1, sizeof(*img));
	if (!img)
		return vp_error_set(err, ENOMEM, "image %s", path);
	img->readonly = flags & VP_IMAGE_READONLY;
	img->direct = flags & VP_IMAGE_DIRECT;
	img->fd = vp_image_path_open(root, path, oflags, &st, err);
	if (img->fd < 0) {
		ret = img->fd;
		if (img->direct)
			vp_error_prefix(err, "cache=none (O_DIRECT)");
		goto fail;
	}
	img->file = vp_image_file_get(&st);
	if (!img->file) {
		ret = vp_error_set(err, ENOMEM, "image %s", path);
		goto fail;
	}
	if (!img->readonly && flock(img->fd, LOCK_SH) < 0) {
		ret = vp_error_set(err, errno, "lock image %s", path);
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		img->blockdev = true;
		ret = blockdev_geometry(img, path, err);
		if (ret)
			goto fail;
	} else { /* a regular file (vp_image_path_open refused anything else) */
		img->size = (uint64_t)st.st_size;
		img->min_block = img->direct ? IMAGE_DIRECT_ALIGN : 1;
	}
	if (img->size % img->min_block) {
		ret = vp_error_set(err, EINVAL, "image %s: size %llu is not a multiple of %u (cache=none)",
				   path, (unsigned long long)img->size, img->min_block);
		goto fail;
	}
	*out = img;
	return 0;
fail:
	vp_image_close(img);
	return ret;
}

int vp_image_open(const char *path, unsigned flags, struct vp_image **out, struct vp_error *err)
{
	return vp_image_open_at(NULL, path, flags, out, err);
}

int vp_image_claim_at(const struct vp_image_root *root, const char *path, unsigned timeout_ms,
		      struct vp_error *err)
{
	const struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	struct stat st;
	int fd = vp_image_path_open(root, path, O_RDONLY, &st, err);
	unsigned waited = 0;

	if (fd < 0)
		return fd;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || waited >= timeout_ms) {
			int e = errno == EWOULDBLOCK ? EBUSY : errno;

			close(fd);
			return vp_error_set(err, e, "image %s is in use by another process", path);
		}
		nanosleep(&pause, NULL);
		waited += 10;
	}
	close(fd);   /* releases the probe lock */
	return 0;
}

int vp_image_claim(const char *path, unsigned timeout_ms, struct vp_error *err)
{
	return vp_image_claim_at(NULL, path, timeout_ms, err);
}

void vp_image_close(struct vp_image *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	vp_image_file_put(img->file);
	free(img);
}

int vp_image_create(const char *path, uint64_t size, struct vp_error *err)
{
	return vp_image_path_create(NULL, path, size, false, err);
}

int vp_image_resize(struct vp_image *img, uint64_t size, struct vp_error *err)
{
	if (img->blockdev)
		return vp_error_set(err, ENOTSUP, "resize: image is a block device");
	if (img->readonly)
		return vp_error_set(err, EROFS, "resize: image is read-only");
	if (size > INT64_MAX || size % img->min_block)
		return vp_error_set(err, EINVAL, "resize: size %llu must be a multiple of %u",
				    (unsigned long long)size, img->min_block);
	if (ftruncate(img->fd, (off_t)size) < 0)
		return vp_error_set(err, errno, "resize image to %llu", (unsigned long long)size);
	img->size = size;
	return 0;
}

int vp_image_extent(const struct vp_image *img, uint64_t offset, uint64_t max_len,
		    uint64_t *len, bool *hole)
{
	uint64_t end = img->size - offset < max_len ? img->size : offset + max_len;
	off_t data, next;

	if (offset >= img->size || max_len == 0)
		return -EINVAL;
	*hole = false;
	*len = end - offset;
	if (img->blockdev)
		return 0;
	data = lseek(img->fd, (off_t)offset, SEEK_DATA);
	if (data < 0 && errno == ENXIO) { /* a hole up to EOF */
		*hole = true;
		return 0;
	}
	if (data < 0)
		return errno == EINVAL ? 0 : -errno; /* EINVAL: no SEEK_DATA here */
	if ((uint64_t)data > offset) {
		*hole = true;
		if ((uint64_t)data < end)
			*len = (uint64_t)data - offset;
		return 0;
	}
	next = lseek(img->fd, (off_t)offset, SEEK_HOLE);
	if (next < 0)
		return -errno;
	if ((uint64_t)next < end)
		*len = (uint64_t)next - offset;
	return 0;
}
