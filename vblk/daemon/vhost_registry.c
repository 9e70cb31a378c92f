/* vhost_registry.c - vblkd's vhost-user-blk servers (vblk/vhost/server.h),
 * one per export and socket: opened at start from --vhost-user and the
 * config, added and removed at run time by the control socket's vhost-*
 * commands, all kept in one struct vhost_registry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vblk/daemon/daemon.h"
#include "vblk/vhost/server.h"

/* One running vhost-user server. */
struct vhost_export {
	char *name, *socket;
	unsigned queues;
	struct vp_image *img;                    /* its own fd on the export's image; the
						  * writeback error is the file's (image_file.h) */
	struct vp_vhost_server *srv;
	bool started;
	bool connected;                          /* atomic: set by the server's events */
};

/* Server events: keep the entry's connected flag, then log. */
static void vhost_event(void *ctx, const char *event, const char *detail)
{
	struct vhost_export *x = ctx;

	if (strcmp(event, "vhost.connected") == 0)
		__atomic_store_n(&x->connected, true, __ATOMIC_RELAXED);
	else if (strcmp(event, "vhost.disconnected") == 0)
		__atomic_store_n(&x->connected, false, __ATOMIC_RELAXED);
	vp_vblkd_log_event(NULL, event, detail);
}

/* Stop x's server (its front end drains), sync and close its image. */
static void vhost_free(struct vhost_export *x)
{
	if (!x)
		return;
	vp_vhost_server_free(x->srv);
	vp_vblkd_image_sync(x->name, x->img);
	vp_image_close(x->img);
	free(x->name);
	free(x->socket);
	free(x);
}

/* Index of name's server in the registry (lock held), or -1. */
static ssize_t vhost_find(const struct vhost_registry *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* -EEXIST when sock is one of ours (before the image is opened; a socket
 * of another server or a non-socket there is refused by vp_unix_listen
 * with -EADDRINUSE / -EEXIST).  Lock held. */
static int vhost_socket_free(const struct vhost_registry *r, const char *sock,
			     struct vp_error *err)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i]->socket, sock) == 0)
			return vp_error_code(err, 0, EEXIST, "socket %s is already served by export %s",
					     sock, r->v[i]->name);
	return 0;
}

/* Open x's image and bind its server (lock held); start it when start. */
static int vhost_open(const struct vhost_registry *r, struct vhost_export *x, const char *path,
		      unsigned flags, bool start, struct vp_error *err)
{
	struct vp_vhost_server_config cfg = { .name = x->name, .socket_path = x->socket,
					      .socket = r->socket, .peers = r->peers,
					      .queues = x->queues, .events = { vhost_event, x } };
	int ret;

	ret = vp_image_open_at(r->image_root, path, flags, &x->img, err);
	cfg.img = x->img;
	ret = ret ?: vp_vhost_server_new(&cfg, &x->srv, err);
	ret = ret ?: start ? vp_vhost_server_start(x->srv, err) : 0;
	x->started = ret == 0 && start;
	return ret;
}

/* A new entry for spec with its server opened (lock held); *out is set
 * even on failure, for vhost_free. */
static int vhost_new(const struct vhost_registry *r, const struct vhost_spec *spec, const char *path, unsigned flags, bool start,
		     struct vhost_export **out, struct vp_error *err)
{
	struct vhost_export *x = calloc(1, sizeof(*x));
	int ret;

	*out = x;
	if (!x || !(x->name = strdup(spec->name)) || !(x->socket = strdup(spec->socket)))
		return vp_error_set(err, ENOMEM, "vhost-user export %s", spec->name);
	x->queues = spec->queues;
	ret = vhost_open(r, x, path, flags, start, err);
	if (ret)
		vp_error_prefix(err, "vhost-user export %s", spec->name);
	return ret;
}

/* Create and register a server for export spec->name whose image is path
 * (VP_IMAGE_* flags); started at once when start. */
static int vhost_add(struct vhost_registry *r, const struct vhost_spec *spec, const char *path,
		     unsigned flags, bool start, struct vp_error *err)
{
	struct vhost_export *x = NULL;
	int ret;

	pthread_mutex_lock(&r->lock);
	if (vhost_find(r, spec->name) >= 0)
		ret = vp_error_code(err, 0, EEXIST, "export %s already has a vhost-user server",
				    spec->name);
	else if (r->n == VBLKD_MAX_VHOST)
		ret = vp_error_code(err, 0, E2BIG, "at most %d vhost-user servers", VBLKD_MAX_VHOST);
	else
		ret = vhost_socket_free(r, spec->socket, err);
	ret = ret ?: vhost_new(r, spec, path, flags, start, &x, err);
	if (ret == 0)
		r->v[r->n++] = x;
	pthread_mutex_unlock(&r->lock);
	if (ret) {
		vhost_free(x);
		return ret;
	}
	vp_log(VP_LOG_INFO, "vhost.export-added", "name=%s socket=%s queues=%u", spec->name,
	       spec->socket, spec->queues);
	return 0;
}

void vp_vblkd_vhost_init(struct vhost_registry *r)
{
	pthread_mutex_init(&r->lock, NULL);
	r->n = 0;
}

int vp_vblkd_vhost_open(struct daemon *d, struct vp_error *err)
{
	d->vhosts.socket = &d->data_socket;
	d->vhosts.image_root = d->image_root;
	d->vhosts.peers = d->data_peers.n_uids || d->data_peers.n_gids ? &d->data_peers : NULL;
	for (size_t i = 0; i < d->n_vhost; i++) {
		const struct vhost_spec *v = &d->vhost[i];
		const struct vp_nbd_export_spec *s = vp_vblkd_exports_find(d, v->name);
		int ret;

		if (!s)
			return vp_error_set(err, ENOENT, "--vhost-user: no --export named '%s'", v->name);
		ret = vhost_add(&d->vhosts, v, s->path, s->flags, false, err);
		if (ret)
			return ret;
	}
	return 0;
}

int vp_vblkd_vhost_start(struct vhost_registry *r, struct vp_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !ret; i++) {
		if (r->v[i]->started)
			continue;
		ret = vp_vhost_server_start(r->v[i]->srv, err);
		r->v[i]->started = ret == 0;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void vp_vblkd_vhost_close(struct vhost_registry *r)
{
	pthread_mutex_lock(&r->lock);
	while (r->n)
		vhost_free(r->v[--r->n]);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_destroy(&r->lock);
}

/* ---- control callbacks (vp_control_vhost_ops), on the control thread ---- */

static int ctl_vhost_add(void *ctx, const struct vp_control_vhost *v, const char *path,
			 unsigned flags, struct vp_error *err)
{
	struct vhost_spec spec = { .name = v->name, .socket = v->socket, .queues = v->queues };

	return vhost_add(ctx, &spec, path, flags, true, err);
}

static int ctl_vhost_remove(void *ctx, const char *name, struct vp_error *err)
{
	struct vhost_registry *r = ctx;
	struct vhost_export *x = NULL;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = vhost_find(r, name);
	if (i >= 0) {
		x = r->v[i];
		r->v[i] = r->v[--r->n];
	}
	pthread_mutex_unlock(&r->lock);
	if (!x)
		return vp_error_code(err, 0, ENOENT, "export %s has no vhost-user server", name);
	vhost_free(x); /* outside the lock: waits for in-flight requests */
	vp_log(VP_LOG_INFO, "vhost.export-removed", "name=%s", name);
	return 0;
}

static int ctl_vhost_get(void *ctx, const char *name, struct vp_control_vhost *out)
{
	struct vhost_registry *r = ctx;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = vhost_find(r, name);
	if (i >= 0)
		*out = (struct vp_control_vhost){
			.name = r->v[i]->name, .socket = r->v[i]->socket, .queues = r->v[i]->queues,
			.connected = __atomic_load_n(&r->v[i]->connected, __ATOMIC_RELAXED) };
	pthread_mutex_unlock(&r->lock);
	return i >= 0 ? 0 : -ENOENT;
}

/* Publish the new size to the server at once (its poll would notice
 * within a second) and have it notify the front end. */
static void ctl_vhost_resized(void *ctx, const char *name)
{
	struct vhost_registry *r = ctx;
	struct stat st;
	ssize_t i;

	pthread_mutex_lock(&r->lock);
	i = vhost_find(r, name);
	if (i >= 0 && !r->v[i]->img->blockdev && fstat(r->v[i]->img->fd, &st) == 0) {
		__atomic_store_n(&r->v[i]->img->size, (uint64_t)st.st_size, __ATOMIC_RELAXED);
		vp_vhost_server_notify_resize(r->v[i]->srv);
	}
	pthread_mutex_unlock(&r->lock);
}

const struct vp_control_vhost_ops vp_vblkd_vhost_ops = {
	.add = ctl_vhost_add,
	.remove = ctl_vhost_remove,
	.get = ctl_vhost_get,
	.resized = ctl_vhost_resized,
};
