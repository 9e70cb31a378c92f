/* vnetctl.h - what vnetctl's object families share: the run context
 * (netlink handles per namespace, ownership marker, undo list, dry run),
 * command-line arguments, outcome reporting, and each family's
 * ensure/remove operations, which both `OBJECT add|del` and the topology
 * verbs (apply, destroy, diff) go through.
 */
#ifndef VP_VNETCTL_H
#define VP_VNETCTL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"
#include "common/undo.h"
#include "vnet/link.h"

/* Exit codes (docs/vnetctl.md). */
enum {
	VNETCTL_EXIT_OK = 0,      /* done, or already so */
	VNETCTL_EXIT_ERROR = 1,   /* failed (nothing this run created is left) */
	VNETCTL_EXIT_USAGE = 2,   /* bad command line or topology file */
};

/* err->code of a usage error (exit 2). */
#define VNETCTL_ERR_USAGE 2

/* Every link vnetctl creates carries an alias starting with this; a
 * topology's links carry VNETCTL_MARK ":" <topology name>. */
#define VNETCTL_MARK "vplumb:vnetctl"
#define VNETCTL_TOPOLOGY_NAME_MAX 64
#define VNETCTL_MAX_NETNS 64

struct vp_nl;

struct vnetctl_ns {
	char path[PATH_MAX];      /* "" for the host (vnetctl's own) namespace */
	int fd;
	struct vp_nl *nl;
};

struct vnetctl {
	bool json;                /* --json: shows print JSON */
	bool dry_run;             /* diff: report what would change, change nothing */
	bool owned_only;          /* destroy/apply: touch only links carrying mark */
	char mark[sizeof(VNETCTL_MARK) + 1 + VNETCTL_TOPOLOGY_NAME_MAX];
	const char *nat_network;  /* nft owner network of NAT rules */
	struct vp_undo *undo;     /* what this run created, NULL: nothing to roll back */
	unsigned changes;         /* changes made (or, dry run, that would be) */
	struct vnetctl_ns ns[VNETCTL_MAX_NETNS];
	size_t n_ns;
};

/* A context for the host namespace with marker VNETCTL_MARK. */
int vnetctl_init(struct vnetctl *c, struct vp_error *err) VP_MUST_CHECK;
void vnetctl_fini(struct vnetctl *c);
/* Mark this run's links as topology name's. */
void vnetctl_set_topology(struct vnetctl *c, const char *name);

/* The netlink handle (and fd) of netns: NULL or "" is the host namespace,
 * a name is /run/netns/NAME, anything with a '/' a path. */
int vnetctl_ns(struct vnetctl *c, const char *netns, struct vnetctl_ns **out,
	       struct vp_error *err) VP_MUST_CHECK;
/* Forget a cached namespace (it is being deleted). */
void vnetctl_ns_forget(struct vnetctl *c, const char *netns);

/* Outcome lines on stdout: "bridge br0: created" ("would create" in a dry
 * run, counted in c->changes), "bridge br0: already present". */
void vnetctl_done(struct vnetctl *c, const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vnetctl_already(struct vnetctl *c, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* " in NS" as two %s arguments, nothing for the host namespace. */
#define IN_NS(ns) (ns) ? " in " : "", (ns) ? (ns) : ""

/* Print a show's JSON (and consume it). */
void vnetctl_print_json(json_t *v);

/* ---- command line ---- */

struct vnetctl_optdef {
	const char *name;         /* long option without "--" */
	const char *arg;          /* its argument's name, NULL: a flag */
	const char *help;
};

#define VNETCTL_MAX_OPTS 16

struct vnetctl_args {
	const char *name;         /* the positional NAME, NULL when absent */
	const struct vnetctl_optdef *defs;
	const char *val[VNETCTL_MAX_OPTS];   /* by index into defs; flags get "1" */
};

/* Parse argv (after OBJECT VERB) against defs (terminated by a NULL name);
 * errors are usage errors. */
int vnetctl_args_parse(int argc, char **argv, const struct vnetctl_optdef *defs,
		       struct vnetctl_args *a, struct vp_error *err) VP_MUST_CHECK;
const char *vnetctl_arg(const struct vnetctl_args *a, const char *name);
bool vnetctl_flag(const struct vnetctl_args *a, const char *name);
int vnetctl_arg_uint(const struct vnetctl_args *a, const char *name, unsigned long def,
		     unsigned long max, unsigned long *out, struct vp_error *err) VP_MUST_CHECK;
/* The positional NAME, required. */
int vnetctl_arg_name(const struct vnetctl_args *a, const char *what, const char **out,
		     struct vp_error *err) VP_MUST_CHECK;
int vnetctl_usage(struct vp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct vnetctl_verb {
	const char *name;
	const char *synopsis;     /* after "vnetctl OBJECT VERB " */
	const char *help;
	const struct vnetctl_optdef *opts;
	int (*run)(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err);
};

struct vnetctl_family {
	const char *name;
	const char *summary;
	const struct vnetctl_verb *verbs;   /* terminated by a NULL name */
};

extern const struct vnetctl_family vnetctl_bridge_family, vnetctl_veth_family,
	vnetctl_tap_family, vnetctl_macvtap_family, vnetctl_addr_family, vnetctl_route_family, vnetctl_netns_family,
	vnetctl_nat_family, vnetctl_redirect_family, vnetctl_link_family;

/* ---- objects (the specs a topology lists and the command line builds) ---- */

struct vnetctl_bridge {
	const char *name;
	unsigned mtu;             /* 0: any */
};

struct vnetctl_veth {
	const char *name;         /* host end */
	const char *peer;         /* name of the other end in netns */
	const char *netns;        /* name or path; NULL: host */
	const char *bridge;       /* host end's bridge, NULL: none */
	unsigned mtu;             /* 0: any */
};

struct vnetctl_tap {
	const char *name;
	unsigned queues;          /* > 1 implies multi_queue */
	bool multi_queue, vnet_hdr;
	long owner, group;        /* -1: none */
	const char *bridge;
	unsigned mtu;
};

struct vnetctl_macvtap {
	const char *name;
	const char *lower;
	unsigned mode;            /* MACVLAN_MODE_* */
};

struct vnetctl_addr {
	const char *link;
	const char *netns;
	struct vp_prefix prefix;
};

struct vnetctl_route {
	const char *netns;
	const char *link;         /* NULL: the kernel picks from via */
	struct vp_prefix dst;     /* len 0: default */
	struct vp_ip via;         /* family 0: on-link */
	unsigned metric;
};

#define VNETCTL_NAT_MAX_SOURCES 16

struct vnetctl_nat {
	const char *name;
	struct vp_ip sources[VNETCTL_NAT_MAX_SOURCES];
	size_t n_sources;
	struct vp_prefix exclude; /* not masqueraded towards it */
};

/* "default" (the family of via, else IPv4) or a prefix; -EINVAL. */
int vnetctl_route_dst_parse(const char *text, const struct vp_ip *via,
			    struct vp_prefix *out) VP_MUST_CHECK;

/* "a,b,c" into n->sources: -EINVAL, -E2BIG (more than the maximum). */
int vnetctl_nat_sources_parse(const char *list, struct vnetctl_nat *n) VP_MUST_CHECK;

/* ensure: bring the object about (or find it as specified: "already
 * present"; a difference is -EEXIST naming the field).  remove: delete it
 * (absent is success).  Both honour c->dry_run, c->owned_only and c->undo. */
int vnetctl_bridge_ensure(struct vnetctl *c, const struct vnetctl_bridge *b,
			  struct vp_error *err) VP_MUST_CHECK;
int vnetctl_veth_ensure(struct vnetctl *c, const struct vnetctl_veth *v,
			struct vp_error *err) VP_MUST_CHECK;
int vnetctl_tap_ensure(struct vnetctl *c, const struct vnetctl_tap *t,
		       struct vp_error *err) VP_MUST_CHECK;
int vnetctl_macvtap_ensure(struct vnetctl *c, const struct vnetctl_macvtap *m,
			   struct vp_error *err) VP_MUST_CHECK;
int vnetctl_addr_ensure(struct vnetctl *c, const struct vnetctl_addr *a,
			struct vp_error *err) VP_MUST_CHECK;
int vnetctl_route_ensure(struct vnetctl *c, const struct vnetctl_route *r,
			 struct vp_error *err) VP_MUST_CHECK;
int vnetctl_nat_ensure(struct vnetctl *c, const struct vnetctl_nat *n,
		       struct vp_error *err) VP_MUST_CHECK;
int vnetctl_netns_ensure(struct vnetctl *c, const char *name, struct vp_error *err) VP_MUST_CHECK;

/* Remove link name of kind (in netns) unless c->owned_only and it is not ours. */
int vnetctl_link_remove(struct vnetctl *c, const char *what, const char *kind, const char *netns,
			const char *name, struct vp_error *err) VP_MUST_CHECK;
int vnetctl_nat_remove(struct vnetctl *c, const char *name, struct vp_error *err) VP_MUST_CHECK;
int vnetctl_netns_remove(struct vnetctl *c, const char *name, struct vp_error *err) VP_MUST_CHECK;

/* Shared by the link families: look name up in ns; the link's master must
 * be bridge (NULL: none), and the mark must be ours when owned_only. */
int vnetctl_link_lookup(struct vnetctl_ns *ns, const char *name, struct vp_link_info *out,
			struct vp_error *err) VP_MUST_CHECK;
int vnetctl_check_owner(const struct vnetctl *c, const char *what, const struct vp_link_info *l,
			struct vp_error *err) VP_MUST_CHECK;
/* Mark a link this run just created as ours, push its deletion onto the
 * undo list, and enslave it to bridge (NULL: none) and set it up. */
int vnetctl_link_created(struct vnetctl *c, struct vnetctl_ns *ns, const struct vp_link_info *l,
			 const char *bridge, struct vp_error *err) VP_MUST_CHECK;
/* The ifindex of bridge (NULL: 0) in ns; a missing or non-bridge link fails. */
int vnetctl_bridge_index(struct vnetctl_ns *ns, const char *bridge, int *ifindex,
			 struct vp_error *err) VP_MUST_CHECK;
/* -EEXIST "<what>: master is X, want Y" unless l's master is bridge. */
int vnetctl_check_master(struct vnetctl_ns *ns, const char *what, const struct vp_link_info *l,
			 const char *bridge, struct vp_error *err) VP_MUST_CHECK;
/* A link's JSON for shows (name, kind, ifindex, mtu, mac, up, master, alias). */
json_t *vnetctl_link_json(struct vnetctl_ns *ns, const struct vp_link_info *l);
/* Show links of kind in netns (name NULL: all of that kind). */
int vnetctl_link_show(struct vnetctl *c, const char *kind, const char *netns, const char *name,
		      json_t *(*extra)(struct vnetctl_ns *ns, const struct vp_link_info *l),
		      struct vp_error *err) VP_MUST_CHECK;

#endif
