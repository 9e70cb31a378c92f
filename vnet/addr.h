/* addr.h - interface addresses and routes.
 */
#ifndef VP_VNET_ADDR_H
#define VP_VNET_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"
#include "common/undo.h"

struct vp_nl;

/* Add p to ifindex.  nodad sets IFA_F_NODAD for IPv6 so the address is usable
 * at once.  -EEXIST (err untouched) when the address is already there. */
int vp_addr_add(struct vp_nl *nl, int ifindex, const struct vp_prefix *p, bool nodad,
		struct vp_error *err) VP_MUST_CHECK;
/* -EADDRNOTAVAIL (err untouched) when absent. */
int vp_addr_del(struct vp_nl *nl, int ifindex, const struct vp_prefix *p,
		struct vp_error *err) VP_MUST_CHECK;
/* Global-scope addresses of ifindex of family (AF_UNSPEC: all), malloc'd
 * array in *out (caller frees). */
int vp_addr_list(struct vp_nl *nl, int ifindex, int family, struct vp_prefix **out,
		 size_t *n, struct vp_error *err) VP_MUST_CHECK;

/* Push "delete p from ifindex through nl" onto undo; if that fails p is
 * deleted at once and err set. */
int vp_addr_push_undo(struct vp_nl *nl, int ifindex, const struct vp_prefix *p,
		      struct vp_undo *undo, struct vp_error *err) VP_MUST_CHECK;

struct vp_route {
	struct vp_prefix dst;   /* len 0: default route */
	struct vp_ip gw;        /* family 0: no gateway (on-link) */
	struct vp_ip src;       /* family 0: none */
	int ifindex;            /* 0: let the kernel pick from gw */
	unsigned mtu, advmss;   /* 0: unset */
	unsigned priority;      /* metric, 0: default */
	unsigned table;         /* 0: main */
	int scope;              /* -1: derived (link when no gw, else universe) */
};

/* A route with defaults filled in (scope -1, everything else 0). */
struct vp_route vp_route_init(void);

/* -EEXIST (err untouched) when an identical route exists. */
int vp_route_add(struct vp_nl *nl, const struct vp_route *r, struct vp_error *err) VP_MUST_CHECK;
/* -ESRCH (err untouched) when absent. */
int vp_route_del(struct vp_nl *nl, const struct vp_route *r, struct vp_error *err) VP_MUST_CHECK;
/* True when a route to r->dst via r->gw on r->ifindex exists (main table unless set). */
int vp_route_exists(struct vp_nl *nl, const struct vp_route *r, bool *exists,
		    struct vp_error *err) VP_MUST_CHECK;

/* The same for a route added through nl. */
int vp_route_push_undo(struct vp_nl *nl, const struct vp_route *r, struct vp_undo *undo,
		       struct vp_error *err) VP_MUST_CHECK;

/* Routes of table (0: main) in nl's namespace, unicast only, as a malloc'd
 * array in *out (caller frees). */
int vp_route_list(struct vp_nl *nl, unsigned table, struct vp_route **out, size_t *n,
		  struct vp_error *err) VP_MUST_CHECK;

#endif
