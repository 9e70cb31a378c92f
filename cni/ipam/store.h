/* store.h - the allocator's crash-safe state: one file per network.
 *
 * dataDir/<network>/state is a text file, rewritten whole and atomically
 * (vp_statefile_write) under an exclusive flock on dataDir/<network>/lock:
 *
 *   vplumb-ipam 1
 *   cursor <range set index> <last reserved ip>
 *   <ip> <container id> <ifname>
 *   ...
 *   end <number of allocation lines>
 *
 * In memory the allocations sit in an array indexed by a hash table on the
 * address, so lookups cost the same with 10 or 10,000 allocations.  Loaded
 * records point into the file buffer; a commit copies their lines verbatim.
 */
#ifndef VP_IPAM_STORE_H
#define VP_IPAM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/inet.h"

#define VP_IPAM_STATE_FILE "state"
#define VP_IPAM_LOCK_FILE "lock"

struct vp_ipam_alloc {
	struct vp_ip ip;
	const char *line;          /* "ip cid ifname", not NUL-terminated */
	const char *cid, *ifname;  /* inside line */
	uint16_t line_len, cid_len, ifname_len;
	bool dead;                 /* released in this session */
	char *owned;               /* line's storage when added in this session */
};

struct vp_ipam_store {
	char *dir, *path;
	int lock_fd;
	char *buf;                 /* the loaded file */
	struct vp_ipam_alloc *allocs;
	size_t n, cap, live;
	uint32_t *table;           /* open addressing: allocs index + 1, 0 = empty */
	size_t table_cap;
	struct vp_ip *cursors;     /* per range set; family 0: none */
	size_t n_cursors;
	bool dirty;
};

/* Create dataDir/<network> if needed, take its lock (waiting for other
 * holders) and load the state.  A missing file is an empty state; a damaged
 * one is an error (code 5, naming file and line), never a silent reset.
 * On success free *out with vp_ipam_store_close(). */
int vp_ipam_store_open(const char *data_dir, const char *network, struct vp_ipam_store **out,
		       struct vp_error *err) VP_MUST_CHECK;

/* Write the state if it changed (durable on return: temp + fsync + rename +
 * fsync dir).  On failure the file keeps its previous contents. */
int vp_ipam_store_commit(struct vp_ipam_store *s, struct vp_error *err) VP_MUST_CHECK;

/* Drop the lock and free everything, discarding uncommitted changes; accepts NULL. */
void vp_ipam_store_close(struct vp_ipam_store *s);

/* The live allocation holding ip, or NULL. */
struct vp_ipam_alloc *vp_ipam_store_find(const struct vp_ipam_store *s, const struct vp_ip *ip);

/* vp_ipam_used_fn over a store (ctx is the store). */
bool vp_ipam_store_used(void *ctx, const struct vp_ip *ip);

/* Whether a belongs to (cid, ifname). */
bool vp_ipam_alloc_is(const struct vp_ipam_alloc *a, const char *cid, const char *ifname);

/* Record ip for (cid, ifname).  -EEXIST if ip is taken; -EINVAL (code 4) if
 * cid or ifname is empty, too long or holds whitespace. */
int vp_ipam_store_add(struct vp_ipam_store *s, const struct vp_ip *ip, const char *cid,
		      const char *ifname, struct vp_error *err) VP_MUST_CHECK;

/* Release a live allocation. */
void vp_ipam_store_remove(struct vp_ipam_store *s, struct vp_ipam_alloc *a);

/* The round-robin cursor of range set idx (family 0 when none). */
struct vp_ip vp_ipam_store_cursor(const struct vp_ipam_store *s, size_t idx);
int vp_ipam_store_set_cursor(struct vp_ipam_store *s, size_t idx, const struct vp_ip *ip,
			     struct vp_error *err) VP_MUST_CHECK;

#endif
