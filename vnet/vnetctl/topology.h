/* topology.h - a vnetctl topology file: namespaces, bridges, veths, taps,
 * addresses, routes and NAT, parsed and checked before anything is touched
 * (unknown fields, bad values, dangling references, duplicate names, names
 * too long and bridge cycles are errors naming the JSON path), with the
 * bridges in dependency order (a bridge after the bridge it is a port of).
 */
#ifndef VP_VNETCTL_TOPOLOGY_H
#define VP_VNETCTL_TOPOLOGY_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"
#include "vnet/vnetctl/vnetctl.h"

/* A bridge may be a port of another bridge (master) for ordering; the
 * kernel itself refuses bridges as bridge ports. */
struct vnetctl_topo_bridge {
	struct vnetctl_bridge b;
	const char *master;
};

struct vnetctl_topology {
	json_t *root;                       /* owns every string below */
	const char *name;
	const char **namespaces;
	size_t n_namespaces;
	struct vnetctl_topo_bridge *bridges;  /* in dependency order */
	size_t n_bridges;
	struct vnetctl_veth *veths;
	size_t n_veths;
	struct vnetctl_tap *taps;
	size_t n_taps;
	struct vnetctl_addr *addrs;
	size_t n_addrs;
	struct vnetctl_route *routes;
	size_t n_routes;
	struct vnetctl_nat *nats;
	size_t n_nats;
};

/* Parse text; on failure t is empty and err (code VNETCTL_ERR_USAGE) names
 * the path of the offending value. */
int vnetctl_topology_parse(const char *text, size_t len, struct vnetctl_topology *t,
			   struct vp_error *err) VP_MUST_CHECK;
/* Read and parse file (at most 1 MiB). */
int vnetctl_topology_load(const char *file, struct vnetctl_topology *t,
			  struct vp_error *err) VP_MUST_CHECK;
void vnetctl_topology_free(struct vnetctl_topology *t);

/* The verbs: apply (all or nothing), destroy (what the topology's mark
 * owns, in reverse), diff (apply's dry run). */
int vnetctl_topology_apply(struct vnetctl *c, const struct vnetctl_topology *t,
			   struct vp_error *err) VP_MUST_CHECK;
int vnetctl_topology_destroy(struct vnetctl *c, const struct vnetctl_topology *t,
			     struct vp_error *err) VP_MUST_CHECK;
int vnetctl_topology_diff(struct vnetctl *c, const struct vnetctl_topology *t,
			  struct vp_error *err) VP_MUST_CHECK;

#endif
