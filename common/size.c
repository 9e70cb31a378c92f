/* size.c - byte counts with binary suffixes, parsed strictly. */
#include "common/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char units[] = "KMGTPE";

/* The shift for suffix s ("" -> 0, "K"/"KiB" -> 10, ...), or -1. */
static int suffix_shift(const char *s)
{
	const char *u;

	if (*s == 0 || strcmp(s, "B") == 0)
		return 0;
	u = strchr(units, toupper((unsigned char)*s));
	if (!u || !*u)
		return -1;
	if (s[1] == 0 || strcmp(s + 1, "iB") == 0)
		return 10 * (int)(u - units + 1);
	return -1;
}

int vp_parse_size(const char *text, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = text;
	int shift;

	if (!text || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	shift = suffix_shift(p);
	if (shift < 0)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

const char *vp_size_str(uint64_t n, char *buf)
{
	int i = 0;

	while (i < 6 && n >= (1ULL << (10 * (i + 1))))
		i++;
	if (i == 0)
		snprintf(buf, VP_SIZE_STRLEN, "%llu", (unsigned long long)n);
	else if (n % (1ULL << (10 * i)) == 0)
		snprintf(buf, VP_SIZE_STRLEN, "%llu%c", (unsigned long long)(n >> (10 * i)), units[i - 1]);
	else
		snprintf(buf, VP_SIZE_STRLEN, "%.1f%c", (double)n / (double)(1ULL << (10 * i)),
			 units[i - 1]);
	return buf;
}
