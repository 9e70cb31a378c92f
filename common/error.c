/* error.c - recording what failed in a struct vp_error. */
#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0)))
static void error_vset(struct vp_error *err, int errnum, bool with_strerror,
		       const char *fmt, va_list ap)
{
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);

	if (with_strerror && errnum > 0 && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	err->errnum = errnum;
}

int vp_error_set(struct vp_error *err, int errnum, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		va_start(ap, fmt);
		error_vset(err, errnum, true, fmt, ap);
		va_end(ap);
		err->code = 0;
	}
	return errnum > 0 ? -errnum : -EINVAL;
}

int vp_error_code(struct vp_error *err, int code, int errnum, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		va_start(ap, fmt);
		error_vset(err, errnum, false, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return errnum > 0 ? -errnum : -EINVAL;
}

void vp_error_prefix(struct vp_error *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	size_t n;
	va_list ap;
	int len;

	if (!err)
		return;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	len = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = len < 0 ? 0 : (size_t)len;
	if (n + 2 < sizeof(err->msg)) {
		/* Truncation of the old text is fine: the context matters most. */
		memcpy(err->msg + n, ": ", 2);
		n += 2;
		memcpy(err->msg + n, old, sizeof(err->msg) - n - 1);
		err->msg[sizeof(err->msg) - 1] = '\0';
	}
}

void vp_error_clear(struct vp_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}
