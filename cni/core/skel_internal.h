/* skel_internal.h - the pieces of vp_cni_main(), exposed for unit tests and
 * fuzzing only (plugins use cni.h).  Each step works on a struct vp_cni_call
 * that owns everything the request borrows.
 */
#ifndef VP_CNI_SKEL_INTERNAL_H
#define VP_CNI_SKEL_INTERNAL_H

#include <stdio.h>

#include "cni/core/cni.h"

#define VP_CNI_STDIN_MAX (16u << 20)   /* config on stdin */
#define VP_CNI_DEFAULT_VERSION "1.1.0" /* VERSION and early errors */

/* One invocation: the request and the memory behind its borrowed strings. */
struct vp_cni_call {
	struct vp_cni_request req;
	char *args_buf;              /* CNI_ARGS copy, split in place */
	char *input;                 /* stdin, NUL-terminated */
	struct vp_cni_result prev;   /* req.prev points here when set */
};

/* Zero call.  Pair with vp_cni_call_free(). */
void vp_cni_call_init(struct vp_cni_call *call);

/* Free everything call owns and zero it again; accepts an initialised call. */
void vp_cni_call_free(struct vp_cni_call *call);

/* Read the CNI_* variables from envp (NULL-terminated "K=V" strings, kept
 * by the caller for the call's life) into call->req: command, container ID,
 * netns, ifname, CNI_ARGS, CNI_PATH, each checked as the command needs.
 * Failures have code 4 (invalid environment). */
int vp_cni_env_parse(struct vp_cni_call *call, char *const *envp,
		     struct vp_error *err) VP_MUST_CHECK;

/* Parse CNI_ARGS text ("K=V;K=V") into call->req.env_args.  Empty
 * segments are skipped; a segment without exactly one '=' or with an empty
 * key fails with code 4. */
int vp_cni_env_args_parse(struct vp_cni_call *call, const char *text,
			  struct vp_error *err) VP_MUST_CHECK;

/* Parse and validate the config in text[0..len) for call->req.command
 * (already set).  Takes ownership of text (malloc'd, NUL-terminated at len):
 * it is freed with the call even on failure.  Codes: 6 malformed JSON or not
 * an object, 1 unsupported cniVersion or a verb the version lacks, 7 bad
 * name/type/prevResult/GC attachments. */
int vp_cni_config_parse(struct vp_cni_call *call, char *text, size_t len,
			struct vp_error *err) VP_MUST_CHECK;

/* The VERSION reply for the request text[0..len) (may be empty or not JSON):
 * {"cniVersion", "supportedVersions"}.  A new reference, NULL on ENOMEM. */
json_t *vp_cni_version_info(const char *text, size_t len);

/* The error JSON {cniVersion, code, msg, details} for err: msg is the short
 * meaning of the code, details err->msg; code 0 becomes VP_CNI_ERR_SYSTEM.
 * A new reference, NULL on ENOMEM. */
json_t *vp_cni_error_json(const char *version, const struct vp_error *err);

/* Compare two "x.y.z" versions like strcmp (unparseable parts count as 0). */
int vp_cni_version_cmp(const char *a, const char *b);

/* True when version is one of vp_cni_versions (exact match). */
bool vp_cni_version_supported(const char *version);

/* Read fd to EOF into a new NUL-terminated buffer (*out, freed by the
 * caller), at most cap bytes: -EFBIG beyond, -errno on a read error. */
int vp_cni_read_all(int fd, size_t cap, char **out, size_t *len) VP_MUST_CHECK;

/* The plugin called type among those vp_cni_main_multi() was given, when
 * path (a delegate found on CNI_PATH) is this very executable; else NULL. */
const struct vp_cni_plugin *vp_cni_builtin(const char *type, const char *path);

/* vp_cni_main() with its inputs given: envp, the config on in_fd, output on
 * out.  Returns the exit code (0, or 1 after printing error JSON). */
int vp_cni_run(const struct vp_cni_plugin *plugin, char *const *envp, int in_fd, FILE *out);

#endif
