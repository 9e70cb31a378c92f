/* kpath.c - paths under the kubelet directory (kpath.h). */
#include "csi/node/kpath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* path relative to kubelet_dir into rel: 0 or -EINVAL. */
static int relative(const char *kubelet_dir, const char *path, char *rel, size_t size,
		    struct vp_error *err)
{
	size_t k = strlen(kubelet_dir);

	while (k > 1 && kubelet_dir[k - 1] == '/')
		k--;
	if (path[0] != '/')
		return vp_error_code(err, 0, EINVAL, "%s: not an absolute path", path);
	if (strncmp(path, kubelet_dir, k) || path[k] != '/' || !path[k + 1])
		return vp_error_code(err, 0, EINVAL, "%s: not under the kubelet directory %s",
				     path, kubelet_dir);
	if (strlen(path + k + 1) >= size)
		return vp_error_code(err, 0, ENAMETOOLONG, "%s: path too long", path);
	strcpy(rel, path + k + 1);
	return 0;
}

static int open_beneath(const char *kubelet_dir, const char *rel, int flags, const char *path,
			struct vp_error *err)
{
	struct open_how how = {
		.flags = (unsigned)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? 0600 : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int dir = open(kubelet_dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	if (dir < 0)
		return vp_error_set(err, errno, "open kubelet directory %s", kubelet_dir);
	fd = (int)syscall(SYS_openat2, dir, rel, &how, sizeof(how));
	if (fd < 0)
		fd = vp_error_set(err, errno, "open %s (no symlinks, beneath %s)", path,
				  kubelet_dir);
	close(dir);
	return fd;
}

int vp_kpath_open(const char *kubelet_dir, const char *path, int flags, struct vp_error *err)
{
	char rel[PATH_MAX];
	int ret = relative(kubelet_dir, path, rel, sizeof(rel), err);

	return ret ? ret : open_beneath(kubelet_dir, rel, flags, path, err);
}

int vp_kpath_open_parent(const char *kubelet_dir, const char *path, char leaf[NAME_MAX + 1],
			 struct vp_error *err)
{
	char rel[PATH_MAX], *slash;
	const char *name;
	int ret = relative(kubelet_dir, path, rel, sizeof(rel), err);

	if (ret)
		return ret;
	slash = strrchr(rel, '/');
	name = slash ? slash + 1 : rel;
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strlen(name) > NAME_MAX)
		return vp_error_code(err, 0, EINVAL, "%s: does not end in a file name", path);
	strcpy(leaf, name);
	if (slash)
		*slash = '\0';
	else
		strcpy(rel, ".");
	return open_beneath(kubelet_dir, rel, O_PATH | O_DIRECTORY, path, err);
}

void vp_kpath_proc(char buf[VP_KPATH_PROC_SIZE], int fd)
{
	snprintf(buf, VP_KPATH_PROC_SIZE, "/proc/self/fd/%d", fd);
}
