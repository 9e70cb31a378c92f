/* event.c - formatting events for a program's event callback. */
#include "common/event.h"

#include <stdarg.h>
#include <stdio.h>

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
