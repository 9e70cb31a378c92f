/* route.c - vnetctl route add|del|show: main-table unicast routes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnet/addr.h"
#include "vnet/vnetctl/vnetctl.h"

/* "default" (the family of via, else IPv4) or a prefix. */
int vnetctl_route_dst_parse(const char *text, const struct vp_ip *via, struct vp_prefix *out)
{
	if (strcmp(text, "default"))
		return vp_prefix_parse(text, out);
	memset(out, 0, sizeof(*out));
	out->ip.family = via->family ? via->family : AF_INET;
	return 0;
}

static void route_str(const struct vnetctl_route *r, char *buf, size_t size)
{
	char d[VP_PREFIX_STRLEN], g[VP_IP_STRLEN];

	snprintf(buf, size, "route %s%s%s%s%s%s%s", r->dst.len ? vp_prefix_str(&r->dst, d) : "default",
		 r->via.family ? " via " : "", r->via.family ? vp_ip_str(&r->via, g) : "",
		 r->link ? " dev " : "", r->link ? r->link : "", IN_NS(r->netns));
}

/* The vnet route of r, its link resolved in ns. */
static int route_build(struct vnetctl_ns *ns, const struct vnetctl_route *r, struct vp_route *out,
		       struct vp_error *err)
{
	struct vp_link_info l;
	int ret;

	*out = vp_route_init();
	out->dst = vp_prefix_network(&r->dst);
	out->gw = r->via;
	out->priority = r->metric;
	if (!r->link)
		return 0;
	ret = vnetctl_link_lookup(ns, r->link, &l, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "link %s does not exist", r->link);
	out->ifindex = l.ifindex;
	return ret;
}

int vnetctl_route_ensure(struct vnetctl *c, const struct vnetctl_route *r, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	struct vp_route vr;
	char what[128];
	bool exists;
	int ret;

	route_str(r, what, sizeof(what));
	ret = vnetctl_ns(c, r->netns, &ns, err);
	if (ret == 0)
		ret = route_build(ns, r, &vr, err);
	if ((ret == -ENODEV || ret == -ENOENT) && c->dry_run) {
		vp_error_clear(err);
		vnetctl_done(c, "added", "%s", what);
		return 0;
	}
	if (ret == 0)
		ret = vp_route_exists(ns->nl, &vr, &exists, err);
	if (ret < 0)
		return ret;
	if (exists) {
		vnetctl_already(c, "present", "%s", what);
		return 0;
	}
	if (!c->dry_run) {
		ret = vp_route_add(ns->nl, &vr, err);
		if (ret == -EEXIST) {
			vnetctl_already(c, "present", "%s", what);
			return 0;
		}
		if (ret == 0 && c->undo)
			ret = vp_route_push_undo(ns->nl, &vr, c->undo, err);
		if (ret < 0) {
			vp_error_prefix(err, "%s", what);
			return ret;
		}
	}
	vnetctl_done(c, "added", "%s", what);
	return 0;
}

static const struct vnetctl_optdef opts[] = {
	{ "via", "GATEWAY", "next hop (default: on-link)" },
	{ "link", "LINK", "output interface (required without --via)" },
	{ "netns", "NS", "namespace (name or path; default: the host's)" },
	{ "metric", "N", "priority (default 0)" },
	{ NULL, NULL, NULL },
};

static int route_args(const struct vnetctl_args *a, struct vnetctl_route *r, struct vp_error *err)
{
	const char *via = vnetctl_arg(a, "via");
	unsigned long metric;
	int ret;

	memset(r, 0, sizeof(*r));
	if (via && vp_ip_parse(via, &r->via) < 0)
		return vnetctl_usage(err, "--via: \"%s\" is not an IP address", via);
	if (!a->name || vnetctl_route_dst_parse(a->name, &r->via, &r->dst) < 0)
		return vnetctl_usage(err, "expected a destination (PREFIX or default), got \"%s\"",
				     a->name ? a->name : "");
	ret = vnetctl_arg_uint(a, "metric", 0, 0xffffffffUL, &metric, err);
	if (ret < 0)
		return ret;
	r->metric = metric;
	r->link = vnetctl_arg(a, "link");
	r->netns = vnetctl_arg(a, "netns");
	if (!r->link && !via)
		return vnetctl_usage(err, "a route needs --via or --link");
	return 0;
}

static int route_add(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_route r;
	int ret = route_args(a, &r, err);

	return ret ? ret : vnetctl_route_ensure(c, &r, err);
}

static int route_del(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_route r;
	struct vnetctl_ns *ns;
	struct vp_route vr;
	char what[128];
	int ret;

	ret = route_args(a, &r, err);
	if (ret < 0)
		return ret;
	route_str(&r, what, sizeof(what));
	ret = vnetctl_ns(c, r.netns, &ns, err);
	if (ret == 0)
		ret = route_build(ns, &r, &vr, err);
	if (ret == 0)
		ret = vp_route_del(ns->nl, &vr, err);
	if (ret == -ESRCH || ret == -ENODEV || (ret == -ENOENT && r.netns)) {
		vp_error_clear(err);
		vnetctl_already(c, "absent", "%s", what);
		return 0;
	}
	if (ret == 0)
		vnetctl_done(c, "deleted", "%s", what);
	return ret;
}

static json_t *route_json(struct vnetctl_ns *ns, const struct vp_route *r)
{
	char d[VP_PREFIX_STRLEN], g[VP_IP_STRLEN];
	struct vp_link_info l;
	json_t *o;

	o = json_pack("{s:s, s:i}", "dst", r->dst.len ? vp_prefix_str(&r->dst, d) : "default",
		      "metric", (int)r->priority);
	if (o && r->gw.family)
		json_object_set_new(o, "via", json_string(vp_ip_str(&r->gw, g)));
	if (o && r->ifindex && vp_link_by_index(ns->nl, r->ifindex, &l, NULL) == 0)
		json_object_set_new(o, "link", json_string(l.name));
	return o;
}

static int route_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	struct vp_route *v;
	json_t *arr, *o;
	size_t n, i;
	int ret;

	ret = vnetctl_ns(c, vnetctl_arg(a, "netns"), &ns, err);
	if (ret == 0)
		ret = vp_route_list(ns->nl, 0, &v, &n, err);
	if (ret < 0)
		return ret;
	arr = json_array();
	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, route_json(ns, &v[i]));
	free(v);
	if (c->json) {
		vnetctl_print_json(arr);
		return 0;
	}
	json_array_foreach(arr, i, o) {
		json_t *via = json_object_get(o, "via"), *link = json_object_get(o, "link");

		printf("%s%s%s%s%s metric %lld\n", json_string_value(json_object_get(o, "dst")),
		       via ? " via " : "", via ? json_string_value(via) : "",
		       link ? " dev " : "", link ? json_string_value(link) : "",
		       (long long)json_integer_value(json_object_get(o, "metric")));
	}
	json_decref(arr);
	return 0;
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "DST|default [--via GATEWAY] [--link LINK] [--netns NS] [--metric N]",
	  "Add a main-table route.", opts, route_add },
	{ "del", "DST|default [--via GATEWAY] [--link LINK] [--netns NS] [--metric N]",
	  "Delete that route.", opts, route_del },
	{ "show", "[--netns NS] [--json]", "Show the main table's unicast routes.", opts,
	  route_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_route_family = { "route", "routes", verbs };
