/* redirect.c - vnetctl redirect add|del|show: everything arriving on one
 * link leaves through the other and back (tc ingress + u32 + mirred, what
 * vnet-tap does between a pod's veth and a VM's tap).
 */
#include <errno.h>
#include <stdio.h>

#include "vnet/tc.h"
#include "vnet/vnetctl/vnetctl.h"

static const struct vnetctl_optdef opts[] = {
	{ "to", "LINK", "the other link (required)" },
	{ "netns", "NS", "namespace of both links (default: the host's)" },
	{ NULL, NULL, NULL },
};

struct redirect {
	struct vnetctl_ns *ns;
	struct vp_link_info a, b;
};

static int redirect_args(struct vnetctl *c, const struct vnetctl_args *args, struct redirect *r,
			 struct vp_error *err)
{
	const char *to = vnetctl_arg(args, "to");
	int ret;

	if (!args->name || !to)
		return vnetctl_usage(err, "redirect: LINK and --to LINK are required");
	ret = vnetctl_ns(c, vnetctl_arg(args, "netns"), &r->ns, err);
	if (ret == 0)
		ret = vnetctl_link_lookup(r->ns, args->name, &r->a, err);
	if (ret == 0)
		ret = vnetctl_link_lookup(r->ns, to, &r->b, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "redirect %s -> %s: link missing", args->name, to);
	return ret;
}

/* Look up both links and whether each one's ingress goes to the other. */
static int redirect_lookup(struct vnetctl *c, const struct vnetctl_args *args, struct redirect *r,
			   bool *both, struct vp_error *err)
{
	bool ab, ba;
	int ret = redirect_args(c, args, r, err);

	if (ret == 0)
		ret = vp_tc_redirect_check(r->ns->nl, r->a.ifindex, r->b.ifindex, &ab, err);
	if (ret == 0)
		ret = vp_tc_redirect_check(r->ns->nl, r->b.ifindex, r->a.ifindex, &ba, err);
	*both = ret == 0 && ab && ba;
	return ret;
}

static int redirect_add(struct vnetctl *c, const struct vnetctl_args *args, struct vp_error *err)
{
	struct redirect r;
	bool both;
	int ret = redirect_lookup(c, args, &r, &both, err);

	if (ret < 0)
		return ret;
	if (both) {
		vnetctl_already(c, "present", "redirect %s <-> %s", r.a.name, r.b.name);
		return 0;
	}
	ret = vp_tc_redirect_pair(r.ns->nl, r.a.ifindex, r.b.ifindex, err);
	if (ret == 0)
		vnetctl_done(c, "created", "redirect %s <-> %s", r.a.name, r.b.name);
	return ret;
}

static int redirect_del(struct vnetctl *c, const struct vnetctl_args *args, struct vp_error *err)
{
	struct redirect r;
	int ret;

	ret = redirect_args(c, args, &r, err);
	if (ret == -ENODEV) {
		vp_error_clear(err);
		vnetctl_already(c, "absent", "redirect %s", args->name);
		return 0;
	}
	if (ret == 0)
		ret = vp_tc_ingress_clear(r.ns->nl, r.a.ifindex, err);
	if (ret == 0)
		ret = vp_tc_ingress_clear(r.ns->nl, r.b.ifindex, err);
	if (ret == 0)
		vnetctl_done(c, "deleted", "redirect %s <-> %s", r.a.name, r.b.name);
	return ret;
}

static int redirect_show(struct vnetctl *c, const struct vnetctl_args *args, struct vp_error *err)
{
	struct redirect r;
	bool both;
	int ret = redirect_lookup(c, args, &r, &both, err);

	if (ret < 0)
		return ret;
	if (c->json)
		vnetctl_print_json(json_pack("{s:s, s:s, s:b}", "link", r.a.name, "to", r.b.name,
					     "redirect", both));
	else
		printf("redirect %s <-> %s: %s\n", r.a.name, r.b.name, both ? "present" : "absent");
	return 0;
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "LINK --to LINK [--netns NS]", "Redirect each link's ingress to the other.",
	  opts, redirect_add },
	{ "del", "LINK --to LINK [--netns NS]", "Remove both links' ingress qdiscs.", opts,
	  redirect_del },
	{ "show", "LINK --to LINK [--netns NS] [--json]", "Say whether the redirect is in place.",
	  opts, redirect_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_redirect_family = { "redirect", "tc redirects between links",
							  verbs };
