/* hostlocal.c - host-local's reservation files as taken addresses (see
 * hostlocal.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/core/cni.h"
#include "cni/ipam/hostlocal.h"
#include "cni/ipam/store.h"

/* Read regular file name of dir (at most size - 1 bytes) into buf,
 * NUL-terminated.  Not opened through a symlink, and O_NONBLOCK so a FIFO
 * cannot hang us; anything but a regular file is -EINVAL. */
static int read_small(int dir, const char *name, char *buf, size_t size)
{
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	size_t used = 0;
	struct stat st;
	ssize_t n;
	int e = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	while (!e && used < size - 1 && (n = read(fd, buf + used, size - 1 - used)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e = errno;
		else
			used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	return -e;
}

/* "<cid>\r\n<ifname>" (host-local since 0.7; before, the ID alone), with
 * surrounding white space ignored as host-local does. */
static int parse_owner(char *text, struct vp_ipam_hostlocal *h)
{
	char *end = text + strlen(text), *nl;

	while (end > text && strchr(" \t\r\n", end[-1]))
		*--end = '\0';
	while (*text && strchr(" \t\r\n", *text))
		text++;
	nl = strstr(text, "\r\n");
	if (nl) {
		*nl = '\0';
		nl += 2;
	}
	h->cid = strdup(text);
	h->ifname = strdup(nl ? nl : "");
	return h->cid && h->ifname ? 0 : -ENOMEM;
}

static int push(struct vp_ipam_store *s, const struct vp_ipam_hostlocal *h)
{
	struct vp_ipam_hostlocal *n = realloc(s->hl, (s->n_hl + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	s->hl = n;
	s->hl[s->n_hl++] = *h;
	return 0;
}

/* One directory entry: a reservation of ours to record, or skipped. */
static int load_one(struct vp_ipam_store *s, int dir, const char *name, struct vp_error *err)
{
	struct vp_ipam_hostlocal h = { .name = NULL };
	char text[VP_IPAM_HOSTLOCAL_MAX + 1];
	int ret;

	if (vp_ip_parse(name, &h.ip) < 0 || !vp_ipam_store_in_range(s, &h.ip))
		return 0;
	ret = read_small(dir, name, text, sizeof(text));
	if (ret == -ENOENT)
		return 0;   /* released by a host-local that ran before we locked */
	/* Unreadable, or not a regular file: the address stays taken, by an
	 * owner no DEL or GC matches. */
	if (ret < 0)
		text[0] = '\0';
	h.name = strdup(name);
	ret = h.name ? parse_owner(text, &h) : -ENOMEM;
	if (ret == 0)
		ret = vp_ipam_store_mark(s, &h.ip);
	if (ret == 0)
		ret = push(s, &h);
	if (ret < 0) {
		free(h.name);
		free(h.cid);
		free(h.ifname);
		return vp_error_code(err, VP_CNI_ERR_IO, -ret, "loading host-local reservation %s/%s",
				     s->dir, name);
	}
	return 0;
}

int vp_ipam_hostlocal_load(struct vp_ipam_store *s, struct vp_error *err)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return vp_error_code(err, VP_CNI_ERR_IO, errno, "open %s: %s", s->dir, strerror(errno));
	errno = 0;
	while (ret == 0 && (de = readdir(d)))
		ret = load_one(s, dirfd(d), de->d_name, err);
	if (ret == 0 && errno)
		ret = vp_error_code(err, VP_CNI_ERR_IO, errno, "read %s: %s", s->dir, strerror(errno));
	closedir(d);
	return ret;
}

bool vp_ipam_hostlocal_owned(const struct vp_ipam_hostlocal *h)
{
	return h->cid[0] && h->ifname[0];
}

bool vp_ipam_hostlocal_is(const struct vp_ipam_hostlocal *h, const char *cid, const char *ifname)
{
	return vp_ipam_hostlocal_owned(h) && !strcmp(h->cid, cid) && !strcmp(h->ifname, ifname);
}

int vp_ipam_hostlocal_remove(const struct vp_ipam_store *s, const struct vp_ipam_hostlocal *h,
			     struct vp_error *err)
{
	char *path;
	int e = 0;

	if (asprintf(&path, "%s/%s", s->dir, h->name) < 0)
		return vp_error_code(err, VP_CNI_ERR_IO, ENOMEM, "removing host-local reservation");
	if (unlink(path) < 0 && errno != ENOENT)
		e = errno;
	free(path);
	if (e)
		return vp_error_code(err, VP_CNI_ERR_IO, e, "removing host-local reservation %s/%s: %s",
				     s->dir, h->name, strerror(e));
	return 0;
}

void vp_ipam_hostlocal_free(struct vp_ipam_store *s)
{
	for (size_t i = 0; i < s->n_hl; i++) {
		free(s->hl[i].name);
		free(s->hl[i].cid);
		free(s->hl[i].ifname);
	}
	free(s->hl);
	s->hl = NULL;
	s->n_hl = 0;
}
