/* fuzz_ipam_state.c - libFuzzer harness for the IPAM state file scanner
 * (cni/ipam/scan.c): the input is the file after its header line (and, with
 * the header's check, the whole file as is).  The scan works in place, so
 * the buffer is an exact-size copy and any read past it is an ASan report.
 * Every record must lie on one line of the buffer, and the address of each
 * record must be what vp_ip_parse makes of the same text.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cni/ipam/scan.h"

/* The address text of rec must parse to rec->ip. */
static void check_ip(const char *line, const struct vp_ipam_rec *rec)
{
	const char *p = line + 2, *end = line + rec->len;
	char text[VP_IP_STRLEN];
	struct vp_ip ip;
	size_t n;

	if (rec->kind == VP_IPAM_REC_CURSOR)
		p = memchr(p, ' ', (size_t)(end - p)) + 1;
	else
		end = memchr(p, ' ', (size_t)(end - p));
	n = (size_t)(end - p);
	if (n >= sizeof(text))
		abort();
	memcpy(text, p, n);
	text[n] = '\0';
	if (vp_ip_parse(text, &ip) != 0 || ip.family != rec->ip.family ||
	    memcmp(ip.addr, rec->ip.addr, ip.family == AF_INET ? 4 : 16) != 0)
		abort();
}

static void check_rec(const struct vp_ipam_scan *sc, const struct vp_ipam_rec *rec)
{
	const char *line = sc->buf + rec->off;

	if (rec->off + rec->len >= sc->end || line[rec->len] != '\n' ||
	    memchr(line, '\n', rec->len))
		abort();
	if (rec->kind == VP_IPAM_REC_ALLOC) {
		if (rec->cid < line || rec->ifname + rec->ifname_len != line + rec->len ||
		    !vp_ipam_word_ok(rec->cid, rec->cid_len, VP_IPAM_MAX_CID) ||
		    !vp_ipam_word_ok(rec->ifname, rec->ifname_len, VP_IPAM_MAX_IFNAME))
			abort();
		check_ip(line, rec);
	} else if (rec->kind == VP_IPAM_REC_CURSOR) {
		if (rec->set >= VP_IPAM_MAX_SETS)
			abort();
		check_ip(line, rec);
	} else if (rec->kind != VP_IPAM_REC_DEAD) {
		abort();
	}
}

static void scan(const char *buf, size_t len)
{
	struct vp_ipam_scan sc;
	struct vp_ipam_rec rec;
	const char *why = NULL;
	size_t last = 0;
	int ret;

	if (vp_ipam_scan_init(&sc, buf, len, &why) < 0) {
		if (!why || sc.lineno != 1)
			abort();
		return;
	}
	while ((ret = vp_ipam_scan_next(&sc, &rec, &why)) != 0) {
		if (sc.pos <= last || sc.pos > sc.end || sc.end > len)
			abort();   /* no progress, or past the last newline */
		last = sc.pos;
		if (ret == 1)
			check_rec(&sc, &rec);
		else if (ret != -EBADMSG || !why)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t hlen = strlen(VP_IPAM_HEADER);
	char *raw = malloc(size ? size : 1), *file = malloc(hlen + size);

	if (raw && file) {
		memcpy(raw, data, size);
		scan(raw, size);
		memcpy(file, VP_IPAM_HEADER, hlen);
		memcpy(file + hlen, data, size);
		scan(file, hlen + size);
	}
	free(raw);
	free(file);
	return 0;
}
