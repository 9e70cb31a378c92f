/* scan.c - parse the records of the IPAM state file in place. */
#include <errno.h>
#include <string.h>

#include "cni/ipam/scan.h"

bool vp_ipam_word_ok(const char *w, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)w[i] <= ' ' || (unsigned char)w[i] >= 0x7f)
			return false;
	return true;
}

/* Dotted-quad IPv4 (no leading zeros) in p[0..len): the common case, parsed
 * without the copy and the generality of inet_pton. */
static bool parse_v4(const char *p, size_t len, uint8_t *out)
{
	size_t i = 0;

	for (int k = 0; k < 4; k++) {
		size_t first = i;
		unsigned v = 0;

		while (i < len && i - first < 3 && p[i] >= '0' && p[i] <= '9')
			v = v * 10 + (unsigned)(p[i++] - '0');
		if (i == first || v > 255 || (i - first > 1 && p[first] == '0'))
			return false;
		out[k] = (uint8_t)v;
		if (k < 3 && (i >= len || p[i++] != '.'))
			return false;
	}
	return i == len;
}

static bool parse_ip(const char *p, size_t len, struct vp_ip *ip)
{
	char buf[VP_IP_STRLEN];

	memset(ip, 0, sizeof(*ip));
	if (parse_v4(p, len, ip->addr)) {
		ip->family = AF_INET;
		return true;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return vp_ip_parse(buf, ip) == 0;
}

/* "a <ip> <cid> <ifname>" */
static bool parse_alloc(const char *line, size_t len, struct vp_ipam_rec *rec)
{
	const char *p = line + 2, *end = line + len;
	const char *sp1 = memchr(p, ' ', (size_t)(end - p)), *sp2;

	if (!sp1)
		return false;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2 || !parse_ip(p, (size_t)(sp1 - p), &rec->ip))
		return false;
	rec->cid = sp1 + 1;
	rec->cid_len = (size_t)(sp2 - rec->cid);
	rec->ifname = sp2 + 1;
	rec->ifname_len = (size_t)(end - rec->ifname);
	return vp_ipam_word_ok(rec->cid, rec->cid_len, VP_IPAM_MAX_CID) &&
	       vp_ipam_word_ok(rec->ifname, rec->ifname_len, VP_IPAM_MAX_IFNAME);
}

/* "c <set> <ip>" */
static bool parse_cursor(const char *line, size_t len, struct vp_ipam_rec *rec)
{
	size_t i = 2;

	rec->set = 0;
	while (i < len && line[i] >= '0' && line[i] <= '9' && rec->set < VP_IPAM_MAX_SETS)
		rec->set = rec->set * 10 + (size_t)(line[i++] - '0');
	if (i == 2 || rec->set >= VP_IPAM_MAX_SETS || i >= len || line[i] != ' ')
		return false;
	return parse_ip(line + i + 1, len - i - 1, &rec->ip);
}

int vp_ipam_scan_init(struct vp_ipam_scan *sc, const char *buf, size_t len, const char **why)
{
	const char *last = len ? memrchr(buf, '\n', len) : NULL;
	size_t hlen = strlen(VP_IPAM_HEADER);

	sc->buf = buf;
	sc->end = last ? (size_t)(last - buf) + 1 : 0;
	sc->pos = hlen;
	sc->lineno = 1;
	if (sc->end < hlen || memcmp(buf, VP_IPAM_HEADER, hlen) != 0) {
		*why = "missing header \"vplumb-ipam 2\"";
		return -EBADMSG;
	}
	return 0;
}

int vp_ipam_scan_next(struct vp_ipam_scan *sc, struct vp_ipam_rec *rec, const char **why)
{
	const char *line = sc->buf + sc->pos;
	const char *nl;
	bool ok;

	if (sc->pos >= sc->end)
		return 0;
	nl = memchr(line, '\n', sc->end - sc->pos);
	sc->lineno++;
	rec->off = sc->pos;
	rec->len = (size_t)(nl - line);
	sc->pos += rec->len + 1;
	rec->kind = (enum vp_ipam_rec_kind)line[0];
	if (rec->kind == VP_IPAM_REC_DEAD)
		return 1;
	ok = rec->len > 2 && line[1] == ' ';
	if (rec->kind == VP_IPAM_REC_ALLOC)
		ok = ok && parse_alloc(line, rec->len, rec);
	else if (rec->kind == VP_IPAM_REC_CURSOR)
		ok = ok && parse_cursor(line, rec->len, rec);
	else
		ok = false;
	*why = "malformed line";
	return ok ? 1 : -EBADMSG;
}
