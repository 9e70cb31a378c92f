/* cni.h - the CNI protocol (spec 1.1.0) for vplumb's plugins.
 *
 * A plugin is a table of verb handlers handed to vp_cni_main(), which reads
 * the CNI_* environment and the config on stdin, validates both, negotiates
 * the version, calls the handler, and writes the result (in the config's
 * version) or the error JSON on stdout.  Handlers never print.
 */
#ifndef VP_CNI_CNI_H
#define VP_CNI_CNI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "cni/core/result.h"

/* Error codes of the spec (SPEC.md "Error codes"), and vplumb's own (>= 100). */
enum vp_cni_code {
	VP_CNI_ERR_INCOMPATIBLE_VERSION = 1,
	VP_CNI_ERR_UNSUPPORTED_FIELD = 2,
	VP_CNI_ERR_UNKNOWN_CONTAINER = 3,
	VP_CNI_ERR_INVALID_ENV = 4,
	VP_CNI_ERR_IO = 5,
	VP_CNI_ERR_DECODE = 6,
	VP_CNI_ERR_INVALID_CONFIG = 7,
	VP_CNI_ERR_TRY_AGAIN = 11,
	VP_CNI_ERR_NOT_AVAILABLE = 50,
	VP_CNI_ERR_LIMITED_CONNECTIVITY = 51,
	VP_CNI_ERR_SYSTEM = 100,          /* a netlink call or syscall failed */
	VP_CNI_ERR_EXHAUSTED = 101,       /* no free address left in the range set */
	VP_CNI_ERR_IFACE_EXISTS = 102,    /* CNI_IFNAME already present in the netns */
	VP_CNI_ERR_ATTACHMENT_EXISTS = 103, /* (container ID, ifname) already holds addresses */
};

enum vp_cni_command { VP_CNI_ADD, VP_CNI_DEL, VP_CNI_CHECK, VP_CNI_STATUS, VP_CNI_GC, VP_CNI_VERSION };

/* A GC "cni.dev/valid-attachments" entry. */
struct vp_cni_attachment {
	const char *container_id;
	const char *ifname;
};

/* One CNI invocation, validated.  Strings are borrowed and live until the
 * handler returns. */
struct vp_cni_request {
	enum vp_cni_command command;
	const char *container_id;   /* ADD/DEL/CHECK */
	const char *netns;          /* path; NULL on DEL when absent */
	const char *ifname;         /* checked: 1..15 bytes, no '/', ':' or space */
	const char *cni_path;       /* CNI_PATH */
	const char *version;        /* the config's cniVersion, one we support */
	const char *network;        /* config "name" */
	const char *type;           /* config "type" */

	json_t *config;             /* the whole plugin config (stdin) */
	const char *stdin_raw;      /* stdin bytes, passed on to delegates */
	size_t stdin_len;
	json_t *runtime_config;     /* "runtimeConfig" or NULL */
	json_t *args;               /* "args" or NULL */
	struct vp_cni_result *prev; /* prevResult, parsed; NULL if none */

	/* CNI_ARGS "K=V;K=V": every pair, IgnoreUnknown included; unknown keys
	 * never fail (malformed pairs do, code 4). */
	size_t n_env_args;
	struct { const char *key, *value; } *env_args;

	/* GC only. */
	struct vp_cni_attachment *valid;
	size_t n_valid;

	/* The environment the plugin was called with; delegates get it too. */
	char *const *envp;
};

/* "ADD", "DEL", ... for cmd (as in CNI_COMMAND). */
const char *vp_cni_command_name(enum vp_cni_command cmd);

/* Look up a CNI_ARGS key; NULL when absent. */
const char *vp_cni_env_arg(const struct vp_cni_request *req, const char *key);

/* A verb handler: 0 or -errno with err filled (err->code picks the CNI code;
 * 0 maps to VP_CNI_ERR_SYSTEM).  ADD and CHECK fill *result (ADD's is
 * printed); the others get result NULL. */
typedef int (*vp_cni_handler)(const struct vp_cni_request *req, struct vp_cni_result *result,
			      struct vp_error *err);

struct vp_cni_plugin {
	const char *name;       /* for VERSION "about" and logs */
	vp_cni_handler add, del, check, status, gc;   /* NULL status/gc: success */
	bool ipam;              /* an IPAM plugin: may be run in-process as a delegate */
};

/* The whole process: parse env + stdin, dispatch, print.  Returns the exit
 * code.  A NULL handler succeeds without being called (ADD then prints an
 * empty result). */
int vp_cni_main(const struct vp_cni_plugin *plugin);

/* vp_cni_main() for an executable holding several plugins (NULL-terminated),
 * run as the one whose name is the last part of argv0.  They also become
 * the delegates a plugin may run in-process (cni/core/delegate.h).  An
 * unknown name prints the known ones on stderr and returns 2. */
int vp_cni_main_multi(const struct vp_cni_plugin *const *plugins, const char *argv0);

/* Versions we accept, oldest first, NULL-terminated. */
extern const char *const vp_cni_versions[];

#endif
