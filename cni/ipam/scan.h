/* scan.h - the records of the IPAM state file, read in place.
 *
 * The file (see store.h) is a header line and then one record per line:
 *
 *   a <ip> <container id> <ifname>     an allocation
 *   c <range set index> <ip>           the round-robin cursor of a range set
 *                                      (the last one of a set counts)
 *   -<anything>                        a released allocation (blanked in place)
 *
 * A scan walks a buffer holding the file (a read-only mapping) without
 * copying or allocating: records point into it.  Bytes after the last
 * newline are a torn append that was never acknowledged, and are not part
 * of the state.
 */
#ifndef VP_IPAM_SCAN_H
#define VP_IPAM_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/inet.h"

#define VP_IPAM_HEADER "vplumb-ipam 2\n"
#define VP_IPAM_MAX_CID 1024
#define VP_IPAM_MAX_IFNAME 15
#define VP_IPAM_MAX_SETS 1024

enum vp_ipam_rec_kind {
	VP_IPAM_REC_ALLOC = 'a',
	VP_IPAM_REC_CURSOR = 'c',
	VP_IPAM_REC_DEAD = '-',
};

struct vp_ipam_rec {
	enum vp_ipam_rec_kind kind;
	struct vp_ip ip;                 /* ALLOC and CURSOR */
	const char *cid, *ifname;        /* ALLOC: in the buffer, not NUL-terminated */
	size_t cid_len, ifname_len;
	size_t set;                      /* CURSOR */
	size_t off, len;                 /* the line in the buffer, without its '\n' */
};

struct vp_ipam_scan {
	const char *buf;
	size_t end;                      /* just after the last '\n' */
	size_t pos;                      /* start of the next line */
	size_t lineno;                   /* line of the last record returned */
};

/* Start a scan of buf[0..len), the whole file.  0, or -EBADMSG with *why
 * when the header is missing (sc->lineno is then 1). */
int vp_ipam_scan_init(struct vp_ipam_scan *sc, const char *buf, size_t len,
		      const char **why) VP_MUST_CHECK;

/* The next record: 1 with *rec filled, 0 after the last one, -EBADMSG with
 * *why for a malformed line (sc->lineno names it). */
int vp_ipam_scan_next(struct vp_ipam_scan *sc, struct vp_ipam_rec *rec,
		      const char **why) VP_MUST_CHECK;

/* Whether w[0..len) can be a field of a record: 1..max printable ASCII
 * characters other than space. */
bool vp_ipam_word_ok(const char *w, size_t len, size_t max);

#endif
