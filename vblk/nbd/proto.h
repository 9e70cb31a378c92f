/* proto.h - NBD wire format: magics, option/command/flag numbers and the
 * fixed-size message layouts (all fields big-endian on the wire).
 * Source: NetworkBlockDevice/nbd doc/proto.md. */
#ifndef VP_VBLK_NBD_PROTO_H
#define VP_VBLK_NBD_PROTO_H

#include <stdint.h>

#define NBD_INIT_MAGIC          0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC          0x49484156454f5054ULL /* "IHAVEOPT" */
#define NBD_REP_MAGIC           0x0003e889045565a9ULL
#define NBD_REQUEST_MAGIC       0x25609513U
#define NBD_SIMPLE_REPLY_MAGIC  0x67446698U
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efU

/* Handshake flags (server, 16 bits) and client flags (32 bits). */
#define NBD_FLAG_FIXED_NEWSTYLE (1U << 0)
#define NBD_FLAG_NO_ZEROES      (1U << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1U << 0)
#define NBD_FLAG_C_NO_ZEROES    (1U << 1)

/* Options. */
#define NBD_OPT_EXPORT_NAME      1
#define NBD_OPT_ABORT            2
#define NBD_OPT_LIST             3
#define NBD_OPT_STARTTLS         5
#define NBD_OPT_INFO             6
#define NBD_OPT_GO               7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT 10

/* Option reply types. */
#define NBD_REP_ACK             1
#define NBD_REP_SERVER          2
#define NBD_REP_INFO            3
#define NBD_REP_META_CONTEXT    4
#define NBD_REP_FLAG_ERROR      (1U << 31)
#define NBD_REP_ERR_UNSUP       (NBD_REP_FLAG_ERROR | 1)
#define NBD_REP_ERR_POLICY      (NBD_REP_FLAG_ERROR | 2)
#define NBD_REP_ERR_INVALID     (NBD_REP_FLAG_ERROR | 3)
#define NBD_REP_ERR_PLATFORM    (NBD_REP_FLAG_ERROR | 4)
#define NBD_REP_ERR_TLS_REQD    (NBD_REP_FLAG_ERROR | 5)
#define NBD_REP_ERR_UNKNOWN     (NBD_REP_FLAG_ERROR | 6)
#define NBD_REP_ERR_SHUTDOWN    (NBD_REP_FLAG_ERROR | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8)
#define NBD_REP_ERR_TOO_BIG     (NBD_REP_FLAG_ERROR | 9)

/* NBD_REP_INFO item types. */
#define NBD_INFO_EXPORT         0
#define NBD_INFO_NAME           1
#define NBD_INFO_DESCRIPTION    2
#define NBD_INFO_BLOCK_SIZE     3

/* Transmission flags (16 bits). */
#define NBD_FLAG_HAS_FLAGS         (1U << 0)
#define NBD_FLAG_READ_ONLY         (1U << 1)
#define NBD_FLAG_SEND_FLUSH        (1U << 2)
#define NBD_FLAG_SEND_FUA          (1U << 3)
#define NBD_FLAG_ROTATIONAL        (1U << 4)
#define NBD_FLAG_SEND_TRIM         (1U << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1U << 6)
#define NBD_FLAG_SEND_DF           (1U << 7)
#define NBD_FLAG_CAN_MULTI_CONN    (1U << 8)
#define NBD_FLAG_SEND_RESIZE       (1U << 9)
#define NBD_FLAG_SEND_CACHE        (1U << 10)
#define NBD_FLAG_SEND_FAST_ZERO    (1U << 11)

/* Commands and command flags. */
#define NBD_CMD_READ          0
#define NBD_CMD_WRITE         1
#define NBD_CMD_DISC          2
#define NBD_CMD_FLUSH         3
#define NBD_CMD_TRIM          4
#define NBD_CMD_CACHE         5
#define NBD_CMD_WRITE_ZEROES  6
#define NBD_CMD_BLOCK_STATUS  7

#define NBD_CMD_FLAG_FUA       (1U << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1U << 1)
#define NBD_CMD_FLAG_DF        (1U << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1U << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1U << 4)

/* Structured reply flags and chunk types. */
#define NBD_REPLY_FLAG_DONE          (1U << 0)
#define NBD_REPLY_TYPE_NONE          0
#define NBD_REPLY_TYPE_OFFSET_DATA   1
#define NBD_REPLY_TYPE_OFFSET_HOLE   2
#define NBD_REPLY_TYPE_BLOCK_STATUS  5
#define NBD_REPLY_TYPE_ERROR         ((1U << 15) | 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET  ((1U << 15) | 2)

/* base:allocation status flags. */
#define NBD_STATE_HOLE (1U << 0)
#define NBD_STATE_ZERO (1U << 1)

/* Error values carried on the wire (fixed numbers, not the host's errno). */
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_ENOMEM     12
#define NBD_EINVAL     22
#define NBD_ENOSPC     28
#define NBD_EOVERFLOW  75
#define NBD_ENOTSUP    95
#define NBD_ESHUTDOWN  108

/* Fixed message sizes. */
#define NBD_GREETING_SIZE      18 /* NBDMAGIC, IHAVEOPT, u16 flags */
#define NBD_OPTION_HDR_SIZE    16 /* IHAVEOPT, u32 option, u32 length */
#define NBD_OPTION_REPLY_HDR_SIZE 20 /* magic, u32 option, u32 type, u32 len */
#define NBD_REQUEST_SIZE       28 /* magic, u16 flags, u16 type, u64 handle, u64 offset, u32 length */
#define NBD_SIMPLE_REPLY_SIZE  16 /* magic, u32 error, u64 handle */
#define NBD_CHUNK_HDR_SIZE     20 /* magic, u16 flags, u16 type, u64 handle, u32 length */

/* The one metadata context vblkd offers, and its id. */
#define NBD_META_BASE_ALLOCATION "base:allocation"
#define NBD_META_ID_BASE_ALLOCATION 1U

#endif
