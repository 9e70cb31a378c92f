/* image_path.c - image paths resolved beneath an optional root, opened
 * without blocking, regular files and block devices only (image_path.h).
 */
#include "vblk/image_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BENEATH (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

int vp_image_root_open(const char *dir, struct vp_image_root **out, struct vp_error *err)
{
	struct vp_image_root *root;
	size_t n = strlen(dir);

	*out = NULL;
	if (dir[0] != '/')
		return vp_error_set(err, EINVAL, "image root '%s': not an absolute path", dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	root = calloc(1, sizeof(*root));
	if (!root)
		return vp_error_set(err, ENOMEM, "image root %s", dir);
	root->dirfd = -1;
	if (!(root->path = strndup(dir, n == 1 ? 0 : n)))
		goto nomem;
	root->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root->dirfd < 0) {
		int e = errno;

		vp_image_root_free(root);
		return vp_error_set(err, e, "image root %s", dir);
	}
	root->real = realpath(dir, NULL);
	if (!root->real)
		goto nomem;
	if (strcmp(root->real, "/") == 0)
		root->real[0] = 0;
	*out = root;
	return 0;
nomem:
	vp_image_root_free(root);
	return vp_error_set(err, ENOMEM, "image root %s", dir);
}

void vp_image_root_free(struct vp_image_root *root)
{
	if (!root)
		return;
	if (root->dirfd >= 0)
		close(root->dirfd);
	free(root->path);
	free(root->real);
	free(root);
}

/* path relative to prefix (no leading slashes; "" for prefix itself), or
 * NULL when path does not start with prefix as whole components. */
static const char *strip_prefix(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) || (path[n] != '/' && path[n] != 0))
		return NULL;
	while (path[n] == '/')
		n++;
	return path + n;
}

/* path relative to root's dir, or NULL with -EACCES in err. */
static const char *beneath(const struct vp_image_root *root, const char *path,
			   struct vp_error *err)
{
	const char *rel = strip_prefix(root->path, path);

	if (!rel)
		rel = strip_prefix(root->real, path);
	if (!rel || !*rel)
		vp_error_code(err, 0, EACCES, "image %s: not beneath the image root %s/", path,
			      root->path);
	return rel && *rel ? rel : NULL;
}

static int openat2_beneath(int dirfd, const char *rel, int oflags, mode_t mode)
{
	struct open_how how = { .flags = (uint64_t)oflags, .mode = oflags & O_CREAT ? mode : 0,
				.resolve = BENEATH };
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* The error of a failed open of path (-e), with what it means here. */
static int open_error(const struct vp_image_root *root, const char *path, int e,
		      struct vp_error *err)
{
	if (root && e == EXDEV)
		return vp_error_code(err, 0, EACCES, "image %s: leaves the image root %s/", path,
				     root->path);
	if (e == ELOOP)
		return vp_error_code(err, 0, ELOOP, "image %s: a symbolic link %s; give the real path",
				     path, root ? "in the path (refused beneath the image root)" :
						  "(refused)");
	if (root && e == ENOSYS)
		return vp_error_set(err, e, "image %s: openat2 (Linux 5.6) is needed for the image "
				    "root", path);
	return vp_error_set(err, e, "open image %s", path);
}

/* Refuse what fd (of path) must not be, and put it back in blocking mode. */
static int check_image(int fd, const char *path, struct stat *st, struct vp_error *err)
{
	int fl;

	if (fstat(fd, st) < 0)
		return vp_error_set(err, errno, "stat image %s", path);
	if (S_ISDIR(st->st_mode))
		return vp_error_set(err, EISDIR, "image %s", path);
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return vp_error_code(err, 0, EINVAL, "image %s: not a regular file or block device",
				     path);
	/* io_uring would answer -EAGAIN for a non-blocking file rather than
	 * wait for the page cache. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return vp_error_set(err, errno, "image %s: clear O_NONBLOCK", path);
	return 0;
}

int vp_image_path_open(const struct vp_image_root *root, const char *path, int oflags,
		       struct stat *st, struct vp_error *err)
{
	const char *rel = root ? beneath(root, path, err) : path;
	int fd, ret;

	if (!rel)
		return -EACCES;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY:
	 * never become a terminal's session (refused anyway, after open). */
	oflags |= O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW;
	fd = root ? openat2_beneath(root->dirfd, rel, oflags, 0) : open(path, oflags);
	if (fd < 0)
		return open_error(root, path, root ? -fd : errno, err);
	ret = check_image(fd, path, st, err);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* The directory that will hold path's new file, as an O_PATH fd (*own:
 * close it), and the file's name in it (points into path). */
static int parent_dir(const struct vp_image_root *root, const char *path, int *dirfd, bool *own,
		      const char **name, struct vp_error *err)
{
	const char *rel = root ? beneath(root, path, err) : path, *slash;
	char dir[PATH_MAX];
	int fd;

	if (!rel)
		return -EACCES;
	slash = strrchr(rel, '/');
	*name = slash ? slash + 1 : rel;
	if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		return vp_error_code(err, 0, EINVAL, "create image %s: no file name", path);
	*own = slash || !root;
	if (!*own) {
		*dirfd = root->dirfd;
		return 0;
	}
	if (!slash)
		strcpy(dir, ".");
	else if (slash == rel)
		strcpy(dir, "/"); /* "/x" without a root */
	else if ((size_t)(slash - rel) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - rel), rel);
	else
		return vp_error_set(err, ENAMETOOLONG, "create image %s", path);
	fd = root ? openat2_beneath(root->dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0) :
		    open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return open_error(root, path, root ? -fd : errno, err);
	*dirfd = fd;
	return 0;
}

/* Give new file fd its size (allocated when preallocate) and sync it. */
static int size_new(int fd, const char *path, uint64_t size, bool preallocate,
		    struct vp_error *err)
{
	int e;

	if (ftruncate(fd, (off_t)size) < 0)
		return vp_error_set(err, errno, "create image %s: set size", path);
	e = preallocate ? posix_fallocate(fd, 0, (off_t)size) : 0;
	if (e)
		return vp_error_set(err, e, "create image %s: preallocate %llu bytes", path,
				    (unsigned long long)size);
	return fsync(fd) < 0 ? vp_error_set(err, errno, "create image %s: fsync", path) : 0;
}

int vp_image_path_create(const struct vp_image_root *root, const char *path, uint64_t size,
			 bool preallocate, struct vp_error *err)
{
	const char *name;
	int dirfd, fd, ret;
	bool own;

	if (size > INT64_MAX)
		return vp_error_set(err, EFBIG, "create image %s: size too large", path);
	ret = parent_dir(root, path, &dirfd, &own, &name, err);
	if (ret)
		return ret;
	/* The parent is pinned by dirfd: the name is created there, and
	 * removed from there on failure, whatever else renames meanwhile. */
	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
		    0600);
	if (fd < 0) {
		ret = vp_error_set(err, errno, "create image %s", path);
	} else {
		ret = size_new(fd, path, size, preallocate, err);
		if (ret)
			unlinkat(dirfd, name, 0);
		close(fd);
	}
	if (own)
		close(dirfd);
	return ret;
}
