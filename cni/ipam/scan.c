/* scan.c - parse the records of the IPAM state file in place. */
#include <errno.h>
#include <string.h>

#include "cni/ipam/scan.h"

/* Printable ASCII other than space. */
static bool word_char(char c)
{
	return (unsigned char)(c - 0x21) < 0x5e;
}

bool vp_ipam_word_ok(const char *w, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!word_char(w[i]))
			return false;
	return true;
}

/* The common record, "a <IPv4> <cid> <ifname>\n" at line, in one pass
 * without calls: the end of the next line or NULL when the line is not of
 * exactly that shape (the general parser then decides).  The caller
 * guarantees a '\n' ends the buffer, so the loops stop there. */
static const char *fast_alloc(const char *line, struct vp_ipam_rec *rec)
{
	const char *q = line + 2;

	rec->ip = (struct vp_ip){ .family = AF_INET };
	for (int k = 0; k < 4; k++) {
		const char *d = q;
		unsigned v = 0;

		while ((unsigned)(*q - '0') < 10 && q - d < 3)
			v = v * 10 + (unsigned)(*q++ - '0');
		if (q == d || v > 255 || (q - d > 1 && *d == '0') || *q++ != (k < 3 ? '.' : ' '))
			return NULL;
		rec->ip.addr[k] = (uint8_t)v;
	}
	rec->cid = q;
	while (word_char(*q))
		q++;
	rec->cid_len = (size_t)(q - rec->cid);
	if (*q++ != ' ')
		return NULL;
	rec->ifname = q;
	while (word_char(*q))
		q++;
	rec->ifname_len = (size_t)(q - rec->ifname);
	if (*q != '\n' || !rec->cid_len || rec->cid_len > VP_IPAM_MAX_CID || !rec->ifname_len ||
	    rec->ifname_len > VP_IPAM_MAX_IFNAME)
		return NULL;
	return q + 1;
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
	sc->lineno++;
	rec->off = sc->pos;
	rec->kind = (enum vp_ipam_rec_kind)line[0];
	nl = line[0] == 'a' && line[1] == ' ' ? fast_alloc(line, rec) : NULL;
	if (nl) {
		rec->len = (size_t)(nl - 1 - line);
		sc->pos += rec->len + 1;
		return 1;
	}
	nl = memchr(line, '\n', sc->end - sc->pos);
	rec->len = (size_t)(nl - line);
	sc->pos += rec->len + 1;
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
