/* inet.h - IP addresses, prefixes and MAC addresses: parse, format, compare.
 *
 * Addresses are kept in network byte order in a 16-byte buffer whatever the
 * family, so IPv4 and IPv6 share one code path wherever possible.
 */
#ifndef VP_COMMON_INET_H
#define VP_COMMON_INET_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "common/error.h"

#define VP_IP_STRLEN 46          /* INET6_ADDRSTRLEN */
#define VP_PREFIX_STRLEN 50      /* address + "/128" */
#define VP_MAC_STRLEN 18

struct vp_ip {
	int family;              /* AF_INET or AF_INET6 */
	uint8_t addr[16];        /* network order; IPv4 uses addr[0..3] */
};

/* An address with a prefix length: "10.1.2.3/24" keeps the host bits. */
struct vp_prefix {
	struct vp_ip ip;
	uint8_t len;
};

struct vp_mac {
	uint8_t addr[6];
};

int vp_ip_parse(const char *text, struct vp_ip *out) VP_MUST_CHECK;          /* 0 or -EINVAL */
int vp_prefix_parse(const char *text, struct vp_prefix *out) VP_MUST_CHECK;  /* "a/len" */
int vp_mac_parse(const char *text, struct vp_mac *out) VP_MUST_CHECK;        /* "aa:bb:.." */

/* Formatters write into buf (sized by the constants above) and return it. */
const char *vp_ip_str(const struct vp_ip *ip, char *buf);
const char *vp_prefix_str(const struct vp_prefix *p, char *buf);
const char *vp_mac_str(const struct vp_mac *mac, char *buf);

int vp_ip_bytes(const struct vp_ip *ip);                 /* 4 or 16 */
int vp_ip_cmp(const struct vp_ip *a, const struct vp_ip *b); /* family, then bytes */
bool vp_ip_equal(const struct vp_ip *a, const struct vp_ip *b);

/* The network of p: host bits cleared. */
struct vp_prefix vp_prefix_network(const struct vp_prefix *p);
bool vp_prefix_contains(const struct vp_prefix *net, const struct vp_ip *ip);

/* ip + delta (delta may be negative); returns -ERANGE on wrap-around. */
int vp_ip_add(const struct vp_ip *ip, int64_t delta, struct vp_ip *out) VP_MUST_CHECK;
/* b - a as a signed 64-bit count; -ERANGE if it does not fit or families differ. */
int vp_ip_diff(const struct vp_ip *a, const struct vp_ip *b, int64_t *out) VP_MUST_CHECK;

/* A random locally administered unicast MAC. */
void vp_mac_random(struct vp_mac *out);

#endif
