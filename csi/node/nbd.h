/* nbd.h - the kernel NBD client of vblk-csi: an NBD export (of vblkd)
 * attached as /dev/nbdN without nbd-client.
 *
 * The NBD handshake (fixed newstyle, NBD_OPT_GO) runs here on a connected
 * socket (nbd_handshake.c); the socket is then handed to the kernel with
 * the genetlink "nbd" family (NBD_CMD_CONNECT, nbd.c), which keeps it (the
 * caller closes its fd).  A device carries a backend identifier
 * (NBD_ATTR_BACKEND_IDENTIFIER, /sys/block/nbdN/backend) by which it is
 * found again after a restart, as a loop device is by its backing file.
 * The kernel client takes simple replies only: no structured replies are
 * negotiated.
 */
#ifndef VP_CSI_NODE_NBD_H
#define VP_CSI_NODE_NBD_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define VP_NBDC_DEV_SIZE 32
#define VP_NBDC_NAME_MAX 4096           /* longest export name (NBD's limit) */
#define VP_NBDC_HANDSHAKE_MS 5000       /* the whole handshake, greeting to GO */
#define VP_NBDC_KERNEL_MIN_BLOCK 512U   /* block sizes the kernel client takes */
#define VP_NBDC_KERNEL_MAX_BLOCK 4096U
/* How long the kernel holds a device's I/O when its connection died (vblkd
 * restarted), waiting for vp_nbdc_reconnect, before it fails it. */
#define VP_NBDC_DEAD_CONN_S 60

/* What the handshake negotiated for the export. */
struct vp_nbdc_export {
	uint64_t size;          /* bytes */
	uint16_t flags;         /* transmission flags (NBD_FLAG_*) */
	uint32_t block_size;    /* the device's logical block size: the server's
				 * minimum, at least 512 */
};

struct vp_nbdc_dev {
	int index;                      /* N of /dev/nbdN */
	char dev[VP_NBDC_DEV_SIZE];     /* "/dev/nbdN" */
};

/* Negotiate export name on the connected stream socket fd (unix or TCP)
 * within VP_NBDC_HANDSHAKE_MS: NBD_OPT_GO (asking for the block size), or
 * NBD_OPT_EXPORT_NAME when the server does not know GO.  Every length and
 * value the server sends is checked.  0 with *out set, or -errno with err
 * set: -ENOENT for an unknown export, -EACCES when the server refuses
 * (policy, TLS required), -EPROTO for a server that breaks the protocol,
 * -EOPNOTSUPP for an export the kernel client cannot serve (its minimum
 * block size is above 4096), -ETIMEDOUT.  fd is then in transmission
 * (or useless after an error); the caller owns it either way. */
int vp_nbdc_handshake(int fd, const char *name, struct vp_nbdc_export *out,
		      struct vp_error *err) VP_MUST_CHECK;

/* Whether the kernel has the genetlink "nbd" family (resolving it loads
 * nbd.ko where the kernel has it as a module): 0, -ENOENT when it has no
 * nbd client, another -errno with err set. */
int vp_nbdc_available(struct vp_error *err) VP_MUST_CHECK;

/* Hand sock, negotiated as e, to the kernel (NBD_CMD_CONNECT on a free
 * device the kernel picks) under backend (1..PATH_MAX-1 bytes, which no
 * device has yet): 0 with *out set, or -errno with err set (nothing
 * attached: a device connected before the answer failed is disconnected).  The device is
 * read-only when e->flags has NBD_FLAG_READ_ONLY.  The kernel holds its
 * own reference to sock: the caller closes its fd. */
int vp_nbdc_attach(int sock, const struct vp_nbdc_export *e, const char *backend,
		   struct vp_nbdc_dev *out, struct vp_error *err) VP_MUST_CHECK;

/* Give /dev/nbd<index>, connected under backend, sock (negotiated as the
 * same export) in place of its dead connection (NBD_CMD_RECONFIGURE; the
 * kernel keeps a connection that is not dead and drops sock then): 0 or
 * -errno with err set.  The device keeps the size it was connected with.
 * The caller closes sock. */
int vp_nbdc_reconnect(int index, int sock, const char *backend,
		      struct vp_error *err) VP_MUST_CHECK;

/* The backend identifier of block device dev into buf: 0, or -ENOENT when
 * dev is not a connected nbd device. */
int vp_nbdc_backend_of(dev_t dev, char *buf, size_t size) VP_MUST_CHECK;

/* Disconnect /dev/nbd<index> (NBD_CMD_DISCONNECT: the kernel sends
 * NBD_CMD_DISC to the server and closes the socket): 0 or -errno. */
int vp_nbdc_detach(int index, struct vp_error *err) VP_MUST_CHECK;

/* The connected device whose backend identifier is backend, into *out:
 * 0, -ENOENT when none is, or another -errno with err set. */
int vp_nbdc_find(const char *backend, struct vp_nbdc_dev *out,
		 struct vp_error *err) VP_MUST_CHECK;

/* ---- the genetlink messages, built and parsed apart from the socket ---- */

/* Build NBD_CMD_CONNECT for family (its id) into buf (size bytes): the
 * export's size, block size and flags, VP_NBDC_DEAD_CONN_S, sock as the
 * one socket, backend;
 * no NBD_ATTR_INDEX, so the kernel picks the device (it refuses -1).
 * 0 with *out the message, or -EMSGSIZE when it does not fit. */
int vp_nbdc_msg_connect(void *buf, size_t size, uint16_t family, uint32_t seq, int sock,
			const struct vp_nbdc_export *e, const char *backend,
			struct nlmsghdr **out) VP_MUST_CHECK;

/* NBD_ATTR_INDEX of the kernel's answer to NBD_CMD_CONNECT: 0 with *index
 * set, or -EPROTO when nlh carries no valid index. */
int vp_nbdc_msg_index(const struct nlmsghdr *nlh, uint32_t *index) VP_MUST_CHECK;

#endif
