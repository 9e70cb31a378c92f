/* netns.c - network namespaces: open and check a namespace file, enter it
 * with a saved handle, and always return.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/nsfs.h>

#include "vnet/netns.h"

#define SELF_NETNS "/proc/self/ns/net"

/* Is fd a network namespace?  NS_GET_NSTYPE answers exactly (4.11+); on
 * older kernels the ioctl is unknown (ENOTTY) and only the filesystem can be
 * checked: nsfs (3.19+) or proc (before). */
static int check_netns(int fd)
{
	struct statfs sfs;
	int type;

	type = ioctl(fd, NS_GET_NSTYPE);
	if (type >= 0)
		return type == CLONE_NEWNET ? 0 : -EINVAL;
	if (errno != ENOTTY)
		return -EINVAL;
	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	if (sfs.f_type == (typeof(sfs.f_type))NSFS_MAGIC ||
	    sfs.f_type == (typeof(sfs.f_type))PROC_SUPER_MAGIC)
		return 0;
	return -EINVAL;
}

int vp_netns_open(const char *path, int *fd, struct vp_error *err)
{
	int nfd;
	int ret;

	*fd = -1;
	nfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		return vp_error_set(err, errno, "opening network namespace %s", path);
	ret = check_netns(nfd);
	if (ret < 0) {
		close(nfd);
		if (ret == -EINVAL)
			return vp_error_set(err, EINVAL, "%s is not a network namespace", path);
		return vp_error_set(err, -ret, "checking network namespace %s", path);
	}
	*fd = nfd;
	return 0;
}

bool vp_netns_is_current(int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || stat(SELF_NETNS, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int vp_netns_enter(int fd, int *saved, struct vp_error *err)
{
	int cur;

	*saved = -1;
	cur = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
	if (cur < 0)
		return vp_error_set(err, errno, "opening current network namespace");
	if (setns(fd, CLONE_NEWNET) < 0) {
		int e = errno;

		close(cur);
		return vp_error_set(err, e, "entering network namespace");
	}
	*saved = cur;
	return 0;
}

void vp_netns_return(int saved)
{
	/* Staying in the wrong namespace would plumb the host's links into a
	 * pod (or the reverse): not recoverable, so stop here. */
	if (setns(saved, CLONE_NEWNET) < 0)
		abort();
	close(saved);
}
