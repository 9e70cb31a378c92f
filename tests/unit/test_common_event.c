/* test_common_event.c - vp_event: formatting, control characters, length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "common/event.h"

struct seen {
	unsigned calls;
	char event[64];
	char detail[VP_EVENT_DETAIL_MAX + 1];
};

static void record(void *ctx, const char *event, const char *detail)
{
	struct seen *s = ctx;

	s->calls++;
	strcpy(s->event, event);
	strcpy(s->detail, detail);
}

static void test_formats_detail(void **state)
{
	struct seen s = { 0 };
	struct vp_event_sink sink = { record, &s };

	(void)state;
	vp_event(&sink, "nbd.conn.close", "conn=%u reason=%s", 7U, "disconnect");
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.event, "nbd.conn.close");
	assert_string_equal(s.detail, "conn=7 reason=disconnect");
}

/* Client text quoted in a detail cannot start a forged log line. */
static void test_control_characters_replaced(void **state)
{
	struct seen s = { 0 };
	struct vp_event_sink sink = { record, &s };

	(void)state;
	vp_event(&sink, "control.error", "error=\"%s\"", "a\nts=0 level=error\r\t\x7f\x1b[31m");
	assert_string_equal(s.detail, "error=\"a?ts=0 level=error????[31m\"");
}

static void test_long_detail_cut_and_no_sink(void **state)
{
	struct seen s = { 0 };
	struct vp_event_sink sink = { record, &s }, none = { NULL, NULL };
	char big[2 * VP_EVENT_DETAIL_MAX];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vp_event(&sink, "e", "%s", big);
	assert_int_equal(strlen(s.detail), VP_EVENT_DETAIL_MAX - 1);
	vp_event(&none, "e", "%s", big); /* dropped, nothing to call */
	assert_int_equal(s.calls, 1);
}

/* A burst passes, the rest of the window is counted, and the first event
 * of the next window says how many were left out. */
static void test_rate_limited(void **state)
{
	struct seen s = { 0 };
	struct vp_event_sink sink = { record, &s };
	struct vp_event_limit lim = { .burst = 3, .interval_ms = 50 };
	struct timespec pause = { 0, 80 * 1000000L };

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		vp_event_limited(&sink, &lim, "nbd.accept.error", "errno=%d", 24);
	assert_int_equal(s.calls, 3);
	assert_string_equal(s.detail, "errno=24");
	nanosleep(&pause, NULL);
	vp_event_limited(&sink, &lim, "nbd.accept.error", "errno=%d", 23);
	assert_int_equal(s.calls, 4);
	assert_string_equal(s.detail, "errno=23 suppressed=997");
	vp_event_limited(&sink, &lim, "nbd.accept.error", "errno=%d", 23);
	assert_string_equal(s.detail, "errno=23");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats_detail),
		cmocka_unit_test(test_control_characters_replaced),
		cmocka_unit_test(test_long_detail_cut_and_no_sink),
		cmocka_unit_test(test_rate_limited),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
