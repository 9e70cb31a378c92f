/* nft_batch.c - nftables transport: a growable nfnetlink batch sent as one
 * transaction, its errors mapped back to the message that caused them, and
 * single-object queries on the same socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>

#include "vnet/nft_batch.h"

#define BATCH_ROOM 8192          /* more than any one message we build */
#define WHAT_LEN 160
/* The batch-begin message, written at commit: header, nfgenmsg and
 * NFNL_BATCH_GENID (0: no generation check). */
#define BEGIN_LEN NLMSG_ALIGN(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)) + \
			      MNL_ATTR_HDRLEN + sizeof(uint32_t))

struct vp_nft_batch {
	struct mnl_socket *nls;
	uint32_t portid;
	uint32_t seq0;           /* sequence number of the batch-begin message */
	char *buf;
	size_t len, cap;
	char (*what)[WHAT_LEN];  /* what[i] describes message seq0 + 1 + i */
	size_t n, what_cap;
	uint32_t genid;          /* commit only in this ruleset generation; 0: any */
	bool genid_off;          /* vp_nft_batch_guard() refuses */
};

int vp_nft_batch_new(struct vp_nft_batch **out, struct vp_error *err)
{
	struct vp_nft_batch *b;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return vp_error_set(err, ENOMEM, "nftables batch");
	b->nls = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!b->nls || mnl_socket_bind(b->nls, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		vp_nft_batch_free(b);
		return vp_error_set(err, e, "opening nftables netlink socket");
	}
	b->portid = mnl_socket_get_portid(b->nls);
	b->seq0 = (uint32_t)time(NULL);
	vp_nft_batch_reset(b);
	*out = b;
	return 0;
}

void vp_nft_batch_free(struct vp_nft_batch *b)
{
	if (!b)
		return;
	if (b->nls)
		mnl_socket_close(b->nls);
	free(b->buf);
	free(b->what);
	free(b);
}

void vp_nft_batch_reset(struct vp_nft_batch *b)
{
	b->len = 0;
	b->n = 0;
	b->genid = 0;
	b->seq0 += 1 << 16;      /* fresh numbers: never match a stale reply */
}

static int batch_reserve(struct vp_nft_batch *b)
{
	size_t cap = b->cap ? b->cap : 4 * BATCH_ROOM;
	char *buf;

	while (cap - b->len < BATCH_ROOM)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	buf = realloc(b->buf, cap);
	if (!buf)
		return -ENOMEM;
	b->buf = buf;
	b->cap = cap;
	return 0;
}

char *vp_nft_batch_room(struct vp_nft_batch *b)
{
	if (batch_reserve(b) < 0)
		return NULL;
	if (b->len == 0)
		b->len = BEGIN_LEN;   /* written by commit, which knows the genid */
	return b->buf + b->len;
}

static int genid_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *gen = nftnl_gen_alloc();

	if (!gen || nftnl_gen_nlmsg_parse(nlh, gen) < 0) {
		nftnl_gen_free(gen);
		return MNL_CB_ERROR;
	}
	*(uint32_t *)data = nftnl_gen_get_u32(gen, NFTNL_GEN_ID);
	nftnl_gen_free(gen);
	return MNL_CB_OK;
}

int vp_nft_batch_guard(struct vp_nft_batch *b)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint32_t genid = 0;
	int ret;

	if (b->genid_off)
		return -EBUSY;
	if (b->genid)
		return 0;   /* the first generation read is the one decisions rest on */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, vp_nft_batch_seq(b));
	ret = vp_nft_batch_query(b, nlh, genid_cb, &genid);
	if (ret == 0 && genid == 0)
		ret = -EBUSY;   /* 0 would mean "no check" */
	if (ret == 0)
		b->genid = genid;
	return ret;
}

void vp_nft_batch_unguarded(struct vp_nft_batch *b)
{
	b->genid_off = true;
}

uint32_t vp_nft_batch_seq(const struct vp_nft_batch *b)
{
	return b->seq0 + 1 + (uint32_t)b->n;
}

size_t vp_nft_batch_count(const struct vp_nft_batch *b)
{
	return b->n;
}

int vp_nft_batch_push(struct vp_nft_batch *b, const struct nlmsghdr *nlh, const char *fmt, ...)
{
	va_list ap;

	if (b->n == b->what_cap) {
		size_t cap = b->what_cap ? 2 * b->what_cap : 16;
		void *what = realloc(b->what, cap * sizeof(*b->what));

		if (!what)
			return -ENOMEM;
		b->what = what;
		b->what_cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->what[b->n], WHAT_LEN, fmt, ap);
	va_end(ap);
	b->n++;
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

/* The first failing message of a transaction. */
struct batch_status {
	int errnum;
	uint32_t seq;
};

static int batch_error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct batch_status *st = data;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return MNL_CB_OK;
	if (e->error != 0 && st->errnum == 0) {
		st->errnum = -e->error;
		st->seq = nlh->nlmsg_seq;
	}
	return MNL_CB_OK;
}

/* nfnetlink processes a batch synchronously inside sendmsg(), so every
 * reply is queued by the time it returns: drain without waiting (as nft
 * does).  Success produces no message at all (no NLM_F_ACK). */
static int batch_collect(struct vp_nft_batch *b, struct batch_status *st)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = batch_error_cb };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct pollfd pfd = { .fd = mnl_socket_get_fd(b->nls), .events = POLLIN };
	ssize_t n;

	while (poll(&pfd, 1, 0) > 0) {
		n = mnl_socket_recvfrom(b->nls, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		if (mnl_cb_run2(buf, (size_t)n, 0, b->portid, NULL, st, ctl, NLMSG_MIN_TYPE) < 0 &&
		    st->errnum == 0)
			return -errno;
	}
	return 0;
}

static void batch_describe(struct vp_nft_batch *b, const struct batch_status *st,
			   struct vp_error *err)
{
	uint32_t i = st->seq - b->seq0 - 1;

	if (st->seq > b->seq0 && i < b->n)
		vp_error_set(err, st->errnum, "nftables: %s", b->what[i]);
	else
		vp_error_set(err, st->errnum, "nftables: transaction of %zu changes", b->n);
}

int vp_nft_batch_commit(struct vp_nft_batch *b, struct vp_error *err)
{
	struct batch_status st = { 0 };
	char *end;
	int ret;

	if (b->n == 0)
		return 0;
	end = vp_nft_batch_room(b);
	if (!end)
		return vp_error_set(err, ENOMEM, "nftables batch");
	nftnl_batch_end(end, vp_nft_batch_seq(b));
	b->len += NLMSG_ALIGN(((struct nlmsghdr *)end)->nlmsg_len);
	mnl_attr_put_u32(nftnl_batch_begin(b->buf, b->seq0), NFNL_BATCH_GENID, htonl(b->genid));
	if (mnl_socket_sendto(b->nls, b->buf, b->len) < 0) {
		ret = vp_error_set(err, errno, "nftables: sending transaction of %zu changes", b->n);
		goto out;
	}
	ret = batch_collect(b, &st);
	if (ret < 0) {
		ret = vp_error_set(err, -ret, "nftables: reading transaction result");
		goto out;
	}
	if (st.errnum) {
		batch_describe(b, &st, err);
		ret = -st.errnum;
	}
out:
	vp_nft_batch_reset(b);
	return ret;
}

int vp_nft_batch_query(struct vp_nft_batch *b, struct nlmsghdr *req, vp_nft_reply_cb cb,
		       void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = req->nlmsg_seq;
	ssize_t n;
	int ret;

	/* A plain GET ends with an ack; a dump ends with NLMSG_DONE. */
	if (!(req->nlmsg_flags & NLM_F_DUMP))
		req->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(b->nls, req, req->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(b->nls, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, b->portid, cb, data);
	} while (ret > 0);
	return ret < 0 ? -errno : 0;
}
