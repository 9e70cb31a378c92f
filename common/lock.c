/* lock.c - exclusive flock on a lock file. */
#include "common/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

int vp_lock_acquire(const char *path, int *fd, struct vp_error *err)
{
	int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (lfd < 0)
		return vp_error_set(err, errno, "open lock %s", path);
	while (flock(lfd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int saved = errno;

		close(lfd);
		return vp_error_set(err, saved, "lock %s", path);
	}
	*fd = lfd;
	return 0;
}

void vp_lock_release(int fd)
{
	if (fd < 0)
		return;
	flock(fd, LOCK_UN);
	close(fd);
}
