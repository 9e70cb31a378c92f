/* delegate.h - run another CNI plugin (IPAM) found on CNI_PATH, with the same
 * environment and stdin, as the spec's delegation requires.
 */
#ifndef VP_CNI_DELEGATE_H
#define VP_CNI_DELEGATE_H

#include "common/error.h"
#include "cni/core/cni.h"

/* Run plugin type with command (ADD/DEL/CHECK/STATUS/GC) for req and wait
 * for it (start + finish).  For ADD the delegate's result is parsed into *result (may be NULL otherwise).  A
 * delegate's error JSON is passed through: err gets its code and msg, and
 * the return is -EREMOTEIO (the delegate ran and reported failure).  A
 * missing binary is code 50 for STATUS, else 7 ("unknown IPAM type"). */
int vp_cni_delegate(const struct vp_cni_request *req, const char *type,
		    enum vp_cni_command command, struct vp_cni_result *result,
		    struct vp_error *err) VP_MUST_CHECK;

/* A delegate running in the background (opaque). */
struct vp_cni_delegation;

/* Start plugin type with command for req (the same checks and errors as
 * vp_cni_delegate) and return at once, so the caller can work while it runs.
 * On success *out is the running child, to be passed to
 * vp_cni_delegate_finish() exactly once; req and type must outlive it.  On
 * failure *out is NULL and nothing is left running. */
int vp_cni_delegate_start(const struct vp_cni_request *req, const char *type,
			  enum vp_cni_command command, struct vp_cni_delegation **out,
			  struct vp_error *err) VP_MUST_CHECK;

/* Wait for d: read its output, reap it, and report as vp_cni_delegate does
 * (for ADD its result into *result, which may be NULL to ignore it).  Always
 * frees d and closes its fds, whatever the outcome. */
int vp_cni_delegate_finish(struct vp_cni_delegation *d, struct vp_cni_result *result,
			   struct vp_error *err) VP_MUST_CHECK;

/* The IPAM type of req's config ("ipam.type"), or NULL with err (code 7). */
const char *vp_cni_ipam_type(const struct vp_cni_request *req, struct vp_error *err);

#endif
