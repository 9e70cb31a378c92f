/* internal.h - what the parts of vblkd's control socket share (internal to
 * vp_vblk; the public API is vblk/control.h).
 *
 *   server.c    listening socket, clients, line framing, the thread, stats ticks
 *   request.c   one request: parse, look up the command, check its fields,
 *               answer; field getters and event logging for the commands
 *   exports.c   export-add, export-remove, export-list, stats
 *   images.c    image-create, image-resize, image-info
 *   vhost.c     vhost-add, vhost-remove
 *   ublk.c      ublk-add, ublk-remove
 *
 * Everything here runs on the control thread (or a test's thread calling
 * vp_control_handle); only that thread changes the export table.
 */
#ifndef VP_VBLK_CONTROL_INTERNAL_H
#define VP_VBLK_CONTROL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/error.h"
#include "vblk/control.h"
#include "vblk/nbd/table.h"

struct vp_control_client {
	int fd;                          /* -1: free slot */
	char *buf;                       /* partial request line */
	size_t len;
};

struct vp_control {
	struct vp_control_config cfg;    /* cfg.path points to path */
	char *path;
	int fd, stop_fd;
	pthread_t tid;
	bool started, bound;
	struct vp_control_client clients[VP_CONTROL_MAX_CLIENTS];
	uint64_t next_tick;              /* CLOCK_MONOTONIC ns of the next stats tick */
};

/* A command: on success fn fills resp (which already exists and gets "ok"
 * added later); on failure it returns -errno with err set and whatever it
 * put in resp is dropped. */
struct vp_control_cmd {
	const char *name;
	const char *const *keys;         /* allowed fields besides "command"; NULL-terminated */
	int (*fn)(struct vp_control *ctl, const json_t *req, json_t *resp, struct vp_error *err);
};

/* The command tables, each ended by an entry with a NULL name. */
extern const struct vp_control_cmd vp_control_export_cmds[];
extern const struct vp_control_cmd vp_control_image_cmds[];
extern const struct vp_control_cmd vp_control_vhost_cmds[];
extern const struct vp_control_cmd vp_control_ublk_cmds[];

/* Field key of req as an absolute path shorter than PATH_MAX: 0 with *out
 * pointing into req, or -errno with err set.  Without required, an absent
 * field gives 0 and *out NULL. */
int vp_control_get_path(const json_t *req, const char *key, bool required, const char **out,
			struct vp_error *err) VP_MUST_CHECK;

/* Field key of req as a byte count in 1..2^63-1, given as a JSON integer or
 * a string like "10G": 0 with *out set, or -errno with err set. */
int vp_control_get_size(const json_t *req, const char *key, uint64_t *out,
			struct vp_error *err) VP_MUST_CHECK;

/* The export called name in snap, or NULL; valid while snap is held. */
const struct vp_nbd_export *vp_control_find_export(const struct vp_nbd_snapshot *snap,
						   const char *name);

/* Set resp's "export" to the current view of export name (as export-list
 * shows it); nothing when there is no such export or no memory. */
void vp_control_set_export(struct vp_control *ctl, json_t *resp, const char *name);

/* A new JSON array of the names of the current exports whose image is the
 * file st describes (same device and inode); NULL on ENOMEM. */
json_t *vp_control_exported_as(struct vp_control *ctl, const struct stat *st);

/* Fill *out with export name's vhost-user server: 0, or -ENOENT when it has
 * none or the daemon has no vhost-user registry. */
int vp_control_vhost_get(struct vp_control *ctl, const char *name, struct vp_control_vhost *out);

/* Fill *out with export name's ublk device: 0, or -ENOENT when it has none
 * or the daemon has no ublk registry. */
int vp_control_ublk_get(struct vp_control *ctl, const char *name, struct vp_control_ublk *out);

/* A new JSON object of u: name, id, device (/dev/ublkbN), queues, depth;
 * NULL on ENOMEM. */
json_t *vp_control_ublk_json(const struct vp_control_ublk *u);

#endif
