/* sysctl.c - read and write /proc/sys in the caller's network namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vnet/sysctl.h"

/* /proc/sys/<key> into buf.  A key with a '/' is taken as a path as is, since
 * interface names may contain dots ("net/ipv4/conf/eth0.100/forwarding");
 * otherwise dots separate components ("net.ipv4.ip_forward"). */
static int sysctl_path(const char *key, char *buf, size_t size, struct vp_error *err)
{
	int n;

	if (!key[0] || key[0] == '/' || key[0] == '.' || strstr(key, ".."))
		return vp_error_set(err, EINVAL, "invalid sysctl key \"%s\"", key);
	n = snprintf(buf, size, "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= size)
		return vp_error_set(err, ENAMETOOLONG, "sysctl key \"%s\"", key);
	if (!strchr(key, '/'))
		for (char *p = buf + strlen("/proc/sys/"); *p; p++)
			if (*p == '.')
				*p = '/';
	return 0;
}

int vp_sysctl_write(const char *key, const char *value, struct vp_error *err)
{
	char path[256];
	size_t len = strlen(value);
	ssize_t n;
	int fd;
	int ret;

	ret = sysctl_path(key, path, sizeof(path), err);
	if (ret < 0)
		return ret;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "opening sysctl %s", path);
	n = write(fd, value, len);
	if (n < 0)
		ret = vp_error_set(err, errno, "writing \"%s\" to sysctl %s", value, path);
	else if ((size_t)n != len)
		ret = vp_error_set(err, EIO, "short write of \"%s\" to sysctl %s", value, path);
	close(fd);
	return ret;
}

int vp_sysctl_read(const char *key, char *buf, size_t size, struct vp_error *err)
{
	char path[256];
	ssize_t n;
	int fd;
	int ret;

	if (size == 0)
		return vp_error_set(err, EINVAL, "reading sysctl %s: empty buffer", key);
	ret = sysctl_path(key, path, sizeof(path), err);
	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "opening sysctl %s", path);
	n = read(fd, buf, size - 1);
	if (n < 0) {
		ret = vp_error_set(err, errno, "reading sysctl %s", path);
		buf[0] = '\0';
	} else if ((size_t)n == size - 1 && buf[n - 1] != '\n') {
		/* Values end in a newline; a proc sysctl cannot be read on
		 * from an offset, so a full buffer without one is cut. */
		ret = vp_error_set(err, ERANGE, "sysctl %s: value longer than %zu bytes",
				   path, size - 1);
		buf[0] = '\0';
	} else {
		buf[n] = '\0';
		while (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
	}
	close(fd);
	return ret;
}
