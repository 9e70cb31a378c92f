/* negotiate.c - the NBD handshake of a connection, driven on the worker's
 * ring (handshake.c holds the protocol): send the greeting, receive the
 * client's flags, then receive options and send their replies until GO;
 * then enter transmission: attach the export, open the splice pipe of a
 * memory-backed image, set up the request slots and start receiving.
 */
#include "vblk/nbd/conn.h"
#include "vblk/nbd/tls.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPE_SIZE (1U << 20)      /* asked for; the pipe moves the data in chunks of its size */
#define ATTACH_TRIES 4            /* GO answered again after racing a resize */

static void hs_read_option(struct nbd_conn *c);

/* Table mode: attach c to export e (counted, so a shrink is refused while
 * c uses it) and register the image on this ring for the connection's
 * lifetime.  0; -ESTALE when a resize replaced e since the snapshot was
 * taken (answer the option again from the current one); -ENOENT when e
 * was removed; or -errno.  Runs before the GO reply goes out, so the size
 * the client is told is the size of the image c is attached to. */
static int tx_attach(struct nbd_conn *c, const struct vp_nbd_export *e)
{
	int file, ret = 0;

	vp_nbd_entry_attach(e->entry, 1);
	if (vp_nbd_entry_removed(e->entry))
		ret = -ENOENT;
	else if (!vp_nbd_table_current(c->w->cfg.table, e->entry))
		ret = -ESTALE;
	else if ((file = vp_engine_file_add(&c->w->eng, e->img->fd)) < 0)
		ret = file;
	if (ret) {
		vp_nbd_entry_attach(e->entry, -1);
		return ret;
	}
	c->entry = e->entry;
	c->img_file = file;
	return 0;
}

/* Table mode: answer the next option from the table's current snapshot,
 * not the one taken at accept: an export resized during the handshake must
 * be negotiated at its new size. */
static void hs_refresh(struct nbd_conn *c)
{
	struct vp_nbd_snapshot *old = c->snap;
	const struct vp_nbd_export *meta = c->hs.meta_export;

	c->snap = vp_nbd_table_acquire(c->w->cfg.table);
	c->hs.exports = c->snap->exports;
	c->hs.n_exports = c->snap->n;
	c->hs.meta_export = NULL;
	for (size_t i = 0; meta && i < c->snap->n; i++)
		if (c->snap->exports[i].entry->sh == meta->entry->sh)
			c->hs.meta_export = &c->snap->exports[i];
	vp_nbd_snapshot_put(old);
}

/* Set up the pipe (up to PIPE_SIZE) that large READs splice through when
 * the image is memory-backed (splicing from other files could block the
 * worker); without it, data is copied as usual. */
static void tx_pipe_open(struct nbd_conn *c)
{
	int size;

	c->mem_fd = vp_engine_mem_fd(&c->w->eng, c->img_file);
	if (c->mem_fd < 0 || pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		c->pipe[0] = c->pipe[1] = -1;
		return;
	}
	(void)fcntl(c->pipe[1], F_SETPIPE_SZ, PIPE_SIZE); /* else the default size */
	size = fcntl(c->pipe[1], F_GETPIPE_SZ);
	c->pipe_cap = size > 0 ? (uint32_t)size : 4096U;
}

/* The handshake chose an export (GO): set c up for transmission and start
 * receiving requests. */
static void tx_start(struct nbd_conn *c)
{
	const struct vp_nbd_export *e = c->hs.chosen;

	if (!c->snap)
		c->img_file = c->w->img_files[e - c->w->cfg.exports];
	c->img = e->img;
	c->stats = e->stats;
	c->lim = (struct vp_nbd_limits){
		.size = e->img->size,
		.min_block = e->img->min_block,
		.readonly = e->img->readonly,
		.structured = c->hs.structured,
		.meta_alloc = c->hs.meta_alloc,
	};
	c->in = malloc(IN_BUF);
	if (!c->in) {
		vp_nbd_conn_drop(c, "out-of-memory");
		return;
	}
	c->in_tx = true;
	c->active = c->w->now_ms;
	c->recv_op.done = vp_nbd_rx_on_recv;
	c->splice_op.done = vp_nbd_tx_on_splice;
	tx_pipe_open(c);
	vp_nbd_buf_free(&c->hs_out);
	c->reg_bufs = e->img->direct && c->mem_fd < 0 && c->w->eng.nbufs;
	for (unsigned i = 0; i < CONN_SLOTS; i++) {
		c->slots[i].c = c;
		c->slots[i].op.done = vp_nbd_exec_on_disk;
		c->slots[i].next = c->free_slots;
		c->free_slots = &c->slots[i];
	}
	vp_event(&c->w->cfg.events, "nbd.conn.ready", "conn=%u export=%s structured=%d", c->id, e->name,
	      c->lim.structured);
	vp_nbd_rx_process(c);
}

/* STARTTLS was acknowledged: the TCP socket goes to a TLS relay (tls.h)
 * and c goes on over the plaintext end it returns, registered in its place
 * (no operation is pending on c now). */
static void hs_start_tls(struct nbd_conn *c)
{
	int fd = vp_nbd_tls_start(c->w->cfg.tls, c->fd, c->id), file;

	if (fd < 0) {
		vp_nbd_conn_drop(c, fd == -EAGAIN ? "tls-relays-full" : "tls-relay-failed");
		return;
	}
	file = vp_engine_file_add(&c->w->eng, fd);
	if (file < 0) {
		close(fd); /* the relay sees it closed and ends */
		c->fd = -1;
		vp_nbd_conn_drop(c, "file-table-full");
		return;
	}
	vp_engine_file_del(&c->w->eng, c->file);
	c->fd = fd;
	c->file = file;
	hs_read_option(c);
}

static void hs_after_send(struct nbd_conn *c)
{
	if (c->hs_next == VP_NBD_HS_CONTINUE)
		hs_read_option(c);
	else if (c->hs_next == VP_NBD_HS_GO)
		tx_start(c);
	else if (c->hs_next == VP_NBD_HS_STARTTLS)
		hs_start_tls(c);
	else
		vp_nbd_conn_drop(c, "client-abort");
}

/* Answer the option received; GO attaches to the export (table mode)
 * before its reply goes out. */
static int hs_answer(struct nbd_conn *c)
{
	int ret = -ESTALE;

	for (int tries = 0; ret == -ESTALE && tries < ATTACH_TRIES; tries++) {
		if (c->snap)
			hs_refresh(c);
		c->hs_out.len = 0;
		ret = vp_nbd_hs_option(&c->hs, c->opt, c->opt_data, c->opt_len, &c->hs_out);
		if (ret == VP_NBD_HS_GO && c->snap)
			ret = tx_attach(c, c->hs.chosen) ?: VP_NBD_HS_GO;
	}
	return ret;
}

static void hs_run_option(struct nbd_conn *c)
{
	int ret = hs_answer(c);

	if (ret < 0) {
		vp_nbd_conn_drop(c, ret == -ENOENT ? "unknown-export" :
				    ret == -EACCES ? "tls-required" :
				    ret == -ESTALE ? "export-resizing" :
				    ret == -ENOMEM ? "out-of-memory" : "file-table-full");
		return;
	}
	c->hs_next = (enum vp_nbd_hs_next)ret;
	if (c->hs_out.len == 0) {
		hs_after_send(c);
		return;
	}
	c->hs_iov.iov_base = c->hs_out.data;
	c->hs_iov.iov_len = c->hs_out.len;
	vp_nbd_conn_sendv(c, &c->hs_iov, 1, hs_after_send);
}

static void hs_got_option_header(struct nbd_conn *c)
{
	if (vp_nbd_hs_option_header(c->hs_small, &c->opt, &c->opt_len)) {
		vp_nbd_conn_drop(c, "bad-option-header");
		return;
	}
	if (c->opt_len == 0) {
		hs_run_option(c);
		return;
	}
	if (c->opt_len > c->opt_cap) {
		unsigned char *d = realloc(c->opt_data, c->opt_len);

		if (!d) {
			vp_nbd_conn_drop(c, "out-of-memory");
			return;
		}
		c->opt_data = d;
		c->opt_cap = c->opt_len;
	}
	vp_nbd_conn_recv(c, c->opt_data, c->opt_len, hs_run_option);
}

static void hs_read_option(struct nbd_conn *c)
{
	vp_nbd_conn_recv(c, c->hs_small, NBD_OPTION_HDR_SIZE, hs_got_option_header);
}

static void hs_got_flags(struct nbd_conn *c)
{
	uint32_t flags;

	memcpy(&flags, c->hs_small, 4);
	if (vp_nbd_hs_client_flags(&c->hs, be32toh(flags))) {
		vp_nbd_conn_drop(c, "bad-client-flags");
		return;
	}
	hs_read_option(c);
}

static void hs_read_flags(struct nbd_conn *c)
{
	vp_nbd_conn_recv(c, c->hs_small, 4, hs_got_flags);
}

void vp_nbd_negotiate_start(struct nbd_conn *c)
{
	vp_nbd_hs_greeting(c->hs_small);
	c->hs_iov = (struct iovec){ c->hs_small, NBD_GREETING_SIZE };
	vp_nbd_conn_sendv(c, &c->hs_iov, 1, hs_read_flags);
}
