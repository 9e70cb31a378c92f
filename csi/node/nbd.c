/* nbd.c - kernel NBD devices through the genetlink "nbd" family, over
 * libmnl (nbd.h).  One netlink socket per call: attaching a volume is rare
 * and each call stands alone.
 */
#include "csi/node/nbd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define SYS_BLOCK "/sys/block"
/* Requests and answers: a backend of PATH_MAX bytes and a few numbers fit
 * (libmnl's MNL_SOCKET_BUFFER_SIZE is not a constant). */
#define NL_BUF_SIZE 8192

struct genl {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	uint16_t family;
};

static void dev_name(struct vp_nbdc_dev *d, int index)
{
	d->index = index;
	snprintf(d->dev, sizeof(d->dev), "/dev/nbd%d", index);
}

static struct nlmsghdr *put_header(void *buf, uint16_t type, uint32_t seq, uint8_t cmd,
				   uint8_t version)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

/* NBD_ATTR_SOCKETS with sock as its one item: false when it does not fit. */
static bool put_socket(struct nlmsghdr *nlh, size_t size, int sock)
{
	struct nlattr *socks, *item;

	if (!(socks = mnl_attr_nest_start_check(nlh, size, NBD_ATTR_SOCKETS)) ||
	    !(item = mnl_attr_nest_start_check(nlh, size, NBD_SOCK_ITEM)) ||
	    !mnl_attr_put_u32_check(nlh, size, NBD_SOCK_FD, (uint32_t)sock))
		return false;
	mnl_attr_nest_end(nlh, item);
	mnl_attr_nest_end(nlh, socks);
	return true;
}

int vp_nbdc_msg_connect(void *buf, size_t size, uint16_t family, uint32_t seq, int sock,
			const struct vp_nbdc_export *e, const char *backend,
			struct nlmsghdr **out)
{
	struct nlmsghdr *nlh;

	if (size < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr)))
		return -EMSGSIZE;
	nlh = put_header(buf, family, seq, NBD_CMD_CONNECT, NBD_GENL_VERSION);
	if (!mnl_attr_put_u64_check(nlh, size, NBD_ATTR_SIZE_BYTES, e->size) ||
	    !mnl_attr_put_u64_check(nlh, size, NBD_ATTR_BLOCK_SIZE_BYTES, e->block_size) ||
	    !mnl_attr_put_u64_check(nlh, size, NBD_ATTR_SERVER_FLAGS, e->flags) ||
	    !mnl_attr_put_u64_check(nlh, size, NBD_ATTR_DEAD_CONN_TIMEOUT,
				    VP_NBDC_DEAD_CONN_S) ||
	    !mnl_attr_put_strz_check(nlh, size, NBD_ATTR_BACKEND_IDENTIFIER, backend) ||
	    !put_socket(nlh, size, sock))
		return -EMSGSIZE;
	*out = nlh;
	return 0;
}

int vp_nbdc_msg_index(const struct nlmsghdr *nlh, uint32_t *index)
{
	const struct nlattr *a;
	bool found = false;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct genlmsghdr))
		return -EPROTO;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != NBD_ATTR_INDEX)
			continue;
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0 || mnl_attr_get_u32(a) > INT_MAX)
			return -EPROTO;
		*index = mnl_attr_get_u32(a);
		found = true;
	}
	return found ? 0 : -EPROTO;
}

/* Send nlh and run its answers through cb until the kernel's ACK:
 * 0 or -errno (the kernel's, for a refused request). */
static int talk(struct genl *g, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[NL_BUF_SIZE];
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(g->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(g->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, g->portid, cb, data);
	} while (ret > MNL_CB_STOP);
	return ret < 0 ? -errno : 0;
}

static int family_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
		*(uint16_t *)data = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr, data) >= 0)
		return MNL_CB_OK;
	errno = EPROTO;
	return MNL_CB_ERROR;
}

/* CTRL_CMD_GETFAMILY "nbd": the kernel loads nbd.ko for it when it can. */
static int resolve_family(struct genl *g, struct vp_error *err)
{
	char buf[NL_BUF_SIZE];
	struct nlmsghdr *nlh = put_header(buf, GENL_ID_CTRL, ++g->seq, CTRL_CMD_GETFAMILY, 1);
	int ret;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME);
	g->family = 0;
	ret = talk(g, nlh, family_cb, &g->family);
	if (ret == -ENOENT)
		return vp_error_code(err, 0, ENOENT, "no genetlink family nbd: the kernel has "
				     "no NBD client (nbd.ko)");
	if (!ret && !g->family)
		ret = -EPROTO;
	return ret ? vp_error_set(err, -ret, "resolve genetlink family nbd") : 0;
}

static void genl_close(struct genl *g)
{
	if (g->nl)
		mnl_socket_close(g->nl);
}

static int genl_open(struct genl *g, struct vp_error *err)
{
	int ret;

	*g = (struct genl){ .seq = (uint32_t)time(NULL) };
	g->nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!g->nl)
		return vp_error_set(err, errno, "genetlink socket");
	if (mnl_socket_bind(g->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		genl_close(g);
		return vp_error_set(err, e, "bind genetlink socket");
	}
	g->portid = mnl_socket_get_portid(g->nl);
	ret = resolve_family(g, err);

	if (ret)
		genl_close(g);
	return ret;
}

int vp_nbdc_available(struct vp_error *err)
{
	struct genl g;
	int ret = genl_open(&g, err);

	if (!ret)
		genl_close(&g);
	return ret;
}

static int index_cb(const struct nlmsghdr *nlh, void *data)
{
	if (!vp_nbdc_msg_index(nlh, data))
		return MNL_CB_OK;
	errno = EPROTO;  /* what talk() returns */
	return MNL_CB_ERROR;
}

int vp_nbdc_attach(int sock, const struct vp_nbdc_export *e, const char *backend,
		   struct vp_nbdc_dev *out, struct vp_error *err)
{
	char buf[NL_BUF_SIZE];
	uint32_t index = UINT32_MAX;
	struct vp_nbdc_dev found;
	struct nlmsghdr *nlh;
	struct genl g;
	int ret;

	if (!*backend || strlen(backend) >= PATH_MAX)
		return vp_error_code(err, 0, EINVAL, "nbd backend identifier: 1 to %d bytes",
				     PATH_MAX - 1);
	if ((ret = genl_open(&g, err)))
		return ret;
	ret = vp_nbdc_msg_connect(buf, sizeof(buf), g.family, ++g.seq, sock, e, backend, &nlh);
	ret = ret ?: talk(&g, nlh, index_cb, &index);
	genl_close(&g);
	if (!ret && index == UINT32_MAX)
		ret = -EPROTO;
	if (!ret) {
		dev_name(out, (int)index);
		return 0;
	}
	/* An answer lost or garbled after the kernel connected a device
	 * (the caller found none under backend before): not left behind. */
	if (!vp_nbdc_find(backend, &found, NULL) && vp_nbdc_detach(found.index, NULL))
		return vp_error_set(err, -ret, "NBD_CMD_CONNECT (backend %s), and %s stays "
				    "connected", backend, found.dev);
	return vp_error_set(err, -ret, "NBD_CMD_CONNECT (backend %s)", backend);
}

/* One command on /dev/nbd<index> (with backend and sock when given: a
 * device connected with a backend identifier is refused a command
 * without it), on a socket of its own: 0 or -errno with err set. */
static int device_request(uint8_t cmd, const char *what, int index, const char *backend,
			  int sock, struct vp_error *err)
{
	char buf[NL_BUF_SIZE];
	struct nlmsghdr *nlh;
	struct genl g;
	int ret = genl_open(&g, err);

	if (ret)
		return ret;
	nlh = put_header(buf, g.family, ++g.seq, cmd, NBD_GENL_VERSION);
	mnl_attr_put_u32(nlh, NBD_ATTR_INDEX, (uint32_t)index);
	if (backend && (!mnl_attr_put_strz_check(nlh, sizeof(buf), NBD_ATTR_BACKEND_IDENTIFIER,
						 backend) || !put_socket(nlh, sizeof(buf), sock)))
		ret = -EMSGSIZE;
	ret = ret ?: talk(&g, nlh, NULL, NULL);
	genl_close(&g);
	return ret ? vp_error_set(err, -ret, "%s /dev/nbd%d", what, index) : 0;
}

int vp_nbdc_reconnect(int index, int sock, const char *backend, struct vp_error *err)
{
	return device_request(NBD_CMD_RECONFIGURE, "NBD_CMD_RECONFIGURE", index, backend, sock,
			      err);
}

int vp_nbdc_detach(int index, struct vp_error *err)
{
	return device_request(NBD_CMD_DISCONNECT, "NBD_CMD_DISCONNECT", index, NULL, -1, err);
}

/* The backend identifier at path, a device's sysfs "backend" attribute
 * (there only while the device is connected), into buf: 0 or -ENOENT. */
static int read_backend(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -ENOENT;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Whether /sys/block/<name>/backend reads backend. */
static bool has_backend(const char *name, const char *backend)
{
	char path[PATH_MAX], got[PATH_MAX + 1];

	snprintf(path, sizeof(path), SYS_BLOCK "/%s/backend", name);
	return !read_backend(path, got, sizeof(got)) && !strcmp(got, backend);
}

int vp_nbdc_backend_of(dev_t dev, char *buf, size_t size)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/backend", major(dev), minor(dev));
	return read_backend(path, buf, size);
}

int vp_nbdc_find(const char *backend, struct vp_nbdc_dev *out, struct vp_error *err)
{
	DIR *d = opendir(SYS_BLOCK);
	struct dirent *de;
	int index, ret = -ENOENT, end;

	if (!d)
		return vp_error_set(err, errno, "open " SYS_BLOCK);
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "nbd%d%n", &index, &end) != 1 || de->d_name[end] ||
		    index < 0 || !has_backend(de->d_name, backend))
			continue;
		dev_name(out, index);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}
