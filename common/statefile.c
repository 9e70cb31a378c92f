/* statefile.c - whole-file state replaced atomically and durably. */
#include "common/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding path, so a rename in it is durable. */
static int sync_parent(const char *path)
{
	char copy[PATH_MAX];
	int fd, ret = 0;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Create the file that will replace path: unnamed (O_TMPFILE) where the
 * filesystem allows, so a writer killed mid-write leaves nothing behind;
 * else a temp name unique to this process. *tmp receives the name it must
 * be linked or renamed from ("" for an unnamed file). */
static int open_replacement(const char *path, unsigned mode, char *tmp, size_t size)
{
	char dir[PATH_MAX];
	int fd;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    snprintf(tmp, size, "%s.tmp.%d", path, (int)getpid()) >= (int)size)
		return -ENAMETOOLONG;
	fd = open(dirname(dir), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd >= 0) {
		tmp[0] = '\0';
		return fd;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

/* Give the finished file fd the name path, atomically replacing it. */
static int install_replacement(int fd, const char *tmp, const char *path)
{
	char proc[64], named[PATH_MAX];

	if (tmp[0] == '\0') {
		/* linkat cannot replace an existing name: link under a temp name
		 * first, then rename over path (the window for a stray temp file
		 * is these two calls, not the whole write). */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (snprintf(named, sizeof(named), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(named))
			return -ENAMETOOLONG;
		unlink(named);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, named, AT_SYMLINK_FOLLOW) < 0)
			return -errno;
		tmp = named;
	}
	if (rename(tmp, path) < 0) {
		int ret = -errno;

		unlink(tmp);
		return ret;
	}
	return 0;
}

int vp_statefile_write(const char *path, const void *buf, size_t len, unsigned mode,
		       struct vp_error *err)
{
	char tmp[PATH_MAX];
	int fd, ret;

	fd = open_replacement(path, mode, tmp, sizeof(tmp));
	if (fd < 0)
		return vp_error_set(err, -fd, "create replacement for %s", path);
	ret = write_all(fd, buf, len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (ret == 0)
		ret = install_replacement(fd, tmp, path);
	else if (tmp[0])
		unlink(tmp);
	close(fd);
	if (ret < 0)
		return vp_error_set(err, -ret, "write %s", path);
	ret = sync_parent(path);
	if (ret < 0)
		return vp_error_set(err, -ret, "sync directory of %s", path);
	return 0;
}

int vp_statefile_read(const char *path, char **buf, size_t *len, struct vp_error *err)
{
	struct stat st;
	char *data = NULL;
	size_t size = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return vp_error_set(err, errno, "open %s", path);
	}
	if (fstat(fd, &st) < 0) {
		ret = vp_error_set(err, errno, "stat %s", path);
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		ret = vp_error_set(err, ENOMEM, "read %s", path);
		goto out;
	}
	while (size < (size_t)st.st_size) {
		ssize_t n = read(fd, data + size, (size_t)st.st_size - size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = vp_error_set(err, errno, "read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	data[size] = '\0';
	*buf = data;
	*len = size;
	data = NULL;
out:
	free(data);
	close(fd);
	return ret;
}

int vp_mkdir_p(const char *path, unsigned mode, struct vp_error *err)
{
	char copy[PATH_MAX];
	size_t len;

	len = (size_t)snprintf(copy, sizeof(copy), "%s", path);
	if (len >= sizeof(copy))
		return vp_error_set(err, ENAMETOOLONG, "mkdir %s", path);
	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return vp_error_set(err, errno, "mkdir %s", copy);
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}
