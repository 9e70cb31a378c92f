/* sysctl.h - read and write /proc/sys in the caller's network namespace.
 * Keys use slashes or dots: "net/ipv4/ip_forward" or "net.ipv4.ip_forward".
 * A key containing a '/' is used as is, so interface names with dots need
 * the slash form ("net/ipv4/conf/eth0.100/forwarding").  Keys that are
 * absolute or contain ".." are -EINVAL.
 */
#ifndef VP_VNET_SYSCTL_H
#define VP_VNET_SYSCTL_H

#include <stddef.h>

#include "common/error.h"

/* Write value (no newline needed) in one write(). */
int vp_sysctl_write(const char *key, const char *value, struct vp_error *err) VP_MUST_CHECK;
/* Value without trailing newline into buf; -ERANGE when it does not fit. */
int vp_sysctl_read(const char *key, char *buf, size_t size, struct vp_error *err) VP_MUST_CHECK;

#endif
