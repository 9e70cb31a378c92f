/* nl.h - the rtnetlink handle every vnet operation goes through.
 *
 * A process opens one handle per network namespace it works in (the host's,
 * and a pod's); the socket stays bound to the namespace it was created in,
 * so later operations need no setns().
 */
#ifndef VP_VNET_NL_H
#define VP_VNET_NL_H

#include "common/error.h"

struct vp_nl;
struct nl_sock;

/* A handle in the caller's current network namespace. */
int vp_nl_open(struct vp_nl **out, struct vp_error *err) VP_MUST_CHECK;

/* A handle whose socket lives in the namespace netns_fd refers to; the
 * caller's namespace is unchanged on return, also on failure. */
int vp_nl_open_netns(int netns_fd, struct vp_nl **out, struct vp_error *err) VP_MUST_CHECK;

/* Close; accepts NULL. */
void vp_nl_close(struct vp_nl *nl);

/* For vnet's own modules: the libnl socket behind the handle. */
struct nl_sock *vp_nl_sock(struct vp_nl *nl);

/* Map a libnl error code (negative NLE_*) to -errno. */
int vp_nl_errno(int nle);

/* For vnet's own modules: record a failed libnl call in err as
 * "<formatted what>: <libnl text>" with errno vp_nl_errno(nle), and return
 * that -errno. */
int vp_nl_error(struct vp_error *err, int nle, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* For vnet's own modules: send the dump request msg (not consumed: the
 * caller frees it) and call fn on each reply message.  fn returns 0 or
 * -errno; after an error the rest of the dump is read and dropped, so the
 * socket stays usable.  Returns fn's first error, or a libnl error mapped by
 * vp_nl_errno() (-EAGAIN when the dump was interrupted by a change). */
struct nlmsghdr;
struct nl_msg;
int vp_nl_dump(struct vp_nl *nl, struct nl_msg *msg,
	       int (*fn)(struct nlmsghdr *nlh, void *arg), void *arg) VP_MUST_CHECK;

#endif
