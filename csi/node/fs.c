/* fs.c - probing a device and making a filesystem on it (fs.h). */
#include "csi/node/fs.h"

#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void what_it_holds(blkid_probe pr, char type[VP_FS_TYPE_SIZE])
{
	const char *v;

	if (!blkid_probe_lookup_value(pr, "TYPE", &v, NULL))
		snprintf(type, VP_FS_TYPE_SIZE, "%s", v);
	else if (!blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL))
		snprintf(type, VP_FS_TYPE_SIZE, "partition table %s", v);
	else
		snprintf(type, VP_FS_TYPE_SIZE, "an unnamed signature");
}

int vp_fs_probe(const char *dev, char type[VP_FS_TYPE_SIZE], struct vp_error *err)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	int rc;

	if (!pr)
		return vp_error_set(err, errno ? errno : EIO, "probe %s", dev);
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	/* 0: found, 1: nothing, -2: ambiguous; a failure is -1 or, as
	 * libblkid 2.38 answers a read error, -errno (-EIO): any other
	 * negative value.  (-2 doubles as -ENOENT, which a read cannot fail
	 * with; taken as ambiguous it is refused all the same.) */
	rc = blkid_do_safeprobe(pr);
	type[0] = '\0';
	if (rc == 0)
		what_it_holds(pr, type);
	else if (rc == -2)
		snprintf(type, VP_FS_TYPE_SIZE, "ambiguous signatures");
	blkid_free_probe(pr);
	if (rc < 0 && rc != -2)
		return vp_error_set(err, rc == -1 ? EIO : -rc, "probe %s: cannot read it", dev);
	return 0;
}

/* Run argv (searched on PATH, stdin and stdout on /dev/null) to its end. */
static int run(char **argv, const char *what, struct vp_error *err)
{
	posix_spawn_file_actions_t fa;
	int ret, status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		return vp_error_set(err, ret, "run %s", argv[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return vp_error_set(err, errno, "wait for %s", argv[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return vp_error_code(err, 0, EIO, "%s %s failed (status 0x%x)", argv[0], what,
				     status);
	return 0;
}

int vp_fs_make(const char *dev, const char *fstype, struct vp_error *err)
{
	/* Lazy inode table and journal init: seconds saved on large volumes. */
	char *ext4[] = { "mkfs.ext4", "-q", "-E", "lazy_itable_init=1,lazy_journal_init=1",
			 (char *)dev, NULL };
	char *xfs[] = { "mkfs.xfs", "-q", (char *)dev, NULL };

	if (strcmp(fstype, "ext4") && strcmp(fstype, "xfs"))
		return vp_error_code(err, 0, EINVAL, "no mkfs for filesystem type %s", fstype);
	return run(!strcmp(fstype, "xfs") ? xfs : ext4, dev, err);
}

int vp_fs_grow(const char *dev, const char *fstype, const char *mountpoint,
	       struct vp_error *err)
{
	char *ext4[] = { "resize2fs", (char *)dev, NULL };
	char *xfs[] = { "xfs_growfs", (char *)mountpoint, NULL };

	if (strcmp(fstype, "ext4") && strcmp(fstype, "xfs"))
		return vp_error_code(err, 0, EINVAL, "cannot grow filesystem type %s", fstype);
	return run(!strcmp(fstype, "xfs") ? xfs : ext4, dev, err);
}
