/* config.c - vnet-bridge options from the config on stdin.
 */
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <string.h>

#include "cni/bridge/bridge.h"
#include "cni/plumb/pod_iface.h"
#include "common/json.h"

struct flag {
	const char *key;
	size_t offset;
};

#define FLAG(key, field) { key, offsetof(struct vp_bridge_netconf, field) }

static const struct flag flags[] = {
	FLAG("isGateway", is_gw),
	FLAG("isDefaultGateway", is_default_gw),
	FLAG("forceAddress", force_address),
	FLAG("ipMasq", ip_masq),
	FLAG("hairpinMode", hairpin),
	FLAG("promiscMode", promisc),
	FLAG("macspoofchk", macspoofchk),
	FLAG("enabledad", enable_dad),
	FLAG("disableContainerInterface", disable_container_iface),
	FLAG("portIsolation", port_isolation),
};

static int parse_flags(const json_t *conf, struct vp_bridge_netconf *nc, struct vp_error *err)
{
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		bool *field = (bool *)((char *)nc + flags[i].offset);
		int ret = vp_json_opt_bool(conf, "", flags[i].key, false, field, err);

		if (ret < 0)
			return ret;
	}
	nc->is_gw |= nc->is_default_gw;
	return 0;
}

/* Take a MAC from obj.key (a string at path) when present. */
static int mac_from(const json_t *obj, const char *path, const char *key,
		    struct vp_bridge_netconf *nc, struct vp_error *err)
{
	const char *text = NULL;
	int ret;

	if (!obj)
		return 0;
	ret = vp_json_opt_str(obj, path, key, NULL, &text, err);
	if (ret < 0 || !text)
		return ret;
	if (vp_mac_parse(text, &nc->mac) < 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "%s%s%s: \"%s\" is not a MAC address", path, *path ? "." : "",
				     key, text);
	nc->has_mac = true;
	return 0;
}

/* Lowest to highest precedence: "mac", CNI_ARGS MAC, args.cni.mac,
 * runtimeConfig.mac (as the reference plugin). */
static int parse_mac(const struct vp_cni_request *req, struct vp_bridge_netconf *nc,
		     struct vp_error *err)
{
	const char *env = vp_cni_env_arg(req, "MAC");
	json_t *cni = NULL;
	int ret;

	if ((ret = mac_from(req->config, "", "mac", nc, err)) < 0)
		return ret;
	if (env && vp_mac_parse(env, &nc->mac) < 0)
		return vp_error_code(err, VP_CNI_ERR_INVALID_ENV, EINVAL,
				     "CNI_ARGS MAC: \"%s\" is not a MAC address", env);
	nc->has_mac |= env != NULL;
	if (req->args && (ret = vp_json_opt_obj(req->args, "args", "cni", &cni, err)) < 0)
		return ret;
	if ((ret = mac_from(cni, "args.cni", "mac", nc, err)) < 0)
		return ret;
	return mac_from(req->runtime_config, "runtimeConfig", "mac", nc, err);
}

static int parse_numbers(const json_t *conf, struct vp_bridge_netconf *nc, struct vp_error *err)
{
	int64_t mtu, vlan;
	int ret;

	ret = vp_json_opt_int(conf, "", "mtu", 0, 0, 65535, &mtu, err);
	if (ret < 0)
		return ret;
	ret = vp_json_opt_int(conf, "", "vlan", 0, 0, 4094, &vlan, err);
	if (ret < 0)
		return ret;
	nc->mtu = (unsigned)mtu;
	nc->vlan = (unsigned)vlan;
	if (json_object_get(conf, "vlanTrunk"))
		return vp_error_code(err, VP_CNI_ERR_UNSUPPORTED_FIELD, EOPNOTSUPP,
				     "vlanTrunk: not supported by vnet-bridge");
	return 0;
}

int vp_bridge_netconf_parse(const struct vp_cni_request *req, struct vp_bridge_netconf *nc,
			    struct vp_error *err)
{
	const json_t *conf = req->config;
	int ret;

	*nc = (struct vp_bridge_netconf){0};
	ret = vp_json_opt_str(conf, "", "bridge", "cni0", &nc->bridge, err);
	if (ret < 0)
		return ret;
	if (!nc->bridge[0] || strlen(nc->bridge) >= IFNAMSIZ || strpbrk(nc->bridge, "/: "))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "bridge: \"%s\" is not a valid interface name", nc->bridge);
	if ((ret = parse_flags(conf, nc, err)) < 0 || (ret = parse_numbers(conf, nc, err)) < 0 ||
	    (ret = parse_mac(req, nc, err)) < 0)
		return ret;
	nc->has_ipam = vp_pod_iface_has_ipam(req);
	if (nc->disable_container_iface && nc->has_ipam)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, EINVAL,
				     "disableContainerInterface: cannot be used with ipam");
	return 0;
}
