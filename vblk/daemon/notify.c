/* notify.c - how vblkd reports: the events of its servers as log lines, and
 * its state changes to systemd (Type=notify, sd_notify(3) protocol).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"

void vp_vblkd_log_event(void *ctx, const char *event, const char *detail)
{
	(void)ctx;
	vp_log(strstr(event, "error") || strstr(event, "failed") ? VP_LOG_WARN : VP_LOG_INFO, event,
	       "%s", detail);
}

/* $NOTIFY_SOCKET names a datagram socket; "@name" is an abstract one. */
void vp_vblkd_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (path[0] == '@')
		sa.sun_path[0] = 0;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		vp_log(VP_LOG_WARN, "vblkd.notify-failed", "state=%s errno=%d", state, errno);
	close(fd);
}
