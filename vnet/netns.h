/* netns.h - network namespaces: open, check, enter and always return.
 */
#ifndef VP_VNET_NETNS_H
#define VP_VNET_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/undo.h"

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

/* Named namespaces, where iproute2 keeps them (/run/netns/NAME, a bind
 * mount of the namespace file), so `ip netns` and CNI runtimes see them.
 * Names are 1-VP_NETNS_NAME_MAX characters without '/' and not "." or "..". */
#define VP_NETNS_NAME_MAX 64
#define VP_NETNS_DIR "/run/netns"

/* VP_NETNS_DIR "/" name into buf (size >= sizeof(VP_NETNS_DIR) + VP_NETNS_NAME_MAX + 1);
 * -EINVAL for a bad name. */
int vp_netns_named_path(const char *name, char *buf, size_t size,
			struct vp_error *err) VP_MUST_CHECK;

/* Create a new namespace called name.  -EEXIST when the name is taken.  The
 * caller's namespace is unchanged on return, and nothing is left on failure. */
int vp_netns_create(const char *name, struct vp_error *err) VP_MUST_CHECK;

/* Unmount and remove the namespace called name (it lives on while
 * processes or open fds hold it).  -ENOENT (err untouched) when absent. */
int vp_netns_delete(const char *name, struct vp_error *err) VP_MUST_CHECK;

/* Push "delete namespace name" onto undo; if that fails it is deleted at
 * once and err set. */
int vp_netns_push_undo(const char *name, struct vp_undo *undo, struct vp_error *err) VP_MUST_CHECK;

#endif
