/* dev.h - the vhost-user back-end device: one handler per front-end
 * message, dispatched by a single switch (libvhost-user's layout), holding
 * the negotiated features, memory table, per-queue ring state and inflight
 * region.  It does not own the event loop or the queue threads: it calls
 * ops->queue_start / queue_stop whenever a ring must (re)start or stop, and
 * only touches a ring's state while that ring is stopped.
 */
#ifndef VP_VBLK_VHOST_DEV_H
#define VP_VBLK_VHOST_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "vblk/vhost/msg.h"
#include "vblk/vhost/vring.h"

#define VP_VHOST_MAX_QUEUES 16

struct vp_vhost_queue {
	struct vp_vring vr;           /* owned by the queue thread while running */
	uint16_t num;                 /* SET_VRING_NUM (0 = unset) */
	bool addr_set;
	uint64_t desc_uva, avail_uva, used_uva;
	int kick_fd, call_fd, err_fd; /* -1 when absent */
	bool kicked;                  /* started: kick fd given, no GET_VRING_BASE since */
	bool enabled;                 /* SET_VRING_ENABLE */
	bool running;                 /* ops->queue_start succeeded, not stopped since */
};

struct vp_vhost_dev;

struct vp_vhost_dev_ops {
	/* Start processing queue q (its vr is attached and ready); 0 or -errno. */
	int (*queue_start)(struct vp_vhost_dev *dev, unsigned q);
	/* Stop processing queue q and return once nothing touches its ring or
	 * guest memory any more (in-flight requests completed). */
	void (*queue_stop)(struct vp_vhost_dev *dev, unsigned q);
	/* Device config space: fill up to size bytes at offset; 0 or -errno. */
	int (*get_config)(struct vp_vhost_dev *dev, uint32_t offset, uint8_t *buf, uint32_t size);
	int (*set_config)(struct vp_vhost_dev *dev, uint32_t offset, const uint8_t *buf,
			  uint32_t size);
};

struct vp_vhost_dev {
	const struct vp_vhost_dev_ops *ops;
	void *ctx;                    /* for the ops */
	int sock;                     /* the connection; owned by the caller */
	int backend_fd;               /* SET_BACKEND_REQ_FD channel, or -1 */
	uint64_t dev_features;        /* offered virtio features (device + transport) */
	uint64_t features;            /* acked by SET_FEATURES */
	uint64_t proto_features;      /* acked by SET_PROTOCOL_FEATURES */
	unsigned nqueues;             /* GET_QUEUE_NUM */
	bool owner;
	struct vp_memtable mt;
	struct vp_guestmap inflight;  /* the inflight region (addr NULL: none) */
	int inflight_fd;
	uint16_t inflight_qsize, inflight_nq;
	struct vp_vhost_queue q[VP_VHOST_MAX_QUEUES];
};

/* Protocol features this back end offers. */
uint64_t vp_vhost_dev_protocol_features(void);

/* Prepare dev for a new connection on sock: no features, empty memory
 * table, all queues stopped.  dev_features are the device's virtio feature
 * bits (transport bits are added here); nqueues in 1..VP_VHOST_MAX_QUEUES.
 * fault (may be NULL; must outlive dev) is told when the front end shrinks
 * a file under guest memory or the inflight region (vblk/vhost/guestmap.h):
 * the caller should then drop the connection. */
void vp_vhost_dev_init(struct vp_vhost_dev *dev, const struct vp_vhost_dev_ops *ops, void *ctx,
		       int sock, uint64_t dev_features, unsigned nqueues,
		       const struct vp_guestmap_sink *fault);

/* Handle one received message: validate its size and fds, apply it, send
 * the reply (or REPLY_ACK) on dev->sock.  msg's fds are consumed (kept or
 * closed) in every case.  Returns 0, or -errno when the connection should be
 * dropped (err says why). */
VP_MUST_CHECK int vp_vhost_dev_handle(struct vp_vhost_dev *dev, struct vp_vhost_msg *msg,
				      struct vp_error *err);

/* Tell the front end the config space changed (resize), over the backend
 * channel.  Returns 0, -ENOTCONN without a channel, or -errno. */
VP_MUST_CHECK int vp_vhost_dev_config_changed(struct vp_vhost_dev *dev, struct vp_error *err);

/* End of connection: stop every queue, unmap memory and the inflight
 * region, close every fd the device holds (not dev->sock). */
void vp_vhost_dev_close(struct vp_vhost_dev *dev);

#endif
