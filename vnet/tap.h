/* tap.h - persistent tap devices for VMs (QEMU, Firecracker, Cloud Hypervisor).
 */
#ifndef VP_VNET_TAP_H
#define VP_VNET_TAP_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/inet.h"
#include "vnet/link.h"

struct vp_tap_config {
	const char *name;
	unsigned queues;          /* >= 1; > 1 implies multi_queue */
	bool multi_queue;         /* IFF_MULTI_QUEUE even with one queue */
	bool vnet_hdr;            /* IFF_VNET_HDR */
	long owner;               /* uid for TUNSETOWNER, -1: none */
	long group;               /* gid for TUNSETGROUP, -1: none */
	unsigned mtu;             /* 0: leave */
	const struct vp_mac *mac; /* NULL: kernel-chosen */
};

/* Create a persistent IFF_TAP|IFF_NO_PI tap in the caller's current network
 * namespace (tun ioctls act there; nl must belong to the same namespace),
 * apply MTU and MAC, set it up.  -EEXIST when the name is taken.  On failure
 * nothing is left behind. */
int vp_tap_create(struct vp_nl *nl, const struct vp_tap_config *cfg,
		  struct vp_link_info *out, struct vp_error *err) VP_MUST_CHECK;

/* Persistence, owner and flags of an existing tap, for CNI CHECK.  Read over
 * rtnetlink in the calling thread's current network namespace (so it is
 * right after setns(), unlike sysfs).  -ENODEV when absent, -EINVAL when
 * name is not a tap.  owner/group are -1 when unset. */
struct vp_tap_state {
	bool multi_queue, vnet_hdr;
	long owner, group;
	bool persist;
};
int vp_tap_inspect(const char *name, struct vp_tap_state *out, struct vp_error *err) VP_MUST_CHECK;

#endif
