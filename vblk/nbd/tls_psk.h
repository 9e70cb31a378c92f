/* tls_psk.h - the PSK file of vblkd's NBD TLS (--tls-psk), parsed into
 * memory once at start: lines "username:hexkey" as GnuTLS's psktool writes
 * them (and as qemu-nbd's keys.psk and nbdkit's --tls-psk read them).  No
 * I/O here; vblk/nbd/tls.c reads the file and looks clients up.
 */
#ifndef VP_VBLK_NBD_TLS_PSK_H
#define VP_VBLK_NBD_TLS_PSK_H

#include <stddef.h>

#include "common/error.h"

#define VP_NBD_PSK_MAX_USER 128   /* bytes of a username */
#define VP_NBD_PSK_MAX_KEY  256   /* bytes of a key (512 hex digits) */

struct vp_nbd_psk_entry {
	char *user;
	unsigned char *key;
	size_t key_len;
};

struct vp_nbd_psk {
	struct vp_nbd_psk_entry *v;
	size_t n;
};

/* Parse text[0..len) into *psk (zeroed first).  Blank lines are skipped
 * (a trailing CR is ignored); every other line must be USER:HEX with a
 * non-empty username of printable characters without ':' (at most
 * VP_NBD_PSK_MAX_USER bytes) and an even, non-zero number of hex digits
 * (at most VP_NBD_PSK_MAX_KEY bytes); a username given twice is refused.
 * No entry at all is refused too.  Returns 0, or -EINVAL naming the line
 * (err) / -ENOMEM, with nothing left allocated. */
VP_MUST_CHECK int vp_nbd_psk_parse(const char *text, size_t len, struct vp_nbd_psk *psk,
				   struct vp_error *err);

/* The entry of user (NUL-terminated), or NULL. */
const struct vp_nbd_psk_entry *vp_nbd_psk_find(const struct vp_nbd_psk *psk, const char *user);

/* Free the entries (wiping the keys); psk is left empty. */
void vp_nbd_psk_free(struct vp_nbd_psk *psk);

#endif
