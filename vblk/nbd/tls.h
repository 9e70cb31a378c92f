/* tls.h - TLS for vblkd's NBD server (NBD_OPT_STARTTLS), with GnuTLS:
 * x509 certificates (a directory laid out as qemu-nbd's tls-creds-x509:
 * ca-cert.pem, server-cert.pem, server-key.pem, optional ca-crl.pem) or
 * pre-shared keys (a "username:hexkey" file, as psktool writes).
 *
 * The kernel here has no kTLS, so the record layer runs in user space, off
 * the worker's ring: once STARTTLS is acknowledged, the connection's TCP
 * socket goes to a relay thread and the connection carries on (options,
 * then transmission, unchanged) over one end of a socketpair whose other
 * end the relay pumps to and from the TLS session.
 */
#ifndef VP_VBLK_NBD_TLS_H
#define VP_VBLK_NBD_TLS_H

#include <stdbool.h>

#include "common/error.h"
#include "common/event.h"
#include "vblk/nbd/nbd.h"

#define VP_NBD_TLS_HANDSHAKE_MS 10000 /* a client gets this long for the TLS handshake */
#define VP_NBD_TLS_LINGER_MS    5000  /* flushing replies to a client after the server side closed */
#define VP_NBD_TLS_MAX_RELAYS   1024  /* TLS connections at once, over all workers */

struct vp_nbd_tls_config {
	enum vp_nbd_tls_mode mode;
	const char *cert_dir;     /* x509 directory; or */
	const char *psk_file;     /* PSK file (exactly one of the two) */
	bool verify_peer;         /* x509: require a client certificate signed by ca-cert.pem */
	struct vp_event_sink events; /* relay threads report here (handshakes, closes) */
};

struct vp_nbd_tls;

/* Load the credentials of cfg (mode on or require) into *out, read once:
 * nothing is opened afterwards.  The GnuTLS priority is GnuTLS's NORMAL
 * limited to TLS 1.2 and 1.3 (plus the PSK key exchanges with a PSK file). */
VP_MUST_CHECK int vp_nbd_tls_new(const struct vp_nbd_tls_config *cfg, struct vp_nbd_tls **out,
				 struct vp_error *err);

/* The mode of t; VP_NBD_TLS_OFF for NULL. */
enum vp_nbd_tls_mode vp_nbd_tls_mode(const struct vp_nbd_tls *t);

/* Hand the TCP socket sock of connection conn_id (STARTTLS acknowledged,
 * nothing read past it) to a new relay thread, which runs the TLS
 * handshake within VP_NBD_TLS_HANDSHAKE_MS and then relays.  Returns the
 * connection's new, plaintext fd (a unix stream socket, CLOEXEC), the relay
 * owning sock from then on; or -errno (-EAGAIN past VP_NBD_TLS_MAX_RELAYS)
 * with sock still the caller's.  The relay ends, closing sock, when the
 * handshake fails, either side closes, or the plaintext end is closed (it
 * then flushes what it holds for at most VP_NBD_TLS_LINGER_MS). */
int vp_nbd_tls_start(struct vp_nbd_tls *t, int sock, unsigned conn_id);

/* Wait for the relays to end (every plaintext end must be closed: the
 * workers have returned), then free t; NULL is accepted. */
void vp_nbd_tls_free(struct vp_nbd_tls *t);

#endif
