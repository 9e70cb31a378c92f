/* name.c - name, ID and UTF-8 checks (name.h). */
#include "csi/pool/name.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* Length of the UTF-8 sequence starting at s and its code point, or 0 when
 * it is malformed (truncated, overlong, surrogate, beyond U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
		n = 2, c &= 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		n = 3, c &= 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		n = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool banned(uint32_t cp)
{
	return cp <= 0x08 || cp == 0x0b || cp == 0x0c || (cp >= 0x0e && cp <= 0x1f) ||
	       (cp >= 0x7f && cp <= 0x9f);
}

bool vp_pool_utf8_ok(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;

	while (*s) {
		uint32_t cp;
		size_t n = utf8_decode(s, &cp);

		if (!n || banned(cp))
			return false;
		s += n;
	}
	return true;
}

int vp_pool_check_name(const char *name, struct vp_error *err)
{
	size_t len = strlen(name);

	if (!len)
		return vp_error_code(err, 0, EINVAL, "name is empty");
	if (len > VP_POOL_NAME_MAX)
		return vp_error_code(err, 0, EINVAL, "name is %zu bytes, longer than %d", len,
				     VP_POOL_NAME_MAX);
	if (!vp_pool_utf8_ok(name))
		return vp_error_code(err, 0, EINVAL, "name is not UTF-8 or has a control character");
	if (strchr(name, '/') || strstr(name, ".."))
		return vp_error_code(err, 0, EINVAL, "name contains \"/\" or \"..\"");
	return 0;
}

static bool id_with_prefix(const char *id, const char *prefix)
{
	size_t plen = strlen(prefix);

	if (strncmp(id, prefix, plen) || strlen(id) != plen + VP_POOL_ID_HEX)
		return false;
	for (const char *p = id + plen; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

bool vp_pool_is_volume_id(const char *id)
{
	return id_with_prefix(id, VP_VOLUME_ID_PREFIX);
}

bool vp_pool_is_snapshot_id(const char *id)
{
	return id_with_prefix(id, VP_SNAPSHOT_ID_PREFIX);
}

bool vp_pool_is_id(const char *id)
{
	return vp_pool_is_volume_id(id) || vp_pool_is_snapshot_id(id);
}

int vp_pool_new_id(char *id, const char *prefix, struct vp_error *err)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		return vp_error_set(err, errno, "ID: getrandom");
	snprintf(id, VP_POOL_ID_SIZE, "%s%016llx", prefix, (unsigned long long)r);
	return 0;
}
