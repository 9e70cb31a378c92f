/* config.c - vnet-tap options from the config on stdin.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cni/plumb/pod_iface.h"
#include "cni/tap/tap.h"
#include "common/json.h"

static bool ifname_valid(const char *name)
{
	return name[0] && strlen(name) < IFNAMSIZ && !strpbrk(name, "/: ");
}

/* "tap" + the digits CNI_IFNAME ends with (eth1 → tap1), else "tap0". */
static void default_name(const char *ifname, char name[IFNAMSIZ])
{
	const char *d = ifname + strlen(ifname);

	while (d > ifname && isdigit((unsigned char)d[-1]))
		d--;
	if (!*d || strlen(d) > IFNAMSIZ - 1 - 3)
		d = "0";
	snprintf(name, IFNAMSIZ, "tap%s", d);
}

/* The chained tap's name.  Not "name": that key is the network's name,
 * which libcni writes into every plugin config of a list. */
static int parse_name(const struct vp_cni_request *req, struct vp_tap_netconf *nc,
		      struct vp_error *err)
{
	const char *name;
	int ret;

	ret = vp_json_opt_str(req->config, "", "tapName", NULL, &name, err);
	if (ret < 0)
		return ret;
	if (!name) {
		default_name(req->ifname ? req->ifname : "", nc->name);
		return 0;
	}
	if (!ifname_valid(name))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "tapName: \"%s\" is not a valid interface name", name);
	snprintf(nc->name, sizeof(nc->name), "%s", name);
	return 0;
}

static int parse_mac(const json_t *conf, struct vp_tap_netconf *nc, struct vp_error *err)
{
	const char *mac;
	int ret;

	ret = vp_json_opt_str(conf, "", "mac", NULL, &mac, err);
	if (ret < 0 || !mac)
		return ret;
	if (vp_mac_parse(mac, &nc->mac) < 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "mac: \"%s\" is not a MAC address", mac);
	nc->has_mac = true;
	return 0;
}

static int parse_numbers(const json_t *conf, struct vp_tap_netconf *nc, struct vp_error *err)
{
	int64_t mtu, queues, owner, group;
	int ret;

	if ((ret = vp_json_opt_int(conf, "", "mtu", 0, 0, 65535, &mtu, err)) < 0 ||
	    (ret = vp_json_opt_int(conf, "", "queues", 1, 1, 256, &queues, err)) < 0 ||
	    (ret = vp_json_opt_int(conf, "", "owner", -1, 0, 4294967294LL, &owner, err)) < 0 ||
	    (ret = vp_json_opt_int(conf, "", "group", -1, 0, 4294967294LL, &group, err)) < 0)
		return ret;
	nc->mtu = (unsigned)mtu;
	nc->queues = (unsigned)queues;
	nc->owner = (long)owner;
	nc->group = (long)group;
	return 0;
}

int vp_tap_netconf_parse(const struct vp_cni_request *req, struct vp_tap_netconf *nc,
			 struct vp_error *err)
{
	const json_t *conf = req->config;
	int ret;

	*nc = (struct vp_tap_netconf){0};
	if ((ret = parse_name(req, nc, err)) < 0 || (ret = parse_mac(conf, nc, err)) < 0 ||
	    (ret = parse_numbers(conf, nc, err)) < 0 ||
	    (ret = vp_json_opt_bool(conf, "", "multiQueue", false, &nc->multi_queue, err)) < 0 ||
	    (ret = vp_json_opt_bool(conf, "", "vnetHdr", true, &nc->vnet_hdr, err)) < 0 ||
	    (ret = vp_json_opt_str(conf, "", "bridge", NULL, &nc->bridge, err)) < 0)
		return ret;
	nc->multi_queue |= nc->queues > 1;
	if (nc->bridge && !ifname_valid(nc->bridge))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "bridge: \"%s\" is not a valid interface name", nc->bridge);
	nc->has_ipam = vp_pod_iface_has_ipam(req);
	return 0;
}
