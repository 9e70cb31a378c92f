/* store.h - the allocator's crash-safe state: one log file per network.
 *
 * dataDir/<network>/state holds the records of scan.h after the header
 * "vplumb-ipam 2".  All access happens under an exclusive flock on
 * dataDir/<network>/lock, and a session (open, query, change, commit) costs
 * nearly the same with 10 or 10,000 allocations:
 *
 * - open maps the file read-only and scans it once, in place: taken
 *   addresses go into a bitmap (or hash set) per range, and only the
 *   allocations of the session's key (container ID, ifname) are collected.
 * - commit appends new records ("a ..." allocations, then "c ..." cursors)
 *   with one write and fdatasync; a release overwrites its record's first
 *   byte with '-', fdatasync, and then blanks the rest of the line (so the
 *   container ID is gone from the file).  A write torn by a crash leaves a
 *   last line without newline, never acknowledged: the next open ignores it
 *   and cuts it away.  A one-byte overwrite cannot tear.
 * - when dead records (released allocations, old cursors) outnumber live
 *   ones by more than a slack, or on GC, commit rewrites the file with only
 *   the live records, atomically (vp_statefile_write): amortized O(1).
 *
 * The file is created atomically (header and first records) by the first
 * commit, so an existing file without a complete header is damage, reported
 * like any malformed record (code 5, naming file and line), never reset.
 */
#ifndef VP_IPAM_STORE_H
#define VP_IPAM_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"
#include "cni/ipam/config.h"
#include "cni/ipam/hostlocal.h"
#include "cni/ipam/scan.h"
#include "cni/ipam/used.h"

#define VP_IPAM_STATE_FILE "state"
#define VP_IPAM_LOCK_FILE "lock"

struct vp_ipam_dead {
	size_t off, len;                  /* a record to release at commit */
};

struct vp_ipam_store {
	char *dir, *path;
	int lock_fd, fd;                  /* fd: -1 while the state file does not exist */
	const char *map;                  /* the file, read-only; NULL when empty */
	size_t map_len, valid_len;        /* valid_len: up to the last newline */
	const struct vp_ipam_config *cfg; /* borrowed */
	struct vp_ipam_used *used;        /* one per range, set after set */
	size_t n_used;
	size_t *first;                    /* index in used of each set's first range */
	const char *cid, *ifname;         /* the session's key; NULL: none */
	size_t cid_len, ifname_len;
	struct vp_ipam_rec *held;         /* the key's live allocations in the file */
	size_t n_held;
	struct vp_ip *cursors;            /* per set; family 0: none */
	bool *cursor_dirty;
	size_t n_records, live;           /* records in the file; live allocations */
	char *pending;                    /* "a ..." records to append */
	size_t pending_len, pending_cap, n_pending;
	struct vp_ipam_dead *dead;
	size_t n_dead, dead_cap;
	bool compact;                     /* rewrite at commit whatever the dead count */
	struct vp_ipam_hostlocal *hl;     /* host-local's reservations (hostlocal.h) */
	size_t n_hl;
};

/* Create dataDir/<network> of cfg if needed, take its lock (waiting for
 * other holders) and load the state, collecting the allocations of
 * (cid, ifname) into held (both NULL: no key).  cfg must outlive the store.
 * A missing file is an empty state; a damaged one is an error (code 5,
 * naming file and line), never a silent reset.  host-local's reservation
 * files in the directory are loaded too (hostlocal.h).  On success free *out with
 * vp_ipam_store_close(). */
int vp_ipam_store_open(const struct vp_ipam_config *cfg, const char *cid, const char *ifname,
		       struct vp_ipam_store **out, struct vp_error *err) VP_MUST_CHECK;

/* Make the session's changes durable (see above).  Call it at most once per
 * session.  On failure no change is acknowledged: an append already made
 * is cut away when possible, and otherwise remains as an allocation that
 * DEL or GC frees. */
int vp_ipam_store_commit(struct vp_ipam_store *s, struct vp_error *err) VP_MUST_CHECK;

/* Drop the lock and free everything, discarding uncommitted changes; accepts NULL. */
void vp_ipam_store_close(struct vp_ipam_store *s);

/* Whether ip, which lies in a range of cfg, is taken (released ones stay
 * taken until the session ends). */
bool vp_ipam_store_used(const struct vp_ipam_store *s, const struct vp_ip *ip);

/* Whether ip lies in a range of cfg. */
bool vp_ipam_store_in_range(const struct vp_ipam_store *s, const struct vp_ip *ip);

/* Mark ip (in a range of cfg) taken by something outside the state file
 * (host-local's reservations): 0, or -ENOMEM. */
int vp_ipam_store_mark(struct vp_ipam_store *s, const struct vp_ip *ip) VP_MUST_CHECK;

/* The live allocation record of ip in the file: 0, or -ENOENT.  It scans
 * the whole file: for error messages, not for the common path. */
int vp_ipam_store_owner(const struct vp_ipam_store *s, const struct vp_ip *ip,
			struct vp_ipam_rec *out) VP_MUST_CHECK;

/* Call fn for each live allocation record in the file, in file order. */
void vp_ipam_store_foreach(struct vp_ipam_store *s,
			   void (*fn)(struct vp_ipam_store *s, const struct vp_ipam_rec *rec, void *ctx),
			   void *ctx);

/* A free address of range set idx, after its cursor: 0, or -ENOSPC. */
int vp_ipam_store_find_free(const struct vp_ipam_store *s, size_t idx,
			    struct vp_ip *out) VP_MUST_CHECK;

/* Record ip for (cid, ifname).  -EEXIST if ip is taken, -EINVAL if it lies in
 * no range of cfg, -EINVAL (code 4) if cid or ifname is empty, too long or
 * holds whitespace. */
int vp_ipam_store_add(struct vp_ipam_store *s, const struct vp_ip *ip, const char *cid,
		      const char *ifname, struct vp_error *err) VP_MUST_CHECK;

/* Release a live allocation record of the file (from held, owner or
 * foreach).  -ENOMEM on failure. */
int vp_ipam_store_remove(struct vp_ipam_store *s, const struct vp_ipam_rec *rec) VP_MUST_CHECK;

/* The round-robin cursor of range set idx (family 0 when none). */
struct vp_ip vp_ipam_store_cursor(const struct vp_ipam_store *s, size_t idx);
void vp_ipam_store_set_cursor(struct vp_ipam_store *s, size_t idx, const struct vp_ip *ip);

/* Whether rec belongs to (cid, ifname). */
bool vp_ipam_rec_is(const struct vp_ipam_rec *rec, const char *cid, const char *ifname);

#endif
