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

int vp_statefile_write(const char *path, const void *buf, size_t len, unsigned mode,
		       struct vp_error *err)
{
	char tmp[PATH_MAX];
	int fd, ret;

	/* The pid makes the temp name unique among concurrent writers; a temp
	 * file left by a crash is simply overwritten by a later writer with
	 * the same pid or ignored. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return vp_error_set(err, ENAMETOOLONG, "state file path %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return vp_error_set(err, errno, "create %s", tmp);
	ret = write_all(fd, buf, len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return vp_error_set(err, -ret, "write %s", path);
	}
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
