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

/* Rate limit for an event a peer can trigger at will (refused connections,
 * accept errors): at most `burst` of them pass per `interval_ms`; the rest
 * are counted, and the next one that passes carries "suppressed=N".  Zero
 * it and set burst and interval_ms; one per event source, used by one
 * thread. */
struct vp_event_limit {
	unsigned burst, interval_ms;
	unsigned long long window_start_ms; /* private */
	unsigned passed, suppressed;        /* private */
};

/* vp_event, unless lim says too many went out lately (CLOCK_MONOTONIC). */
void vp_event_limited(const struct vp_event_sink *sink, struct vp_event_limit *lim,
		      const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
