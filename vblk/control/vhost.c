/* vhost.c - the control commands on vhost-user servers: vhost-add and
 * vhost-remove, passed to the daemon's registry (cfg.vhost), which serves
 * an export's image on a vhost-user-blk socket.
 */
#include <errno.h>

#include "common/json.h"
#include "vblk/control/internal.h"

int vp_control_vhost_get(struct vp_control *ctl, const char *name, struct vp_control_vhost *out)
{
	return ctl->cfg.vhost ? ctl->cfg.vhost->get(ctl->cfg.vhost_ctx, name, out) : -ENOENT;
}

/* Serve export v->name's image through the registry. */
static int vhost_add(struct vp_control *ctl, const struct vp_control_vhost *v,
		     struct vp_error *err)
{
	struct vp_nbd_snapshot *snap = vp_nbd_table_acquire(ctl->cfg.table);
	const struct vp_nbd_export *e = vp_control_find_export(snap, v->name);
	int ret;

	/* The snapshot keeps the path alive; only this thread changes the table. */
	ret = e ? ctl->cfg.vhost->add(ctl->cfg.vhost_ctx, v, e->entry->sh->path, e->entry->sh->flags,
				      err) :
		  vp_error_code(err, 0, ENOENT, "no export named %s", v->name);
	vp_nbd_snapshot_put(snap);
	return ret;
}

static int cmd_vhost_add(struct vp_control *ctl, const json_t *req, json_t *resp,
			 struct vp_error *err)
{
	struct vp_control_vhost v = { 0 };
	int64_t queues;
	int ret;

	ret = vp_json_req_str(req, "", "name", &v.name, err);
	ret = ret ?: vp_control_get_path(req, "socket", true, &v.socket, err);
	ret = ret ?: vp_json_opt_int(req, "", "queues", 1, 1, VP_CONTROL_VHOST_MAX_QUEUES, &queues, err);
	if (ret == 0 && !ctl->cfg.vhost)
		ret = vp_error_code(err, 0, EOPNOTSUPP, "this daemon has no vhost-user support");
	if (ret)
		return ret;
	v.queues = (unsigned)queues;
	ret = vhost_add(ctl, &v, err);
	if (ret)
		return ret;
	json_object_set_new(resp, "vhost", json_pack("{s:s, s:s, s:i}", "name", v.name, "socket",
						     v.socket, "queues", (int)v.queues));
	vp_event(&ctl->cfg.events, "vhost.added", "name=%s socket=%s queues=%u", v.name, v.socket,
			 v.queues);
	return 0;
}

static int cmd_vhost_remove(struct vp_control *ctl, const json_t *req, json_t *resp,
			    struct vp_error *err)
{
	const char *name;
	int ret;

	(void)resp;
	ret = vp_json_req_str(req, "", "name", &name, err);
	if (ret)
		return ret;
	ret = ctl->cfg.vhost ? ctl->cfg.vhost->remove(ctl->cfg.vhost_ctx, name, err) :
			       vp_error_code(err, 0, ENOENT, "export %s has no vhost-user server", name);
	if (ret)
		return ret;
	vp_event(&ctl->cfg.events, "vhost.removed", "name=%s", name);
	return 0;
}

const struct vp_control_cmd vp_control_vhost_cmds[] = {
	{ "vhost-add", (const char *const[]){ "name", "socket", "queues", NULL }, cmd_vhost_add },
	{ "vhost-remove", (const char *const[]){ "name", NULL }, cmd_vhost_remove },
	{ NULL, NULL, NULL },
};
