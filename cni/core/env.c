/* env.c - the CNI_* environment: command, container ID, netns, interface
 * name, CNI_ARGS and CNI_PATH, each checked the way libcni checks them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cni/core/skel_internal.h"

enum { NEED_CID = 1, NEED_NETNS = 2, NEED_IFNAME = 4, NEED_PATH = 8 };

/* What each command needs from the environment (SPEC.md "Parameters"). */
static const struct {
	const char *name;
	unsigned needs;
} commands[] = {
	[VP_CNI_ADD] = { "ADD", NEED_CID | NEED_NETNS | NEED_IFNAME | NEED_PATH },
	[VP_CNI_DEL] = { "DEL", NEED_CID | NEED_IFNAME | NEED_PATH },
	[VP_CNI_CHECK] = { "CHECK", NEED_CID | NEED_NETNS | NEED_IFNAME | NEED_PATH },
	[VP_CNI_STATUS] = { "STATUS", NEED_PATH },
	[VP_CNI_GC] = { "GC", NEED_PATH },
	[VP_CNI_VERSION] = { "VERSION", 0 },
};

const char *vp_cni_command_name(enum vp_cni_command cmd)
{
	if ((unsigned)cmd >= sizeof(commands) / sizeof(commands[0]))
		return "?";
	return commands[cmd].name;
}

/* The value of name in envp, NULL when absent; empty counts as absent. */
static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return (*envp)[n + 1] ? *envp + n + 1 : NULL;
	return NULL;
}

/* libcni's ValidateContainerID: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ */
static bool container_id_valid(const char *id)
{
	if (!isalnum((unsigned char)id[0]))
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
			return false;
	return true;
}

/* libcni's ValidateInterfaceName: 1..15 bytes, not "." or "..", no '/',
 * ':' or white space. */
static bool ifname_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	return true;
}

static int parse_command(const char *text, enum vp_cni_command *out, struct vp_error *err)
{
	if (!text)
		return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0, "CNI_COMMAND: missing");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(text, commands[i].name)) {
			*out = (enum vp_cni_command)i;
			return 0;
		}
	}
	return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0,
			     "CNI_COMMAND: unknown command \"%.32s\"", text);
}

/* The per-command required and validated variables.  CNI_NETNS stays a
 * path: the plugins open it and judge it (see cni/plumb/pod_iface.h), because DEL must
 * succeed even when it is gone or wrong. */
static int parse_targets(struct vp_cni_request *req, char *const *envp, unsigned needs,
			 struct vp_error *err)
{
	if (needs & NEED_CID) {
		req->container_id = env_get(envp, "CNI_CONTAINERID");
		if (!req->container_id)
			return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0, "CNI_CONTAINERID: missing");
		if (!container_id_valid(req->container_id))
			return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0,
					     "CNI_CONTAINERID: \"%.100s\" must start with a letter or digit and contain only letters, digits, '_', '.' and '-'",
					     req->container_id);
	}
	if (needs & NEED_IFNAME) {
		req->ifname = env_get(envp, "CNI_IFNAME");
		if (!req->ifname)
			return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0, "CNI_IFNAME: missing");
		if (!ifname_valid(req->ifname))
			return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0,
					     "CNI_IFNAME: \"%.100s\" is not a valid interface name (1-15 bytes, no '/', ':' or spaces, not \".\" or \"..\")",
					     req->ifname);
	}
	if (needs & (NEED_CID | NEED_IFNAME)) {   /* ADD, DEL, CHECK */
		req->netns = env_get(envp, "CNI_NETNS");
		if (!req->netns && (needs & NEED_NETNS))
			return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0, "CNI_NETNS: missing");
	}
	return 0;
}

int vp_cni_env_parse(struct vp_cni_call *call, char *const *envp, struct vp_error *err)
{
	struct vp_cni_request *req = &call->req;
	const char *args;
	unsigned needs;
	int ret;

	req->envp = envp;
	ret = parse_command(env_get(envp, "CNI_COMMAND"), &req->command, err);
	if (ret < 0)
		return ret;
	needs = commands[req->command].needs;
	ret = parse_targets(req, envp, needs, err);
	if (ret < 0)
		return ret;
	if (needs & NEED_PATH) {
		req->cni_path = env_get(envp, "CNI_PATH");
		if (!req->cni_path)
			return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0, "CNI_PATH: missing");
	}
	args = env_get(envp, "CNI_ARGS");
	return args && req->command != VP_CNI_VERSION ? vp_cni_env_args_parse(call, args, err) : 0;
}

int vp_cni_env_args_parse(struct vp_cni_call *call, const char *text, struct vp_error *err)
{
	struct vp_cni_request *req = &call->req;
	size_t max = 1;
	char *save = NULL, *pair, *eq;

	for (const char *p = text; *p; p++)
		max += *p == ';';
	free(call->args_buf);
	free(req->env_args);
	req->n_env_args = 0;
	call->args_buf = strdup(text);
	req->env_args = calloc(max, sizeof(*req->env_args));
	if (!call->args_buf || !req->env_args)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: CNI_ARGS");
	for (pair = strtok_r(call->args_buf, ";", &save); pair; pair = strtok_r(NULL, ";", &save)) {
		eq = strchr(pair, '=');
		if (!eq || eq == pair || strchr(eq + 1, '='))
			return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, 0,
					     "CNI_ARGS: invalid pair \"%.100s\" (want KEY=VALUE)", pair);
		*eq = '\0';
		req->env_args[req->n_env_args].key = pair;
		req->env_args[req->n_env_args++].value = eq + 1;
	}
	return 0;
}

const char *vp_cni_env_arg(const struct vp_cni_request *req, const char *key)
{
	for (size_t i = 0; i < req->n_env_args; i++)
		if (!strcmp(req->env_args[i].key, key))
			return req->env_args[i].value;
	return NULL;
}
