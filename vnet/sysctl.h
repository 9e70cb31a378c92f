/* sysctl.h - read and write /proc/sys in the caller's network namespace.
 * Keys use slashes or dots: "net/ipv4/ip_forward" or "net.ipv4.ip_forward".
 */
#ifndef VP_VNET_SYSCTL_H
#define VP_VNET_SYSCTL_H

#include <stddef.h>

#include "common/error.h"

int vp_sysctl_write(const char *key, const char *value, struct vp_error *err) VP_MUST_CHECK;
/* Value without trailing newline into buf. */
int vp_sysctl_read(const char *key, char *buf, size_t size, struct vp_error *err) VP_MUST_CHECK;

#endif
