/* netns.h - network namespaces: open, check, enter and always return.
 */
#ifndef VP_VNET_NETNS_H
#define VP_VNET_NETNS_H

#include <stdbool.h>

#include "common/error.h"

/* Open path (e.g. /var/run/netns/x or /proc/PID/ns/net) and check that it
 * is a network namespace.  -ENOENT if missing, -EINVAL if it is not a netns. */
int vp_netns_open(const char *path, int *fd, struct vp_error *err) VP_MUST_CHECK;

/* True when fd is the caller's current network namespace. */
bool vp_netns_is_current(int fd);

/* Enter the namespace fd; *saved receives a handle to return with. */
int vp_netns_enter(int fd, int *saved, struct vp_error *err) VP_MUST_CHECK;

/* Return to the namespace saved by vp_netns_enter() and close saved.  Failing
 * to return would leave the process in the wrong namespace, so this aborts
 * the process rather than continue (the one place vplumb does). */
void vp_netns_return(int saved);

#endif
