/* request.c - one control request: parse the JSON line, look the command up
 * in the tables of exports.c, images.c, vhost.c and ublk.c, refuse fields it
 * does not define, run it and build the response line.  Also the field
 * getters and the event reporting those commands share.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/size.h"
#include "vblk/control/internal.h"

static const struct vp_control_cmd *const cmd_tables[] = {
	vp_control_export_cmds,
	vp_control_image_cmds,
	vp_control_vhost_cmds,
	vp_control_ublk_cmds,
};

int vp_control_get_path(const json_t *req, const char *key, bool required, const char **out,
			struct vp_error *err)
{
	int ret;

	/* vp_json_parse already refuses \u0000, so strings have no NUL inside. */
	ret = required ? vp_json_req_str(req, "", key, out, err) :
			 vp_json_opt_str(req, "", key, NULL, out, err);
	if (ret || !*out)
		return ret;
	if (strlen(*out) >= PATH_MAX)
		return vp_error_code(err, 0, ENAMETOOLONG, "%s: longer than %d bytes", key, PATH_MAX - 1);
	if ((*out)[0] != '/')
		return vp_error_code(err, 0, EINVAL, "%s: '%s' is not an absolute path", key, *out);
	return 0;
}

int vp_control_get_size(const json_t *req, const char *key, uint64_t *out, struct vp_error *err)
{
	json_t *v = json_object_get(req, key);
	int64_t n;
	int ret;

	if (json_is_string(v)) {
		ret = vp_parse_size(json_string_value(v), out);
		if (ret)
			return vp_error_set(err, -ret, "%s: '%s' is not a byte count like 4096, 64M or 10G",
					    key, json_string_value(v));
	} else {
		ret = vp_json_req_int(req, "", key, 0, INT64_MAX, &n, err);
		if (ret)
			return json_is_integer(v) ? vp_error_code(err, 0, EINVAL, "%s: must not be negative",
								   key) : ret;
		*out = (uint64_t)n;
	}
	if (*out == 0 || *out > INT64_MAX)
		return vp_error_code(err, 0, EINVAL, "%s: must be between 1 and 2^63-1 bytes", key);
	return 0;
}

/* Refuse any field of req that is neither "command" nor one of keys. */
static int check_keys(const json_t *req, const char *const *keys, struct vp_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)req, key, v) {
		bool known = strcmp(key, "command") == 0;

		for (size_t i = 0; keys[i] && !known; i++)
			known = strcmp(key, keys[i]) == 0;
		if (!known)
			return vp_error_code(err, 0, EINVAL, "%s: unknown field", key);
	}
	return 0;
}

static const struct vp_control_cmd *find_cmd(const char *name)
{
	for (size_t t = 0; t < sizeof(cmd_tables) / sizeof(cmd_tables[0]); t++)
		for (const struct vp_control_cmd *c = cmd_tables[t]; c->name; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

/* Parse, validate and dispatch one request; fills resp on success and
 * copies the command name (for the log) into name. */
static int dispatch(struct vp_control *ctl, const char *text, size_t len, json_t *resp,
		    char *name, size_t namesz, struct vp_error *err)
{
	const struct vp_control_cmd *c;
	const char *cmd;
	json_t *req = NULL;
	int ret;

	ret = vp_json_parse(text, len, &req, err);
	if (ret)
		return ret;
	if (!json_is_object(req)) {
		ret = vp_error_code(err, 0, EINVAL, "request: expected a JSON object");
		goto out;
	}
	ret = vp_json_req_str(req, "", "command", &cmd, err);
	if (ret)
		goto out;
	snprintf(name, namesz, "%s", cmd);
	c = find_cmd(cmd);
	if (!c) {
		ret = vp_error_code(err, 0, EOPNOTSUPP, "command: unknown command '%.64s' (see docs/vblkd.md)",
				   cmd);
		goto out;
	}
	ret = check_keys(req, c->keys, err);
	ret = ret ?: c->fn(ctl, req, resp, err);
out:
	json_decref(req);
	return ret;
}

char *vp_control_handle(struct vp_control *ctl, const char *text, size_t len)
{
	struct vp_error err = { 0 };
	json_t *resp = json_object();
	char name[64] = "?";
	char *out;
	int ret;

	if (!resp)
		return NULL;
	ret = dispatch(ctl, text, len, resp, name, sizeof(name), &err);
	if (ret) {
		json_object_clear(resp);
		json_object_set_new(resp, "error", json_string(err.msg));
		json_object_set_new(resp, "errno", json_integer(-ret));
		vp_event(&ctl->cfg.events, "control.error", "command=%s errno=%d error=\"%s\"", name, -ret,
				 err.msg);
	}
	json_object_set_new(resp, "ok", json_boolean(ret == 0));
	out = vp_json_dump(resp);
	json_decref(resp);
	return out;
}
