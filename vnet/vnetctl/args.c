/* args.c - vnetctl's command lines: OBJECT VERB [NAME] [--option [value]]...
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnet/vnetctl/vnetctl.h"

int vnetctl_usage(struct vp_error *err, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(err->msg)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vp_error_code(err, VNETCTL_ERR_USAGE, EINVAL, "%s", msg);
}

static int find_def(const struct vnetctl_optdef *defs, const char *name)
{
	for (int i = 0; defs && defs[i].name; i++)
		if (!strcmp(defs[i].name, name))
			return i;
	return -1;
}

int vnetctl_args_parse(int argc, char **argv, const struct vnetctl_optdef *defs,
		       struct vnetctl_args *a, struct vp_error *err)
{
	memset(a, 0, sizeof(*a));
	a->defs = defs;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		int d;

		if (strncmp(arg, "--", 2)) {
			if (a->name)
				return vnetctl_usage(err, "unexpected argument \"%s\"", arg);
			a->name = arg;
			continue;
		}
		d = find_def(defs, arg + 2);
		if (d < 0 || d >= VNETCTL_MAX_OPTS)
			return vnetctl_usage(err, "unknown option %s", arg);
		if (a->val[d])
			return vnetctl_usage(err, "option %s given twice", arg);
		if (!defs[d].arg) {
			a->val[d] = "1";
			continue;
		}
		if (i + 1 == argc)
			return vnetctl_usage(err, "option %s needs a %s", arg, defs[d].arg);
		a->val[d] = argv[++i];
	}
	return 0;
}

const char *vnetctl_arg(const struct vnetctl_args *a, const char *name)
{
	int d = find_def(a->defs, name);

	return d < 0 ? NULL : a->val[d];
}

bool vnetctl_flag(const struct vnetctl_args *a, const char *name)
{
	return vnetctl_arg(a, name) != NULL;
}

int vnetctl_arg_uint(const struct vnetctl_args *a, const char *name, unsigned long def,
		     unsigned long max, unsigned long *out, struct vp_error *err)
{
	const char *v = vnetctl_arg(a, name);
	char *end;

	*out = def;
	if (!v)
		return 0;
	errno = 0;
	*out = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || *out > max)
		return vnetctl_usage(err, "--%s: \"%s\" is not a number from 0 to %lu", name, v, max);
	return 0;
}

int vnetctl_arg_name(const struct vnetctl_args *a, const char *what, const char **out,
		     struct vp_error *err)
{
	if (!a->name)
		return vnetctl_usage(err, "missing the %s", what);
	*out = a->name;
	return 0;
}
