/* macvtap.c - macvtap links over rtnetlink (libnl's macvtap type).
 */
#include <errno.h>
#include <string.h>
#include <linux/if_link.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvtap.h>

#include "vnet/macvtap.h"
#include "vnet/nl.h"

static const struct {
	const char *name;
	unsigned mode;
} modes[] = {
	{ "private", MACVLAN_MODE_PRIVATE },
	{ "vepa", MACVLAN_MODE_VEPA },
	{ "bridge", MACVLAN_MODE_BRIDGE },
	{ "passthru", MACVLAN_MODE_PASSTHRU },
	{ "source", MACVLAN_MODE_SOURCE },
};

int vp_macvtap_mode_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(name, modes[i].name))
			return (int)modes[i].mode;
	return -EINVAL;
}

const char *vp_macvtap_mode_name(unsigned mode)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (modes[i].mode == mode)
			return modes[i].name;
	return "?";
}

static struct rtnl_link *macvtap_build(const struct vp_macvtap_config *cfg)
{
	struct rtnl_link *link = rtnl_link_macvtap_alloc();
	struct nl_addr *mac;

	if (!link)
		return NULL;
	rtnl_link_set_name(link, cfg->name);
	rtnl_link_set_link(link, cfg->lower);
	if (rtnl_link_macvtap_set_mode(link, cfg->mode) < 0)
		goto fail;
	if (cfg->mtu)
		rtnl_link_set_mtu(link, cfg->mtu);
	if (cfg->mac) {
		mac = nl_addr_build(AF_LLC, cfg->mac->addr, sizeof(cfg->mac->addr));
		if (!mac)
			goto fail;
		rtnl_link_set_addr(link, mac);
		nl_addr_put(mac);
	}
	return link;
fail:
	rtnl_link_put(link);
	return NULL;
}

int vp_macvtap_create(struct vp_nl *nl, const struct vp_macvtap_config *cfg,
		      struct vp_link_info *out, struct vp_error *err)
{
	struct rtnl_link *link;
	int ret;

	if (!cfg->name || !cfg->name[0] || strlen(cfg->name) >= IFNAMSIZ)
		return vp_error_set(err, EINVAL, "macvtap name \"%s\" must be 1-%d characters",
				    cfg->name ? cfg->name : "", IFNAMSIZ - 1);
	link = macvtap_build(cfg);
	if (!link)
		return vp_error_set(err, ENOMEM, "creating macvtap %s", cfg->name);
	ret = rtnl_link_add(vp_nl_sock(nl), link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(link);
	if (ret == -NLE_EXIST)
		return vp_error_set(err, EEXIST, "creating macvtap %s: a link with that name exists",
				    cfg->name);
	if (ret < 0)
		return vp_nl_error(err, ret, "creating macvtap %s on link %d", cfg->name, cfg->lower);
	if (!out)
		return 0;
	ret = vp_link_by_name(nl, cfg->name, out, err);
	if (ret == -ENODEV)
		return vp_error_set(err, ENODEV, "macvtap %s vanished right after creation",
				    cfg->name);
	return ret;
}

int vp_macvtap_get_mode(struct vp_nl *nl, int ifindex, unsigned *mode, struct vp_error *err)
{
	struct rtnl_link *link = NULL;
	const char *kind;
	int ret;

	ret = rtnl_link_get_kernel(vp_nl_sock(nl), ifindex, NULL, &link);
	if (ret < 0)
		return vp_nl_error(err, ret, "looking up link %d", ifindex);
	kind = rtnl_link_get_type(link);
	if (!kind || strcmp(kind, "macvtap")) {
		rtnl_link_put(link);
		return vp_error_set(err, EINVAL, "link %d is not a macvtap", ifindex);
	}
	*mode = rtnl_link_macvtap_get_mode(link);
	rtnl_link_put(link);
	return 0;
}
