/* addr.c - vnetctl addr add|del|show: interface addresses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnet/addr.h"
#include "vnet/vnetctl/vnetctl.h"

/* The link's addresses hold a's (1), hold its IP with another length (-EEXIST),
 * or not (0). */
static int addr_state(struct vnetctl_ns *ns, int ifindex, const struct vnetctl_addr *a,
		      struct vp_error *err)
{
	char want[VP_PREFIX_STRLEN];
	struct vp_prefix *v;
	size_t n;
	int ret, state = 0;

	ret = vp_addr_list(ns->nl, ifindex, a->prefix.ip.family, &v, &n, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n && !state; i++) {
		if (!vp_ip_equal(&v[i].ip, &a->prefix.ip))
			continue;
		if (v[i].len == a->prefix.len)
			state = 1;
		else
			state = vp_error_code(err, 0, EEXIST, "address %s on %s: prefix length is %u, "
					     "want %u", vp_prefix_str(&a->prefix, want), a->link,
					     v[i].len, a->prefix.len);
	}
	free(v);
	return state;
}

static int addr_link(struct vnetctl *c, const struct vnetctl_addr *a, struct vnetctl_ns **ns,
		     struct vp_link_info *l, struct vp_error *err)
{
	int ret = vnetctl_ns(c, a->netns, ns, err);

	if (ret < 0)
		return ret;
	ret = vnetctl_link_lookup(*ns, a->link, l, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "link %s does not exist%s%s", a->link,
				    a->netns ? " in " : "", a->netns ? a->netns : "");
	return ret;
}

int vnetctl_addr_ensure(struct vnetctl *c, const struct vnetctl_addr *a, struct vp_error *err)
{
	char p[VP_PREFIX_STRLEN];
	struct vnetctl_ns *ns;
	struct vp_link_info l;
	int ret;

	vp_prefix_str(&a->prefix, p);
	ret = addr_link(c, a, &ns, &l, err);
	/* In a dry run the link may be one apply would create first. */
	if ((ret == -ENODEV || ret == -ENOENT) && c->dry_run) {
		vp_error_clear(err);
		vnetctl_done(c, "added", "address %s on %s%s%s", p, a->link, IN_NS(a->netns));
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = addr_state(ns, l.ifindex, a, err);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		vnetctl_already(c, "present", "address %s on %s%s%s", p, a->link, IN_NS(a->netns));
		return 0;
	}
	if (!c->dry_run) {
		ret = vp_addr_add(ns->nl, l.ifindex, &a->prefix, true, err);
		if (ret == 0 && c->undo)
			ret = vp_addr_push_undo(ns->nl, l.ifindex, &a->prefix, c->undo, err);
		if (ret < 0)
			return ret;
	}
	vnetctl_done(c, "added", "address %s on %s%s%s", p, a->link, IN_NS(a->netns));
	return 0;
}

static const struct vnetctl_optdef opts[] = {
	{ "link", "LINK", "the interface (required for add and del)" },
	{ "netns", "NS", "the namespace of LINK (name or path; default: the host's)" },
	{ NULL, NULL, NULL },
};

static int addr_args(const struct vnetctl_args *args, struct vnetctl_addr *a, struct vp_error *err)
{
	if (!args->name || vp_prefix_parse(args->name, &a->prefix) < 0)
		return vnetctl_usage(err, "expected an ADDRESS/LENGTH, got \"%s\"",
				     args->name ? args->name : "");
	a->link = vnetctl_arg(args, "link");
	a->netns = vnetctl_arg(args, "netns");
	if (!a->link)
		return vnetctl_usage(err, "--link LINK is required");
	return 0;
}

static int addr_add(struct vnetctl *c, const struct vnetctl_args *args, struct vp_error *err)
{
	struct vnetctl_addr a = { 0 };
	int ret = addr_args(args, &a, err);

	return ret ? ret : vnetctl_addr_ensure(c, &a, err);
}

static int addr_del(struct vnetctl *c, const struct vnetctl_args *args, struct vp_error *err)
{
	struct vnetctl_addr a = { 0 };
	char p[VP_PREFIX_STRLEN];
	struct vnetctl_ns *ns;
	struct vp_link_info l;
	int ret;

	ret = addr_args(args, &a, err);
	if (ret < 0)
		return ret;
	vp_prefix_str(&a.prefix, p);
	ret = addr_link(c, &a, &ns, &l, err);
	if (ret == -ENODEV || (ret == -ENOENT && a.netns)) {
		vp_error_clear(err);
		vnetctl_already(c, "absent", "address %s on %s", p, a.link);
		return 0;
	}
	if (ret == 0)
		ret = vp_addr_del(ns->nl, l.ifindex, &a.prefix, err);
	if (ret == -EADDRNOTAVAIL) {
		vnetctl_already(c, "absent", "address %s on %s", p, a.link);
		return 0;
	}
	if (ret == 0)
		vnetctl_done(c, "deleted", "address %s on %s", p, a.link);
	return ret;
}

static int addr_show_link(struct vnetctl_ns *ns, const struct vp_link_info *l, json_t *arr,
			  struct vp_error *err)
{
	char p[VP_PREFIX_STRLEN];
	struct vp_prefix *v;
	size_t n;
	int ret;

	ret = vp_addr_list(ns->nl, l->ifindex, 0, &v, &n, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "link", l->name,
						     "address", vp_prefix_str(&v[i], p)));
	free(v);
	return 0;
}

static int addr_show(struct vnetctl *c, const struct vnetctl_args *args, struct vp_error *err)
{
	const char *link = vnetctl_arg(args, "link");
	struct vp_link_info *links = NULL, one;
	struct vnetctl_ns *ns;
	json_t *arr, *o;
	size_t n = 1, i;
	int ret;

	ret = vnetctl_ns(c, vnetctl_arg(args, "netns"), &ns, err);
	if (ret < 0)
		return ret;
	if (link)
		ret = vnetctl_link_lookup(ns, link, &one, err);
	else
		ret = vp_link_list(ns->nl, NULL, &links, &n, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "link %s does not exist", link);
	if (ret < 0)
		return ret;
	arr = json_array();
	for (i = 0; ret == 0 && i < n; i++)
		ret = addr_show_link(ns, link ? &one : &links[i], arr, err);
	free(links);
	if (ret < 0) {
		json_decref(arr);
		return ret;
	}
	if (c->json) {
		vnetctl_print_json(arr);
		return 0;
	}
	json_array_foreach(arr, i, o)
		printf("%s on %s\n", json_string_value(json_object_get(o, "address")),
		       json_string_value(json_object_get(o, "link")));
	json_decref(arr);
	return 0;
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "ADDRESS/LEN --link LINK [--netns NS]",
	  "Add ADDRESS/LEN to LINK (IPv6 without DAD).", opts, addr_add },
	{ "del", "ADDRESS/LEN --link LINK [--netns NS]", "Remove ADDRESS/LEN from LINK.", opts,
	  addr_del },
	{ "show", "[--link LINK] [--netns NS] [--json]", "Show global addresses.", opts, addr_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_addr_family = { "addr", "interface addresses", verbs };
