/* tls.c - the TLS relays of vblkd's NBD server (the design is in tls.h):
 * credentials loaded at start, and per TLS connection a relay thread that
 * runs the GnuTLS handshake and then moves bytes between the client's TCP
 * socket (TLS records) and the connection's socketpair (plaintext NBD).
 *
 * One thread per TLS connection, not one per worker polling many: the
 * record layer is CPU work (AES-GCM, and an RSA/ECDSA signature per
 * handshake), so a thread each lets the kernel spread TLS connections over
 * the cores, and one client's slow handshake or stalled socket delays no
 * other.  Their number is bounded: a relay lives only as long as its
 * connection, which the worker counts like any other (under the connection
 * cap), and VP_NBD_TLS_MAX_RELAYS holds regardless.  Each has a small stack
 * and two bounded buffers; both fds are non-blocking, so the thread only
 * ever waits in poll, and every wait ends: the handshake deadline, either
 * side closing, or the linger deadline once the server side has closed.
 *
 * System calls a relay thread makes (strace of vblk_nbd_tls.sh's clients):
 * poll, recvfrom and sendto (recv/send on the plaintext end, GnuTLS's
 * default transport on the TCP socket), sendmsg (GnuTLS), shutdown, close,
 * write (event logging), getrandom (GnuTLS), futex (the relay count, locks),
 * mmap, munmap, mprotect, madvise (allocations), rseq, set_robust_list,
 * rt_sigprocmask, exit (thread start and end).  vp_nbd_tls_start, on the
 * worker, adds socketpair, fcntl, clone3, mmap/mprotect (the stack) and
 * rt_sigprocmask.
 */
#include "vblk/nbd/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/statefile.h"
#include "vblk/nbd/tls_psk.h"

#define RELAY_STACK   (256U << 10)
#define RELAY_UP_BUF  (16U << 10)  /* one TLS record of plaintext at most */
#define RELAY_DOWN_BUF (64U << 10) /* server output read per recv */
#define PSK_FILE_MAX  (1U << 20)

#define PRIORITY_X509 "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define PRIORITY_PSK  PRIORITY_X509 ":+ECDHE-PSK:+DHE-PSK:+PSK"

struct vp_nbd_tls {
	enum vp_nbd_tls_mode mode;
	bool verify_peer;
	gnutls_certificate_credentials_t x509; /* NULL with PSK */
	gnutls_psk_server_credentials_t psk_cred;
	struct vp_nbd_psk psk;
	gnutls_priority_t prio;
	struct vp_event_sink events;
	pthread_mutex_t lock;    /* guards relays */
	pthread_cond_t idle;     /* relays dropped to 0 */
	unsigned relays;
};

struct relay {
	struct vp_nbd_tls *t;
	gnutls_session_t s;
	int sock, plain;         /* the client's TCP socket; our end of the socketpair */
	unsigned id;
	bool up_eof;             /* no more client -> server data */
	bool down_eof;           /* the server side sent its last byte */
	bool plain_gone;         /* the server side closed its end */
	int64_t linger_end;      /* ms deadline once the server side closed, else -1 */
	uint32_t up_off, up_len, down_off, down_len;
	unsigned char up[RELAY_UP_BUF];     /* client -> server plaintext */
	unsigned char down[RELAY_DOWN_BUF]; /* server -> client plaintext */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- credentials ---- */

static int psk_lookup(gnutls_session_t s, const char *user, gnutls_datum_t *key)
{
	const struct vp_nbd_tls *t = gnutls_session_get_ptr(s);
	const struct vp_nbd_psk_entry *e = vp_nbd_psk_find(&t->psk, user);

	if (!e)
		return -1;
	key->data = gnutls_malloc(e->key_len);
	if (!key->data)
		return -1;
	memcpy(key->data, e->key, e->key_len);
	key->size = (unsigned)e->key_len;
	return 0;
}

static int load_psk(struct vp_nbd_tls *t, const char *file, struct vp_error *err)
{
	char *text = NULL;
	size_t len;
	int ret = vp_statefile_read(file, &text, &len, err);

	if (ret == -ENOENT)
		ret = vp_error_set(err, ENOENT, "read %s", file);
	if (!ret && len > PSK_FILE_MAX)
		ret = vp_error_set(err, EFBIG, "%s: larger than %u bytes", file, PSK_FILE_MAX);
	ret = ret ?: vp_nbd_psk_parse(text, len, &t->psk, err);
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	if (ret)
		return ret;
	if (gnutls_psk_allocate_server_credentials(&t->psk_cred) < 0)
		return vp_error_set(err, ENOMEM, "PSK credentials");
	gnutls_psk_set_server_credentials_function(t->psk_cred, psk_lookup);
	(void)gnutls_psk_set_server_known_dh_params(t->psk_cred, GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
}

/* DIR/name, and whether that file exists. */
static bool dir_file(char *path, size_t size, const char *dir, const char *name)
{
	snprintf(path, size, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static int load_x509(struct vp_nbd_tls *t, const char *dir, struct vp_error *err)
{
	char cert[4096], key[4096], ca[4096], crl[4096];
	int ret;

	if (gnutls_certificate_allocate_credentials(&t->x509) < 0)
		return vp_error_set(err, ENOMEM, "x509 credentials");
	(void)dir_file(cert, sizeof(cert), dir, "server-cert.pem");
	(void)dir_file(key, sizeof(key), dir, "server-key.pem");
	ret = gnutls_certificate_set_x509_key_file(t->x509, cert, key, GNUTLS_X509_FMT_PEM);
	if (ret < 0)
		return vp_error_set(err, EINVAL, "%s, %s: %s", cert, key, gnutls_strerror(ret));
	if (dir_file(ca, sizeof(ca), dir, "ca-cert.pem")) {
		ret = gnutls_certificate_set_x509_trust_file(t->x509, ca, GNUTLS_X509_FMT_PEM);
		if (ret < 0)
			return vp_error_set(err, EINVAL, "%s: %s", ca, gnutls_strerror(ret));
	} else if (t->verify_peer) {
		return vp_error_set(err, ENOENT, "--tls-verify-peer needs %s", ca);
	}
	if (dir_file(crl, sizeof(crl), dir, "ca-crl.pem")) {
		ret = gnutls_certificate_set_x509_crl_file(t->x509, crl, GNUTLS_X509_FMT_PEM);
		if (ret < 0)
			return vp_error_set(err, EINVAL, "%s: %s", crl, gnutls_strerror(ret));
	}
	(void)gnutls_certificate_set_known_dh_params(t->x509, GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
}

static int check_config(const struct vp_nbd_tls_config *cfg, struct vp_error *err)
{
	if (cfg->mode == VP_NBD_TLS_OFF)
		return vp_error_set(err, EINVAL, "--tls-certificates, --tls-psk and --tls-verify-peer need --tls on|require");
	if (!cfg->cert_dir == !cfg->psk_file)
		return vp_error_set(err, EINVAL, "--tls %s needs one of --tls-certificates DIR or --tls-psk FILE",
				    cfg->mode == VP_NBD_TLS_ON ? "on" : "require");
	if (cfg->verify_peer && !cfg->cert_dir)
		return vp_error_set(err, EINVAL, "--tls-verify-peer needs --tls-certificates");
	return 0;
}

int vp_nbd_tls_new(const struct vp_nbd_tls_config *cfg, struct vp_nbd_tls **out,
		   struct vp_error *err)
{
	struct vp_nbd_tls *t;
	int ret;

	*out = NULL;
	ret = check_config(cfg, err);
	if (ret)
		return ret;
	t = calloc(1, sizeof(*t));
	if (!t)
		return vp_error_set(err, ENOMEM, "TLS");
	t->mode = cfg->mode;
	t->verify_peer = cfg->verify_peer;
	t->events = cfg->events;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->idle, NULL);
	ret = cfg->psk_file ? load_psk(t, cfg->psk_file, err) : load_x509(t, cfg->cert_dir, err);
	if (!ret && gnutls_priority_init(&t->prio, cfg->psk_file ? PRIORITY_PSK : PRIORITY_X509,
					 NULL) < 0)
		ret = vp_error_set(err, EINVAL, "TLS priority string");
	if (ret) {
		vp_nbd_tls_free(t);
		return ret;
	}
	*out = t;
	return 0;
}

enum vp_nbd_tls_mode vp_nbd_tls_mode(const struct vp_nbd_tls *t)
{
	return t ? t->mode : VP_NBD_TLS_OFF;
}

void vp_nbd_tls_free(struct vp_nbd_tls *t)
{
	if (!t)
		return;
	/* Every relay ends within its deadlines once its plaintext end closed. */
	pthread_mutex_lock(&t->lock);
	while (t->relays)
		pthread_cond_wait(&t->idle, &t->lock);
	pthread_mutex_unlock(&t->lock);
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	if (t->x509)
		gnutls_certificate_free_credentials(t->x509);
	if (t->psk_cred)
		gnutls_psk_free_server_credentials(t->psk_cred);
	vp_nbd_psk_free(&t->psk);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- a relay ---- */

static short tls_wants(gnutls_session_t s)
{
	return gnutls_record_get_direction(s) ? POLLOUT : POLLIN;
}

static bool tls_again(ssize_t ret)
{
	return ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED;
}

/* Run the handshake on the non-blocking socket; NULL when done, else why
 * not (*gerr: the GnuTLS error, if one). */
static const char *relay_handshake(struct relay *r, int *gerr)
{
	int64_t end = now_ms() + VP_NBD_TLS_HANDSHAKE_MS;

	for (;;) {
		int ret = gnutls_handshake(r->s), left;
		struct pollfd p[2];

		if (ret == GNUTLS_E_SUCCESS)
			return NULL;
		left = (int)(end - now_ms());
		if (ret == GNUTLS_E_TIMEDOUT || left <= 0)
			return "handshake-timeout";
		if (gnutls_error_is_fatal(ret)) {
			*gerr = ret;
			return "handshake-failed";
		}
		p[0] = (struct pollfd){ .fd = r->sock, .events = tls_wants(r->s) };
		p[1] = (struct pollfd){ .fd = r->plain };
		if (poll(p, 2, left) < 0 && errno != EINTR)
			return "poll-error";
		if (p[1].revents & (POLLHUP | POLLERR))
			return "server-closed";
	}
}

/* Client -> server: a record into up[], up[] into the plaintext end. */
static const char *pump_up(struct relay *r, bool *progress, short *sock_ev, short *plain_ev,
			   int *gerr)
{
	if (r->up_off == r->up_len && !r->up_eof) {
		ssize_t n = gnutls_record_recv(r->s, r->up, sizeof(r->up));

		if (n > 0) {
			r->up_off = 0;
			r->up_len = (uint32_t)n;
			*progress = true;
		} else if (n == 0) { /* close_notify: the client sends nothing more */
			r->up_eof = true;
			(void)shutdown(r->plain, SHUT_WR);
			*progress = true;
		} else if (tls_again(n)) {
			*sock_ev |= tls_wants(r->s);
		} else if (n == GNUTLS_E_PREMATURE_TERMINATION) { /* no close_notify: common */
			return "client-closed";
		} else if (gnutls_error_is_fatal((int)n)) {
			*gerr = (int)n;
			return "tls-recv-error";
		} else { /* a warning alert, a renegotiation request: ignored */
			*progress = true;
		}
	}
	if (r->up_off < r->up_len) {
		ssize_t n = send(r->plain, r->up + r->up_off, r->up_len - r->up_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			r->up_off += (uint32_t)n;
			*progress = true;
		} else if (errno == EAGAIN) {
			*plain_ev |= POLLOUT;
		} else if (errno != EINTR) { /* the server side is gone: drop client input */
			r->up_eof = true;
			r->up_off = r->up_len = 0;
			*progress = true;
		}
	}
	return NULL;
}

/* Server -> client: the plaintext end into down[], down[] into records. */
static const char *pump_down(struct relay *r, bool *progress, short *sock_ev, short *plain_ev,
			     int *gerr)
{
	if (r->down_off == r->down_len && !r->down_eof) {
		ssize_t n = recv(r->plain, r->down, sizeof(r->down), MSG_DONTWAIT);

		if (n > 0) {
			r->down_off = 0;
			r->down_len = (uint32_t)n;
			*progress = true;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->down_eof = true;
			*progress = true;
		} else if (errno == EAGAIN) {
			*plain_ev |= POLLIN;
		}
	}
	if (r->down_off < r->down_len) {
		/* After GNUTLS_E_AGAIN the same data goes again, as GnuTLS requires. */
		ssize_t n = gnutls_record_send(r->s, r->down + r->down_off, r->down_len - r->down_off);

		if (n > 0) {
			r->down_off += (uint32_t)n;
			*progress = true;
		} else if (tls_again(n)) {
			*sock_ev |= tls_wants(r->s);
		} else {
			*gerr = (int)n;
			return "tls-send-error";
		}
	}
	return NULL;
}

/* Relay both ways until one side is done; returns why it ended. */
static const char *relay_pump(struct relay *r, int *gerr)
{
	for (;;) {
		short sock_ev = 0, plain_ev = 0;
		bool progress = false;
		const char *why = pump_up(r, &progress, &sock_ev, &plain_ev, gerr);
		struct pollfd p[2];
		int timeout = -1;

		why = why ?: pump_down(r, &progress, &sock_ev, &plain_ev, gerr);
		if (why)
			return why;
		if (r->down_eof && r->down_off == r->down_len)
			return "server-closed";
		if (progress)
			continue;
		if (r->linger_end >= 0) {
			timeout = (int)(r->linger_end - now_ms());
			if (timeout <= 0)
				return "linger-timeout";
		}
		p[0] = (struct pollfd){ .fd = r->sock, .events = sock_ev };
		/* Once the server side closed, its end reads to EOF without waiting. */
		p[1] = (struct pollfd){ .fd = r->plain_gone ? -1 : r->plain, .events = plain_ev };
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			return "poll-error";
		if (p[0].revents & (POLLHUP | POLLERR))
			return "client-closed";
		if (p[1].revents & (POLLHUP | POLLERR)) {
			r->plain_gone = true;
			r->linger_end = now_ms() + VP_NBD_TLS_LINGER_MS;
		}
	}
}

static void relay_report_ready(struct relay *r)
{
	const char *user = r->t->psk_cred ? gnutls_psk_server_get_username(r->s) : NULL;

	vp_event(&r->t->events, "nbd.tls.ready", "conn=%u version=%s cipher=%s user=%s", r->id,
		 gnutls_protocol_get_name(gnutls_protocol_get_version(r->s)),
		 gnutls_cipher_get_name(gnutls_cipher_get(r->s)), user ? user : "-");
}

static void relay_count_put(struct vp_nbd_tls *t)
{
	pthread_mutex_lock(&t->lock);
	if (--t->relays == 0)
		pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
}

static void relay_free(struct relay *r)
{
	struct vp_nbd_tls *t = r->t;

	gnutls_deinit(r->s);
	close(r->sock);
	close(r->plain);
	free(r);
	relay_count_put(t);
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int gerr = 0;
	const char *why = relay_handshake(r, &gerr);

	if (!why) {
		relay_report_ready(r);
		why = relay_pump(r, &gerr);
		/* close_notify, best effort: the socket is non-blocking. */
		(void)gnutls_bye(r->s, GNUTLS_SHUT_WR);
	}
	vp_event(&r->t->events, gerr ? "nbd.tls.error" : "nbd.tls.close",
		 "conn=%u reason=%s tls-error=\"%s\"", r->id, why, gerr ? gnutls_strerror(gerr) : "");
	relay_free(r);
	return NULL;
}

static int relay_session(struct relay *r)
{
	struct vp_nbd_tls *t = r->t;
	int ret = gnutls_init(&r->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);

	if (ret < 0)
		return -ENOMEM;
	ret = gnutls_priority_set(r->s, t->prio);
	if (!ret && t->x509) {
		ret = gnutls_credentials_set(r->s, GNUTLS_CRD_CERTIFICATE, t->x509);
		if (t->verify_peer) {
			gnutls_certificate_server_set_request(r->s, GNUTLS_CERT_REQUIRE);
			/* The handshake fails unless the client's chain verifies. */
			gnutls_session_set_verify_cert(r->s, NULL, 0);
		}
	} else if (!ret) {
		ret = gnutls_credentials_set(r->s, GNUTLS_CRD_PSK, t->psk_cred);
	}
	if (ret < 0) {
		gnutls_deinit(r->s);
		return -ENOMEM;
	}
	gnutls_session_set_ptr(r->s, t);
	gnutls_transport_set_int(r->s, r->sock);
	gnutls_handshake_set_timeout(r->s, VP_NBD_TLS_HANDSHAKE_MS);
	return 0;
}

/* Start r's thread detached, with no signals (main takes them). */
static int relay_spawn(struct relay *r)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t tid;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, RELAY_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&tid, &attr, relay_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -ret;
}

static bool relay_count_take(struct vp_nbd_tls *t)
{
	bool ok;

	pthread_mutex_lock(&t->lock);
	ok = t->relays < VP_NBD_TLS_MAX_RELAYS;
	t->relays += ok;
	pthread_mutex_unlock(&t->lock);
	return ok;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -errno : fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int vp_nbd_tls_start(struct vp_nbd_tls *t, int sock, unsigned conn_id)
{
	struct relay *r;
	int sp[2], ret;

	if (!relay_count_take(t))
		return -EAGAIN;
	r = malloc(sizeof(*r));
	if (!r) {
		relay_count_put(t);
		return -ENOMEM;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		ret = -errno;
		goto fail;
	}
	*r = (struct relay){ .t = t, .sock = sock, .plain = sp[1], .id = conn_id, .linger_end = -1 };
	/* The relay polls non-blocking fds; the worker's end stays blocking,
	 * as io_uring answers EAGAIN on an O_NONBLOCK socket instead of
	 * waiting for it.  On failure sock goes back to the caller, which
	 * drops it. */
	ret = set_nonblock(sock);
	ret = ret ?: set_nonblock(sp[1]);
	ret = ret ?: relay_session(r);
	if (ret)
		goto fail_sp;
	ret = relay_spawn(r);
	if (ret) {
		gnutls_deinit(r->s);
		goto fail_sp;
	}
	return sp[0];
fail_sp:
	close(sp[0]);
	close(sp[1]);
fail:
	free(r);
	relay_count_put(t);
	return ret;
}
