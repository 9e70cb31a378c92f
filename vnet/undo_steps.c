/* undo_steps.c - the undo of vnet's creations, for callers building an
 * all-or-nothing change on a common/undo.h list (the CNI plugins, vnetctl).
 */
#include <errno.h>
#include <string.h>

#include "vnet/addr.h"

#include "vnet/link.h"
#include "vnet/netns.h"
#include "vnet/nft.h"

struct link_undo {
	struct vp_nl *nl;
	int ifindex;
};

static void link_undo(void *arg)
{
	const struct link_undo *u = arg;
	struct vp_error ignored = {0};

	(void)!vp_link_delete(u->nl, u->ifindex, &ignored);
}

int vp_link_push_undo(struct vp_nl *nl, int ifindex, struct vp_undo *undo, struct vp_error *err)
{
	struct link_undo u = { nl, ifindex };
	int ret;

	ret = vp_undo_push(undo, link_undo, &u, sizeof(u));
	if (ret < 0) {
		link_undo(&u);
		return vp_error_set(err, -ret, "recording link undo");
	}
	return 0;
}

static void nft_undo(void *arg)
{
	struct vp_error ignored = {0};

	(void)!vp_nft_detach(arg, &ignored);
}

int vp_nft_attach_undoable(const struct vp_nft_attachment *a, struct vp_undo *undo,
			   struct vp_error *err)
{
	int ret;

	ret = vp_nft_attach(a, err);
	if (ret < 0)
		return ret;
	ret = vp_undo_push(undo, nft_undo, &a->owner, sizeof(a->owner));
	if (ret < 0) {
		nft_undo((void *)&a->owner);
		return vp_error_set(err, -ret, "recording nft undo");
	}
	return 0;
}

struct addr_undo {
	struct vp_nl *nl;
	int ifindex;
	struct vp_prefix p;
};

static void addr_undo(void *arg)
{
	const struct addr_undo *u = arg;

	(void)!vp_addr_del(u->nl, u->ifindex, &u->p, NULL);
}

int vp_addr_push_undo(struct vp_nl *nl, int ifindex, const struct vp_prefix *p,
		      struct vp_undo *undo, struct vp_error *err)
{
	struct addr_undo u = { nl, ifindex, *p };
	int ret;

	ret = vp_undo_push(undo, addr_undo, &u, sizeof(u));
	if (ret < 0) {
		addr_undo(&u);
		return vp_error_set(err, -ret, "recording address undo");
	}
	return 0;
}

struct route_undo {
	struct vp_nl *nl;
	struct vp_route r;
};

static void route_undo(void *arg)
{
	const struct route_undo *u = arg;

	(void)!vp_route_del(u->nl, &u->r, NULL);
}

int vp_route_push_undo(struct vp_nl *nl, const struct vp_route *r, struct vp_undo *undo,
		       struct vp_error *err)
{
	struct route_undo u = { nl, *r };
	int ret;

	ret = vp_undo_push(undo, route_undo, &u, sizeof(u));
	if (ret < 0) {
		route_undo(&u);
		return vp_error_set(err, -ret, "recording route undo");
	}
	return 0;
}

static void netns_undo(void *arg)
{
	(void)!vp_netns_delete(arg, NULL);
}

int vp_netns_push_undo(const char *name, struct vp_undo *undo, struct vp_error *err)
{
	int ret;

	ret = vp_undo_push(undo, netns_undo, name, strlen(name) + 1);
	if (ret < 0) {
		netns_undo((void *)name);
		return vp_error_set(err, -ret, "recording network namespace undo");
	}
	return 0;
}
