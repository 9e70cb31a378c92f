/* tls_psk.c - parse a PSK file ("username:hexkey" lines) into memory. */
#include "vblk/nbd/tls_psk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static bool user_valid(const char *u, size_t n)
{
	if (n == 0 || n > VP_NBD_PSK_MAX_USER)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
			return false;
	return true;
}

/* Decode n hex digits into out (n / 2 bytes); false on a non-hex digit. */
static bool hex_decode(const char *h, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_digit(h[i]), lo = hex_digit(h[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* Add line[0..n) (not blank, no line end) to psk; 0, -EINVAL or -ENOMEM. */
static int add_line(struct vp_nbd_psk *psk, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n);
	size_t ul, hl;
	struct vp_nbd_psk_entry e, *v;

	if (!colon)
		return -EINVAL;
	ul = (size_t)(colon - line);
	hl = n - ul - 1;
	if (!user_valid(line, ul) || hl == 0 || hl % 2 || hl / 2 > VP_NBD_PSK_MAX_KEY)
		return -EINVAL;
	e.user = strndup(line, ul);
	e.key_len = hl / 2;
	e.key = malloc(e.key_len);
	if (!e.user || !e.key) {
		free(e.user);
		free(e.key);
		return -ENOMEM;
	}
	if (!hex_decode(colon + 1, hl, e.key) || vp_nbd_psk_find(psk, e.user)) {
		free(e.user);
		free(e.key);
		return -EINVAL;
	}
	v = realloc(psk->v, (psk->n + 1) * sizeof(*v));
	if (!v) {
		free(e.user);
		free(e.key);
		return -ENOMEM;
	}
	psk->v = v;
	psk->v[psk->n++] = e;
	return 0;
}

int vp_nbd_psk_parse(const char *text, size_t len, struct vp_nbd_psk *psk, struct vp_error *err)
{
	size_t pos = 0;
	unsigned lineno = 0;

	memset(psk, 0, sizeof(*psk));
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		int ret = 0;

		pos += n + (nl != NULL);
		lineno++;
		if (n && line[n - 1] == '\r')
			n--;
		if (n)
			ret = add_line(psk, line, n);
		if (ret) {
			vp_nbd_psk_free(psk);
			return ret == -ENOMEM ? vp_error_set(err, ENOMEM, "PSK file")
					      : vp_error_set(err, EINVAL,
							     "PSK file line %u: expected USER:HEXKEY (a new user, an even number of hex digits)",
							     lineno);
		}
	}
	if (psk->n == 0)
		return vp_error_set(err, EINVAL, "PSK file: no USER:HEXKEY line");
	return 0;
}

const struct vp_nbd_psk_entry *vp_nbd_psk_find(const struct vp_nbd_psk *psk, const char *user)
{
	for (size_t i = 0; i < psk->n; i++)
		if (strcmp(psk->v[i].user, user) == 0)
			return &psk->v[i];
	return NULL;
}

void vp_nbd_psk_free(struct vp_nbd_psk *psk)
{
	for (size_t i = 0; i < psk->n; i++) {
		explicit_bzero(psk->v[i].key, psk->v[i].key_len);
		free(psk->v[i].key);
		free(psk->v[i].user);
	}
	free(psk->v);
	memset(psk, 0, sizeof(*psk));
}
