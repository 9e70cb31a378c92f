/* event.h - how the servers in vblk/ report what happened (connections
 * made and dropped, requests refused, and why) to the program running
 * them: an event name and key=value detail, handed to a callback the
 * program sets.  vblkd logs them with vp_log.
 *
 *   vp_event(&cfg->events, "nbd.conn.close", "conn=%u reason=%s", id, why);
 */
#ifndef VP_COMMON_EVENT_H
#define VP_COMMON_EVENT_H

#define VP_EVENT_DETAIL_MAX 768 /* bytes of detail kept, with the NUL */

/* Called on the reporting server's own thread. */
typedef void (*vp_event_fn)(void *ctx, const char *event, const char *detail);

struct vp_event_sink {
	vp_event_fn fn;  /* NULL: events are dropped */
	void *ctx;
};

/* Format the detail and hand it to sink->fn, if set.  Control characters
 * in it become '?': detail may quote client text, which must not be able to
 * forge log lines. */
void vp_event(const struct vp_event_sink *sink, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
