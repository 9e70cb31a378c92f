/* netns.c - vnetctl netns add|del|show: named network namespaces.  The
 * ownership mark of a namespace is the alias of its loopback link.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vnet/netns.h"
#include "vnet/vnetctl/vnetctl.h"

static int netns_lo(struct vnetctl *c, const char *name, struct vnetctl_ns **ns,
		    struct vp_link_info *lo, struct vp_error *err)
{
	int ret = vnetctl_ns(c, name, ns, err);

	return ret ? ret : vnetctl_link_lookup(*ns, "lo", lo, err);
}

int vnetctl_netns_ensure(struct vnetctl *c, const char *name, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	struct vp_link_info lo;
	int ret;

	ret = netns_lo(c, name, &ns, &lo, err);
	if (ret == 0) {
		if (c->owned_only && strcmp(lo.alias, c->mark))
			return vp_error_code(err, 0, EEXIST, "netns %s: exists but was not made by %s",
					    name, c->mark);
		vnetctl_already(c, "present", "netns %s", name);
		return 0;
	}
	if (ret != -ENOENT)
		return ret;
	vp_error_clear(err);
	if (!c->dry_run) {
		ret = vp_netns_create(name, err);
		if (ret == 0 && c->undo)
			ret = vp_netns_push_undo(name, c->undo, err);
		if (ret == 0)
			ret = netns_lo(c, name, &ns, &lo, err);
		if (ret == 0)
			ret = vp_link_set_alias(ns->nl, lo.ifindex, c->mark, err);
		if (ret == 0)
			ret = vp_link_set_up(ns->nl, lo.ifindex, err);
		if (ret < 0) {
			vp_error_prefix(err, "netns %s", name);
			return ret;
		}
	}
	vnetctl_done(c, "created", "netns %s", name);
	return 0;
}

int vnetctl_netns_remove(struct vnetctl *c, const char *name, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	struct vp_link_info lo;
	int ret;

	ret = netns_lo(c, name, &ns, &lo, err);
	if (ret == -ENOENT) {
		vp_error_clear(err);
		vnetctl_already(c, "absent", "netns %s", name);
		return 0;
	}
	if (ret < 0)
		return ret;
	if (c->owned_only && strcmp(lo.alias, c->mark)) {
		printf("netns %s: not made by %s, left alone\n", name, c->mark);
		return 0;
	}
	if (!c->dry_run) {
		vnetctl_ns_forget(c, name);
		ret = vp_netns_delete(name, err);
		if (ret < 0 && ret != -ENOENT)
			return ret;
	}
	vnetctl_done(c, "deleted", "netns %s", name);
	return 0;
}

static int netns_add(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *name;
	int ret = vnetctl_arg_name(a, "netns NAME", &name, err);

	return ret ? ret : vnetctl_netns_ensure(c, name, err);
}

static int netns_del(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *name;
	int ret = vnetctl_arg_name(a, "netns NAME", &name, err);

	return ret ? ret : vnetctl_netns_remove(c, name, err);
}

static int netns_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	struct vp_link_info lo;
	const char *name;
	int ret;

	ret = vnetctl_arg_name(a, "netns NAME", &name, err);
	if (ret == 0)
		ret = netns_lo(c, name, &ns, &lo, err);
	if (ret < 0)
		return ret;
	if (c->json)
		vnetctl_print_json(json_pack("{s:s, s:s, s:s}", "name", name, "path", ns->path,
					     "alias", lo.alias));
	else
		printf("netns %s path %s%s%s\n", name, ns->path, lo.alias[0] ? " alias " : "",
		       lo.alias);
	return 0;
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "NAME", "Create network namespace NAME under /run/netns (lo up).", NULL,
	  netns_add },
	{ "del", "NAME", "Delete network namespace NAME.", NULL, netns_del },
	{ "show", "NAME [--json]", "Show namespace NAME.", NULL, netns_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_netns_family = { "netns", "named network namespaces", verbs };
