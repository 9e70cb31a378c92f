/* link.c - network interfaces: look up, configure and delete any link, and
 * create veth pairs with the peer born in the target namespace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <netlink/netlink.h>
#include <netlink/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "vnet/link.h"
#include "vnet/nl.h"

/* A host name is random only when the caller gave none; collisions among
 * 2^32 names are rare, so a few tries suffice. */
#define VETH_NAME_TRIES 8

static void info_from(struct rtnl_link *link, struct vp_link_info *out)
{
	struct nl_addr *mac = rtnl_link_get_addr(link);
	const char *kind = rtnl_link_get_type(link);
	unsigned flags = rtnl_link_get_flags(link);

	memset(out, 0, sizeof(*out));
	out->ifindex = rtnl_link_get_ifindex(link);
	snprintf(out->name, sizeof(out->name), "%s", rtnl_link_get_name(link));
	snprintf(out->kind, sizeof(out->kind), "%s", kind ? kind : "");
	if (mac && nl_addr_get_len(mac) == sizeof(out->mac.addr))
		memcpy(out->mac.addr, nl_addr_get_binary_addr(mac), sizeof(out->mac.addr));
	out->mtu = rtnl_link_get_mtu(link);
	out->master = rtnl_link_get_master(link);
	out->link = rtnl_link_get_link(link);
	out->up = flags & IFF_UP;
	out->promisc = flags & IFF_PROMISC;
	snprintf(out->alias, sizeof(out->alias), "%s",
		 rtnl_link_get_ifalias(link) ? rtnl_link_get_ifalias(link) : "");
}

/* One RTM_GETLINK by index or name (no dump). */
static int lookup(struct vp_nl *nl, int ifindex, const char *name, struct vp_link_info *out,
		  struct vp_error *err)
{
	struct rtnl_link *link = NULL;
	int ret;

	ret = rtnl_link_get_kernel(vp_nl_sock(nl), ifindex, name, &link);
	if (ret < 0) {
		if (vp_nl_errno(ret) == -ENODEV)
			return -ENODEV;
		if (name)
			return vp_nl_error(err, ret, "looking up link %s", name);
		return vp_nl_error(err, ret, "looking up link %d", ifindex);
	}
	if (out)
		info_from(link, out);
	rtnl_link_put(link);
	return 0;
}

int vp_link_by_name(struct vp_nl *nl, const char *name, struct vp_link_info *out,
		    struct vp_error *err)
{
	if (!name || !name[0] || strlen(name) >= IFNAMSIZ)
		return vp_error_set(err, EINVAL, "invalid interface name \"%s\"", name ? name : "");
	return lookup(nl, 0, name, out, err);
}

int vp_link_by_index(struct vp_nl *nl, int ifindex, struct vp_link_info *out,
		     struct vp_error *err)
{
	if (ifindex <= 0)
		return vp_error_set(err, EINVAL, "invalid interface index %d", ifindex);
	return lookup(nl, ifindex, NULL, out, err);
}

/* Apply changes (already filled by the caller) to link ifindex; what names
 * the change in the error message. */
static int change(struct vp_nl *nl, int ifindex, struct rtnl_link *changes, const char *what,
		  struct vp_error *err)
{
	struct rtnl_link *orig;
	int ret;

	orig = rtnl_link_alloc();
	if (!orig)
		return vp_error_set(err, ENOMEM, "%s on link %d", what, ifindex);
	rtnl_link_set_ifindex(orig, ifindex);
	ret = rtnl_link_change(vp_nl_sock(nl), orig, changes, 0);
	rtnl_link_put(orig);
	if (ret < 0)
		return vp_nl_error(err, ret, "%s on link %d", what, ifindex);
	return 0;
}

/* Allocate an empty change set; -ENOMEM recorded in err. */
static struct rtnl_link *changes_alloc(struct vp_error *err)
{
	struct rtnl_link *c = rtnl_link_alloc();

	if (!c)
		vp_error_set(err, ENOMEM, "allocating link change");
	return c;
}

int vp_link_set_up(struct vp_nl *nl, int ifindex, struct vp_error *err)
{
	struct rtnl_link *c = changes_alloc(err);
	int ret;

	if (!c)
		return -ENOMEM;
	rtnl_link_set_flags(c, IFF_UP);
	ret = change(nl, ifindex, c, "setting up", err);
	rtnl_link_put(c);
	return ret;
}

int vp_link_set_mtu(struct vp_nl *nl, int ifindex, unsigned mtu, struct vp_error *err)
{
	struct rtnl_link *c = changes_alloc(err);
	char what[32];
	int ret;

	if (!c)
		return -ENOMEM;
	rtnl_link_set_mtu(c, mtu);
	snprintf(what, sizeof(what), "setting MTU %u", mtu);
	ret = change(nl, ifindex, c, what, err);
	rtnl_link_put(c);
	return ret;
}

int vp_link_set_mac(struct vp_nl *nl, int ifindex, const struct vp_mac *mac,
		    struct vp_error *err)
{
	struct rtnl_link *c = changes_alloc(err);
	struct nl_addr *a;
	char what[48], buf[VP_MAC_STRLEN];
	int ret = -ENOMEM;

	if (!c)
		return -ENOMEM;
	snprintf(what, sizeof(what), "setting MAC %s", vp_mac_str(mac, buf));
	a = nl_addr_build(AF_LLC, mac->addr, sizeof(mac->addr));
	if (!a) {
		vp_error_set(err, ENOMEM, "%s on link %d", what, ifindex);
		goto out;
	}
	rtnl_link_set_addr(c, a);
	nl_addr_put(a);
	ret = change(nl, ifindex, c, what, err);
out:
	rtnl_link_put(c);
	return ret;
}

int vp_link_set_promisc(struct vp_nl *nl, int ifindex, bool on, struct vp_error *err)
{
	struct rtnl_link *c = changes_alloc(err);
	int ret;

	if (!c)
		return -ENOMEM;
	if (on)
		rtnl_link_set_flags(c, IFF_PROMISC);
	else
		rtnl_link_unset_flags(c, IFF_PROMISC);
	ret = change(nl, ifindex, c, on ? "enabling promiscuous mode" :
		     "disabling promiscuous mode", err);
	rtnl_link_put(c);
	return ret;
}

int vp_link_set_master(struct vp_nl *nl, int ifindex, int master, struct vp_error *err)
{
	struct rtnl_link *c = changes_alloc(err);
	char what[48];
	int ret;

	if (!c)
		return -ENOMEM;
	rtnl_link_set_master(c, master);
	if (master)
		snprintf(what, sizeof(what), "attaching to bridge %d", master);
	else
		snprintf(what, sizeof(what), "releasing from its bridge");
	ret = change(nl, ifindex, c, what, err);
	rtnl_link_put(c);
	return ret;
}

int vp_link_set_alias(struct vp_nl *nl, int ifindex, const char *alias, struct vp_error *err)
{
	struct rtnl_link *c = changes_alloc(err);
	int ret;

	if (!c)
		return -ENOMEM;
	if (strlen(alias) >= VP_LINK_ALIAS_MAX) {
		rtnl_link_put(c);
		return vp_error_set(err, ENAMETOOLONG, "alias \"%s\": longer than %d bytes",
				    alias, VP_LINK_ALIAS_MAX - 1);
	}
	rtnl_link_set_ifalias(c, alias);
	ret = change(nl, ifindex, c, "setting the alias", err);
	rtnl_link_put(c);
	return ret;
}

struct link_list {
	const char *kind;
	struct vp_link_info *v;
	size_t n, cap;
	int err;
};

static void link_list_add(struct nl_object *obj, void *arg)
{
	struct link_list *l = arg;
	struct rtnl_link *link = (struct rtnl_link *)obj;
	const char *kind = rtnl_link_get_type(link);
	struct vp_link_info *grown;

	if (l->err || (l->kind && l->kind[0] && (!kind || strcmp(kind, l->kind))))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		grown = realloc(l->v, l->cap * sizeof(*l->v));
		if (!grown) {
			l->err = -ENOMEM;
			return;
		}
		l->v = grown;
	}
	info_from(link, &l->v[l->n++]);
}

int vp_link_list(struct vp_nl *nl, const char *kind, struct vp_link_info **out, size_t *n,
		 struct vp_error *err)
{
	struct link_list l = { .kind = kind };
	struct nl_cache *cache;
	int ret;

	ret = rtnl_link_alloc_cache(vp_nl_sock(nl), AF_UNSPEC, &cache);
	if (ret < 0)
		return vp_nl_error(err, ret, "listing links");
	nl_cache_foreach(cache, link_list_add, &l);
	nl_cache_free(cache);
	if (l.err) {
		free(l.v);
		return vp_error_set(err, -l.err, "listing links");
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

int vp_link_delete(struct vp_nl *nl, int ifindex, struct vp_error *err)
{
	struct rtnl_link *link = changes_alloc(err);
	int ret;

	if (!link)
		return -ENOMEM;
	rtnl_link_set_ifindex(link, ifindex);
	ret = rtnl_link_delete(vp_nl_sock(nl), link);
	rtnl_link_put(link);
	if (ret < 0) {
		if (vp_nl_errno(ret) == -ENODEV)
			return -ENODEV;
		return vp_nl_error(err, ret, "deleting link %d", ifindex);
	}
	return 0;
}

static int check_veth_config(const struct vp_veth_config *cfg, struct vp_error *err)
{
	if (cfg->host_name && (!cfg->host_name[0] || strlen(cfg->host_name) >= IFNAMSIZ))
		return vp_error_set(err, EINVAL, "invalid veth name \"%s\"", cfg->host_name);
	if (!cfg->peer_name || !cfg->peer_name[0] || strlen(cfg->peer_name) >= IFNAMSIZ)
		return vp_error_set(err, EINVAL, "invalid veth peer name \"%s\"",
				    cfg->peer_name ? cfg->peer_name : "");
	if (cfg->peer_netns_fd < 0)
		return vp_error_set(err, EBADF, "veth %s: no target network namespace",
				    cfg->peer_name);
	return 0;
}

/* The RTM_NEWLINK for the pair; NULL on -ENOMEM. */
static struct rtnl_link *veth_build(const struct vp_veth_config *cfg, const char *host_name)
{
	struct rtnl_link *veth, *peer;
	struct nl_addr *mac;

	veth = rtnl_link_veth_alloc();
	if (!veth)
		return NULL;
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(veth, host_name);
	rtnl_link_set_name(peer, cfg->peer_name);
	rtnl_link_set_ns_fd(peer, cfg->peer_netns_fd);
	if (cfg->mtu) {
		rtnl_link_set_mtu(veth, cfg->mtu);
		rtnl_link_set_mtu(peer, cfg->mtu);
	}
	if (cfg->peer_mac) {
		mac = nl_addr_build(AF_LLC, cfg->peer_mac->addr, sizeof(cfg->peer_mac->addr));
		if (!mac) {
			rtnl_link_veth_release(veth);
			return NULL;
		}
		rtnl_link_set_addr(peer, mac);
		nl_addr_put(mac);
	}
	/* get_peer took a reference; veth keeps its own. */
	rtnl_link_put(peer);
	return veth;
}

/* One attempt; returns the libnl result (0 or -NLE_*), or -NLE_NOMEM. */
static int veth_try(struct vp_nl *nl, const struct vp_veth_config *cfg, const char *host_name)
{
	struct rtnl_link *veth = veth_build(cfg, host_name);
	int ret;

	if (!veth)
		return -NLE_NOMEM;
	ret = rtnl_link_add(vp_nl_sock(nl), veth, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(veth);
	return ret;
}

static int random_name(char *buf, size_t size, struct vp_error *err)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return vp_error_set(err, errno, "choosing a random veth name");
	snprintf(buf, size, "veth%08x", r);
	return 0;
}

/* After EEXIST: which name was taken?  The host end is looked up here; if
 * it is absent the peer name must be the one taken in the target namespace
 * (the socket cannot see that namespace).  Returns 1 when the host name is
 * taken, 0 when the peer name is, or -errno. */
static int host_name_taken(struct vp_nl *nl, const char *name, struct vp_error *err)
{
	int ret = lookup(nl, 0, name, NULL, err);

	if (ret == -ENODEV)
		return 0;
	return ret < 0 ? ret : 1;
}

int vp_veth_create(struct vp_nl *nl, const struct vp_veth_config *cfg,
		   struct vp_link_info *host, struct vp_error *err)
{
	int tries = cfg->host_name ? 1 : VETH_NAME_TRIES;
	char name[IFNAMSIZ];
	int ret;

	ret = check_veth_config(cfg, err);
	if (ret < 0)
		return ret;
	for (int i = 0; i < tries; i++) {
		if (cfg->host_name)
			snprintf(name, sizeof(name), "%s", cfg->host_name);
		else if ((ret = random_name(name, sizeof(name), err)) < 0)
			return ret;
		ret = veth_try(nl, cfg, name);
		if (ret != -NLE_EXIST)
			break;
		ret = host_name_taken(nl, name, err);
		if (ret < 0)
			return ret;
		if (ret == 0)
			return vp_error_set(err, EEXIST, "creating veth %s: interface %s already "
					    "exists in the target network namespace",
					    name, cfg->peer_name);
		ret = -NLE_EXIST;
	}
	if (ret == -NLE_EXIST)
		return vp_error_set(err, EEXIST, "creating veth: interface %s already exists", name);
	if (ret < 0)
		return vp_nl_error(err, ret, "creating veth %s (peer %s)", name, cfg->peer_name);
	if (!host)
		return 0;
	ret = lookup(nl, 0, name, host, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "veth %s vanished right after creation", name);
	return ret;
}
