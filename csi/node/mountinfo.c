/* mountinfo.c - mount points from /proc/self/mountinfo (mountinfo.h). */
#include "csi/node/mountinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOUNT_POINT_FIELD 4  /* "36 35 98:0 /root /mnt/point opts ..." */

/* Undo the kernel's "\ooo" escapes of field (up to a space) into out:
 * false when it does not fit. */
static bool unescape(const char *field, char out[PATH_MAX])
{
	size_t n = 0;

	for (const char *c = field; *c && *c != ' ' && *c != '\n'; c++) {
		if (n == PATH_MAX - 1)
			return false;
		if (c[0] == '\\' && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' && c[2] <= '7' &&
		    c[3] >= '0' && c[3] <= '7') {
			out[n++] = (char)((c[1] - '0') << 6 | (c[2] - '0') << 3 | (c[3] - '0'));
			c += 3;
		} else {
			out[n++] = *c;
		}
	}
	out[n] = '\0';
	return true;
}

/* The mount point of one mountinfo line into out: false when the line is
 * too short or the point too long. */
static bool mount_point(const char *line, char out[PATH_MAX])
{
	const char *f = line;

	for (int i = 0; i < MOUNT_POINT_FIELD; i++) {
		f = strchr(f, ' ');
		if (!f)
			return false;
		f++;
	}
	return unescape(f, out);
}

int vp_mountinfo_under(const char *dir, void (*fn)(void *ctx, const char *mountpoint),
		       void *ctx, struct vp_error *err)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	size_t dlen = strlen(dir), cap = 0;
	char *line = NULL, *mp = malloc(PATH_MAX);

	if (!f || !mp) {
		int e = f ? ENOMEM : errno;

		if (f)
			fclose(f);
		free(mp);
		return vp_error_set(err, e, "read /proc/self/mountinfo");
	}
	while (getline(&line, &cap, f) > 0) {
		if (mount_point(line, mp) && !strncmp(mp, dir, dlen) && mp[dlen] == '/' &&
		    mp[dlen + 1])
			fn(ctx, mp);
	}
	free(line);
	free(mp);
	fclose(f);
	return 0;
}
