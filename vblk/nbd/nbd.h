/* nbd.h - the NBD protocol logic of vblkd, free of any I/O: option
 * negotiation (handshake.c) and request validation and reply encoding
 * (transmission.c).  The worker (server.c, with conn.h and the files it
 * lists) moves the bytes through its io_uring.
 */
#ifndef VP_VBLK_NBD_NBD_H
#define VP_VBLK_NBD_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "vblk/image.h"

struct vp_stats;
struct vp_nbd_entry;

#define VP_NBD_MAX_PAYLOAD   (32U << 20) /* largest READ/WRITE we accept */
#define VP_NBD_MAX_OPTION    (64U << 10) /* largest option payload we read */
#define VP_NBD_PREFERRED_BLOCK 4096U
#define VP_NBD_MAX_EXTENTS   64U         /* descriptors per BLOCK_STATUS reply */

/* One export, configured at start and shared read-only by all workers. */
struct vp_nbd_export {
	const char *name;
	const char *description; /* may be NULL */
	struct vp_image *img;
	struct vp_stats *stats;       /* per-export counters (vblk/stats.h); may be NULL */
	struct vp_nbd_entry *entry;   /* run-time table entry (nbd/table.h); NULL if static */
};

/* A growable output buffer for option replies (handshake only). */
struct vp_nbd_buf {
	unsigned char *data;
	size_t len, cap;
};

void vp_nbd_buf_free(struct vp_nbd_buf *buf);

/* What the server offers of NBD_OPT_STARTTLS (proto.md's modes). */
enum vp_nbd_tls_mode {
	VP_NBD_TLS_OFF = 0,     /* NOTLS: STARTTLS answered NBD_REP_ERR_POLICY */
	VP_NBD_TLS_ON,          /* STARTTLS acknowledged, plaintext also served */
	VP_NBD_TLS_REQUIRE,     /* FORCEDTLS: nothing but STARTTLS and ABORT before TLS */
};

/* Per-connection negotiation state; zero it, then set exports/n_exports
 * (and tls_mode). */
struct vp_nbd_hs {
	const struct vp_nbd_export *exports;
	size_t n_exports;
	enum vp_nbd_tls_mode tls_mode;
	bool tls;                 /* STARTTLS acknowledged: the rest runs over TLS */
	bool fixed_newstyle;
	bool no_zeroes;
	bool structured;          /* NBD_OPT_STRUCTURED_REPLY acknowledged */
	const struct vp_nbd_export *meta_export; /* export base:allocation was set for */
	const struct vp_nbd_export *chosen;      /* set when transmission starts */
	bool meta_alloc;          /* base:allocation selected for `chosen` */
};

enum vp_nbd_hs_next {
	VP_NBD_HS_CONTINUE = 0, /* send `out`, then read the next option */
	VP_NBD_HS_GO,           /* send `out`, then enter transmission with hs->chosen */
	VP_NBD_HS_CLOSE,        /* send `out`, then close the connection */
	VP_NBD_HS_STARTTLS,     /* send `out` in plaintext, then run TLS on the
				 * connection and read the next option over it */
};

/* The server's first 18 bytes (fixed newstyle, NO_ZEROES). */
void vp_nbd_hs_greeting(unsigned char out[18]);

/* Take the client's 32-bit flags.  Returns 0, or -EPROTO when the client
 * sent flags we do not know (the connection must then be closed). */
VP_MUST_CHECK int vp_nbd_hs_client_flags(struct vp_nbd_hs *hs, uint32_t flags);

/* Parse a 16-byte option header.  Returns 0 with *opt and *len set, -EPROTO
 * on a bad magic, -EMSGSIZE when len exceeds VP_NBD_MAX_OPTION (close). */
VP_MUST_CHECK int vp_nbd_hs_option_header(const unsigned char hdr[16], uint32_t *opt,
					  uint32_t *len);

/* Handle one option with its len bytes of data; replies are appended to out.
 * Returns a vp_nbd_hs_next value (>= 0), or -errno when the connection must
 * be dropped at once (-ENOMEM, or -ENOENT for EXPORT_NAME of an unknown
 * export, or -EACCES for EXPORT_NAME before TLS in require mode, neither of
 * which the protocol can answer).  STARTTLS, once acknowledged, forgets what
 * was negotiated before it (structured replies, meta contexts). */
VP_MUST_CHECK int vp_nbd_hs_option(struct vp_nbd_hs *hs, uint32_t opt, const unsigned char *data,
				   uint32_t len, struct vp_nbd_buf *out);

/* Transmission flags for export e given what was negotiated. */
uint16_t vp_nbd_export_flags(const struct vp_nbd_hs *hs, const struct vp_nbd_export *e);

/* A parsed request header. */
struct vp_nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t handle;
	uint64_t offset;
	uint32_t length;
};

/* What the connection negotiated, as the request check needs it. */
struct vp_nbd_limits {
	uint64_t size;
	uint32_t min_block;
	bool readonly;
	bool structured;
	bool meta_alloc;
};

/* Parse 28 bytes into req.  Returns 0, or -EPROTO on a bad magic. */
VP_MUST_CHECK int vp_nbd_request_parse(const unsigned char raw[28], struct vp_nbd_request *req);

/* The choke point: check every field of req against lim.  Returns 0 when the
 * connection may go on; then *payload is the number of bytes that follow the
 * header (WRITE data, to be received even when the request is refused) and
 * *nbd_err is 0 (execute) or the NBD error to reply with.  Returns -EPROTO
 * when the request cannot be answered safely (a WRITE longer than
 * VP_NBD_MAX_PAYLOAD) and the connection must be dropped. */
VP_MUST_CHECK int vp_nbd_request_check(const struct vp_nbd_request *req,
				       const struct vp_nbd_limits *lim, uint32_t *payload,
				       uint32_t *nbd_err);

/* Map a host errno (positive) to the NBD error value sent on the wire. */
uint32_t vp_nbd_errno(int err);

/* Encoders for reply headers; each returns the number of bytes written. */
size_t vp_nbd_simple_reply(unsigned char *out, uint64_t handle, uint32_t nbd_err);
size_t vp_nbd_chunk_header(unsigned char *out, uint16_t flags, uint16_t type, uint64_t handle,
			   uint32_t payload_len);
/* OFFSET_DATA chunk header (DONE set) for data_len bytes at offset: 28 bytes. */
size_t vp_nbd_read_chunk(unsigned char *out, uint64_t handle, uint64_t offset, uint32_t data_len);
/* ERROR chunk (DONE set), no message: 26 bytes. */
size_t vp_nbd_error_chunk(unsigned char *out, uint64_t handle, uint32_t nbd_err);
/* BLOCK_STATUS chunk header (DONE set) for n descriptors: 24 bytes. */
size_t vp_nbd_block_status_chunk(unsigned char *out, uint64_t handle, uint32_t n);

/* Fill up to max descriptors (8 bytes each, wire order) describing
 * [offset, offset+length) of img for base:allocation.  Returns the number
 * written (>= 1) or -errno. */
VP_MUST_CHECK int vp_nbd_block_status(const struct vp_image *img, uint64_t offset, uint32_t length,
				      unsigned char *out, uint32_t max);

#endif
