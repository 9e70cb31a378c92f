/* veth.c - vnetctl veth add|del|show: pairs whose peer is born in its
 * network namespace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vnet/vnetctl/vnetctl.h"

/* The pair exists: it must be a veth whose peer is v->peer in v's namespace,
 * with the asked MTU and bridge. */
static int veth_check(struct vnetctl *c, struct vnetctl_ns *peer_ns, const struct vnetctl_veth *v,
		      const struct vp_link_info *l, struct vp_error *err)
{
	char what[IFNAMSIZ + 8];
	struct vp_link_info p;
	int ret;

	if (strcmp(l->kind, "veth"))
		return vp_error_code(err, 0, EEXIST, "veth %s: kind is %s, want veth", v->name,
				    l->kind[0] ? l->kind : "plain");
	ret = vnetctl_link_lookup(peer_ns, v->peer, &p, err);
	if (ret == -ENODEV || (ret == 0 && (p.ifindex != l->link || strcmp(p.kind, "veth"))))
		return vp_error_code(err, 0, EEXIST, "veth %s: peer is not %s in %s", v->name, v->peer,
				    v->netns ? v->netns : "the host namespace");
	if (ret < 0)
		return ret;
	if (v->mtu && l->mtu != v->mtu)
		return vp_error_code(err, 0, EEXIST, "veth %s: mtu is %u, want %u", v->name, l->mtu,
				    v->mtu);
	snprintf(what, sizeof(what), "veth %s", v->name);
	ret = vnetctl_check_master(&c->ns[0], what, l, v->bridge, err);
	return ret ? ret : vnetctl_check_owner(c, what, l, err);
}

static int veth_create(struct vnetctl *c, struct vnetctl_ns *peer_ns, const struct vnetctl_veth *v,
		       struct vp_error *err)
{
	struct vp_veth_config cfg = { .host_name = v->name, .peer_name = v->peer, .mtu = v->mtu };
	struct vp_link_info l, p;
	int host_fd = -1, ret;

	cfg.peer_netns_fd = peer_ns->fd;
	if (cfg.peer_netns_fd < 0) {
		host_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (host_fd < 0)
			return vp_error_set(err, errno, "opening the host network namespace");
		cfg.peer_netns_fd = host_fd;
	}
	ret = vp_veth_create(c->ns[0].nl, &cfg, &l, err);
	if (host_fd >= 0)
		close(host_fd);
	if (ret < 0)
		return ret;
	ret = vnetctl_link_created(c, &c->ns[0], &l, v->bridge, err);
	if (ret < 0)
		return ret;
	/* The peer goes with the host end; it only needs to be up and marked. */
	ret = vnetctl_link_lookup(peer_ns, v->peer, &p, err);
	if (ret == 0)
		ret = vp_link_set_alias(peer_ns->nl, p.ifindex, c->mark, err);
	if (ret == 0)
		ret = vp_link_set_up(peer_ns->nl, p.ifindex, err);
	if (ret < 0 && !c->undo)
		(void)!vp_link_delete(c->ns[0].nl, l.ifindex, NULL);
	return ret;
}

int vnetctl_veth_ensure(struct vnetctl *c, const struct vnetctl_veth *v, struct vp_error *err)
{
	struct vnetctl_ns *peer_ns;
	struct vp_link_info l;
	int ret;

	ret = vnetctl_ns(c, v->netns, &peer_ns, err);
	/* A namespace a dry run would create is not there yet. */
	if (ret == -ENOENT && c->dry_run) {
		vp_error_clear(err);
		vnetctl_done(c, "created", "veth %s", v->name);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = vnetctl_link_lookup(&c->ns[0], v->name, &l, err);
	if (ret == 0) {
		ret = veth_check(c, peer_ns, v, &l, err);
		if (ret == 0)
			vnetctl_already(c, "present", "veth %s", v->name);
		return ret;
	}
	if (ret != -ENODEV)
		return ret;
	if (!c->dry_run) {
		ret = veth_create(c, peer_ns, v, err);
		if (ret < 0)
			return ret;
	}
	vnetctl_done(c, "created", "veth %s (peer %s%s%s)", v->name, v->peer,
		     v->netns ? " in " : "", v->netns ? v->netns : "");
	return 0;
}

static const struct vnetctl_optdef add_opts[] = {
	{ "peer", "NAME", "name of the other end (required)" },
	{ "netns", "NS", "the other end's namespace: a name under /run/netns or a path "
	  "(default: the host's)" },
	{ "bridge", "BRIDGE", "enslave the host end to BRIDGE" },
	{ "mtu", "N", "MTU of both ends" },
	{ NULL, NULL, NULL },
};

static int veth_add(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_veth v = { 0 };
	unsigned long mtu;
	int ret;

	ret = vnetctl_arg_name(a, "veth NAME", &v.name, err);
	if (ret == 0)
		ret = vnetctl_arg_uint(a, "mtu", 0, 65535, &mtu, err);
	if (ret < 0)
		return ret;
	v.peer = vnetctl_arg(a, "peer");
	if (!v.peer)
		return vnetctl_usage(err, "veth add: --peer NAME is required");
	v.netns = vnetctl_arg(a, "netns");
	v.bridge = vnetctl_arg(a, "bridge");
	v.mtu = mtu;
	return vnetctl_veth_ensure(c, &v, err);
}

static int veth_del(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *name;
	int ret = vnetctl_arg_name(a, "veth NAME", &name, err);

	return ret ? ret : vnetctl_link_remove(c, "veth", "veth", NULL, name, err);
}

static int veth_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	return vnetctl_link_show(c, "veth", NULL, a->name, NULL, err);
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "NAME --peer PEER [--netns NS] [--bridge BRIDGE] [--mtu N]",
	  "Create veth NAME with its other end PEER born in NS, both up.", add_opts, veth_add },
	{ "del", "NAME", "Delete veth NAME (and its peer).", NULL, veth_del },
	{ "show", "[NAME] [--json]", "Show one veth or all host-side veths.", NULL, veth_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_veth_family = { "veth", "veth pairs", verbs };
