/* config.c - the plugin config on stdin: JSON, version negotiation against
 * vp_cni_versions, name/type, prevResult and GC's valid attachments; plus
 * the VERSION reply.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "cni/core/skel_internal.h"

const char *const vp_cni_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL };

/* The oldest config version that has each verb (SPEC.md). */
static const char *const min_version[] = {
	[VP_CNI_CHECK] = "0.4.0",
	[VP_CNI_STATUS] = "1.1.0",
	[VP_CNI_GC] = "1.1.0",
};

int vp_cni_version_cmp(const char *a, const char *b)
{
	for (int i = 0; i < 3; i++) {
		unsigned long x = strtoul(a, (char **)&a, 10);
		unsigned long y = strtoul(b, (char **)&b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		a += *a == '.';
		b += *b == '.';
	}
	return 0;
}

bool vp_cni_version_supported(const char *version)
{
	for (const char *const *v = vp_cni_versions; *v; v++)
		if (!strcmp(*v, version))
			return true;
	return false;
}

/* libcni's ValidateNetworkName: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
static bool network_name_valid(const char *name)
{
	if (!isalnum((unsigned char)name[0]))
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return false;
	return true;
}

static int parse_version(struct vp_cni_request *req, struct vp_error *err)
{
	const char *v;
	int ret;

	ret = vp_json_opt_str(req->config, "", "cniVersion", NULL, &v, err);
	if (ret < 0)
		return ret;
	if (!v)
		return vp_error_code(err, VP_CNI_ERR_INCOMPATIBLE_VERSION, 0,
				     "cniVersion: missing (supported: 0.3.0 to 1.1.0)");
	if (!vp_cni_version_supported(v))
		return vp_error_code(err, VP_CNI_ERR_INCOMPATIBLE_VERSION, 0,
				     "cniVersion: \"%.32s\" is not supported (supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)",
				     v);
	req->version = v;
	if (req->command < sizeof(min_version) / sizeof(min_version[0]) && min_version[req->command] &&
	    vp_cni_version_cmp(v, min_version[req->command]) < 0)
		return vp_error_code(err, VP_CNI_ERR_INCOMPATIBLE_VERSION, 0,
				     "config version %s does not allow %s (needs %s or later)", v,
				     vp_cni_command_name(req->command), min_version[req->command]);
	return 0;
}

static int parse_identity(struct vp_cni_request *req, struct vp_error *err)
{
	int ret;

	ret = vp_json_req_str(req->config, "", "name", &req->network, err);
	if (ret < 0)
		return ret;
	if (!network_name_valid(req->network))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "name: \"%.100s\" must start with a letter or digit and contain only letters, digits, '_', '.' and '-'",
				     req->network);
	ret = vp_json_req_str(req->config, "", "type", &req->type, err);
	if (ret < 0)
		return ret;
	ret = vp_json_opt_obj(req->config, "", "runtimeConfig", &req->runtime_config, err);
	if (ret < 0)
		return ret;
	return vp_json_opt_obj(req->config, "", "args", &req->args, err);
}

/* prevResult, when present.  DEL must complete as far as it can (spec:
 * best effort), and needs no prevResult to find what to remove (netns +
 * ifname, container ID + ifname), so there a malformed one is ignored. */
static int parse_prev(struct vp_cni_call *call, struct vp_error *err)
{
	struct vp_error ignored = { 0 };
	bool del = call->req.command == VP_CNI_DEL;
	struct vp_error *e = del ? &ignored : err;
	json_t *prev = NULL;
	int ret;

	ret = vp_json_opt_obj(call->req.config, "", "prevResult", &prev, e);
	if (ret == 0 && prev)
		ret = vp_cni_result_parse(prev, call->req.version, &call->prev, e);
	if (ret < 0) {
		if (del)
			return 0;
		vp_error_prefix(err, "prevResult");
		return ret;
	}
	if (prev)
		call->req.prev = &call->prev;
	return 0;
}

/* GC's "cni.dev/valid-attachments" (libcni before the spec's rename sends
 * "cni.dev/attachments" too).  Required: without it GC would free all. */
static int parse_valid(struct vp_cni_request *req, struct vp_error *err)
{
	const char *key = "cni.dev/valid-attachments";
	char path[64];
	json_t *list, *item;
	size_t i;
	int ret;

	ret = vp_json_opt_array(req->config, "", key, &list, err);
	if (ret == 0 && !list) {
		key = "cni.dev/attachments";
		ret = vp_json_opt_array(req->config, "", key, &list, err);
	}
	if (ret < 0)
		return ret;
	if (!list)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "cni.dev/valid-attachments: missing (GC needs the list of attachments to keep)");
	req->valid = calloc(json_array_size(list) + 1, sizeof(*req->valid));
	if (!req->valid)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: %s", key);
	json_array_foreach(list, i, item) {
		struct vp_cni_attachment *a = &req->valid[i];

		vp_json_path(path, sizeof(path), key, NULL, (long)i);
		if (!json_is_object(item))
			return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "%s: expected an object", path);
		ret = vp_json_req_str(item, path, "containerID", &a->container_id, err);
		if (ret == 0)
			ret = vp_json_req_str(item, path, "ifname", &a->ifname, err);
		if (ret < 0)
			return ret;
		req->n_valid++;
	}
	return 0;
}

int vp_cni_config_parse(struct vp_cni_call *call, char *text, size_t len, struct vp_error *err)
{
	struct vp_cni_request *req = &call->req;
	int ret;

	call->input = text;
	req->stdin_raw = text;
	req->stdin_len = len;
	ret = vp_json_parse(text, len, &req->config, err);
	if (ret < 0)
		return ret;
	if (!json_is_object(req->config))
		return vp_error_code(err, VP_CNI_ERR_DECODE, 0, "config: expected a JSON object");
	ret = parse_version(req, err);
	if (ret == 0)
		ret = parse_identity(req, err);
	if (ret == 0)
		ret = parse_prev(call, err);
	if (ret == 0 && req->command == VP_CNI_GC)
		ret = parse_valid(req, err);
	return ret;
}

json_t *vp_cni_version_info(const char *text, size_t len)
{
	const char *version = VP_CNI_DEFAULT_VERSION;
	json_t *in = len ? json_loadb(text, len, 0, NULL) : NULL;
	json_t *supported = json_array(), *out = NULL;
	const char *asked = json_string_value(json_object_get(in, "cniVersion"));

	if (asked && vp_cni_version_supported(asked))
		version = asked;
	for (const char *const *v = vp_cni_versions; supported && *v; v++)
		if (json_array_append_new(supported, json_string(*v)) < 0)
			goto out;
	out = json_pack("{s:s, s:O}", "cniVersion", version, "supportedVersions", supported);
out:
	json_decref(supported);
	json_decref(in);
	return out;
}
