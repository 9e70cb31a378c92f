/* test_csi_nbd.c - vblk-csi's kernel NBD client (csi/node/nbd.h) apart
 * from the kernel: the client handshake against scripted servers, honest
 * and hostile (each server's bytes are queued in a socketpair before the
 * client runs; what the client sent is read back and checked), and the
 * genetlink NBD_CMD_CONNECT message and its answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "csi/node/nbd.h"
#include "vblk/nbd/proto.h"

#define NL_BUF_SIZE 8192

struct script {
	unsigned char buf[1 << 17];
	size_t len;
};

static void put(struct script *s, const void *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->buf));
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put16(struct script *s, uint16_t v)
{
	v = htobe16(v);
	put(s, &v, 2);
}

static void put32(struct script *s, uint32_t v)
{
	v = htobe32(v);
	put(s, &v, 4);
}

static void put64(struct script *s, uint64_t v)
{
	v = htobe64(v);
	put(s, &v, 8);
}

static void greeting(struct script *s, uint16_t flags)
{
	put64(s, NBD_INIT_MAGIC);
	put64(s, NBD_OPTS_MAGIC);
	put16(s, flags);
}

static void reply(struct script *s, uint32_t opt, uint32_t type, uint32_t len)
{
	put64(s, NBD_REP_MAGIC);
	put32(s, opt);
	put32(s, type);
	put32(s, len);
}

static void info_export(struct script *s, uint64_t size, uint16_t flags)
{
	reply(s, NBD_OPT_GO, NBD_REP_INFO, 12);
	put16(s, NBD_INFO_EXPORT);
	put64(s, size);
	put16(s, flags);
}

static void info_block(struct script *s, uint32_t min, uint32_t pref, uint32_t max)
{
	reply(s, NBD_OPT_GO, NBD_REP_INFO, 14);
	put16(s, NBD_INFO_BLOCK_SIZE);
	put32(s, min);
	put32(s, pref);
	put32(s, max);
}

static void ack(struct script *s)
{
	reply(s, NBD_OPT_GO, NBD_REP_ACK, 0);
}

/* Run the handshake for name against the queued script; sent receives
 * what the client wrote (up to size bytes), *sent_len its length. */
static int run(struct script *s, const char *name, struct vp_nbdc_export *e,
	       struct vp_error *err, unsigned char *sent, size_t size, size_t *sent_len)
{
	int sv[2], ret;
	ssize_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], s->buf, s->len), (ssize_t)s->len);
	shutdown(sv[1], SHUT_WR);  /* a server that has said all it will */
	ret = vp_nbdc_handshake(sv[0], name, e, err);
	close(sv[0]);
	n = read(sv[1], sent, size);
	*sent_len = n > 0 ? (size_t)n : 0;
	close(sv[1]);
	return ret;
}

static int run_simple(struct script *s, struct vp_nbdc_export *e, struct vp_error *err)
{
	unsigned char sent[8192];
	size_t len;

	return run(s, "vol", e, err, sent, sizeof(sent), &len);
}

static uint32_t get32(const unsigned char *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return be32toh(v);
}

static uint64_t get64(const unsigned char *b)
{
	uint64_t v;

	memcpy(&v, b, 8);
	return be64toh(v);
}

static struct script sc;

static void test_go(void **state)
{
	struct vp_nbdc_export e = { 0 };
	struct vp_error err = { 0 };
	unsigned char sent[256];
	size_t len;

	(void)state;
	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	reply(&sc, NBD_OPT_GO, NBD_REP_INFO, 6);  /* NBD_INFO_NAME: skipped */
	put16(&sc, NBD_INFO_NAME);
	put(&sc, "volx", 4);
	info_export(&sc, 1 << 20, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
	info_block(&sc, 1, 4096, 32 << 20);
	ack(&sc);
	assert_int_equal(run(&sc, "vol", &e, &err, sent, sizeof(sent), &len), 0);
	assert_int_equal(e.size, 1 << 20);
	assert_int_equal(e.flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
	assert_int_equal(e.block_size, 512);
	/* client flags, then GO: IHAVEOPT, 7, len, namelen, name, 1 request */
	assert_int_equal(len, 4 + 16 + 4 + 3 + 4);
	assert_int_equal(get32(sent), NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_true(get64(sent + 4) == NBD_OPTS_MAGIC);
	assert_int_equal(get32(sent + 12), NBD_OPT_GO);
	assert_int_equal(get32(sent + 16), 4 + 3 + 4);
	assert_int_equal(get32(sent + 20), 3);
	assert_memory_equal(sent + 24, "vol", 3);
	assert_int_equal(sent[27] << 8 | sent[28], 1);
	assert_int_equal(sent[29] << 8 | sent[30], NBD_INFO_BLOCK_SIZE);
}

static void test_block_sizes(void **state)
{
	struct vp_nbdc_export e = { 0 };
	struct vp_error err = { 0 };

	(void)state;
	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&sc, 1 << 20, NBD_FLAG_HAS_FLAGS);
	info_block(&sc, 4096, 4096, 32 << 20);
	ack(&sc);
	assert_int_equal(run_simple(&sc, &e, &err), 0);
	assert_int_equal(e.block_size, 4096);

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&sc, 1 << 20, NBD_FLAG_HAS_FLAGS);
	info_block(&sc, 8192, 8192, 32 << 20);
	ack(&sc);
	assert_int_equal(run_simple(&sc, &e, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "8192-byte blocks"));

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&sc, 1 << 20, NBD_FLAG_HAS_FLAGS);
	info_block(&sc, 3, 4096, 32 << 20);  /* not a power of 2 */
	ack(&sc);
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);
}

/* Each hostile or broken server is refused with -EPROTO. */
static void test_hostile(void **state)
{
	struct vp_nbdc_export e = { 0 };
	struct vp_error err = { 0 };

	(void)state;
	sc.len = 0;
	put64(&sc, NBD_INIT_MAGIC);
	put64(&sc, 0x00420281861253ULL);  /* oldstyle */
	put16(&sc, 0);
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);

	sc.len = 0;
	greeting(&sc, 0);  /* not fixed newstyle */
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	ack(&sc);  /* no NBD_INFO_EXPORT */
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "before NBD_INFO_EXPORT"));

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&sc, NBD_OPT_GO, NBD_REP_INFO, 0xffffffffU);  /* 4 GiB reply */
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "longer than 64 KiB"));

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&sc, NBD_OPT_GO, NBD_REP_INFO, 13);  /* INFO_EXPORT one byte long */
	put16(&sc, NBD_INFO_EXPORT);
	put(&sc, "0123456789a", 11);
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&sc, (1 << 20) + 1, NBD_FLAG_HAS_FLAGS);  /* not whole sectors */
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&sc, 1 << 20, NBD_FLAG_SEND_FLUSH);  /* no HAS_FLAGS */
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&sc, NBD_OPT_LIST, NBD_REP_ACK, 0);  /* a reply to another option */
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	info_export(&sc, 1 << 20, NBD_FLAG_HAS_FLAGS);  /* then closes: no ACK */
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "closed the connection"));

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&sc, NBD_OPT_GO, NBD_REP_ACK, 4);  /* ACK with a payload */
	put32(&sc, 0);
	assert_int_equal(run_simple(&sc, &e, &err), -EPROTO);
}

static void test_errors(void **state)
{
	struct vp_nbdc_export e = { 0 };
	struct vp_error err = { 0 };
	char big[600];

	(void)state;
	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	reply(&sc, NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, 10);
	put(&sc, "no \"such\"\n", 10);
	assert_int_equal(run_simple(&sc, &e, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no ?such??"));  /* quotes, controls masked */

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	memset(big, 'x', sizeof(big));
	reply(&sc, NBD_OPT_GO, NBD_REP_ERR_TLS_REQD, sizeof(big));  /* message cut, rest read */
	put(&sc, big, sizeof(big));
	assert_int_equal(run_simple(&sc, &e, &err), -EACCES);

	sc.len = 0;
	greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE);
	assert_int_equal(run(&sc, "", &e, &err, (unsigned char *)big, sizeof(big),
			     &(size_t){ 0 }), -EINVAL);
}

/* A server older than NBD_OPT_GO: NBD_OPT_EXPORT_NAME, with and without
 * the 124 zero bytes. */
static void test_export_name_fallback(void **state)
{
	struct vp_nbdc_export e = { 0 };
	struct vp_error err = { 0 };
	unsigned char zeroes[124] = { 0 };
	unsigned char sent[256];
	size_t len;

	(void)state;
	for (int nz = 0; nz < 2; nz++) {
		sc.len = 0;
		greeting(&sc, NBD_FLAG_FIXED_NEWSTYLE | (nz ? NBD_FLAG_NO_ZEROES : 0));
		reply(&sc, NBD_OPT_GO, NBD_REP_ERR_UNSUP, 0);
		put64(&sc, 2 << 20);
		put16(&sc, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
		if (!nz)
			put(&sc, zeroes, sizeof(zeroes));
		assert_int_equal(run(&sc, "vol", &e, &err, sent, sizeof(sent), &len), 0);
		assert_int_equal(e.size, 2 << 20);
		assert_int_equal(e.flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
		assert_int_equal(e.block_size, 512);
		/* flags, GO (16 + 11), EXPORT_NAME (16 + 3) */
		assert_int_equal(len, 4 + 27 + 19);
		assert_int_equal(get32(sent + 4 + 27 + 8), NBD_OPT_EXPORT_NAME);
		assert_memory_equal(sent + 4 + 27 + 16, "vol", 3);
	}
}

struct seen {
	uint64_t size, block, flags, dead_s;
	const char *backend;
	uint32_t fd;
	bool index;
};

static int sock_item(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NBD_SOCK_FD) {
		assert_int_equal(mnl_attr_validate(a, MNL_TYPE_U32), 0);
		((struct seen *)data)->fd = mnl_attr_get_u32(a);
	}
	return MNL_CB_OK;
}

static int sockets(const struct nlattr *a, void *data)
{
	assert_int_equal(mnl_attr_get_type(a), NBD_SOCK_ITEM);
	return mnl_attr_parse_nested(a, sock_item, data);
}

static int connect_attr(const struct nlattr *a, void *data)
{
	struct seen *s = data;

	switch (mnl_attr_get_type(a)) {
	case NBD_ATTR_SIZE_BYTES: s->size = mnl_attr_get_u64(a); break;
	case NBD_ATTR_BLOCK_SIZE_BYTES: s->block = mnl_attr_get_u64(a); break;
	case NBD_ATTR_SERVER_FLAGS: s->flags = mnl_attr_get_u64(a); break;
	case NBD_ATTR_DEAD_CONN_TIMEOUT: s->dead_s = mnl_attr_get_u64(a); break;
	case NBD_ATTR_BACKEND_IDENTIFIER: s->backend = mnl_attr_get_str(a); break;
	case NBD_ATTR_SOCKETS: return mnl_attr_parse_nested(a, sockets, data);
	case NBD_ATTR_INDEX: s->index = true; break;
	default: fail_msg("unexpected attribute %d", mnl_attr_get_type(a));
	}
	return MNL_CB_OK;
}

static void test_msg_connect(void **state)
{
	const struct vp_nbdc_export e = { .size = 64 << 20, .flags = NBD_FLAG_HAS_FLAGS |
					  NBD_FLAG_SEND_TRIM, .block_size = 512 };
	static char buf[NL_BUF_SIZE];
	char backend[5000];
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(vp_nbdc_msg_connect(buf, sizeof(buf), 33, 7, 9, &e,
					     "/pool/volumes/vol-1.img", &nlh), 0);
	assert_int_equal(nlh->nlmsg_type, 33);
	assert_int_equal(nlh->nlmsg_seq, 7);
	assert_true(nlh->nlmsg_flags & NLM_F_ACK);
	g = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(g->cmd, NBD_CMD_CONNECT);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*g), connect_attr, &s), MNL_CB_OK);
	assert_int_equal(s.size, 64 << 20);
	assert_int_equal(s.block, 512);
	assert_int_equal(s.flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_TRIM);
	assert_int_equal(s.dead_s, VP_NBDC_DEAD_CONN_S);
	assert_string_equal(s.backend, "/pool/volumes/vol-1.img");
	assert_int_equal(s.fd, 9);
	assert_false(s.index);  /* the kernel picks: it refuses -1 */

	memset(backend, 'b', sizeof(backend) - 1);
	backend[sizeof(backend) - 1] = '\0';
	assert_int_equal(vp_nbdc_msg_connect(buf, 4096, 33, 8, 9, &e, backend, &nlh), -EMSGSIZE);
	assert_int_equal(vp_nbdc_msg_connect(buf, 8, 33, 8, 9, &e, "x", &nlh), -EMSGSIZE);
}

static void test_msg_index(void **state)
{
	static char buf[NL_BUF_SIZE];
	struct nlmsghdr *nlh;
	struct genlmsghdr *g;
	uint32_t index = 99;

	(void)state;
	nlh = mnl_nlmsg_put_header(buf);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = NBD_CMD_CONNECT;
	assert_int_equal(vp_nbdc_msg_index(nlh, &index), -EPROTO);  /* none */
	mnl_attr_put_u32(nlh, NBD_ATTR_INDEX, 3);
	assert_int_equal(vp_nbdc_msg_index(nlh, &index), 0);
	assert_int_equal(index, 3);

	nlh = mnl_nlmsg_put_header(buf);
	mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	mnl_attr_put_u8(nlh, NBD_ATTR_INDEX, 3);  /* wrong size */
	assert_int_equal(vp_nbdc_msg_index(nlh, &index), -EPROTO);

	nlh = mnl_nlmsg_put_header(buf);
	mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	mnl_attr_put_u32(nlh, NBD_ATTR_INDEX, 0x80000000U);  /* not a device number */
	assert_int_equal(vp_nbdc_msg_index(nlh, &index), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go),
		cmocka_unit_test(test_block_sizes),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_export_name_fallback),
		cmocka_unit_test(test_msg_connect),
		cmocka_unit_test(test_msg_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
