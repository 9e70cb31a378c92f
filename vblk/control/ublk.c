/* ublk.c - the control commands on ublk block devices: ublk-add and
 * ublk-remove, passed to the daemon's registry (cfg.ublk), which serves an
 * export's image as /dev/ublkbN the way --ublk does at start.
 */
#include <errno.h>
#include <stdio.h>

#include "common/json.h"
#include "vblk/control/internal.h"
#include "vblk/ublk/dev.h"

int vp_control_ublk_get(struct vp_control *ctl, const char *name, struct vp_control_ublk *out)
{
	return ctl->cfg.ublk ? ctl->cfg.ublk->get(ctl->cfg.ublk_ctx, name, out) : -ENOENT;
}

json_t *vp_control_ublk_json(const struct vp_control_ublk *u)
{
	char dev[32];

	snprintf(dev, sizeof(dev), "/dev/ublkb%u", u->id);
	return json_pack("{s:s, s:i, s:s, s:i, s:i}", "name", u->name, "id", (int)u->id, "device",
			 dev, "queues", (int)u->queues, "depth", (int)u->depth);
}

/* Serve export u->name's image through the registry. */
static int ublk_add(struct vp_control *ctl, struct vp_control_ublk *u, struct vp_error *err)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	const struct vp_nbd_export *e = vp_control_find_export(snap, u->name);
	struct vp_control_ublk cur;
	int ret;

	/* The snapshot keeps the path alive; only this thread changes the table. */
	if (!e)
		ret = vp_error_code(err, 0, ENOENT, "no export named %s", u->name);
	else if (vp_control_ublk_get(ctl, u->name, &cur) == 0)
		ret = vp_error_code(err, 0, EEXIST, "export %s already has the ublk device "
				    "/dev/ublkb%u", u->name, cur.id);
	else
		ret = ctl->cfg.ublk->add(ctl->cfg.ublk_ctx, u, e->entry->sh->path,
					 e->entry->sh->flags, err);
	vp_nbd_snapshot_put(snap);
	return ret;
}

static int cmd_ublk_add(struct vp_control *ctl, const json_t *req, json_t *resp,
			struct vp_error *err)
{
	struct vp_control_ublk u = { 0 };
	int64_t queues, depth;
	int ret;

	/* The bounds of --ublk (vblk/daemon/options.c). */
	ret = vp_json_req_str(req, "", "name", &u.name, err);
	ret = ret ?: vp_json_opt_int(req, "", "queues", 1, 1, VP_UBLK_MAX_QUEUES, &queues, err);
	ret = ret ?: vp_json_opt_int(req, "", "depth", VP_UBLK_DEFAULT_DEPTH, 1, VP_UBLK_MAX_DEPTH,
				     &depth, err);
	if (ret == 0 && !ctl->cfg.ublk)
		ret = vp_error_code(err, 0, EOPNOTSUPP, "this daemon has no ublk support");
	if (ret)
		return ret;
	u.queues = (unsigned)queues;
	u.depth = (unsigned)depth;
	ret = ublk_add(ctl, &u, err);
	if (ret)
		return ret;
	json_object_set_new(resp, "ublk", vp_control_ublk_json(&u));
	vp_event(&ctl->cfg.events, "ublk.added", "name=%s dev=/dev/ublkb%u queues=%u depth=%u",
		 u.name, u.id, u.queues, u.depth);
	return 0;
}

static int cmd_ublk_remove(struct vp_control *ctl, const json_t *req, json_t *resp,
			   struct vp_error *err)
{
	const char *name;
	int ret;

	(void)resp;
	ret = vp_json_req_str(req, "", "name", &name, err);
	if (ret)
		return ret;
	ret = ctl->cfg.ublk ? ctl->cfg.ublk->remove(ctl->cfg.ublk_ctx, name, err) :
			      vp_error_code(err, 0, ENOENT, "export %s has no ublk device", name);
	if (ret)
		return ret;
	vp_event(&ctl->cfg.events, "ublk.removed", "name=%s", name);
	return 0;
}

const struct vp_control_cmd vp_control_ublk_cmds[] = {
	{ "ublk-add", (const char *const[]){ "name", "queues", "depth", NULL }, cmd_ublk_add },
	{ "ublk-remove", (const char *const[]){ "name", NULL }, cmd_ublk_remove },
	{ NULL, NULL, NULL },
};
