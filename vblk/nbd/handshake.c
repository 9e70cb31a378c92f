/* handshake.c - NBD fixed-newstyle option negotiation as pure functions:
 * bytes in, reply bytes out; server.c does the socket I/O. */
#include "vblk/nbd/nbd.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vblk/nbd/proto.h"

void vp_nbd_buf_free(struct vp_nbd_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

static int buf_put(struct vp_nbd_buf *buf, const void *p, size_t n)
{
	if (buf->len + n > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 256;
		unsigned char *d;

		while (cap < buf->len + n)
			cap *= 2;
		d = realloc(buf->data, cap);
		if (!d)
			return -ENOMEM;
		buf->data = d;
		buf->cap = cap;
	}
	if (n)
		memcpy(buf->data + buf->len, p, n);
	buf->len += n;
	return 0;
}

static int put16(struct vp_nbd_buf *b, uint16_t v) { v = htobe16(v); return buf_put(b, &v, 2); }
static int put32(struct vp_nbd_buf *b, uint32_t v) { v = htobe32(v); return buf_put(b, &v, 4); }
static int put64(struct vp_nbd_buf *b, uint64_t v) { v = htobe64(v); return buf_put(b, &v, 8); }

static uint16_t get16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

/* Option reply header followed by len bytes the caller appends. */
static int reply_hdr(struct vp_nbd_buf *out, uint32_t opt, uint32_t type, uint32_t len)
{
	int ret = put64(out, NBD_REP_MAGIC);

	ret = ret ?: put32(out, opt);
	ret = ret ?: put32(out, type);
	return ret ?: put32(out, len);
}

static int reply_simple(struct vp_nbd_buf *out, uint32_t opt, uint32_t type)
{
	return reply_hdr(out, opt, type, 0);
}

void vp_nbd_hs_greeting(unsigned char out[18])
{
	uint64_t m = htobe64(NBD_INIT_MAGIC), o = htobe64(NBD_OPTS_MAGIC);
	uint16_t f = htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);

	memcpy(out, &m, 8);
	memcpy(out + 8, &o, 8);
	memcpy(out + 16, &f, 2);
}

int vp_nbd_hs_client_flags(struct vp_nbd_hs *hs, uint32_t flags)
{
	if (flags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return -EPROTO;
	hs->fixed_newstyle = flags & NBD_FLAG_C_FIXED_NEWSTYLE;
	hs->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	return 0;
}

int vp_nbd_hs_option_header(const unsigned char hdr[16], uint32_t *opt, uint32_t *len)
{
	if (get64(hdr) != NBD_OPTS_MAGIC)
		return -EPROTO;
	*opt = get32(hdr + 8);
	*len = get32(hdr + 12);
	return *len > VP_NBD_MAX_OPTION ? -EMSGSIZE : 0;
}

uint16_t vp_nbd_export_flags(const struct vp_nbd_hs *hs, const struct vp_nbd_export *e)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN |
		     NBD_FLAG_SEND_CACHE;

	if (e->img->readonly)
		f |= NBD_FLAG_READ_ONLY;
	else
		f |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
		     NBD_FLAG_SEND_FAST_ZERO;
	if (hs->structured)
		f |= NBD_FLAG_SEND_DF;
	return f;
}

/* The export called name (len bytes), or the first one for "". */
static const struct vp_nbd_export *find_export(const struct vp_nbd_hs *hs, const unsigned char *name,
					       uint32_t len)
{
	if (len == 0)
		return hs->n_exports ? &hs->exports[0] : NULL;
	for (size_t i = 0; i < hs->n_exports; i++)
		if (strlen(hs->exports[i].name) == len && memcmp(hs->exports[i].name, name, len) == 0)
			return &hs->exports[i];
	return NULL;
}

static int opt_list(struct vp_nbd_hs *hs, uint32_t len, struct vp_nbd_buf *out)
{
	if (len)
		return reply_simple(out, NBD_OPT_LIST, NBD_REP_ERR_INVALID);
	for (size_t i = 0; i < hs->n_exports; i++) {
		const struct vp_nbd_export *e = &hs->exports[i];
		size_t nl = strlen(e->name), dl = e->description ? strlen(e->description) : 0;
		int ret = reply_hdr(out, NBD_OPT_LIST, NBD_REP_SERVER, (uint32_t)(4 + nl + dl));

		ret = ret ?: put32(out, (uint32_t)nl);
		ret = ret ?: buf_put(out, e->name, nl);
		ret = ret ?: buf_put(out, e->description, dl);
		if (ret)
			return ret;
	}
	return reply_simple(out, NBD_OPT_LIST, NBD_REP_ACK);
}

static int info_string(struct vp_nbd_buf *out, uint32_t opt, uint16_t type, const char *s)
{
	size_t n = strlen(s);
	int ret = reply_hdr(out, opt, NBD_REP_INFO, (uint32_t)(2 + n));

	ret = ret ?: put16(out, type);
	return ret ?: buf_put(out, s, n);
}

static int info_export(struct vp_nbd_hs *hs, struct vp_nbd_buf *out, uint32_t opt,
		       const struct vp_nbd_export *e)
{
	int ret = reply_hdr(out, opt, NBD_REP_INFO, 12);

	ret = ret ?: put16(out, NBD_INFO_EXPORT);
	ret = ret ?: put64(out, e->img->size);
	ret = ret ?: put16(out, vp_nbd_export_flags(hs, e));
	/* Block sizes are always sent: with cache=none they are binding. */
	ret = ret ?: reply_hdr(out, opt, NBD_REP_INFO, 14);
	ret = ret ?: put16(out, NBD_INFO_BLOCK_SIZE);
	ret = ret ?: put32(out, e->img->min_block);
	ret = ret ?: put32(out, e->img->min_block > VP_NBD_PREFERRED_BLOCK ? e->img->min_block
									 : VP_NBD_PREFERRED_BLOCK);
	return ret ?: put32(out, VP_NBD_MAX_PAYLOAD);
}

/* NBD_OPT_INFO and NBD_OPT_GO: u32 name length, name, u16 n, n x u16. */
static int opt_info_go(struct vp_nbd_hs *hs, uint32_t opt, const unsigned char *d, uint32_t len,
		       struct vp_nbd_buf *out)
{
	const struct vp_nbd_export *e;
	uint32_t nl, nreq;
	bool want_name = false, want_desc = false;
	int ret;

	if (len < 6 || (nl = get32(d)) > len - 6)
		return reply_simple(out, opt, NBD_REP_ERR_INVALID);
	nreq = get16(d + 4 + nl);
	if (len != 6 + nl + 2 * nreq)
		return reply_simple(out, opt, NBD_REP_ERR_INVALID);
	e = find_export(hs, d + 4, nl);
	if (!e)
		return reply_simple(out, opt, NBD_REP_ERR_UNKNOWN);
	for (uint32_t i = 0; i < nreq; i++) {
		uint16_t t = get16(d + 6 + nl + 2 * i);

		want_name |= t == NBD_INFO_NAME;
		want_desc |= t == NBD_INFO_DESCRIPTION;
	}
	ret = info_export(hs, out, opt, e);
	if (!ret && want_name)
		ret = info_string(out, opt, NBD_INFO_NAME, e->name);
	if (!ret && want_desc && e->description)
		ret = info_string(out, opt, NBD_INFO_DESCRIPTION, e->description);
	ret = ret ?: reply_simple(out, opt, NBD_REP_ACK);
	if (ret || opt != NBD_OPT_GO)
		return ret;
	hs->chosen = e;
	hs->meta_alloc = hs->meta_export == e;
	return VP_NBD_HS_GO;
}

static int opt_export_name(struct vp_nbd_hs *hs, const unsigned char *d, uint32_t len,
			   struct vp_nbd_buf *out)
{
	static const unsigned char zeroes[124];
	const struct vp_nbd_export *e = find_export(hs, d, len);
	int ret;

	if (!e)
		return -ENOENT;
	ret = put64(out, e->img->size);
	ret = ret ?: put16(out, vp_nbd_export_flags(hs, e));
	if (!ret && !hs->no_zeroes)
		ret = buf_put(out, zeroes, sizeof(zeroes));
	if (ret)
		return ret;
	hs->chosen = e;
	hs->meta_alloc = hs->meta_export == e;
	return VP_NBD_HS_GO;
}

static bool query_matches(const unsigned char *q, uint32_t ql, bool list)
{
	static const char ctx[] = NBD_META_BASE_ALLOCATION;

	if (ql == sizeof(ctx) - 1 && memcmp(q, ctx, ql) == 0)
		return true;
	/* LIST accepts the namespace alone ("base:") as a wildcard. */
	return list && ql == 5 && memcmp(q, "base:", 5) == 0;
}

static int meta_reply(struct vp_nbd_buf *out, uint32_t opt)
{
	size_t n = strlen(NBD_META_BASE_ALLOCATION);
	int ret = reply_hdr(out, opt, NBD_REP_META_CONTEXT, (uint32_t)(4 + n));

	ret = ret ?: put32(out, NBD_META_ID_BASE_ALLOCATION);
	return ret ?: buf_put(out, NBD_META_BASE_ALLOCATION, n);
}

/* LIST/SET_META_CONTEXT: u32 name length, name, u32 n, n x (u32 len, query). */
static int opt_meta(struct vp_nbd_hs *hs, uint32_t opt, const unsigned char *d, uint32_t len,
		    struct vp_nbd_buf *out)
{
	bool list = opt == NBD_OPT_LIST_META_CONTEXT, found = false;
	const struct vp_nbd_export *e;
	uint32_t nl, nq, pos;
	int ret = 0;

	if (!list && !hs->structured)
		return reply_simple(out, opt, NBD_REP_ERR_INVALID);
	if (len < 8 || (nl = get32(d)) > len - 8)
		return reply_simple(out, opt, NBD_REP_ERR_INVALID);
	nq = get32(d + 4 + nl);
	/* First pass: validate every length before answering anything. */
	pos = 8 + nl;
	for (uint32_t i = 0; i < nq; i++) {
		uint32_t ql;

		if (len - pos < 4 || (ql = get32(d + pos)) > len - pos - 4)
			return reply_simple(out, opt, NBD_REP_ERR_INVALID);
		pos += 4 + ql;
	}
	if (pos != len)
		return reply_simple(out, opt, NBD_REP_ERR_INVALID);
	e = find_export(hs, d + 4, nl);
	if (!e)
		return reply_simple(out, opt, NBD_REP_ERR_UNKNOWN);
	pos = 8 + nl;
	for (uint32_t i = 0; i < nq; i++) {
		uint32_t ql = get32(d + pos);

		found |= query_matches(d + pos + 4, ql, list);
		pos += 4 + ql;
	}
	if (list && nq == 0)
		found = true;
	if (found)
		ret = meta_reply(out, opt);
	if (!list)
		hs->meta_export = found ? e : NULL;
	return ret ?: reply_simple(out, opt, NBD_REP_ACK);
}

/* NBD_OPT_STARTTLS: no data; refused by policy when TLS is off and as
 * invalid once TLS runs; acknowledged, it starts negotiation afresh. */
static int opt_starttls(struct vp_nbd_hs *hs, uint32_t len, struct vp_nbd_buf *out)
{
	int ret;

	if (hs->tls_mode == VP_NBD_TLS_OFF)
		return reply_simple(out, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY);
	if (len || hs->tls)
		return reply_simple(out, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID);
	ret = reply_simple(out, NBD_OPT_STARTTLS, NBD_REP_ACK);
	if (ret)
		return ret;
	hs->tls = true;
	hs->structured = false;
	hs->meta_export = NULL;
	return VP_NBD_HS_STARTTLS;
}

/* FORCEDTLS before STARTTLS: every option but STARTTLS and ABORT is
 * answered TLS_REQD; EXPORT_NAME cannot be answered, so the session ends. */
static int opt_before_tls(uint32_t opt, struct vp_nbd_buf *out)
{
	if (opt == NBD_OPT_EXPORT_NAME)
		return -EACCES;
	return reply_simple(out, opt, NBD_REP_ERR_TLS_REQD);
}

int vp_nbd_hs_option(struct vp_nbd_hs *hs, uint32_t opt, const unsigned char *data, uint32_t len,
		     struct vp_nbd_buf *out)
{
	bool tls_reqd = hs->tls_mode == VP_NBD_TLS_REQUIRE && !hs->tls;

	/* Without fixed newstyle only EXPORT_NAME may be answered at all (and
	 * TLS cannot run: proto.md requires fixed newstyle for it). */
	if (!hs->fixed_newstyle && opt != NBD_OPT_EXPORT_NAME)
		return VP_NBD_HS_CLOSE;
	if (tls_reqd && opt != NBD_OPT_STARTTLS && opt != NBD_OPT_ABORT)
		return opt_before_tls(opt, out);
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(hs, data, len, out);
	case NBD_OPT_ABORT: {
		int ret = reply_simple(out, opt, NBD_REP_ACK);

		return ret ?: VP_NBD_HS_CLOSE;
	}
	case NBD_OPT_LIST:
		return opt_list(hs, len, out);
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_info_go(hs, opt, data, len, out);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return reply_simple(out, opt, NBD_REP_ERR_INVALID);
		hs->structured = true;
		return reply_simple(out, opt, NBD_REP_ACK);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return opt_meta(hs, opt, data, len, out);
	case NBD_OPT_STARTTLS:
		return opt_starttls(hs, len, out);
	default:
		return reply_simple(out, opt, NBD_REP_ERR_UNSUP);
	}
}
