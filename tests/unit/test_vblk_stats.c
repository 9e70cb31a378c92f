/* test_vblk_stats.c - histogram geometry, quantiles, per-shard counters
 * merged on read, interval rates, and concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vblk/stats.h"

static void test_buckets(void **state)
{
	(void)state;
	/* Small values are exact. */
	for (uint64_t v = 0; v < 16; v++) {
		assert_int_equal(vp_stats_bucket(v), v);
		assert_true(vp_stats_bucket_max(vp_stats_bucket(v)) == v);
	}
	/* Every value lies in its bucket, buckets are monotonic, and the
	 * relative error of the reported upper bound is at most 1/16. */
	for (uint64_t v = 16, prev = 0; v < (1ULL << 41); v = v * 9 / 8 + 1) {
		unsigned b = vp_stats_bucket(v);
		uint64_t max = vp_stats_bucket_max(b);

		assert_true(b >= prev);
		assert_true(b < VP_STATS_BUCKETS);
		assert_true(max >= v);
		assert_true(b == 0 || vp_stats_bucket_max(b - 1) < v);
		assert_true((double)(max - v) <= (double)v / 16.0 + 1);
		prev = b;
	}
	assert_int_equal(vp_stats_bucket(UINT64_MAX), VP_STATS_BUCKETS - 1);
	assert_int_equal(vp_stats_bucket((1ULL << 41) - 1), VP_STATS_BUCKETS - 1);
	assert_int_equal(vp_stats_bucket(1ULL << 41), VP_STATS_BUCKETS - 1); /* clamped */
	assert_true(vp_stats_bucket(1ULL << 40) < VP_STATS_BUCKETS - 1);
}

static void test_quantiles(void **state)
{
	uint64_t *hist = calloc(VP_STATS_BUCKETS, sizeof(*hist));

	(void)state;
	assert_non_null(hist);
	assert_true(vp_stats_quantile(hist, 0.5) == 0); /* empty */
	/* 1000 samples: 1..1000 us. */
	for (uint64_t us = 1; us <= 1000; us++)
		hist[vp_stats_bucket(us * 1000)]++;
	assert_true(vp_stats_quantile(hist, 0.50) >= 500000 && vp_stats_quantile(hist, 0.50) <= 500000 * 17 / 16);
	assert_true(vp_stats_quantile(hist, 0.90) >= 900000 && vp_stats_quantile(hist, 0.90) <= 900000 * 17 / 16);
	assert_true(vp_stats_quantile(hist, 0.99) >= 990000 && vp_stats_quantile(hist, 0.99) <= 990000 * 17 / 16);
	assert_true(vp_stats_quantile(hist, 0.999) >= 999000);
	assert_true(vp_stats_quantile(hist, 1.0) >= 1000000);
	/* One outlier shows up at p99.9 only. */
	memset(hist, 0, VP_STATS_BUCKETS * sizeof(*hist));
	hist[vp_stats_bucket(100)] = 999;
	hist[vp_stats_bucket(1000000000)] = 1;
	assert_true(vp_stats_quantile(hist, 0.99) < 128);
	assert_true(vp_stats_quantile(hist, 0.9999) >= 1000000000);
	free(hist);
}

static void test_record_merge(void **state)
{
	struct vp_stats_totals *t = malloc(sizeof(*t));
	struct vp_stats *s;

	(void)state;
	assert_non_null(t);
	assert_int_equal(vp_stats_new(0, &s), -EINVAL);
	assert_null(s);
	assert_int_equal(vp_stats_new(3, &s), 0);
	vp_stats_record(s, 0, VP_STATS_READ, 4096, 1000, false);
	vp_stats_record(s, 1, VP_STATS_READ, 8192, 2000, false);
	vp_stats_record(s, 2, VP_STATS_WRITE, 512, 3000, false);
	vp_stats_record(s, 5, VP_STATS_FLUSH, 0, 4000, false);     /* shard 5 % 3 */
	vp_stats_record(s, 0, VP_STATS_WRITE, 512, 5000, true);    /* errors carry no bytes */
	vp_stats_record(s, 0, (enum vp_stats_op)99, 1, 1, false);  /* unknown -> other */
	vp_stats_read(s, t);
	assert_int_equal(t->ops[VP_STATS_READ], 2);
	assert_int_equal(t->bytes[VP_STATS_READ], 12288);
	assert_int_equal(t->ops[VP_STATS_WRITE], 2);
	assert_int_equal(t->bytes[VP_STATS_WRITE], 512);
	assert_int_equal(t->ops[VP_STATS_FLUSH], 1);
	assert_int_equal(t->ops[VP_STATS_OTHER], 1);
	assert_int_equal(t->errors, 1);
	assert_int_equal(t->hist[VP_STATS_READ][vp_stats_bucket(2000)], 1);
	assert_int_equal(t->hist[VP_STATS_WRITE][vp_stats_bucket(5000)], 1);
	assert_string_equal(vp_stats_op_name(VP_STATS_TRIM), "trim");
	/* References: the last put frees (ASan checks). */
	assert_ptr_equal(vp_stats_get(s), s);
	vp_stats_put(s);
	vp_stats_put(s);
	vp_stats_put(NULL);
	free(t);
}

static void test_rates(void **state)
{
	double ops[VP_STATS_NOPS], bytes[VP_STATS_NOPS];
	struct vp_stats *s;

	(void)state;
	assert_int_equal(vp_stats_new(1, &s), 0);
	vp_stats_tick(s, 1000000000ULL);
	assert_true(vp_stats_rates(s, ops, bytes) == 0); /* one tick: no interval yet */
	assert_true(ops[VP_STATS_READ] == 0);
	for (int i = 0; i < 50; i++)
		vp_stats_record(s, 0, VP_STATS_READ, 4096, 100, false);
	vp_stats_tick(s, 1500000000ULL); /* 50 reads in 0.5 s */
	assert_true(vp_stats_rates(s, ops, bytes) == 500000000ULL);
	assert_true(ops[VP_STATS_READ] > 99.9 && ops[VP_STATS_READ] < 100.1);
	assert_true(bytes[VP_STATS_READ] > 409599 && bytes[VP_STATS_READ] < 409601);
	vp_stats_tick(s, 2500000000ULL); /* idle second */
	assert_true(vp_stats_rates(s, ops, bytes) == 1000000000ULL);
	assert_true(ops[VP_STATS_READ] == 0);
	vp_stats_put(s);
}

struct writer {
	struct vp_stats *s;
	unsigned shard;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < 100000; i++)
		vp_stats_record(w->s, w->shard, VP_STATS_WRITE, 1, (uint64_t)i, false);
	return NULL;
}

/* One writer per shard plus a concurrent reader: nothing is lost. */
static void test_concurrent(void **state)
{
	struct vp_stats_totals *t = malloc(sizeof(*t));
	struct writer w[4];
	pthread_t tid[4];
	struct vp_stats *s;
	uint64_t last = 0;

	(void)state;
	assert_non_null(t);
	assert_int_equal(vp_stats_new(4, &s), 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct writer){ s, i };
		assert_int_equal(pthread_create(&tid[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < 20; i++) {
		vp_stats_read(s, t);
		assert_true(t->ops[VP_STATS_WRITE] >= last); /* monotonic */
		last = t->ops[VP_STATS_WRITE];
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	vp_stats_read(s, t);
	assert_int_equal(t->ops[VP_STATS_WRITE], 400000);
	assert_int_equal(t->bytes[VP_STATS_WRITE], 400000);
	vp_stats_put(s);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_record_merge),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
