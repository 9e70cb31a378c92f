/* event.c - formatting events for a program's event callback. */
#include "common/event.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void vp_event(const struct vp_event_sink *sink, const char *event, const char *fmt, ...)
{
	char detail[VP_EVENT_DETAIL_MAX];
	va_list ap;

	if (!sink->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (char *p = detail; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	sink->fn(sink->ctx, event, detail);
}

void vp_event_limited(const struct vp_event_sink *sink, struct vp_event_limit *lim,
		      const char *event, const char *fmt, ...)
{
	char detail[VP_EVENT_DETAIL_MAX];
	struct timespec ts;
	unsigned long long now;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
	if (now - lim->window_start_ms >= lim->interval_ms) {
		lim->window_start_ms = now;
		lim->passed = 0;
	}
	if (lim->passed >= lim->burst) {
		lim->suppressed++;
		return;
	}
	lim->passed++;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (lim->suppressed)
		vp_event(sink, event, "%s suppressed=%u", detail, lim->suppressed);
	else
		vp_event(sink, event, "%s", detail);
	lim->suppressed = 0;
}
