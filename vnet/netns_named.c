/* netns_named.c - named network namespaces the way iproute2 keeps them:
 * an empty file under /run/netns with the namespace bind-mounted on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vnet/netns.h"

int vp_netns_named_path(const char *name, char *buf, size_t size, struct vp_error *err)
{
	size_t len = name ? strlen(name) : 0;
	int n;

	if (!len || len > VP_NETNS_NAME_MAX || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return vp_error_set(err, EINVAL, "network namespace name \"%s\" must be 1-%d "
				    "characters without '/'", name ? name : "", VP_NETNS_NAME_MAX);
	n = snprintf(buf, size, "%s/%s", VP_NETNS_DIR, name);
	if (n < 0 || (size_t)n >= size)
		return vp_error_set(err, ENAMETOOLONG, "network namespace %s: path too long", name);
	return 0;
}

/* Make VP_NETNS_DIR a shared mount, as iproute2 does, so namespaces mounted
 * there show in every mount namespace that later copies the host's. */
static int run_dir_prepare(struct vp_error *err)
{
	if (mkdir(VP_NETNS_DIR, 0755) < 0 && errno != EEXIST)
		return vp_error_set(err, errno, "creating %s", VP_NETNS_DIR);
	if (mount("", VP_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return vp_error_set(err, errno, "making %s a shared mount", VP_NETNS_DIR);
	/* Not a mount point yet: make it one, then shared. */
	if (mount(VP_NETNS_DIR, VP_NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
		return vp_error_set(err, errno, "bind-mounting %s on itself", VP_NETNS_DIR);
	if (mount("", VP_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		return vp_error_set(err, errno, "making %s a shared mount", VP_NETNS_DIR);
	return 0;
}

/* unshare() moves this thread into a fresh namespace; bind its file onto
 * path and come back to the saved one whatever happens. */
static int mount_new_netns(const char *path, struct vp_error *err)
{
	int saved, ret = 0;

	saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		return vp_error_set(err, errno, "opening current network namespace");
	if (unshare(CLONE_NEWNET) < 0) {
		ret = vp_error_set(err, errno, "creating a network namespace");
		close(saved);
		return ret;
	}
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
		ret = vp_error_set(err, errno, "bind-mounting the new network namespace on %s", path);
	vp_netns_return(saved);
	return ret;
}

int vp_netns_create(const char *name, struct vp_error *err)
{
	char path[sizeof(VP_NETNS_DIR) + VP_NETNS_NAME_MAX + 1];
	int fd, ret;

	ret = vp_netns_named_path(name, path, sizeof(path), err);
	if (ret < 0)
		return ret;
	ret = run_dir_prepare(err);
	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return vp_error_set(err, errno, "creating network namespace %s", name);
	close(fd);
	ret = mount_new_netns(path, err);
	if (ret < 0) {
		unlink(path);
		vp_error_prefix(err, "network namespace %s", name);
	}
	return ret;
}

int vp_netns_delete(const char *name, struct vp_error *err)
{
	char path[sizeof(VP_NETNS_DIR) + VP_NETNS_NAME_MAX + 1];
	int ret;

	ret = vp_netns_named_path(name, path, sizeof(path), err);
	if (ret < 0)
		return ret;
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? -ENOENT : vp_error_set(err, errno, "network namespace %s", name);
	/* EINVAL: not a mount point (a stale file); the unlink still cleans up. */
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
		return vp_error_set(err, errno, "unmounting network namespace %s", name);
	if (unlink(path) < 0 && errno != ENOENT)
		return vp_error_set(err, errno, "removing network namespace %s", name);
	return 0;
}
