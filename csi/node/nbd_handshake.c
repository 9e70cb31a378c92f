/* nbd_handshake.c - the client side of the NBD fixed-newstyle handshake
 * (nbd.h), with the protocol numbers of vblkd's server (vblk/nbd/proto.h).
 * The server is not trusted: every magic, length and value is checked
 * before use, and unknown reply payloads are read away in bounded chunks.
 */
#include "csi/node/nbd.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "vblk/nbd/proto.h"

#define REPLY_MAX (64U << 10)      /* longest option reply payload read */
#define MESSAGE_MAX 256U           /* of an error reply's text, quoted in err */
#define INFO_EXPORT_SIZE 12        /* u16 type, u64 size, u16 flags */
#define INFO_BLOCK_SIZE_SIZE 14    /* u16 type, u32 min, u32 preferred, u32 max */
#define EXPORT_NAME_ZEROES 124     /* padding after EXPORT_NAME's answer, unless NO_ZEROES */
#define MAX_BLOCK_LIMIT (64U << 10) /* the largest minimum block size NBD allows */

struct peer {
	int fd;
	struct timespec deadline;
	const char *name;
	struct vp_error *err;
};

static int ms_left(const struct peer *p)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (p->deadline.tv_sec - now.tv_sec) * 1000LL + (p->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Move len bytes (recv when in, else send), waiting in poll() so a server
 * that stalls cannot hold the caller past the deadline. */
static int xfer(struct peer *p, void *buf, size_t len, bool in)
{
	struct pollfd pfd = { .fd = p->fd, .events = in ? POLLIN : POLLOUT };
	size_t done = 0;

	while (done < len) {
		int ready = poll(&pfd, 1, ms_left(p));
		ssize_t n;

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			return vp_error_set(p->err, errno, "nbd handshake (export %s): poll", p->name);
		if (ready == 0)
			return vp_error_set(p->err, ETIMEDOUT, "nbd handshake (export %s)", p->name);
		n = in ? recv(p->fd, (char *)buf + done, len - done, MSG_DONTWAIT) :
			 send(p->fd, (const char *)buf + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return vp_error_set(p->err, errno, "nbd handshake (export %s): %s", p->name,
					    in ? "recv" : "send");
		if (n == 0)
			return vp_error_code(p->err, 0, EPROTO, "nbd handshake (export %s): the server "
					     "closed the connection", p->name);
		done += (size_t)n;
	}
	return 0;
}

static int recv_all(struct peer *p, void *buf, size_t len)
{
	return xfer(p, buf, len, true);
}

static int send_all(struct peer *p, const void *buf, size_t len)
{
	return xfer(p, (void *)buf, len, false);
}

/* Read and drop len bytes. */
static int discard(struct peer *p, uint32_t len)
{
	unsigned char sink[512];
	int ret = 0;

	while (len && !ret) {
		uint32_t n = len < sizeof(sink) ? len : (uint32_t)sizeof(sink);

		ret = recv_all(p, sink, n);
		len -= n;
	}
	return ret;
}

static int proto_error(struct peer *p, const char *what)
{
	return vp_error_code(p->err, 0, EPROTO, "nbd handshake (export %s): %s", p->name, what);
}

static uint16_t get16(const unsigned char *b)
{
	uint16_t v;

	memcpy(&v, b, sizeof(v));
	return be16toh(v);
}

static uint32_t get32(const unsigned char *b)
{
	uint32_t v;

	memcpy(&v, b, sizeof(v));
	return be32toh(v);
}

static uint64_t get64(const unsigned char *b)
{
	uint64_t v;

	memcpy(&v, b, sizeof(v));
	return be64toh(v);
}

static void put16(unsigned char *b, uint16_t v)
{
	v = htobe16(v);
	memcpy(b, &v, sizeof(v));
}

static void put32(unsigned char *b, uint32_t v)
{
	v = htobe32(v);
	memcpy(b, &v, sizeof(v));
}

static void put64(unsigned char *b, uint64_t v)
{
	v = htobe64(v);
	memcpy(b, &v, sizeof(v));
}

/* The greeting, answered with our flags: *no_zeroes when both ends agreed
 * to drop EXPORT_NAME's padding. */
static int greet(struct peer *p, bool *no_zeroes)
{
	unsigned char g[NBD_GREETING_SIZE], reply[4];
	uint16_t flags;
	int ret = recv_all(p, g, sizeof(g));

	if (ret)
		return ret;
	if (get64(g) != NBD_INIT_MAGIC || get64(g + 8) != NBD_OPTS_MAGIC)
		return proto_error(p, "not a newstyle NBD server");
	flags = get16(g + 16);
	if (!(flags & NBD_FLAG_FIXED_NEWSTYLE))
		return proto_error(p, "the server is not fixed-newstyle");
	*no_zeroes = flags & NBD_FLAG_NO_ZEROES;
	put32(reply, NBD_FLAG_C_FIXED_NEWSTYLE | (*no_zeroes ? NBD_FLAG_C_NO_ZEROES : 0));
	return send_all(p, reply, sizeof(reply));
}

static int send_option(struct peer *p, uint32_t opt, const unsigned char *data, uint32_t len)
{
	unsigned char hdr[NBD_OPTION_HDR_SIZE];
	int ret;

	put64(hdr, NBD_OPTS_MAGIC);
	put32(hdr + 8, opt);
	put32(hdr + 12, len);
	ret = send_all(p, hdr, sizeof(hdr));
	return ret ?: send_all(p, data, len);
}

/* The export's size and flags, checked: the kernel takes a size in whole
 * 512-byte sectors, and a server must set NBD_FLAG_HAS_FLAGS. */
static int take_export(struct peer *p, uint64_t size, uint16_t flags, struct vp_nbdc_export *out)
{
	if (!(flags & NBD_FLAG_HAS_FLAGS))
		return proto_error(p, "transmission flags without NBD_FLAG_HAS_FLAGS");
	if (!size || size > INT64_MAX || size % VP_NBDC_KERNEL_MIN_BLOCK)
		return vp_error_code(p->err, 0, EPROTO, "nbd handshake (export %s): size %llu is "
				     "not a positive multiple of 512", p->name,
				     (unsigned long long)size);
	out->size = size;
	out->flags = flags;
	return 0;
}

/* NBD_INFO_BLOCK_SIZE: the device's block size is the server's minimum
 * (at least 512), which the kernel client must be able to take. */
static int take_block_size(struct peer *p, const unsigned char *b, struct vp_nbdc_export *out)
{
	uint32_t min = get32(b + 2), pref = get32(b + 6), max = get32(b + 10);

	if (!min || (min & (min - 1)) || min > MAX_BLOCK_LIMIT || pref < min ||
	    (pref & (pref - 1)) || max < pref)
		return proto_error(p, "NBD_INFO_BLOCK_SIZE out of range");
	if (min > VP_NBDC_KERNEL_MAX_BLOCK)
		return vp_error_code(p->err, 0, EOPNOTSUPP, "nbd handshake (export %s): the export "
				     "needs %u-byte blocks, the kernel client at most %u", p->name,
				     min, VP_NBDC_KERNEL_MAX_BLOCK);
	out->block_size = min < VP_NBDC_KERNEL_MIN_BLOCK ? VP_NBDC_KERNEL_MIN_BLOCK : min;
	return 0;
}

static int take_info(struct peer *p, uint32_t len, struct vp_nbdc_export *out, bool *have_export)
{
	unsigned char b[INFO_BLOCK_SIZE_SIZE];
	uint16_t type;
	int ret;

	if (len < 2)
		return proto_error(p, "NBD_REP_INFO shorter than its type");
	if ((ret = recv_all(p, b, 2)))
		return ret;
	type = get16(b);
	if (type == NBD_INFO_EXPORT) {
		if (len != INFO_EXPORT_SIZE)
			return proto_error(p, "NBD_INFO_EXPORT of a wrong length");
		if ((ret = recv_all(p, b + 2, len - 2)))
			return ret;
		*have_export = true;
		return take_export(p, get64(b + 2), get16(b + 10), out);
	}
	if (type == NBD_INFO_BLOCK_SIZE) {
		if (len != INFO_BLOCK_SIZE_SIZE)
			return proto_error(p, "NBD_INFO_BLOCK_SIZE of a wrong length");
		return recv_all(p, b + 2, len - 2) ?: take_block_size(p, b, out);
	}
	return discard(p, len - 2);  /* name, description: not needed */
}

/* An error reply of type with a len-byte message: its text in err. */
static int take_error(struct peer *p, uint32_t type, uint32_t len)
{
	char msg[MESSAGE_MAX + 1];
	uint32_t n = len < MESSAGE_MAX ? len : MESSAGE_MAX;
	int ret, e;

	if ((ret = recv_all(p, msg, n) ?: discard(p, len - n)))
		return ret;
	msg[n] = '\0';
	for (uint32_t i = 0; i < n; i++)
		if ((unsigned char)msg[i] < ' ' || msg[i] == '"' || msg[i] == 0x7f)
			msg[i] = '?';
	e = type == NBD_REP_ERR_UNKNOWN ? ENOENT :
	    type == NBD_REP_ERR_POLICY || type == NBD_REP_ERR_TLS_REQD ? EACCES : EPROTO;
	return vp_error_code(p->err, 0, e, "nbd handshake (export %s): the server refused "
			     "(error %#x)%s%s%s", p->name, type, n ? ": \"" : "", msg, n ? "\"" : "");
}

/* NBD_OPT_GO with a request for NBD_INFO_BLOCK_SIZE; *unsup set when the
 * server does not know the option (NBD_REP_ERR_UNSUP: older than GO). */
static int go(struct peer *p, struct vp_nbdc_export *out, bool *unsup)
{
	size_t name_len = strlen(p->name);
	unsigned char data[4 + VP_NBDC_NAME_MAX + 4], hdr[NBD_OPTION_REPLY_HDR_SIZE];
	bool have_export = false;
	int ret;

	put32(data, (uint32_t)name_len);
	memcpy(data + 4, p->name, name_len);
	put16(data + 4 + name_len, 1);
	put16(data + 6 + name_len, NBD_INFO_BLOCK_SIZE);
	if ((ret = send_option(p, NBD_OPT_GO, data, (uint32_t)(name_len + 8))))
		return ret;
	for (;;) {
		uint32_t type, len;

		if ((ret = recv_all(p, hdr, sizeof(hdr))))
			return ret;
		if (get64(hdr) != NBD_REP_MAGIC || get32(hdr + 8) != NBD_OPT_GO)
			return proto_error(p, "a reply that is not to NBD_OPT_GO");
		type = get32(hdr + 12);
		len = get32(hdr + 16);
		if (len > REPLY_MAX)
			return proto_error(p, "an option reply longer than 64 KiB");
		if (type == NBD_REP_ERR_UNSUP) {
			*unsup = true;
			return discard(p, len);
		}
		if (type & NBD_REP_FLAG_ERROR)
			return take_error(p, type, len);
		if (type == NBD_REP_ACK) {
			if (len)
				return proto_error(p, "NBD_REP_ACK with a payload");
			return have_export ? 0 : proto_error(p, "NBD_REP_ACK before NBD_INFO_EXPORT");
		}
		if (type != NBD_REP_INFO)
			return proto_error(p, "an unexpected reply to NBD_OPT_GO");
		if ((ret = take_info(p, len, out, &have_export)))
			return ret;
	}
}

/* The old way in: no block size, and an unknown export closes the
 * connection (the protocol has no error reply for it). */
static int export_name(struct peer *p, bool no_zeroes, struct vp_nbdc_export *out)
{
	unsigned char r[10 + EXPORT_NAME_ZEROES];
	int ret = send_option(p, NBD_OPT_EXPORT_NAME, (const unsigned char *)p->name,
			      (uint32_t)strlen(p->name));

	ret = ret ?: recv_all(p, r, no_zeroes ? 10 : sizeof(r));
	if (ret)
		return ret;
	out->block_size = VP_NBDC_KERNEL_MIN_BLOCK;
	return take_export(p, get64(r), get16(r + 8), out);
}

int vp_nbdc_handshake(int fd, const char *name, struct vp_nbdc_export *out,
		      struct vp_error *err)
{
	struct peer p = { .fd = fd, .name = name, .err = err };
	struct vp_nbdc_export e = { .block_size = VP_NBDC_KERNEL_MIN_BLOCK };
	bool no_zeroes = false, unsup = false;
	int ret;

	if (!*name || strlen(name) > VP_NBDC_NAME_MAX)
		return vp_error_code(err, 0, EINVAL, "nbd export name: 1 to %d bytes",
				     VP_NBDC_NAME_MAX);
	clock_gettime(CLOCK_MONOTONIC, &p.deadline);
	p.deadline.tv_sec += VP_NBDC_HANDSHAKE_MS / 1000;
	p.deadline.tv_nsec += (VP_NBDC_HANDSHAKE_MS % 1000) * 1000000L;
	if (p.deadline.tv_nsec >= 1000000000L) {
		p.deadline.tv_sec++;
		p.deadline.tv_nsec -= 1000000000L;
	}
	ret = greet(&p, &no_zeroes);
	ret = ret ?: go(&p, &e, &unsup);
	if (!ret && unsup)
		ret = export_name(&p, no_zeroes, &e);
	if (!ret)
		*out = e;
	return ret;
}
