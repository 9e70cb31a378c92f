/* inet.c - IPv4/IPv6 addresses, prefixes and MACs. */
#include "common/inet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int vp_ip_parse(const char *text, struct vp_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->addr) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->addr) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int vp_prefix_parse(const char *text, struct vp_prefix *out)
{
	char addr[VP_IP_STRLEN];
	const char *slash = strchr(text, '/');
	size_t n;
	char *end;
	long len;

	if (!slash || slash == text)
		return -EINVAL;
	n = (size_t)(slash - text);
	if (n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (vp_ip_parse(addr, &out->ip) < 0)
		return -EINVAL;
	if (slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	len = strtol(slash + 1, &end, 10);
	if (*end != '\0' || len < 0 || len > vp_ip_bytes(&out->ip) * 8)
		return -EINVAL;
	out->len = (uint8_t)len;
	return 0;
}

int vp_mac_parse(const char *text, struct vp_mac *out)
{
	unsigned b[6];
	char tail;

	if (strlen(text) != 17 ||
	    sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (text[i * 3 + 2] != ':' && i < 5)
			return -EINVAL;
		out->addr[i] = (uint8_t)b[i];
	}
	return 0;
}

const char *vp_ip_str(const struct vp_ip *ip, char *buf)
{
	if (!inet_ntop(ip->family, ip->addr, buf, VP_IP_STRLEN))
		strcpy(buf, "?");
	return buf;
}

const char *vp_prefix_str(const struct vp_prefix *p, char *buf)
{
	char ip[VP_IP_STRLEN];

	snprintf(buf, VP_PREFIX_STRLEN, "%s/%u", vp_ip_str(&p->ip, ip), p->len);
	return buf;
}

const char *vp_mac_str(const struct vp_mac *mac, char *buf)
{
	const uint8_t *a = mac->addr;

	snprintf(buf, VP_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3],
		 a[4], a[5]);
	return buf;
}

int vp_ip_bytes(const struct vp_ip *ip)
{
	return ip->family == AF_INET ? 4 : 16;
}

int vp_ip_cmp(const struct vp_ip *a, const struct vp_ip *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, (size_t)vp_ip_bytes(a));
}

bool vp_ip_equal(const struct vp_ip *a, const struct vp_ip *b)
{
	return vp_ip_cmp(a, b) == 0;
}

struct vp_prefix vp_prefix_network(const struct vp_prefix *p)
{
	struct vp_prefix net = *p;
	int bytes = vp_ip_bytes(&p->ip);

	for (int i = 0; i < bytes; i++) {
		int bits = (int)p->len - i * 8;

		if (bits >= 8)
			continue;
		net.ip.addr[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
	}
	return net;
}

bool vp_prefix_contains(const struct vp_prefix *net, const struct vp_ip *ip)
{
	struct vp_prefix probe = { .ip = *ip, .len = net->len };
	struct vp_prefix a, b;

	if (ip->family != net->ip.family)
		return false;
	a = vp_prefix_network(net);
	b = vp_prefix_network(&probe);
	return vp_ip_equal(&a.ip, &b.ip);
}

int vp_ip_add(const struct vp_ip *ip, int64_t delta, struct vp_ip *out)
{
	int bytes = vp_ip_bytes(ip);
	/* Add (two's complement) delta to the big-endian number, byte by byte;
	 * the bytes above bit 64 absorb the sign extension. */
	uint64_t d = (uint64_t)delta;
	unsigned carry = 0;
	uint8_t ext = delta < 0 ? 0xff : 0x00;

	*out = *ip;
	for (int i = bytes - 1; i >= 0; i--) {
		int k = bytes - 1 - i;
		unsigned add = k < 8 ? (unsigned)((d >> (8 * k)) & 0xff) : ext;
		unsigned sum = ip->addr[i] + add + carry;

		out->addr[i] = (uint8_t)sum;
		carry = sum >> 8;
	}
	/* Without wrap-around, a positive delta leaves no carry out of the top
	 * byte and a negative one leaves exactly one. */
	if ((delta >= 0 && carry) || (delta < 0 && !carry))
		return -ERANGE;
	return 0;
}

int vp_ip_diff(const struct vp_ip *a, const struct vp_ip *b, int64_t *out)
{
	int bytes = vp_ip_bytes(a);
	int sign = vp_ip_cmp(a, b) <= 0 ? 1 : -1;
	const struct vp_ip *lo = sign > 0 ? a : b, *hi = sign > 0 ? b : a;
	uint64_t diff = 0;
	unsigned borrow = 0;

	if (a->family != b->family)
		return -ERANGE;
	/* hi - lo on big-endian bytes; every byte above the low 8 must come out 0. */
	for (int i = bytes - 1; i >= 0; i--) {
		int k = bytes - 1 - i;
		int v = (int)hi->addr[i] - (int)lo->addr[i] - (int)borrow;

		borrow = v < 0;
		if (v < 0)
			v += 256;
		if (k < 8)
			diff |= (uint64_t)v << (8 * k);
		else if (v != 0)
			return -ERANGE;
	}
	if (diff > (uint64_t)INT64_MAX)
		return -ERANGE;
	*out = sign * (int64_t)diff;
	return 0;
}

void vp_mac_random(struct vp_mac *out)
{
	if (getrandom(out->addr, sizeof(out->addr), 0) != (ssize_t)sizeof(out->addr)) {
		/* getrandom on 6 bytes only fails before the pool is seeded;
		 * fall back to a weaker source rather than fail. */
		for (size_t i = 0; i < sizeof(out->addr); i++)
			out->addr[i] = (uint8_t)random();
	}
	out->addr[0] = (uint8_t)((out->addr[0] & 0xfe) | 0x02);  /* unicast, local */
}
