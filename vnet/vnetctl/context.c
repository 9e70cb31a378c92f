/* context.c - vnetctl's run context: namespaces and their netlink handles,
 * the ownership marker, and the outcome lines every verb prints.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vnet/netns.h"
#include "vnet/nl.h"
#include "vnet/vnetctl/vnetctl.h"

int vnetctl_init(struct vnetctl *c, struct vp_error *err)
{
	int ret;

	memset(c, 0, sizeof(*c));
	snprintf(c->mark, sizeof(c->mark), "%s", VNETCTL_MARK);
	c->nat_network = "vnetctl";
	c->ns[0].fd = -1;
	ret = vp_nl_open(&c->ns[0].nl, err);
	if (ret < 0)
		return ret;
	c->n_ns = 1;
	return 0;
}

void vnetctl_fini(struct vnetctl *c)
{
	for (size_t i = 0; i < c->n_ns; i++) {
		vp_nl_close(c->ns[i].nl);
		if (c->ns[i].fd >= 0)
			close(c->ns[i].fd);
	}
	c->n_ns = 0;
}

void vnetctl_set_topology(struct vnetctl *c, const char *name)
{
	snprintf(c->mark, sizeof(c->mark), "%s:%s", VNETCTL_MARK, name);
	c->owned_only = true;
}

static int ns_path(const char *netns, char *buf, size_t size, struct vp_error *err)
{
	if (strchr(netns, '/')) {
		if (strlen(netns) >= size)
			return vp_error_set(err, ENAMETOOLONG, "network namespace path %s", netns);
		snprintf(buf, size, "%s", netns);
		return 0;
	}
	return vp_netns_named_path(netns, buf, size, err);
}

int vnetctl_ns(struct vnetctl *c, const char *netns, struct vnetctl_ns **out, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	char path[PATH_MAX];
	int ret;

	if (!netns || !netns[0]) {
		*out = &c->ns[0];
		return 0;
	}
	ret = ns_path(netns, path, sizeof(path), err);
	if (ret < 0)
		return ret;
	for (size_t i = 1; i < c->n_ns; i++)
		if (!strcmp(c->ns[i].path, path)) {
			*out = &c->ns[i];
			return 0;
		}
	if (c->n_ns == VNETCTL_MAX_NETNS)
		return vp_error_set(err, E2BIG, "more than %d network namespaces", VNETCTL_MAX_NETNS);
	ns = &c->ns[c->n_ns];
	ret = vp_netns_open(path, &ns->fd, err);
	if (ret < 0) {
		vp_error_prefix(err, "network namespace %s", netns);
		return ret;
	}
	ret = vp_nl_open_netns(ns->fd, &ns->nl, err);
	if (ret < 0) {
		close(ns->fd);
		return ret;
	}
	snprintf(ns->path, sizeof(ns->path), "%s", path);
	c->n_ns++;
	*out = ns;
	return 0;
}

void vnetctl_ns_forget(struct vnetctl *c, const char *netns)
{
	char path[PATH_MAX];

	if (!netns || ns_path(netns, path, sizeof(path), NULL) < 0)
		return;
	for (size_t i = 1; i < c->n_ns; i++) {
		if (strcmp(c->ns[i].path, path))
			continue;
		vp_nl_close(c->ns[i].nl);
		close(c->ns[i].fd);
		c->ns[i] = c->ns[--c->n_ns];
		return;
	}
}

void vnetctl_done(struct vnetctl *c, const char *verb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(": %s%s\n", c->dry_run ? "would be " : "", verb);
	c->changes++;
}

void vnetctl_already(struct vnetctl *c, const char *state, const char *fmt, ...)
{
	va_list ap;

	(void)c;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(": already %s\n", state);
}

void vnetctl_print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(v);
}
