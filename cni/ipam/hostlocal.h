/* hostlocal.h - the reference host-local plugin's reservations, honoured by
 * vnet-ipam in the same directory, so a node switched from host-local never
 * hands out an address a running pod holds.
 *
 * host-local (plugins/ipam/host-local/backend/disk) keeps in
 * dataDir/<network>/ one file per reserved address, named by the address
 * ("10.1.0.5", "fd00::5") and holding "<container ID>\r\n<ifname>", plus a
 * last_reserved_ip.<set> cursor per range set and the file "lock", which it
 * flocks as vnet-ipam does: the two never change one network at once.
 *
 * A store session loads every such file whose address lies in one of the
 * config's ranges as a taken address; vnet-ipam never writes one.  DEL and
 * GC remove the files of the keys they release, so the migration completes
 * as the host-local pods go; the cursors are left alone.  A file that cannot
 * be read (or is no regular file), or that names no ifname, still takes its
 * address, for an owner nobody matches: DEL and GC never remove it. 
 */
#ifndef VP_IPAM_HOSTLOCAL_H
#define VP_IPAM_HOSTLOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"

struct vp_ipam_store;

/* One reservation file of host-local. */
struct vp_ipam_hostlocal {
	struct vp_ip ip;
	char *name;             /* the file's name in the network's directory */
	char *cid, *ifname;     /* its owner ("" when the file does not say) */
};

/* The largest file read: a container ID (VP_IPAM_MAX_CID), "\r\n", an ifname. */
#define VP_IPAM_HOSTLOCAL_MAX 1100

/* Read the host-local files of s->dir that reserve an address of s's ranges
 * into s->hl and mark their addresses taken.  Names that are no address
 * (state, lock, cursors) and addresses outside every range are skipped.
 * -errno with err (code 5) when the directory cannot be read. */
int vp_ipam_hostlocal_load(struct vp_ipam_store *s, struct vp_error *err) VP_MUST_CHECK;

/* Whether h names its owner in full (container ID and ifname): files of
 * host-local before 0.7 hold the ID alone, and unreadable ones nothing. */
bool vp_ipam_hostlocal_owned(const struct vp_ipam_hostlocal *h);

/* Whether reservation h belongs to (cid, ifname); one whose owner is not
 * known in full belongs to nobody. */
bool vp_ipam_hostlocal_is(const struct vp_ipam_hostlocal *h, const char *cid, const char *ifname);

/* Delete h's file (absent already: fine).  -errno with err (code 5). */
int vp_ipam_hostlocal_remove(const struct vp_ipam_store *s, const struct vp_ipam_hostlocal *h,
			     struct vp_error *err) VP_MUST_CHECK;

/* Free s->hl. */
void vp_ipam_hostlocal_free(struct vp_ipam_store *s);

#endif
