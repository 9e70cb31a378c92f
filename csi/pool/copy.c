/* copy.c - reflink or sparse copy of an image (copy.h). */
#include "csi/pool/copy.h"

#include <errno.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy [off, end) of src to the same offsets of dst. */
static int copy_range(int src, int dst, off_t off, off_t end, struct vp_error *err)
{
	while (off < end) {
		off_t in = off, out = off;
		ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(end - off), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vp_error_set(err, errno, "copy_file_range at %lld", (long long)off);
		if (n == 0)
			return vp_error_set(err, EIO, "copy_file_range: source ended at %lld",
					    (long long)off);
		off += n;
	}
	return 0;
}

int vp_copy_sparse(int src, int dst, struct vp_error *err)
{
	struct stat st;
	off_t off = 0;

	if (fstat(src, &st) < 0)
		return vp_error_set(err, errno, "copy: stat source");
	if (ftruncate(dst, st.st_size) < 0)
		return vp_error_set(err, errno, "copy: size destination");
	while (off < st.st_size) {
		off_t data = lseek(src, off, SEEK_DATA), hole;
		int ret;

		if (data < 0 && errno == ENXIO)
			break;  /* only a hole is left */
		if (data < 0)
			return vp_error_set(err, errno, "copy: SEEK_DATA");
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0)
			return vp_error_set(err, errno, "copy: SEEK_HOLE");
		ret = copy_range(src, dst, data, hole, err);
		if (ret)
			return ret;
		off = hole;
	}
	return 0;
}

int vp_copy_image(int src, int dst, bool *reflinked, struct vp_error *err)
{
	if (ioctl(dst, FICLONE, src) == 0) {
		*reflinked = true;
		return 0;
	}
	/* EOPNOTSUPP/EINVAL (no shared extents here), EXDEV (another fs): copy. */
	if (errno != EOPNOTSUPP && errno != EINVAL && errno != EXDEV && errno != ENOTTY)
		return vp_error_set(err, errno, "copy: FICLONE");
	*reflinked = false;
	return vp_copy_sparse(src, dst, err);
}
