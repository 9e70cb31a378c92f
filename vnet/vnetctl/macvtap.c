/* macvtap.c - vnetctl macvtap add|del|show.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_link.h>

#include "vnet/macvtap.h"
#include "vnet/vnetctl/vnetctl.h"

static int macvtap_check(struct vnetctl *c, const struct vnetctl_macvtap *m,
			 const struct vp_link_info *l, int lower, struct vp_error *err)
{
	unsigned mode;
	int ret;

	if (strcmp(l->kind, "macvtap"))
		return vp_error_code(err, 0, EEXIST, "macvtap %s: kind is %s, want macvtap", m->name,
				    l->kind[0] ? l->kind : "plain");
	if (l->link != lower)
		return vp_error_code(err, 0, EEXIST, "macvtap %s: lower link is not %s", m->name,
				    m->lower);
	ret = vp_macvtap_get_mode(c->ns[0].nl, l->ifindex, &mode, err);
	if (ret < 0)
		return ret;
	if (mode != m->mode)
		return vp_error_code(err, 0, EEXIST, "macvtap %s: mode is %s, want %s", m->name,
				    vp_macvtap_mode_name(mode), vp_macvtap_mode_name(m->mode));
	return vnetctl_check_owner(c, "macvtap", l, err);
}

int vnetctl_macvtap_ensure(struct vnetctl *c, const struct vnetctl_macvtap *m,
			   struct vp_error *err)
{
	struct vp_link_info l = { 0 }, lower;
	int ret;

	ret = vnetctl_link_lookup(&c->ns[0], m->lower, &lower, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "macvtap %s: lower link %s does not exist",
				    m->name, m->lower);
	if (ret < 0)
		return ret;
	ret = vnetctl_link_lookup(&c->ns[0], m->name, &l, err);
	if (ret == 0) {
		ret = macvtap_check(c, m, &l, lower.ifindex, err);
		if (ret == 0)
			vnetctl_already(c, "present", "macvtap %s", m->name);
		return ret;
	}
	if (ret != -ENODEV)
		return ret;
	if (!c->dry_run) {
		struct vp_macvtap_config cfg = { .name = m->name, .lower = lower.ifindex,
						 .mode = m->mode };

		ret = vp_macvtap_create(c->ns[0].nl, &cfg, &l, err);
		if (ret == 0)
			ret = vnetctl_link_created(c, &c->ns[0], &l, NULL, err);
		if (ret < 0)
			return ret;
	}
	vnetctl_done(c, "created", "macvtap %s (/dev/tap%d)", m->name, l.ifindex);
	return 0;
}

static const struct vnetctl_optdef add_opts[] = {
	{ "link", "LOWER", "the link it stacks on (required)" },
	{ "mode", "MODE", "private, vepa, bridge (default), passthru or source" },
	{ NULL, NULL, NULL },
};

static int macvtap_add(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_macvtap m = { 0 };
	const char *mode = vnetctl_arg(a, "mode");
	int ret, mv;

	ret = vnetctl_arg_name(a, "macvtap NAME", &m.name, err);
	if (ret < 0)
		return ret;
	m.lower = vnetctl_arg(a, "link");
	if (!m.lower)
		return vnetctl_usage(err, "macvtap add: --link LOWER is required");
	mv = vp_macvtap_mode_parse(mode ? mode : "bridge");
	if (mv < 0)
		return vnetctl_usage(err, "macvtap add: unknown --mode %s", mode);
	m.mode = mv;
	return vnetctl_macvtap_ensure(c, &m, err);
}

static int macvtap_del(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *name;
	int ret = vnetctl_arg_name(a, "macvtap NAME", &name, err);

	return ret ? ret : vnetctl_link_remove(c, "macvtap", "macvtap", NULL, name, err);
}

static json_t *macvtap_extra(struct vnetctl_ns *ns, const struct vp_link_info *l)
{
	struct vp_link_info lower;
	char dev[32];
	unsigned mode;

	if (vp_macvtap_get_mode(ns->nl, l->ifindex, &mode, NULL) < 0)
		return NULL;
	snprintf(dev, sizeof(dev), "/dev/tap%d", l->ifindex);
	if (vp_link_by_index(ns->nl, l->link, &lower, NULL) < 0)
		snprintf(lower.name, sizeof(lower.name), "#%d", l->link);
	return json_pack("{s:s, s:s, s:s}", "mode", vp_macvtap_mode_name(mode), "link", lower.name,
			 "device", dev);
}

static int macvtap_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	return vnetctl_link_show(c, "macvtap", NULL, a->name, macvtap_extra, err);
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "NAME --link LOWER [--mode MODE]",
	  "Create macvtap NAME on LOWER (up); its character device is /dev/tapIFINDEX.",
	  add_opts, macvtap_add },
	{ "del", "NAME", "Delete macvtap NAME.", NULL, macvtap_del },
	{ "show", "[NAME] [--json]", "Show one macvtap or all, with mode and device.", NULL,
	  macvtap_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_macvtap_family = { "macvtap", "macvtap links", verbs };
