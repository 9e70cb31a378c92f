/* stats.c - lock-free per-worker I/O counters and log-linear latency
 * histograms, merged when read. */
#include "vblk/stats.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SUB (1U << VP_STATS_SUB_BITS)

/* Written by one worker only; aligned so two workers never share a line. */
struct shard {
	_Atomic uint64_t ops[VP_STATS_NOPS];
	_Atomic uint64_t bytes[VP_STATS_NOPS];
	_Atomic uint64_t errors;
	_Atomic uint64_t hist[VP_STATS_NOPS][VP_STATS_BUCKETS];
} __attribute__((aligned(64)));

/* Totals at one tick (control thread only). */
struct mark {
	uint64_t at_ns;
	uint64_t ops[VP_STATS_NOPS], bytes[VP_STATS_NOPS];
};

struct vp_stats {
	atomic_uint refs;
	unsigned nshards;
	struct mark prev, last;
	struct shard *shards;
};

int vp_stats_new(unsigned nshards, struct vp_stats **out)
{
	struct vp_stats *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s || nshards == 0)
		goto fail;
	if (posix_memalign((void **)&s->shards, 64, (size_t)nshards * sizeof(struct shard)))
		goto fail;
	memset(s->shards, 0, (size_t)nshards * sizeof(struct shard));
	s->nshards = nshards;
	atomic_init(&s->refs, 1);
	*out = s;
	return 0;
fail:
	free(s);
	return nshards ? -ENOMEM : -EINVAL;
}

struct vp_stats *vp_stats_get(struct vp_stats *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void vp_stats_put(struct vp_stats *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(s->shards);
	free(s);
}

unsigned vp_stats_bucket(uint64_t ns)
{
	unsigned e;

	if (ns < SUB)
		return (unsigned)ns;
	e = 63U - (unsigned)__builtin_clzll(ns);
	if (e > VP_STATS_MAX_EXP)
		return VP_STATS_BUCKETS - 1;
	return (e - VP_STATS_SUB_BITS + 1) * SUB + (unsigned)((ns >> (e - VP_STATS_SUB_BITS)) & (SUB - 1));
}

uint64_t vp_stats_bucket_max(unsigned bucket)
{
	unsigned e, shift;

	if (bucket < SUB)
		return bucket;
	if (bucket >= VP_STATS_BUCKETS)
		bucket = VP_STATS_BUCKETS - 1;
	e = bucket / SUB + VP_STATS_SUB_BITS - 1;
	shift = e - VP_STATS_SUB_BITS;
	return ((uint64_t)(SUB + bucket % SUB) << shift) + ((1ULL << shift) - 1);
}

/* Single writer: a plain relaxed load + store is enough and avoids a locked
 * read-modify-write on the I/O path. */
static inline void bump(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

void vp_stats_record(struct vp_stats *s, unsigned shard, enum vp_stats_op op, uint64_t bytes,
		     uint64_t latency_ns, bool error)
{
	struct shard *sh = &s->shards[shard % s->nshards];

	if ((unsigned)op >= VP_STATS_NOPS)
		op = VP_STATS_OTHER;
	bump(&sh->ops[op], 1);
	if (error)
		bump(&sh->errors, 1);
	else
		bump(&sh->bytes[op], bytes);
	bump(&sh->hist[op][vp_stats_bucket(latency_ns)], 1);
}

static uint64_t load(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Sum ops and bytes of every shard into m. */
static void sum_counts(const struct vp_stats *s, struct mark *m)
{
	memset(m->ops, 0, sizeof(m->ops));
	memset(m->bytes, 0, sizeof(m->bytes));
	for (unsigned i = 0; i < s->nshards; i++)
		for (unsigned op = 0; op < VP_STATS_NOPS; op++) {
			m->ops[op] += load(&s->shards[i].ops[op]);
			m->bytes[op] += load(&s->shards[i].bytes[op]);
		}
}

void vp_stats_read(const struct vp_stats *s, struct vp_stats_totals *out)
{
	struct mark m;

	memset(out, 0, sizeof(*out));
	sum_counts(s, &m);
	memcpy(out->ops, m.ops, sizeof(m.ops));
	memcpy(out->bytes, m.bytes, sizeof(m.bytes));
	for (unsigned i = 0; i < s->nshards; i++) {
		const struct shard *sh = &s->shards[i];

		out->errors += load(&sh->errors);
		for (unsigned op = 0; op < VP_STATS_NOPS; op++)
			for (unsigned b = 0; b < VP_STATS_BUCKETS; b++)
				out->hist[op][b] += load(&sh->hist[op][b]);
	}
}

uint64_t vp_stats_quantile(const uint64_t *hist, double q)
{
	uint64_t total = 0, seen = 0, rank;

	for (unsigned b = 0; b < VP_STATS_BUCKETS; b++)
		total += hist[b];
	if (total == 0)
		return 0;
	/* The smallest bucket holding at least ceil(q * total) samples. */
	rank = (uint64_t)(q * (double)total);
	if ((double)rank < q * (double)total)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned b = 0; b < VP_STATS_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= rank)
			return vp_stats_bucket_max(b);
	}
	return vp_stats_bucket_max(VP_STATS_BUCKETS - 1);
}

void vp_stats_tick(struct vp_stats *s, uint64_t now_ns)
{
	s->prev = s->last;
	sum_counts(s, &s->last);
	s->last.at_ns = now_ns;
}

uint64_t vp_stats_rates(const struct vp_stats *s, double ops_per_s[VP_STATS_NOPS],
			double bytes_per_s[VP_STATS_NOPS])
{
	uint64_t span = s->prev.at_ns && s->last.at_ns > s->prev.at_ns ?
			s->last.at_ns - s->prev.at_ns : 0;

	for (unsigned op = 0; op < VP_STATS_NOPS; op++) {
		ops_per_s[op] = span ? (double)(s->last.ops[op] - s->prev.ops[op]) * 1e9 / (double)span : 0;
		bytes_per_s[op] = span ? (double)(s->last.bytes[op] - s->prev.bytes[op]) * 1e9 / (double)span : 0;
	}
	return span;
}

const char *vp_stats_op_name(enum vp_stats_op op)
{
	static const char *const names[] = { "read", "write", "flush", "trim", "other" };

	return (unsigned)op < VP_STATS_NOPS ? names[op] : "?";
}
