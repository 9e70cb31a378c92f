/* log.c - key=value event lines on stderr for programs and daemons. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* -1 until first use, then the threshold (from VPLUMB_LOG or the setter). */
static int log_threshold = -1;

void vp_log_set_level(enum vp_log_level level)
{
	log_threshold = (int)level;
}

static int threshold(void)
{
	if (log_threshold < 0) {
		const char *env = getenv("VPLUMB_LOG");

		log_threshold = VP_LOG_INFO;
		for (int i = 0; env && i < 4; i++)
			if (strcmp(env, level_names[i]) == 0)
				log_threshold = i;
	}
	return log_threshold;
}

void vp_log(enum vp_log_level level, const char *event, const char *fmt, ...)
{
	char line[1024], stamp[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)level < threshold())
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s event=%s ", stamp,
		     now.tv_nsec / 1000000, level_names[level], event);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line so concurrent writers never interleave within a line. */
	fprintf(stderr, "%s\n", line);
}
