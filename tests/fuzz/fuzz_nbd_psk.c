/* fuzz_nbd_psk.c - libFuzzer harness for the PSK file parser (tls_psk.c):
 * any bytes either parse into entries that satisfy the documented limits
 * and can be found by their user, or fail with nothing left allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vblk/nbd/tls_psk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vp_nbd_psk psk;
	struct vp_error err = { 0 };

	if (vp_nbd_psk_parse((const char *)data, size, &psk, &err)) {
		if (psk.n || psk.v)
			abort();
		return 0;
	}
	for (size_t i = 0; i < psk.n; i++) {
		const struct vp_nbd_psk_entry *e = &psk.v[i];

		if (!e->key_len || e->key_len > VP_NBD_PSK_MAX_KEY || !*e->user ||
		    strlen(e->user) > VP_NBD_PSK_MAX_USER || strchr(e->user, ':') ||
		    vp_nbd_psk_find(&psk, e->user) != e)
			abort();
	}
	vp_nbd_psk_free(&psk);
	return 0;
}
