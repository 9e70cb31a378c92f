/* stats.h - per-export I/O counters and latency histograms.
 *
 * One struct vp_stats per export holds one shard per worker thread.  A
 * worker records into its own shard only (single writer, relaxed atomic
 * load + store, no locks, no shared cache lines), readers merge all shards
 * with relaxed loads: a read may miss the requests completing during it but
 * never sees torn values.  Latencies go into a fixed log-linear histogram:
 * values below 2^VP_STATS_SUB_BITS ns are exact, above that every power of
 * two is split into 2^VP_STATS_SUB_BITS linear buckets (<= 6.25% error);
 * 2^41 ns (about 36 minutes) and more land in the last bucket.
 */
#ifndef VP_VBLK_STATS_H
#define VP_VBLK_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

enum vp_stats_op {
	VP_STATS_READ,
	VP_STATS_WRITE,
	VP_STATS_FLUSH,
	VP_STATS_TRIM,   /* TRIM and WRITE_ZEROES */
	VP_STATS_OTHER,  /* CACHE, BLOCK_STATUS */
	VP_STATS_NOPS,
};

#define VP_STATS_SUB_BITS 4
#define VP_STATS_MAX_EXP 40
#define VP_STATS_BUCKETS ((VP_STATS_MAX_EXP - VP_STATS_SUB_BITS + 2) << VP_STATS_SUB_BITS)

struct vp_stats;

/* Merged totals since the export was added. */
struct vp_stats_totals {
	uint64_t ops[VP_STATS_NOPS];
	uint64_t bytes[VP_STATS_NOPS];
	uint64_t errors;                 /* requests answered with an error */
	uint64_t hist[VP_STATS_NOPS][VP_STATS_BUCKETS];
};

/* New zeroed stats with nshards (>= 1) worker shards and one reference.
 * Returns 0 or -ENOMEM (*out NULL). */
int vp_stats_new(unsigned nshards, struct vp_stats **out) VP_MUST_CHECK;

/* Take / drop a reference (thread-safe); the last put frees. NULL is
 * accepted by put. */
struct vp_stats *vp_stats_get(struct vp_stats *s);
void vp_stats_put(struct vp_stats *s);

/* Record one completed request on shard (the calling worker's index, taken
 * modulo the shard count).  Only that worker may write the shard. */
void vp_stats_record(struct vp_stats *s, unsigned shard, enum vp_stats_op op, uint64_t bytes,
		     uint64_t latency_ns, bool error);

/* Merge every shard into *out (overwritten). */
void vp_stats_read(const struct vp_stats *s, struct vp_stats_totals *out);

/* Histogram geometry: the bucket of a latency, and the largest latency a
 * bucket holds (what percentiles report). */
unsigned vp_stats_bucket(uint64_t ns);
uint64_t vp_stats_bucket_max(unsigned bucket);

/* The q-quantile (0 < q <= 1) of hist in ns (a bucket's upper bound); 0 when
 * the histogram is empty.  hist has VP_STATS_BUCKETS entries. */
uint64_t vp_stats_quantile(const uint64_t *hist, double q);

/* Rates over the last complete interval.  vp_stats_tick closes an interval
 * at now_ns (CLOCK_MONOTONIC); vp_stats_rates gives the ops per second of
 * each class and the bytes per second in the interval before the latest
 * tick, and its length in ns (0 before two ticks).  Both belong to one
 * thread (the control thread). */
void vp_stats_tick(struct vp_stats *s, uint64_t now_ns);
uint64_t vp_stats_rates(const struct vp_stats *s, double ops_per_s[VP_STATS_NOPS],
			double bytes_per_s[VP_STATS_NOPS]);

/* "read", "write", "flush", "trim", "other". */
const char *vp_stats_op_name(enum vp_stats_op op);

#endif
