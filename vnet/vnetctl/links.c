/* links.c - what every link family shares: lookup, ownership, the steps
 * after a creation, removal and shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnet/vnetctl/vnetctl.h"

int vnetctl_link_lookup(struct vnetctl_ns *ns, const char *name, struct vp_link_info *out,
			struct vp_error *err)
{
	return vp_link_by_name(ns->nl, name, out, err);
}

int vnetctl_check_owner(const struct vnetctl *c, const char *what, const struct vp_link_info *l,
			struct vp_error *err)
{
	if (!c->owned_only || !strcmp(l->alias, c->mark))
		return 0;
	return vp_error_code(err, 0, EEXIST, "%s: exists but was not made by %s (alias \"%s\")",
			    what, c->mark, l->alias);
}

int vnetctl_bridge_index(struct vnetctl_ns *ns, const char *bridge, int *ifindex,
			 struct vp_error *err)
{
	struct vp_link_info br;
	int ret;

	*ifindex = 0;
	if (!bridge)
		return 0;
	ret = vp_link_by_name(ns->nl, bridge, &br, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "bridge %s does not exist", bridge);
	if (ret < 0)
		return ret;
	if (strcmp(br.kind, "bridge"))
		return vp_error_set(err, EINVAL, "%s is a %s link, not a bridge", bridge,
				    br.kind[0] ? br.kind : "plain");
	*ifindex = br.ifindex;
	return 0;
}

int vnetctl_check_master(struct vnetctl_ns *ns, const char *what, const struct vp_link_info *l,
			 const char *bridge, struct vp_error *err)
{
	struct vp_link_info m;
	int want, ret;

	ret = vnetctl_bridge_index(ns, bridge, &want, err);
	if (ret < 0)
		return ret;
	if (l->master == want)
		return 0;
	if (!l->master)
		return vp_error_code(err, 0, EEXIST, "%s: bridge is none, want %s", what, bridge);
	if (vp_link_by_index(ns->nl, l->master, &m, NULL) < 0)
		snprintf(m.name, sizeof(m.name), "#%d", l->master);
	return vp_error_code(err, 0, EEXIST, "%s: bridge is %s, want %s", what, m.name,
			    bridge ? bridge : "none");
}

int vnetctl_link_created(struct vnetctl *c, struct vnetctl_ns *ns, const struct vp_link_info *l,
			 const char *bridge, struct vp_error *err)
{
	int master, ret;

	if (c->undo) {
		ret = vp_link_push_undo(ns->nl, l->ifindex, c->undo, err);
		if (ret < 0)
			return ret;
	}
	ret = vp_link_set_alias(ns->nl, l->ifindex, c->mark, err);
	if (ret == 0)
		ret = vnetctl_bridge_index(ns, bridge, &master, err);
	if (ret == 0 && master)
		ret = vp_link_set_master(ns->nl, l->ifindex, master, err);
	if (ret == 0)
		ret = vp_link_set_up(ns->nl, l->ifindex, err);
	/* Without an undo list (a single add) the half-made link goes now. */
	if (ret < 0 && !c->undo)
		(void)!vp_link_delete(ns->nl, l->ifindex, NULL);
	if (ret < 0)
		vp_error_prefix(err, "%s", l->name);
	return ret;
}

int vnetctl_link_remove(struct vnetctl *c, const char *what, const char *kind, const char *netns,
			const char *name, struct vp_error *err)
{
	struct vnetctl_ns *ns;
	struct vp_link_info l;
	int ret;

	ret = vnetctl_ns(c, netns, &ns, err);
	if (ret == -ENOENT && netns) {
		vp_error_clear(err);
		vnetctl_already(c, "absent", "%s %s", what, name);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = vnetctl_link_lookup(ns, name, &l, err);
	if (ret == -ENODEV) {
		vnetctl_already(c, "absent", "%s %s", what, name);
		return 0;
	}
	if (ret < 0)
		return ret;
	if (kind && strcmp(l.kind, kind))
		return vp_error_set(err, EINVAL, "%s %s: is a %s link, not a %s", what, name,
				    l.kind[0] ? l.kind : "plain", kind);
	if (c->owned_only && strcmp(l.alias, c->mark)) {
		printf("%s %s: not made by %s, left alone\n", what, name, c->mark);
		return 0;
	}
	if (!c->dry_run) {
		ret = vp_link_delete(ns->nl, l.ifindex, err);
		if (ret < 0 && ret != -ENODEV)
			return ret;
	}
	vnetctl_done(c, "deleted", "%s %s", what, name);
	return 0;
}

json_t *vnetctl_link_json(struct vnetctl_ns *ns, const struct vp_link_info *l)
{
	char mac[VP_MAC_STRLEN];
	struct vp_link_info m;
	json_t *o;

	o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:b}", "name", l->name, "kind", l->kind,
		      "ifindex", l->ifindex, "mtu", (int)l->mtu, "mac", vp_mac_str(&l->mac, mac),
		      "up", l->up);
	if (!o)
		return NULL;
	if (l->master && vp_link_by_index(ns->nl, l->master, &m, NULL) == 0)
		json_object_set_new(o, "bridge", json_string(m.name));
	if (l->alias[0])
		json_object_set_new(o, "alias", json_string(l->alias));
	return o;
}

static void print_link(const json_t *o)
{
	const char *key;
	json_t *v;

	printf("%s", json_string_value(json_object_get(o, "name")));
	json_object_foreach((json_t *)o, key, v) {
		if (!strcmp(key, "name"))
			continue;
		if (json_is_string(v))
			printf(" %s %s", key, json_string_value(v));
		else if (json_is_integer(v))
			printf(" %s %lld", key, (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			printf(" %s %s", key, json_is_true(v) ? "yes" : "no");
		else if (json_is_array(v)) {
			size_t i;
			json_t *e;

			printf(" %s ", key);
			json_array_foreach(v, i, e)
				printf("%s%s", i ? "," : "", json_string_value(e));
		}
	}
	putchar('\n');
}

static int show_one(struct vnetctl_ns *ns, const struct vp_link_info *l, json_t *arr,
		    json_t *(*extra)(struct vnetctl_ns *ns, const struct vp_link_info *l),
		    struct vp_error *err)
{
	json_t *o = vnetctl_link_json(ns, l), *more;

	if (!o)
		return vp_error_set(err, ENOMEM, "showing %s", l->name);
	if (extra && (more = extra(ns, l))) {
		json_object_update(o, more);
		json_decref(more);
	}
	json_array_append_new(arr, o);
	return 0;
}

int vnetctl_link_show(struct vnetctl *c, const char *kind, const char *netns, const char *name,
		      json_t *(*extra)(struct vnetctl_ns *ns, const struct vp_link_info *l),
		      struct vp_error *err)
{
	struct vp_link_info *v = NULL, one;
	struct vnetctl_ns *ns;
	size_t n = 0, i;
	json_t *arr, *o;
	int ret;

	ret = vnetctl_ns(c, netns, &ns, err);
	if (ret < 0)
		return ret;
	if (name) {
		ret = vnetctl_link_lookup(ns, name, &one, err);
		if (ret == -ENODEV)
			return vp_error_set(err, ENODEV, "%s %s does not exist", kind ? kind : "link",
					    name);
		if (ret < 0)
			return ret;
		if (kind && strcmp(one.kind, kind))
			return vp_error_set(err, EINVAL, "%s is a %s link, not a %s", name,
					    one.kind[0] ? one.kind : "plain", kind);
	} else {
		ret = vp_link_list(ns->nl, kind, &v, &n, err);
		if (ret < 0)
			return ret;
	}
	arr = json_array();
	if (!arr)
		ret = vp_error_set(err, ENOMEM, "showing links");
	for (i = 0; ret == 0 && i < (name ? 1 : n); i++)
		ret = show_one(ns, name ? &one : &v[i], arr, extra, err);
	free(v);
	if (ret < 0) {
		json_decref(arr);
		return ret;
	}
	if (c->json) {
		vnetctl_print_json(arr);
		return 0;
	}
	json_array_foreach(arr, i, o)
		print_link(o);
	json_decref(arr);
	return 0;
}
