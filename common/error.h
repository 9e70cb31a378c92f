/* error.h - the one error type of vplumb.
 *
 * Fallible functions return 0 or -errno (never set errno) and, when the
 * caller passes a struct vp_error, describe what failed in it.  Only main()
 * turns a vp_error into output (stderr line, CNI error JSON, gRPC status).
 */
#ifndef VP_COMMON_ERROR_H
#define VP_COMMON_ERROR_H

#include <stddef.h>

#define VP_MUST_CHECK __attribute__((warn_unused_result))

struct vp_error {
	int errnum;     /* positive errno of the failure; 0 when none */
	int code;       /* protocol code (CNI error code, ...); 0 = let the caller pick */
	char msg[512];  /* "what failed: why", already formatted */
};

/* Record a failure: msg is the formatted text, followed by ": strerror(errnum)"
 * when errnum > 0.  err may be NULL.  Returns -errnum (or -EINVAL when errnum
 * is 0), so callers can write `return vp_error_set(err, EEXIST, "...")`. */
int vp_error_set(struct vp_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record a protocol error (e.g. CNI code 7): msg is the formatted text alone,
 * since such errors describe themselves; errnum is kept for the return value
 * (-errnum, or -EINVAL when 0). */
int vp_error_code(struct vp_error *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prepend "context: " to an error already recorded (no-op when err is NULL). */
void vp_error_prefix(struct vp_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Forget any recorded error. */
void vp_error_clear(struct vp_error *err);

#endif
