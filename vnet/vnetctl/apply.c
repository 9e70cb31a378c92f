/* apply.c - vnetctl apply|destroy|diff FILE: a topology brought up in
 * dependency order as one all-or-nothing change, and taken down in reverse,
 * touching only what carries the topology's mark.
 */
#include <errno.h>
#include <stdio.h>

#include "vnet/vnetctl/topology.h"

static void topology_context(struct vnetctl *c, const struct vnetctl_topology *t,
			     char *network, size_t size)
{
	vnetctl_set_topology(c, t->name);
	snprintf(network, size, "vnetctl:%s", t->name);
	c->nat_network = network;
}

/* A bridge, and its place on its master bridge when it has one (which the
 * kernel refuses: the apply then fails and rolls back). */
static int bridge_up(struct vnetctl *c, const struct vnetctl_topo_bridge *b, struct vp_error *err)
{
	struct vp_link_info l;
	int master, ret;

	ret = vnetctl_bridge_ensure(c, &b->b, err);
	if (ret < 0 || !b->master || c->dry_run)
		return ret;
	ret = vnetctl_link_lookup(&c->ns[0], b->b.name, &l, err);
	ret = ret ?: vnetctl_bridge_index(&c->ns[0], b->master, &master, err);
	if (ret == 0 && l.master != master)
		ret = vp_link_set_master(c->ns[0].nl, l.ifindex, master, err);
	return ret;
}

/* Namespaces, bridges (masters first), taps, veths, addresses, routes, NAT. */
static int bring_up(struct vnetctl *c, const struct vnetctl_topology *t, struct vp_error *err)
{
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < t->n_namespaces; i++)
		ret = vnetctl_netns_ensure(c, t->namespaces[i], err);
	for (size_t i = 0; ret == 0 && i < t->n_bridges; i++)
		ret = bridge_up(c, &t->bridges[i], err);
	for (size_t i = 0; ret == 0 && i < t->n_taps; i++)
		ret = vnetctl_tap_ensure(c, &t->taps[i], err);
	for (size_t i = 0; ret == 0 && i < t->n_veths; i++)
		ret = vnetctl_veth_ensure(c, &t->veths[i], err);
	for (size_t i = 0; ret == 0 && i < t->n_addrs; i++)
		ret = vnetctl_addr_ensure(c, &t->addrs[i], err);
	for (size_t i = 0; ret == 0 && i < t->n_routes; i++)
		ret = vnetctl_route_ensure(c, &t->routes[i], err);
	for (size_t i = 0; ret == 0 && i < t->n_nats; i++)
		ret = vnetctl_nat_ensure(c, &t->nats[i], err);
	return ret;
}

int vnetctl_topology_apply(struct vnetctl *c, const struct vnetctl_topology *t,
			   struct vp_error *err)
{
	struct vp_undo undo = VP_UNDO_INIT;
	char network[16 + VNETCTL_TOPOLOGY_NAME_MAX];
	int ret;

	topology_context(c, t, network, sizeof(network));
	c->undo = &undo;
	ret = bring_up(c, t, err);
	c->undo = NULL;
	if (ret < 0) {
		vp_undo_run(&undo);
		printf("topology %s: failed, rolled back what this run created\n", t->name);
		return ret;
	}
	vp_undo_forget(&undo);
	if (c->changes)
		printf("topology %s: applied (%u changes)\n", t->name, c->changes);
	else
		printf("topology %s: already up, nothing changed\n", t->name);
	return 0;
}

int vnetctl_topology_diff(struct vnetctl *c, const struct vnetctl_topology *t,
			  struct vp_error *err)
{
	char network[16 + VNETCTL_TOPOLOGY_NAME_MAX];
	int ret;

	topology_context(c, t, network, sizeof(network));
	c->dry_run = true;
	ret = bring_up(c, t, err);
	if (ret == 0)
		printf("topology %s: apply would make %u changes\n", t->name, c->changes);
	return ret;
}

/* NAT, veths, taps, bridges (ports first), namespaces: each step keeps
 * going so one failure leaves as little as possible; the first error is
 * returned.  Addresses and routes go with their links and namespaces. */
int vnetctl_topology_destroy(struct vnetctl *c, const struct vnetctl_topology *t,
			     struct vp_error *err)
{
	char network[16 + VNETCTL_TOPOLOGY_NAME_MAX];
	struct vp_error e;
	int first = 0, ret;

#define STEP(call) do { \
		vp_error_clear(&e); \
		ret = (call); \
		if (ret < 0 && !first) { \
			first = ret; \
			*err = e; \
		} \
	} while (0)
	topology_context(c, t, network, sizeof(network));
	for (size_t i = t->n_nats; i-- > 0;)
		STEP(vnetctl_nat_remove(c, t->nats[i].name, &e));
	for (size_t i = t->n_veths; i-- > 0;)
		STEP(vnetctl_link_remove(c, "veth", "veth", NULL, t->veths[i].name, &e));
	for (size_t i = t->n_taps; i-- > 0;)
		STEP(vnetctl_link_remove(c, "tap", "tun", NULL, t->taps[i].name, &e));
	for (size_t i = t->n_bridges; i-- > 0;)
		STEP(vnetctl_link_remove(c, "bridge", "bridge", NULL, t->bridges[i].b.name, &e));
	for (size_t i = t->n_namespaces; i-- > 0;)
		STEP(vnetctl_netns_remove(c, t->namespaces[i], &e));
#undef STEP
	if (first == 0)
		printf("topology %s: %s\n", t->name, c->changes ? "destroyed" : "already down");
	return first;
}
