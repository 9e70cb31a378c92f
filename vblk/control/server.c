/* server.c - the control socket of vblkd: the listening unix socket (0600
 * by default; root, same-uid and allow-listed peers), one thread polling
 * it and up to VP_CONTROL_MAX_CLIENTS clients, each newline-ended request
 * line answered by vp_control_handle (request.c) with one JSON line, and
 * the stats interval tick.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vblk/control/internal.h"
#include "vblk/stats.h"

#define SEND_TIMEOUT_MS 2000

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- socket ---- */

/* Bind and listen on ctl->path with the configured mode and group
 * (vp_unix_listen: a stale socket file is replaced, a live one refused). */
static int open_socket(struct vp_control *ctl, struct vp_error *err)
{
	struct vp_unix_listen_opts o = { .mode = VP_CONTROL_MODE_DEFAULT, .gid = VP_UNIX_GID_KEEP };
	int fd;

	if (ctl->cfg.socket)
		o = *ctl->cfg.socket;
	o.backlog = 16;
	o.type_flags = SOCK_CLOEXEC | SOCK_NONBLOCK;
	fd = vp_unix_listen(ctl->path, &o, err);
	if (fd < 0)
		return fd;
	ctl->fd = fd;
	ctl->bound = true;
	return 0;
}

int vp_control_new(const struct vp_control_config *cfg, struct vp_control **out,
		   struct vp_error *err)
{
	struct vp_control *ctl = calloc(1, sizeof(*ctl));
	int ret;

	*out = NULL;
	if (!ctl || !(ctl->path = strdup(cfg->path))) {
		free(ctl);
		return vp_error_set(err, ENOMEM, "control socket");
	}
	ctl->cfg = *cfg;
	ctl->cfg.path = ctl->path;
	ctl->fd = ctl->stop_fd = -1;
	for (unsigned i = 0; i < VP_CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i].fd = -1;
	ret = open_socket(ctl, err);
	if (ret == 0 && (ctl->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
		ret = vp_error_set(err, errno, "control socket: eventfd");
	if (ret) {
		vp_control_free(ctl);
		return ret;
	}
	*out = ctl;
	return 0;
}

/* ---- clients ---- */

static void client_close(struct vp_control_client *c)
{
	close(c->fd);
	free(c->buf);
	*c = (struct vp_control_client){ .fd = -1 };
}

/* Send all of buf, waiting at most SEND_TIMEOUT_MS for each stall. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno != EAGAIN) {
			return -errno;
		} else if (poll(&p, 1, SEND_TIMEOUT_MS) <= 0) {
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* Answer one request line; -errno when the client must be dropped. */
static int client_answer(struct vp_control *ctl, struct vp_control_client *c, const char *line,
			 size_t len)
{
	char *resp = vp_control_handle(ctl, line, len);
	int ret;

	if (!resp)
		return -ENOMEM;
	ret = send_all(c->fd, resp, strlen(resp));
	ret = ret ?: send_all(c->fd, "\n", 1);
	free(resp);
	return ret;
}

/* Answer every complete line in c's buffer and keep the rest; -errno to
 * drop the client (a send failed, or the rest is longer than a request may
 * be).  A last request without its newline waits for EOF (client_read). */
static int client_lines(struct vp_control *ctl, struct vp_control_client *c)
{
	size_t start = 0;
	char *nl;
	int ret = 0;

	while (!ret && (nl = memchr(c->buf + start, '\n', c->len - start))) {
		ret = client_answer(ctl, c, c->buf + start, (size_t)(nl - (c->buf + start)));
		start = (size_t)(nl - c->buf) + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	if (!ret && c->len > VP_CONTROL_MAX_LINE) {
		static const char msg[] = "{\"errno\":90,\"error\":\"request longer than 65536 "
					  "bytes\",\"ok\":false}\n";

		(void)send_all(c->fd, msg, sizeof(msg) - 1);
		ret = -EMSGSIZE;
	}
	return ret;
}

/* Read what c sent and answer its complete lines; closes c at EOF, on an
 * error or when its line is too long. */
static void client_read(struct vp_control *ctl, struct vp_control_client *c)
{
	ssize_t n;

	if (!c->buf && !(c->buf = malloc(VP_CONTROL_MAX_LINE + 1))) {
		client_close(c);
		return;
	}
	n = recv(c->fd, c->buf + c->len, VP_CONTROL_MAX_LINE + 1 - c->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->len += (size_t)n;
	if (n > 0 && client_lines(ctl, c) == 0)
		return;
	/* At EOF a last request without its newline still gets an answer. */
	if (n == 0 && c->len > 0)
		(void)client_answer(ctl, c, c->buf, c->len);
	client_close(c);
}

/* Take one pending connection if its peer is root, this uid or in
 * cfg.peers and a client slot is free; otherwise close it. */
static void accept_client(struct vp_control *ctl)
{
	struct vp_unix_peers self = { .always_self = true };
	int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	uid_t uid;
	gid_t gid;
	unsigned i;

	if (fd < 0)
		return;
	if (!vp_unix_peer_allowed(fd, ctl->cfg.peers ? ctl->cfg.peers : &self, &uid, &gid)) {
		vp_event(&ctl->cfg.events, "control.refused", "reason=peer uid=%d gid=%d", (int)uid,
			 (int)gid);
		close(fd);
		return;
	}
	for (i = 0; i < VP_CONTROL_MAX_CLIENTS && ctl->clients[i].fd >= 0; i++)
		;
	if (i == VP_CONTROL_MAX_CLIENTS) { /* poll skips accept when full */
		close(fd);
		return;
	}
	ctl->clients[i].fd = fd;
}

/* Close a stats interval on every published export when one is due;
 * returns the ms until the next tick. */
static int tick(struct vp_control *ctl)
{
	uint64_t now = mono_ns();
	struct vp_nbd_snapshot *snap;

	if (now >= ctl->next_tick) {
		snap = vp_nbd_table_acquire(ctl->cfg.table);
		for (size_t i = 0; i < snap->n; i++)
			vp_stats_tick(snap->exports[i].stats, now);
		vp_nbd_snapshot_put(snap);
		ctl->next_tick = now + VP_CONTROL_TICK_MS * 1000000ULL;
	}
	return (int)((ctl->next_tick - now) / 1000000) + 1;
}

/* The control thread: tick, poll, read clients, accept, until stop_fd. */
static void *control_main(void *arg)
{
	struct vp_control *ctl = arg;
	struct pollfd p[2 + VP_CONTROL_MAX_CLIENTS];
	struct vp_control_client *who[2 + VP_CONTROL_MAX_CLIENTS];

	for (;;) {
		int timeout = tick(ctl);
		nfds_t n = 2;

		p[0] = (struct pollfd){ .fd = ctl->stop_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = ctl->fd, .events = POLLIN };
		for (unsigned i = 0; i < VP_CONTROL_MAX_CLIENTS; i++)
			if (ctl->clients[i].fd >= 0) {
				who[n] = &ctl->clients[i];
				p[n++] = (struct pollfd){ .fd = ctl->clients[i].fd, .events = POLLIN };
			}
		if (n == 2 + VP_CONTROL_MAX_CLIENTS)
			p[1].fd = -1; /* full: leave new clients in the backlog */
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		for (nfds_t i = 2; i < n; i++)
			if (p[i].revents)
				client_read(ctl, who[i]);
		if (p[1].revents & POLLIN)
			accept_client(ctl);
	}
	return NULL;
}

int vp_control_start(struct vp_control *ctl, struct vp_error *err)
{
	int ret = pthread_create(&ctl->tid, NULL, control_main, ctl);

	if (ret)
		return vp_error_set(err, ret, "start control thread");
	ctl->started = true;
	return 0;
}

void vp_control_stop(struct vp_control *ctl)
{
	uint64_t one = 1;

	if (!ctl || !ctl->started)
		return;
	(void)!write(ctl->stop_fd, &one, sizeof(one));
	pthread_join(ctl->tid, NULL);
	ctl->started = false;
}

void vp_control_free(struct vp_control *ctl)
{
	if (!ctl)
		return;
	for (unsigned i = 0; i < VP_CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i].fd >= 0)
			client_close(&ctl->clients[i]);
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->bound)
		unlink(ctl->path);
	if (ctl->stop_fd >= 0)
		close(ctl->stop_fd);
	free(ctl->path);
	free(ctl);
}
