/* loop.c - loop devices over volume images (loop.h). */
#include "csi/node/loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* LOOP_CTL_GET_FREE then LOOP_CONFIGURE races other attachers: a device
 * taken in between answers EBUSY and the next free one is tried. */
#define GET_FREE_TRIES 16

static void loop_name(struct vp_loop *l, int index)
{
	l->index = index;
	snprintf(l->dev, sizeof(l->dev), "/dev/loop%d", index);
}

static int open_loop(int index, int flags, struct vp_error *err)
{
	char dev[VP_LOOP_DEV_SIZE];
	int fd;

	snprintf(dev, sizeof(dev), "/dev/loop%d", index);
	fd = open(dev, flags | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "open %s", dev);
	return fd;
}

static int configure(int loop_fd, int image_fd, bool readonly, bool autoclear, bool dio)
{
	struct loop_config cfg = { .fd = (unsigned)image_fd };

	cfg.info.lo_flags = (readonly ? LO_FLAGS_READ_ONLY : 0) |
			    (autoclear ? LO_FLAGS_AUTOCLEAR : 0) | (dio ? LO_FLAGS_DIRECT_IO : 0);
	return ioctl(loop_fd, LOOP_CONFIGURE, &cfg) < 0 ? -errno : 0;
}

/* Configure a free device over image_fd: its index, or -errno. */
static int attach_free(int ctl, int image_fd, bool readonly, bool autoclear, bool *dio,
		       struct vp_error *err)
{
	for (int tries = 0; tries < GET_FREE_TRIES; tries++) {
		int index = ioctl(ctl, LOOP_CTL_GET_FREE), fd, ret;

		if (index < 0)
			return vp_error_set(err, errno, "LOOP_CTL_GET_FREE");
		fd = open_loop(index, O_RDWR, err);
		if (fd < 0)
			return fd;
		*dio = true;
		ret = configure(fd, image_fd, readonly, autoclear, true);
		if (ret == -EINVAL) {
			/* The backing filesystem cannot do O_DIRECT. */
			*dio = false;
			ret = configure(fd, image_fd, readonly, autoclear, false);
		}
		close(fd);
		if (!ret)
			return index;
		if (ret != -EBUSY)
			return vp_error_set(err, -ret, "LOOP_CONFIGURE /dev/loop%d", index);
	}
	return vp_error_set(err, EBUSY, "no free loop device after %d tries", GET_FREE_TRIES);
}

int vp_loop_attach(const char *image, bool readonly, bool autoclear, struct vp_loop *out,
		   struct vp_error *err)
{
	int image_fd, ctl, index;

	image_fd = open(image, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (image_fd < 0)
		return vp_error_set(err, errno, "open %s", image);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		index = vp_error_set(err, errno, "open /dev/loop-control");
	} else {
		index = attach_free(ctl, image_fd, readonly, autoclear, &out->direct_io, err);
		close(ctl);
	}
	close(image_fd);
	if (index < 0)
		return index;
	loop_name(out, index);
	return 0;
}

int vp_loop_detach(int index, struct vp_error *err)
{
	int fd = open_loop(index, O_RDONLY, NULL), ret = 0;

	if (fd == -ENOENT || fd == -ENXIO)
		return 0;
	if (fd < 0)
		return vp_error_set(err, -fd, "open /dev/loop%d", index);
	if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
		ret = vp_error_set(err, errno, "LOOP_CLR_FD /dev/loop%d", index);
	close(fd);
	return ret;
}

/* Whether /dev/loop<index> is backed by the file st describes.  The kernel
 * reports the backing device in the kernel's 32-bit dev_t encoding. */
static bool backed_by(int index, const struct stat *st, bool *dio)
{
	struct loop_info64 info;
	int fd = open_loop(index, O_RDONLY, NULL);
	bool same = false;

	if (fd < 0)
		return false;
	if (ioctl(fd, LOOP_GET_STATUS64, &info) == 0) {
		unsigned maj = (unsigned)((info.lo_device & 0xfff00) >> 8);
		unsigned min = (unsigned)((info.lo_device & 0xff) | ((info.lo_device >> 12) & 0xfff00));

		same = info.lo_inode == st->st_ino && maj == major(st->st_dev) &&
		       min == minor(st->st_dev);
		*dio = info.lo_flags & LO_FLAGS_DIRECT_IO;
	}
	close(fd);
	return same;
}

/* A one-line sysfs attribute, without its newline: 0, or -ENOENT (a loop
 * device's loop/ attributes exist only while it is attached). */
static int read_sysfs_line(const char *path, char *buf, size_t size)
{
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		return -ENOENT;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	while (n && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return 0;
}

static int backing_file(int index, char *buf, size_t size)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", index);
	return read_sysfs_line(path, buf, size);
}

int vp_loop_backing_of(dev_t dev, char *buf, size_t size)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/loop/backing_file", major(dev),
		 minor(dev));
	return read_sysfs_line(path, buf, size);
}

/* Whether /dev/loop<index> is on its way out: LOOP_CLR_FD on a device that
 * something else (udev, blkid, a scan) still holds open only sets autoclear,
 * and the kernel detaches it at the last close.  Such a device must not be
 * taken for a volume's again: it would vanish under the new stage. */
static bool detach_pending(int index)
{
	char path[96], flag[8];

	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/autoclear", index);
	return !read_sysfs_line(path, flag, sizeof(flag)) && !strcmp(flag, "1");
}

/* Whether /dev/loop<index> is backed by image: by device and inode when
 * image exists (st), else by the name the kernel keeps for a backing file
 * removed while attached, "<path> (deleted)" (then image must be the
 * path without symlinks, as the pool's are). */
static bool matches(int index, const char *image, const struct stat *st, bool *dio)
{
	char shown[PATH_MAX + 16], deleted[PATH_MAX + 16];

	if (backing_file(index, shown, sizeof(shown)) || detach_pending(index))
		return false;
	if (st)
		return backed_by(index, st, dio);
	snprintf(deleted, sizeof(deleted), "%s (deleted)", image);
	*dio = false;
	return !strcmp(shown, deleted);
}

int vp_loop_find(const char *image, struct vp_loop *out, struct vp_error *err)
{
	struct stat st;
	struct dirent *de;
	bool exists = true;
	DIR *d;
	int ret = -ENOENT;

	if (stat(image, &st) < 0) {
		if (errno != ENOENT)
			return vp_error_set(err, errno, "stat %s", image);
		exists = false;
	}
	d = opendir("/sys/block");
	if (!d)
		return vp_error_set(err, errno, "opendir /sys/block");
	while (ret == -ENOENT && (de = readdir(d))) {
		char *end;
		long index;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		index = strtol(de->d_name + 4, &end, 10);
		if (end == de->d_name + 4 || *end || index < 0 || index > 1 << 20)
			continue;
		if (matches((int)index, image, exists ? &st : NULL, &out->direct_io)) {
			loop_name(out, (int)index);
			ret = 0;
		}
	}
	closedir(d);
	return ret;
}

int vp_loop_refresh_size(int index, struct vp_error *err)
{
	int fd = open_loop(index, O_RDONLY, err), ret = 0;

	if (fd < 0)
		return fd;
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
		ret = vp_error_set(err, errno, "LOOP_SET_CAPACITY /dev/loop%d", index);
	close(fd);
	return ret;
}
