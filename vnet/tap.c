/* tap.c - persistent tap devices for VMs: created through /dev/net/tun,
 * configured through rtnetlink, inspected through rtnetlink (IFLA_TUN_*).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "vnet/link.h"
#include "vnet/tap.h"

#define TUN_PATH "/dev/net/tun"

static int tap_check_config(const struct vp_tap_config *cfg, struct vp_error *err)
{
	if (!cfg->name || !cfg->name[0] || strlen(cfg->name) >= IFNAMSIZ)
		return vp_error_set(err, EINVAL, "tap name \"%s\" must be 1-%d characters",
				    cfg->name ? cfg->name : "", IFNAMSIZ - 1);
	if (cfg->queues < 1)
		return vp_error_set(err, EINVAL, "tap %s: queues must be >= 1", cfg->name);
	return 0;
}

/* TUNSETIFF with IFF_TUN_EXCL: fails with EBUSY instead of attaching to an
 * existing tap of that name, closing the race after the by-name check. */
static int tap_open(const struct vp_tap_config *cfg, int *fd_out, struct vp_error *err)
{
	struct ifreq ifr = { 0 };
	int fd, ret;

	fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "opening %s", TUN_PATH);
	/* ifr_flags is a short; IFF_TUN_EXCL is bit 15. */
	ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL);
	if (cfg->vnet_hdr)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (cfg->multi_queue || cfg->queues > 1)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	memcpy(ifr.ifr_name, cfg->name, strlen(cfg->name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = errno == EBUSY ? EEXIST : errno;
		close(fd);
		return vp_error_set(err, ret, "creating tap %s", cfg->name);
	}
	*fd_out = fd;
	return 0;
}

static int tap_set_ids(int fd, const struct vp_tap_config *cfg, struct vp_error *err)
{
	if (cfg->owner >= 0 && ioctl(fd, TUNSETOWNER, (unsigned long)cfg->owner) < 0)
		return vp_error_set(err, errno, "tap %s: setting owner %ld", cfg->name, cfg->owner);
	if (cfg->group >= 0 && ioctl(fd, TUNSETGROUP, (unsigned long)cfg->group) < 0)
		return vp_error_set(err, errno, "tap %s: setting group %ld", cfg->name, cfg->group);
	return 0;
}

static int tap_configure(struct vp_nl *nl, const struct vp_tap_config *cfg,
			 struct vp_link_info *info, struct vp_error *err)
{
	int ret;

	ret = vp_link_by_name(nl, cfg->name, info, err);
	if (ret < 0)
		goto out;
	if (cfg->mtu) {
		ret = vp_link_set_mtu(nl, info->ifindex, cfg->mtu, err);
		if (ret < 0)
			goto out;
	}
	if (cfg->mac) {
		ret = vp_link_set_mac(nl, info->ifindex, cfg->mac, err);
		if (ret < 0)
			goto out;
	}
	ret = vp_link_set_up(nl, info->ifindex, err);
	if (ret < 0)
		goto out;
	ret = vp_link_by_index(nl, info->ifindex, info, err);
out:
	if (ret < 0)
		vp_error_prefix(err, "tap %s", cfg->name);
	return ret;
}

int vp_tap_create(struct vp_nl *nl, const struct vp_tap_config *cfg,
		  struct vp_link_info *out, struct vp_error *err)
{
	struct vp_link_info info;
	int fd = -1, ret;

	ret = tap_check_config(cfg, err);
	if (ret < 0)
		return ret;
	ret = vp_link_by_name(nl, cfg->name, &info, err);
	if (ret == 0)
		return vp_error_set(err, EEXIST, "creating tap %s: a link with that name exists",
				    cfg->name);
	if (ret != -ENODEV)
		return ret;
	ret = tap_open(cfg, &fd, err);
	if (ret < 0)
		return ret;
	ret = tap_set_ids(fd, cfg, err);
	if (ret < 0)
		goto out;
	if (ioctl(fd, TUNSETPERSIST, 1UL) < 0) {
		ret = vp_error_set(err, errno, "tap %s: setting persistent", cfg->name);
		goto out;
	}
	ret = tap_configure(nl, cfg, &info, err);
	if (ret < 0) {
		/* Not persistent any more: closing fd below destroys the tap. */
		(void)ioctl(fd, TUNSETPERSIST, 0UL);
		goto out;
	}
	if (out)
		*out = info;
out:
	close(fd);
	return ret;
}

/* Reply parsing for vp_tap_inspect: IFLA_LINKINFO → IFLA_INFO_DATA → IFLA_TUN_*. */
struct tap_inspect {
	struct vp_tap_state *st;
	bool is_tap;
	bool found;
};

static int tap_tun_attr(const struct nlattr *a, void *data)
{
	struct tap_inspect *ti = data;

	int type = mnl_attr_get_type(a);
	bool is_id = type == IFLA_TUN_OWNER || type == IFLA_TUN_GROUP;

	if (mnl_attr_validate(a, is_id ? MNL_TYPE_U32 : MNL_TYPE_U8) < 0)
		return MNL_CB_OK;
	switch (type) {
	case IFLA_TUN_TYPE:
		ti->is_tap = mnl_attr_get_u8(a) == IFF_TAP;
		break;
	case IFLA_TUN_VNET_HDR:
		ti->st->vnet_hdr = mnl_attr_get_u8(a);
		break;
	case IFLA_TUN_MULTI_QUEUE:
		ti->st->multi_queue = mnl_attr_get_u8(a);
		break;
	case IFLA_TUN_PERSIST:
		ti->st->persist = mnl_attr_get_u8(a);
		break;
	case IFLA_TUN_OWNER:
		ti->st->owner = (long)(int32_t)mnl_attr_get_u32(a);
		break;
	case IFLA_TUN_GROUP:
		ti->st->group = (long)(int32_t)mnl_attr_get_u32(a);
		break;
	}
	return MNL_CB_OK;
}

static int tap_linkinfo_attr(const struct nlattr *a, void *data)
{
	struct tap_inspect *ti = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_INFO_KIND:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
		    strcmp(mnl_attr_get_str(a), "tun") == 0)
			ti->found = true;
		break;
	case IFLA_INFO_DATA:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			return mnl_attr_parse_nested(a, tap_tun_attr, ti);
		break;
	}
	return MNL_CB_OK;
}

static int tap_link_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) != IFLA_LINKINFO || mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
		return MNL_CB_OK;
	return mnl_attr_parse_nested(a, tap_linkinfo_attr, data);
}

static int tap_link_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), tap_link_attr, data);
}

/* One RTM_GETLINK for name on a NETLINK_ROUTE socket of the calling thread's
 * namespace (sysfs would show the namespace /sys was mounted in instead). */
static int tap_getlink(const char *name, struct tap_inspect *ti, struct vp_error *err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nls;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	unsigned seq = (unsigned)time(NULL), portid;
	ssize_t n;
	int ret = 0;

	nls = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nls)
		return vp_error_set(err, errno, "inspecting tap %s: netlink socket", name);
	if (mnl_socket_bind(nls, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = vp_error_set(err, errno, "inspecting tap %s: netlink bind", name);
		goto out;
	}
	portid = mnl_socket_get_portid(nls);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mnl_socket_sendto(nls, nlh, nlh->nlmsg_len) < 0) {
		ret = vp_error_set(err, errno, "inspecting tap %s: netlink send", name);
		goto out;
	}
	n = mnl_socket_recvfrom(nls, buf, sizeof(buf));
	if (n < 0 || mnl_cb_run(buf, (size_t)n, seq, portid, tap_link_cb, ti) < 0) {
		ret = errno == ENODEV ? -ENODEV
			: vp_error_set(err, errno, "inspecting tap %s", name);
	}
out:
	mnl_socket_close(nls);
	return ret;
}

int vp_tap_inspect(const char *name, struct vp_tap_state *out, struct vp_error *err)
{
	struct vp_tap_state st = { .owner = -1, .group = -1 };
	struct tap_inspect ti = { .st = &st };
	int ret;

	if (!name || !name[0] || strlen(name) >= IFNAMSIZ)
		return vp_error_set(err, EINVAL, "inspecting tap: bad name \"%s\"", name ? name : "");
	ret = tap_getlink(name, &ti, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "inspecting tap %s", name);
	if (ret < 0)
		return ret;
	if (!ti.found || !ti.is_tap)
		return vp_error_set(err, EINVAL, "inspecting tap %s: not a tap device", name);
	*out = st;
	return 0;
}
