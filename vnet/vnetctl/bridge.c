/* bridge.c - vnetctl bridge add|del|show.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnet/vnetctl/vnetctl.h"

/* A bridge follows the smallest MTU of its ports unless its MTU was changed
 * after creation (the kernel's "set by user" flag; the MTU given at creation
 * does not count, and a change to the current value is ignored), so pin it
 * with a real change, by way of a neighbouring value when it already has it. */
static int bridge_pin_mtu(struct vnetctl *c, struct vp_link_info *l, unsigned mtu,
			  struct vp_error *err)
{
	int ret = 0;

	if (l->mtu == mtu)
		ret = vp_link_set_mtu(c->ns[0].nl, l->ifindex, mtu > 68 ? mtu - 1 : mtu + 1, err);
	if (ret == 0)
		ret = vp_link_set_mtu(c->ns[0].nl, l->ifindex, mtu, err);
	if (ret == 0)
		l->mtu = mtu;
	return ret;
}

int vnetctl_bridge_ensure(struct vnetctl *c, const struct vnetctl_bridge *b, struct vp_error *err)
{
	struct vp_bridge_config cfg = { .name = b->name };
	struct vp_link_info l;
	int ret;

	ret = vnetctl_link_lookup(&c->ns[0], b->name, &l, err);
	if (ret == 0) {
		if (strcmp(l.kind, "bridge"))
			return vp_error_code(err, 0, EEXIST, "bridge %s: kind is %s, want bridge",
					    b->name, l.kind[0] ? l.kind : "plain");
		if (b->mtu && l.mtu != b->mtu)
			return vp_error_code(err, 0, EEXIST, "bridge %s: mtu is %u, want %u", b->name,
					    l.mtu, b->mtu);
		ret = vnetctl_check_owner(c, "bridge", &l, err);
		if (ret == 0)
			vnetctl_already(c, "present", "bridge %s", b->name);
		return ret;
	}
	if (ret != -ENODEV)
		return ret;
	if (!c->dry_run) {
		ret = vp_bridge_ensure(c->ns[0].nl, &cfg, &l, err);
		if (ret == 0)
			ret = vnetctl_link_created(c, &c->ns[0], &l, NULL, err);
		if (ret == 0 && b->mtu)
			ret = bridge_pin_mtu(c, &l, b->mtu, err);
		if (ret < 0)
			return ret;
	}
	vnetctl_done(c, "created", "bridge %s", b->name);
	return 0;
}

static const struct vnetctl_optdef add_opts[] = {
	{ "mtu", "N", "MTU (default: the kernel's; an existing bridge must match)" },
	{ NULL, NULL, NULL },
};

static int bridge_add(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_bridge b = { 0 };
	unsigned long mtu;
	int ret;

	ret = vnetctl_arg_name(a, "bridge NAME", &b.name, err);
	if (ret == 0)
		ret = vnetctl_arg_uint(a, "mtu", 0, 65535, &mtu, err);
	if (ret < 0)
		return ret;
	b.mtu = mtu;
	return vnetctl_bridge_ensure(c, &b, err);
}

static int bridge_del(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *name;
	int ret = vnetctl_arg_name(a, "bridge NAME", &name, err);

	return ret ? ret : vnetctl_link_remove(c, "bridge", "bridge", NULL, name, err);
}

static json_t *bridge_ports(struct vnetctl_ns *ns, const struct vp_link_info *br)
{
	struct vp_link_info *v;
	json_t *ports;
	size_t n;

	if (vp_link_list(ns->nl, NULL, &v, &n, NULL) < 0)
		return NULL;
	ports = json_array();
	for (size_t i = 0; ports && i < n; i++)
		if (v[i].master == br->ifindex)
			json_array_append_new(ports, json_string(v[i].name));
	free(v);
	return json_pack("{s:o}", "ports", ports);
}

static int bridge_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	return vnetctl_link_show(c, "bridge", NULL, a->name, bridge_ports, err);
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "NAME [--mtu N]", "Create bridge NAME (up) unless it exists as asked.",
	  add_opts, bridge_add },
	{ "del", "NAME", "Delete bridge NAME (its ports are released, not deleted).", NULL,
	  bridge_del },
	{ "show", "[NAME] [--json]", "Show one bridge or all, with their ports.", NULL, bridge_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_bridge_family = { "bridge", "Linux bridges", verbs };
