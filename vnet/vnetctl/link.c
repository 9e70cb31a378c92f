/* link.c - vnetctl link attach|detach|show: put an existing link on a
 * bridge or take it off, and show any link.
 */
#include <errno.h>
#include <stdio.h>

#include "vnet/vnetctl/vnetctl.h"

static const struct vnetctl_optdef opts[] = {
	{ "bridge", "BRIDGE", "the bridge (required for attach)" },
	{ "netns", "NS", "namespace of the link and bridge (default: the host's)" },
	{ NULL, NULL, NULL },
};

static int link_get(struct vnetctl *c, const struct vnetctl_args *a, struct vnetctl_ns **ns,
		    struct vp_link_info *l, struct vp_error *err)
{
	int ret;

	if (!a->name)
		return vnetctl_usage(err, "missing the LINK");
	ret = vnetctl_ns(c, vnetctl_arg(a, "netns"), ns, err);
	if (ret == 0)
		ret = vnetctl_link_lookup(*ns, a->name, l, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "link %s does not exist", a->name);
	return ret;
}

static int link_attach(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *bridge = vnetctl_arg(a, "bridge");
	struct vnetctl_ns *ns;
	struct vp_link_info l;
	int master, ret;

	if (!bridge)
		return vnetctl_usage(err, "link attach: --bridge BRIDGE is required");
	ret = link_get(c, a, &ns, &l, err);
	if (ret == 0)
		ret = vnetctl_bridge_index(ns, bridge, &master, err);
	if (ret < 0)
		return ret;
	if (l.master == master) {
		vnetctl_already(c, "attached", "link %s on %s", l.name, bridge);
		return 0;
	}
	if (l.master)
		return vp_error_code(err, 0, EEXIST, "link %s: already on another bridge (ifindex %d); "
				    "detach it first", l.name, l.master);
	ret = vp_link_set_master(ns->nl, l.ifindex, master, err);
	if (ret == 0)
		vnetctl_done(c, "attached", "link %s on %s", l.name, bridge);
	return ret;
}

static int link_detach(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	struct vp_link_info l;
	int ret;

	ret = link_get(c, a, &ns, &l, err);
	if (ret < 0)
		return ret;
	if (!l.master) {
		vnetctl_already(c, "detached", "link %s", l.name);
		return 0;
	}
	ret = vp_link_set_master(ns->nl, l.ifindex, 0, err);
	if (ret == 0)
		vnetctl_done(c, "detached", "link %s", l.name);
	return ret;
}

static int link_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	return vnetctl_link_show(c, NULL, vnetctl_arg(a, "netns"), a->name, NULL, err);
}

static const struct vnetctl_verb verbs[] = {
	{ "attach", "LINK --bridge BRIDGE [--netns NS]", "Enslave LINK to BRIDGE.", opts,
	  link_attach },
	{ "detach", "LINK [--netns NS]", "Release LINK from its bridge.", opts, link_detach },
	{ "show", "[LINK] [--netns NS] [--json]", "Show one link or all.", opts, link_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_link_family = { "link", "any link: bridge membership", verbs };
