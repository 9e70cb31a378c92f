/* log.h - one line per event on stderr, as key=value pairs.
 *
 * Only programs (main and daemon loops) log; library code reports through
 * struct vp_error instead.  Example:
 *   vp_log(VP_LOG_INFO, "export.added", "name=%s size=%llu", name, size);
 * prints  "ts=2026-11-26T23:59:01.123Z level=info event=export.added name=disk0 size=1048576"
 */
#ifndef VP_COMMON_LOG_H
#define VP_COMMON_LOG_H

enum vp_log_level { VP_LOG_DEBUG, VP_LOG_INFO, VP_LOG_WARN, VP_LOG_ERROR };

/* Messages below this level are dropped; default VP_LOG_INFO, or the
 * VPLUMB_LOG environment variable (debug|info|warn|error). */
void vp_log_set_level(enum vp_log_level level);

void vp_log(enum vp_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
