/* proto.h - vhost-user wire format (QEMU docs/interop/vhost-user.rst):
 * message types, flags, feature bits and payload layouts.  All fields are
 * in the host's byte order (the protocol is local to one machine).
 */
#ifndef VP_VBLK_VHOST_PROTO_H
#define VP_VBLK_VHOST_PROTO_H

#include <stdint.h>

/* Front-end -> back-end requests. */
enum vp_vhost_req {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
};

/* Back-end -> front-end requests (on the SET_BACKEND_REQ_FD channel). */
#define VHOST_USER_BACKEND_CONFIG_CHANGE_MSG 2

#define VHOST_USER_VERSION       0x1U
#define VHOST_USER_VERSION_MASK  0x3U
#define VHOST_USER_REPLY         (1U << 2)
#define VHOST_USER_NEED_REPLY    (1U << 3)

/* Virtio feature bits used by the transport. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ                  0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK           3
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ         5
#define VHOST_USER_PROTOCOL_F_CONFIG              9
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD      12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE        13
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

/* SET_VRING_KICK/CALL/ERR payload: ring index in bits 0-7, bit 8 = no fd. */
#define VHOST_USER_VRING_IDX_MASK 0xffU
#define VHOST_USER_VRING_NOFD     (1U << 8)

#define VHOST_USER_MAX_FDS 8          /* fds per message (and SET_MEM_TABLE regions) */
#define VHOST_USER_CONFIG_MAX 256     /* config space bytes */

struct vp_vhost_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;                    /* payload bytes that follow */
} __attribute__((packed));

struct vp_vhost_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vp_vhost_vring_addr {
	uint32_t index;
	uint32_t flags;                   /* bit 0: log dirty used ring */
	uint64_t desc, used, avail, log;  /* front-end virtual addresses */
};

struct vp_vhost_region {
	uint64_t gpa;                     /* guest physical address */
	uint64_t size;
	uint64_t uva;                     /* front-end virtual address */
	uint64_t mmap_offset;             /* offset of the region in its fd */
};

struct vp_vhost_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vp_vhost_region regions[VHOST_USER_MAX_FDS];
};

struct vp_vhost_mem_reg {
	uint64_t padding;
	struct vp_vhost_region region;
};

struct vp_vhost_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VHOST_USER_CONFIG_MAX];
};
#define VHOST_USER_CONFIG_HDR 12U

struct vp_vhost_inflight_desc {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;
};
/* QEMU sends sizeof (24); the meaningful part is the first 20 bytes. */
#define VHOST_USER_INFLIGHT_MIN 20U

union vp_vhost_payload {
	uint64_t u64;
	struct vp_vhost_vring_state state;
	struct vp_vhost_vring_addr addr;
	struct vp_vhost_mem_table mem;
	struct vp_vhost_mem_reg reg;
	struct vp_vhost_config config;
	struct vp_vhost_inflight_desc inflight;
};

#endif
