/* range.c - address ranges and range sets: defaults and validation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cni/core/cni.h"
#include "cni/ipam/range.h"

/* The last address of p's subnet (all host bits set). */
static struct vp_ip last_addr(const struct vp_prefix *p)
{
	struct vp_ip ip = p->ip;
	int bits = vp_ip_bytes(&ip) * 8;

	for (int i = p->len; i < bits; i++)
		ip.addr[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return ip;
}

static int range_defaults(struct vp_ipam_range *r, const char *path, struct vp_error *err)
{
	int bits = vp_ip_bytes(&r->subnet.ip) * 8;
	struct vp_ip last = last_addr(&r->subnet);

	if (r->subnet.len > bits - 2)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s.subnet: network too small to allocate from", path);
	if (r->gateway.family == 0 && vp_ip_add(&r->subnet.ip, 1, &r->gateway))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "%s.subnet: bad network", path);
	if (r->start.family == 0 && vp_ip_add(&r->subnet.ip, 1, &r->start))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "%s.subnet: bad network", path);
	if (r->end.family == 0) {
		r->end = last;
		if (r->end.family == AF_INET && vp_ip_add(&last, -1, &r->end))
			return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "%s.subnet: bad network",
					     path);
	}
	return 0;
}

/* An explicit address must lie in the subnet, off the network (and IPv4
 * broadcast) address. */
static int check_host(const struct vp_ipam_range *r, const struct vp_ip *ip, const char *path,
		      const char *key, struct vp_error *err)
{
	char net[VP_PREFIX_STRLEN];
	struct vp_ip last = last_addr(&r->subnet);

	if (ip->family == 0)
		return 0;
	if (!vp_prefix_contains(&r->subnet, ip) || vp_ip_equal(ip, &r->subnet.ip) ||
	    (ip->family == AF_INET && vp_ip_equal(ip, &last)))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s.%s: not a host address of subnet %s", path, key,
				     vp_prefix_str(&r->subnet, net));
	return 0;
}

int vp_ipam_range_init(struct vp_ipam_range *r, const struct vp_prefix *subnet,
		       const struct vp_ip *start, const struct vp_ip *end,
		       const struct vp_ip *gateway, const char *path, struct vp_error *err)
{
	struct vp_prefix net = vp_prefix_network(subnet);
	char buf[VP_IP_STRLEN];
	int ret;

	if (!vp_ip_equal(&net.ip, &subnet->ip))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s.subnet: host bits set; the network address is %s", path,
				     vp_ip_str(&net.ip, buf));
	memset(r, 0, sizeof(*r));
	r->subnet = net;
	r->start = *start;
	r->end = *end;
	r->gateway = *gateway;
	if ((ret = check_host(r, start, path, "rangeStart", err)) ||
	    (ret = check_host(r, end, path, "rangeEnd", err)) ||
	    (ret = check_host(r, gateway, path, "gateway", err)))
		return ret;
	if ((ret = range_defaults(r, path, err)))
		return ret;
	if (vp_ip_cmp(&r->start, &r->end) > 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s: rangeStart is after rangeEnd", path);
	return 0;
}

bool vp_ipam_range_contains(const struct vp_ipam_range *r, const struct vp_ip *ip)
{
	return ip->family == r->start.family && vp_ip_cmp(&r->start, ip) <= 0 &&
	       vp_ip_cmp(ip, &r->end) <= 0;
}

static bool ranges_overlap(const struct vp_ipam_range *a, const struct vp_ipam_range *b)
{
	return a->start.family == b->start.family && vp_ip_cmp(&a->start, &b->end) <= 0 &&
	       vp_ip_cmp(&b->start, &a->end) <= 0;
}

int vp_ipam_rangeset_validate(const struct vp_ipam_rangeset *set, const char *path,
			      struct vp_error *err)
{
	if (set->n == 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "%s: empty range set", path);
	for (size_t i = 0; i < set->n; i++) {
		if (set->ranges[i].subnet.ip.family != set->ranges[0].subnet.ip.family)
			return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
					     "%s[%zu]: mixed address families in one range set",
					     path, i);
		for (size_t j = 0; j < i; j++)
			if (ranges_overlap(&set->ranges[i], &set->ranges[j]))
				return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
						     "%s[%zu]: overlaps %s[%zu]", path, i, path, j);
	}
	return 0;
}

const struct vp_ipam_range *vp_ipam_rangeset_find(const struct vp_ipam_rangeset *set,
						  const struct vp_ip *ip)
{
	for (size_t i = 0; i < set->n; i++)
		if (vp_ipam_range_contains(&set->ranges[i], ip))
			return &set->ranges[i];
	return NULL;
}

bool vp_ipam_rangeset_overlaps(const struct vp_ipam_rangeset *a, const struct vp_ipam_rangeset *b)
{
	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < b->n; j++)
			if (ranges_overlap(&a->ranges[i], &b->ranges[j]))
				return true;
	return false;
}

const char *vp_ipam_rangeset_str(const struct vp_ipam_rangeset *set, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < set->n && off < size; i++) {
		char a[VP_IP_STRLEN], b[VP_IP_STRLEN];
		int n = snprintf(buf + off, size - off, "%s%s-%s", i ? "," : "",
				 vp_ip_str(&set->ranges[i].start, a), vp_ip_str(&set->ranges[i].end, b));

		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}
