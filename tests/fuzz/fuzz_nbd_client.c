/* fuzz_nbd_client.c - libFuzzer harness for vblk-csi's kernel NBD client
 * handshake (csi/node/nbd_handshake.c): the input is everything a server
 * sends, queued in a socketpair that is then shut for writing (so the
 * client never waits for more); the client must return, and on success
 * report an export the kernel can take (a positive size in whole sectors,
 * a block size of 512..4096).
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "csi/node/nbd.h"

#define MAX_INPUT (64U << 10)  /* fits a socketpair's buffer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vp_nbdc_export e;
	int sv[2];

	if (size > MAX_INPUT || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	if (write(sv[1], data, size) == (ssize_t)size) {
		shutdown(sv[1], SHUT_WR);
		if (!vp_nbdc_handshake(sv[0], "vol", &e, NULL) &&
		    (!e.size || e.size % 512 || e.block_size < 512 || e.block_size > 4096))
			abort();
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
