/* mountopt.c - mount_flags into mount(2) arguments (mountopt.h). */
#include "csi/node/mountopt.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define ATIME_BITS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)

/* A flag mount(2) takes as a bit: it clears the bits of clear, then sets set. */
struct known_flag {
	const char *name;
	unsigned long set, clear;
};

static const struct known_flag known[] = {
	{ "defaults", 0, 0 },
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },
	{ "nodev", MS_NODEV, 0 },
	{ "noexec", MS_NOEXEC, 0 },
	{ "exec", 0, MS_NOEXEC },
	{ "noatime", MS_NOATIME, ATIME_BITS },
	{ "relatime", MS_RELATIME, ATIME_BITS },
	{ "strictatime", MS_STRICTATIME, ATIME_BITS },
	{ "atime", 0, MS_NOATIME },
	{ "norelatime", 0, MS_RELATIME },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "diratime", 0, MS_NODIRATIME },
	{ "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "lazytime", MS_LAZYTIME, 0 },
	{ "nolazytime", 0, MS_LAZYTIME },
};

/* Flags refused outright, and why. */
struct refused_flag {
	const char *name;
	const char *why;
};

#define MOUNT_KIND "changes what kind of mount the driver makes"
#define PROPAGATION "mount propagation is the driver's and the CO's, not the volume's"
#define OTHER_DEVICE "names another device than the volume's"

static const struct refused_flag refused[] = {
	{ "bind", MOUNT_KIND }, { "rbind", MOUNT_KIND }, { "remount", MOUNT_KIND },
	{ "move", MOUNT_KIND }, { "loop", MOUNT_KIND },
	{ "shared", PROPAGATION }, { "rshared", PROPAGATION }, { "slave", PROPAGATION },
	{ "rslave", PROPAGATION }, { "private", PROPAGATION }, { "rprivate", PROPAGATION },
	{ "unbindable", PROPAGATION }, { "runbindable", PROPAGATION },
	{ "suid", "the driver always mounts nosuid" },
	{ "dev", "the driver always mounts nodev" },
	{ "journal_dev", OTHER_DEVICE }, { "journal_path", OTHER_DEVICE },
	{ "logdev", OTHER_DEVICE }, { "rtdev", OTHER_DEVICE },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* flag's name: up to an '=' ("journal_path=/dev/x" is "journal_path"). */
static bool named(const char *flag, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(flag, name, n) && (!flag[n] || flag[n] == '=');
}

static int check_text(const char *flag, struct vp_error *err)
{
	size_t n = strnlen(flag, VP_MOUNTOPT_FLAG_MAX);

	if (!n)
		return vp_error_code(err, 0, EINVAL, "mount_flags: an empty flag");
	if (n == VP_MOUNTOPT_FLAG_MAX)
		return vp_error_code(err, 0, EINVAL, "mount_flags: a flag is %d bytes or longer",
				     VP_MOUNTOPT_FLAG_MAX);
	for (const unsigned char *c = (const unsigned char *)flag; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || *c == ',' || *c == '"' || *c == '\\')
			return vp_error_code(err, 0, EINVAL, "mount_flags: a flag holds a space, "
					     "a comma, a quote, a backslash or a byte outside "
					     "printable ASCII (one flag per entry)");
	return 0;
}

/* Append flag to the filesystem's options. */
static int add_data(struct vp_mountopt *o, const char *flag, struct vp_error *err)
{
	size_t have = strlen(o->data), n = strlen(flag) + (have ? 1 : 0);

	if (have + n >= sizeof(o->data))
		return vp_error_code(err, 0, EINVAL, "mount_flags: the filesystem's options "
				     "exceed %zu bytes", sizeof(o->data) - 1);
	if (have)
		o->data[have++] = ',';
	strcpy(o->data + have, flag);
	return 0;
}

static int parse_one(const char *flag, struct vp_mountopt *o, struct vp_error *err)
{
	int ret = check_text(flag, err);

	if (ret)
		return ret;
	for (size_t i = 0; i < N(refused); i++)
		if (named(flag, refused[i].name))
			return vp_error_code(err, 0, EINVAL, "mount_flags: \"%s\" is refused: %s",
					     flag, refused[i].why);
	for (size_t i = 0; i < N(known); i++) {
		if (!strcmp(flag, known[i].name)) {
			o->flags = (o->flags & ~known[i].clear) | known[i].set;
			return 0;
		}
	}
	return add_data(o, flag, err);
}

int vp_mountopt_parse(char *const *flags, size_t n, struct vp_mountopt *o, struct vp_error *err)
{
	int ret;

	o->flags = 0;
	o->data[0] = '\0';
	if (n > VP_MOUNTOPT_MAX_FLAGS)
		return vp_error_code(err, 0, EINVAL, "mount_flags: %zu flags, at most %d", n,
				     VP_MOUNTOPT_MAX_FLAGS);
	for (size_t i = 0; i < n; i++)
		if ((ret = parse_one(flags[i], o, err)))
			return ret;
	return 0;
}
