/* fuzz_vhost_msg.c - libFuzzer harness for vhost-user message framing and
 * guest address translation.  The input is
 *     u8 fd count, u16 message length, that many bytes of message,
 *     u8 expected payload size, u8 expected fd count + at_least bit,
 *     u8 region count, regions (gpa u64, uva u64, offset u16, size u16),
 *     then queries (addr u64, len u64, mode u8) until the input ends.
 * The message bytes and fds (of /dev/null) go through a socketpair into
 * vp_vhost_rx_read, then vp_vhost_msg_expect; the regions (slices of one
 * buffer) make a memory table that every query is translated against.
 * A translation must land inside the buffer.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vblk/vhost/memtable.h"
#include "vblk/vhost/msg.h"

struct input {
	const uint8_t *d;
	size_t n, pos;
};

/* The next k bytes (little-endian), 0 past the end. */
static uint64_t take(struct input *in, unsigned k)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < k && in->pos < in->n; i++)
		v |= (uint64_t)in->d[in->pos++] << (8 * i);
	return v;
}

/* Send len bytes of msg with nfds fds of /dev/null, then close our end. */
static int send_raw(int sock, const uint8_t *msg, size_t len, unsigned nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)] = { 0 };
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[16], ret = 0;
	unsigned i;

	for (i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if ((len || nfds) && sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		ret = -1;
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	shutdown(sock, SHUT_WR);
	return ret;
}

static void fuzz_msg(struct input *in)
{
	struct vp_vhost_rx rx;
	struct vp_vhost_msg *m = &rx.msg;
	struct vp_error err = { 0 };
	int ret;
	unsigned nfds = take(in, 1) % 12;
	size_t len = take(in, 2) % 1024, want;
	unsigned want_fds;
	int sv[2];

	if (len > in->n - in->pos)
		len = in->n - in->pos;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (nfds && len == 0)
		nfds = 0;   /* fds need at least one byte to ride on */
	if (send_raw(sv[0], in->d + in->pos, len, nfds) == 0) {
		in->pos += len;
		want = take(in, 1);
		want_fds = take(in, 1);
		/* Everything is queued and the writer shut down: the reads end
		 * in a message or an error, never in "more needed". */
		vp_vhost_rx_init(&rx);
		ret = vp_vhost_rx_read(sv[1], &rx, &err);
		if (ret == 0)
			abort();
		if (ret == 1) {
			if (m->hdr.size > sizeof(m->p) || m->nfds > VHOST_USER_MAX_FDS)
				abort();
			if (vp_vhost_msg_expect(m, want, want_fds & 0x80, want_fds & 0xf, &err) == 0 &&
			    m->nfds != (want_fds & 0xf))
				abort();
			if (m->nfds) {
				int fd0 = vp_vhost_msg_take_fd(m, 0);

				if (fd0 < 0)
					abort();
				close(fd0);
			}
			vp_vhost_msg_close_fds(m);
		}
	}
	close(sv[0]);
	close(sv[1]);
}

static uint8_t guest[1 << 16];

static int inside(const void *p, uint64_t len)
{
	const uint8_t *b = p;

	return b >= guest && len <= sizeof(guest) && (size_t)(b - guest) <= sizeof(guest) - len;
}

static void fuzz_memtable(struct input *in)
{
	struct vp_memtable mt = { 0 };
	unsigned nreg = take(in, 1) % 6;

	for (unsigned i = 0; i < nreg; i++) {
		uint64_t gpa = take(in, 8), uva = take(in, 8);
		size_t off = take(in, 2), size = take(in, 2);

		if (size > sizeof(guest) - off)
			size = sizeof(guest) - off;
		if (vp_memtable_add_host(&mt, gpa, uva, guest + off, size) == 0 && mt.n > nreg)
			abort();
	}
	while (in->pos < in->n) {
		uint64_t addr = take(in, 8), len = take(in, 8);
		uint8_t mode = take(in, 1) % 3;
		struct iovec iov[8];
		unsigned n = 0;
		uint64_t total = 0;
		void *p;

		if (mode == 2) {
			if (vp_memtable_iov(&mt, addr, (uint32_t)len, iov, &n, 8) != 0)
				continue;
			for (unsigned i = 0; i < n; i++) {
				if (!inside(iov[i].iov_base, iov[i].iov_len))
					abort();
				total += iov[i].iov_len;
			}
			if (total != (uint32_t)len || n > 8)
				abort();
			continue;
		}
		p = mode ? vp_memtable_uva(&mt, addr, len) : vp_memtable_gpa(&mt, addr, len);
		if (p && !inside(p, len))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size, 0 };

	fuzz_msg(&in);
	fuzz_memtable(&in);
	return 0;
}
