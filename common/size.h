/* size.h - parse and format byte counts such as "512", "4K", "10GiB". */
#ifndef VP_COMMON_SIZE_H
#define VP_COMMON_SIZE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define VP_SIZE_STRLEN 24

/* Parse a non-negative decimal byte count with an optional binary suffix:
 * "" or "B" (bytes), "K"/"KiB", "M"/"MiB", "G"/"GiB", "T"/"TiB", "P"/"PiB",
 * "E"/"EiB" (powers of 1024; the letter is case-insensitive).  No sign, no
 * spaces, no fractions.  Returns 0 with *out set, -EINVAL on bad syntax, or
 * -ERANGE when the value does not fit in 64 bits; *out is untouched on
 * failure. */
int vp_parse_size(const char *text, uint64_t *out) VP_MUST_CHECK;

/* Format n for humans ("1.5G", "512", "64M") into buf (VP_SIZE_STRLEN bytes)
 * and return buf.  Exact multiples print without a fraction. */
const char *vp_size_str(uint64_t n, char *buf);

#endif
