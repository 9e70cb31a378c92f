/* link.h - network interfaces: look up, configure and delete any link;
 * create veth pairs and bridges.
 */
#ifndef VP_VNET_LINK_H
#define VP_VNET_LINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"
#include "common/undo.h"

struct vp_nl;

/* Longest alias vnet reads back (the kernel allows 255 bytes). */
#define VP_LINK_ALIAS_MAX 128

struct vp_link_info {
	int ifindex;
	char name[IFNAMSIZ];
	char kind[16];          /* "veth", "bridge", "tun", ... ("" when none) */
	struct vp_mac mac;
	unsigned mtu;
	int master;             /* ifindex of the bridge it is enslaved to, 0 if none */
	int link;               /* IFLA_LINK: a veth's peer (ifindex in the peer's netns), 0 if none */
	bool up;                /* IFF_UP */
	bool promisc;
	char alias[VP_LINK_ALIAS_MAX];  /* IFLA_IFALIAS ("" when none) */
};

/* Look up by name or index.  -ENODEV (err untouched) when absent. */
int vp_link_by_name(struct vp_nl *nl, const char *name, struct vp_link_info *out,
		    struct vp_error *err) VP_MUST_CHECK;
int vp_link_by_index(struct vp_nl *nl, int ifindex, struct vp_link_info *out,
		     struct vp_error *err) VP_MUST_CHECK;

/* Setters: one RTM_NEWLINK each; -ENODEV when the link is gone, other
 * failures name the change and the link in err. */
int vp_link_set_up(struct vp_nl *nl, int ifindex, struct vp_error *err) VP_MUST_CHECK;
int vp_link_set_mtu(struct vp_nl *nl, int ifindex, unsigned mtu, struct vp_error *err) VP_MUST_CHECK;
int vp_link_set_mac(struct vp_nl *nl, int ifindex, const struct vp_mac *mac,
		    struct vp_error *err) VP_MUST_CHECK;
int vp_link_set_promisc(struct vp_nl *nl, int ifindex, bool on, struct vp_error *err) VP_MUST_CHECK;
/* master 0 releases the link from its bridge. */
int vp_link_set_master(struct vp_nl *nl, int ifindex, int master, struct vp_error *err) VP_MUST_CHECK;

/* Set IFLA_IFALIAS ("" clears it); vplumb records ownership there. */
int vp_link_set_alias(struct vp_nl *nl, int ifindex, const char *alias,
		      struct vp_error *err) VP_MUST_CHECK;

/* Every link of the handle's namespace whose kind is kind ("" or NULL: all),
 * as a malloc'd array in *out (caller frees). */
int vp_link_list(struct vp_nl *nl, const char *kind, struct vp_link_info **out, size_t *n,
		 struct vp_error *err) VP_MUST_CHECK;

/* Push "delete link ifindex through nl" onto undo (nl must outlive the
 * list); if that fails the link is deleted at once and err set. */
int vp_link_push_undo(struct vp_nl *nl, int ifindex, struct vp_undo *undo,
		      struct vp_error *err) VP_MUST_CHECK;

/* Delete a link.  -ENODEV (err untouched) when already gone. */
int vp_link_delete(struct vp_nl *nl, int ifindex, struct vp_error *err) VP_MUST_CHECK;

/* Delete link ifindex of the namespace netns_fd and return once the kernel
 * has unlisted it (name, addresses and bridge port released), leaving the
 * kernel's deferred teardown (an rcu_barrier(), 10-25 ms) to a short-lived
 * child process, which a long-lived caller reaps like any child of its own.
 * -ENODEV (err untouched) when already gone. */
int vp_link_delete_nowait(int netns_fd, int ifindex, struct vp_error *err) VP_MUST_CHECK;

/* vp_link_delete_nowait() in two halves, so the caller can work while the
 * kernel unlists the link: start has the request sent; finish waits for
 * the link to be gone and frees d (exactly once).  On a start failure *out
 * is NULL and nothing was sent. */
struct vp_link_deletion;
int vp_link_delete_start(int netns_fd, int ifindex, struct vp_link_deletion **out,
			 struct vp_error *err) VP_MUST_CHECK;
int vp_link_delete_finish(struct vp_link_deletion *d, struct vp_error *err) VP_MUST_CHECK;

/* A veth pair created in one RTM_NEWLINK with its peer already in the target
 * namespace, so the pod side never appears in the host namespace. */
struct vp_veth_config {
	const char *host_name;  /* NULL: "veth" + 8 random hex digits */
	const char *peer_name;  /* name inside peer_netns_fd (CNI_IFNAME) */
	int peer_netns_fd;
	unsigned mtu;           /* 0: kernel default */
	const struct vp_mac *peer_mac;  /* NULL: kernel-chosen */
};

/* On success host (if non-NULL) describes the host end (left down).
 * -EEXIST when either name is taken (host names are retried with fresh
 * random suffixes); err names the taken one.  Nothing is left behind on
 * failure. */
int vp_veth_create(struct vp_nl *nl, const struct vp_veth_config *cfg,
		   struct vp_link_info *host, struct vp_error *err) VP_MUST_CHECK;

struct vp_bridge_config {
	const char *name;
	unsigned mtu;              /* 0: leave as is */
	bool promisc;
	const struct vp_mac *mac;  /* NULL: kernel-chosen */
	bool vlan_filtering;
};

/* Create the bridge if missing (tolerating a concurrent creator), set it up,
 * and return it.  An existing non-bridge link with that name is -EEXIST.
 * An existing bridge is brought to cfg (up, MTU, MAC, promisc on).
 * vlan_filtering on a kernel without it is -EOPNOTSUPP, and a bridge this
 * call would have created is not left behind. */
int vp_bridge_ensure(struct vp_nl *nl, const struct vp_bridge_config *cfg,
		     struct vp_link_info *out, struct vp_error *err) VP_MUST_CHECK;

struct vp_bridge_port_config {
	bool hairpin;
	bool isolated;             /* BR port isolation */
};

/* Set both port flags of bridge port ifindex in one AF_BRIDGE RTM_SETLINK.
 * -EOPNOTSUPP when ifindex is not enslaved to a bridge. */
int vp_bridge_port_set(struct vp_nl *nl, int ifindex, const struct vp_bridge_port_config *cfg,
		       struct vp_error *err) VP_MUST_CHECK;

/* Bridge VLAN filtering: add vid to a port (pvid + untagged when untagged).
 * -EOPNOTSUPP when the kernel lacks VLAN filtering. */
int vp_bridge_vlan_add(struct vp_nl *nl, int ifindex, unsigned vid, bool untagged,
		       struct vp_error *err) VP_MUST_CHECK;

#endif
