/* result.c - the CNI result model: parse any supported version, render in
 * any supported version (dropping what it lacks), build, copy, free.
 *
 * Versions differ in three ways: 0.3.x and 0.4.0 carry ips[].version ("4"
 * or "6"); 1.1.0 adds interface mtu/socketPath/pciID and route
 * mtu/advmss/priority/table/scope; everything else is shared.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/json.h"
#include "cni/core/skel_internal.h"

/* array (n elements of size) grown by one zeroed element; NULL on ENOMEM
 * with array untouched. */
static void *grow(void *array, size_t n, size_t size)
{
	char *bigger = realloc(array, (n + 1) * size);

	if (bigger)
		memset(bigger + n * size, 0, size);
	return bigger;
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

int vp_cni_result_add_interface(struct vp_cni_result *res, const char *name, const char *mac,
				const char *sandbox)
{
	struct vp_cni_interface *iface;

	if (strlen(name) >= IFNAMSIZ || (mac && strlen(mac) >= VP_MAC_STRLEN))
		return -EINVAL;
	iface = grow(res->interfaces, res->n_interfaces, sizeof(*iface));
	if (!iface)
		return -ENOMEM;
	res->interfaces = iface;
	iface += res->n_interfaces;
	strcpy(iface->name, name);
	strcpy(iface->mac, mac ? mac : "");
	if (dup_opt(&iface->sandbox, sandbox) < 0)
		return -ENOMEM;
	return (int)res->n_interfaces++;
}

int vp_cni_result_add_ip(struct vp_cni_result *res, const struct vp_cni_ip *ip)
{
	struct vp_cni_ip *ips = grow(res->ips, res->n_ips, sizeof(*ip));

	if (!ips)
		return -ENOMEM;
	res->ips = ips;
	ips[res->n_ips] = *ip;
	return (int)res->n_ips++;
}

int vp_cni_result_add_route(struct vp_cni_result *res, const struct vp_cni_route *r)
{
	struct vp_cni_route *routes = grow(res->routes, res->n_routes, sizeof(*r));

	if (!routes)
		return -ENOMEM;
	res->routes = routes;
	routes[res->n_routes] = *r;
	return (int)res->n_routes++;
}

int vp_cni_result_find_interface(const struct vp_cni_result *res, const char *name,
				 const char *sandbox)
{
	for (size_t i = 0; i < res->n_interfaces; i++) {
		const struct vp_cni_interface *iface = &res->interfaces[i];

		if (strcmp(iface->name, name))
			continue;
		if (!sandbox || (iface->sandbox && !strcmp(iface->sandbox, sandbox)))
			return (int)i;
	}
	return -1;
}

void vp_cni_result_clear(struct vp_cni_result *res)
{
	for (size_t i = 0; i < res->n_interfaces; i++) {
		free(res->interfaces[i].sandbox);
		free(res->interfaces[i].socket_path);
		free(res->interfaces[i].pci_id);
	}
	free(res->interfaces);
	free(res->ips);
	free(res->routes);
	json_decref(res->dns);
	memset(res, 0, sizeof(*res));
}

int vp_cni_result_copy(struct vp_cni_result *dst, const struct vp_cni_result *src)
{
	for (size_t i = 0; i < src->n_interfaces; i++) {
		const struct vp_cni_interface *s = &src->interfaces[i];
		struct vp_cni_interface *d;
		int n = vp_cni_result_add_interface(dst, s->name, s->mac, s->sandbox);

		if (n < 0)
			goto fail;
		d = &dst->interfaces[n];
		d->mtu = s->mtu;
		if (dup_opt(&d->socket_path, s->socket_path) < 0 || dup_opt(&d->pci_id, s->pci_id) < 0)
			goto fail;
	}
	for (size_t i = 0; i < src->n_ips; i++)
		if (vp_cni_result_add_ip(dst, &src->ips[i]) < 0)
			goto fail;
	for (size_t i = 0; i < src->n_routes; i++)
		if (vp_cni_result_add_route(dst, &src->routes[i]) < 0)
			goto fail;
	if (src->dns && !(dst->dns = json_deep_copy(src->dns)))
		goto fail;
	return 0;
fail:
	vp_cni_result_clear(dst);
	return -ENOMEM;
}

/* ---- parsing ---- */

static int parse_cidr(const json_t *obj, const char *path, const char *key,
		      struct vp_prefix *out, struct vp_error *err)
{
	const char *s;
	int ret = vp_json_req_str(obj, path, key, &s, err);

	if (ret == 0 && vp_prefix_parse(s, out) < 0)
		ret = vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				    "%s.%s: \"%.64s\" is not an address/prefix", path, key, s);
	return ret;
}

/* An optional IP; absent leaves out->family 0. */
static int parse_opt_ip(const json_t *obj, const char *path, const char *key,
			struct vp_ip *out, struct vp_error *err)
{
	const char *s;
	int ret = vp_json_opt_str(obj, path, key, NULL, &s, err);

	memset(out, 0, sizeof(*out));
	if (ret == 0 && s && vp_ip_parse(s, out) < 0)
		ret = vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				    "%s.%s: \"%.64s\" is not an IP address", path, key, s);
	return ret;
}

static int parse_opt_uint(const json_t *obj, const char *path, const char *key,
			  unsigned *out, struct vp_error *err)
{
	int64_t v;
	int ret = vp_json_opt_int(obj, path, key, 0, 0, INT32_MAX, &v, err);

	*out = (unsigned)v;
	return ret;
}

static int parse_opt_strdup(const json_t *obj, const char *path, const char *key,
			    char **out, struct vp_error *err)
{
	const char *s;
	int ret = vp_json_opt_str(obj, path, key, NULL, &s, err);

	if (ret == 0 && dup_opt(out, s) < 0)
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: %s.%s", path, key);
	return ret;
}

static int parse_interface(const json_t *item, const char *path, struct vp_cni_result *res,
			   struct vp_error *err)
{
	const char *name, *mac, *sandbox;
	struct vp_cni_interface *iface;
	int i, ret;

	ret = vp_json_req_str(item, path, "name", &name, err);
	if (ret == 0)
		ret = vp_json_opt_str(item, path, "mac", NULL, &mac, err);
	if (ret == 0)
		ret = vp_json_opt_str(item, path, "sandbox", NULL, &sandbox, err);
	if (ret < 0)
		return ret;
	if (!*name)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "%s.name: empty", path);
	i = vp_cni_result_add_interface(res, name, mac, sandbox);
	if (i == -EINVAL)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s: name or mac too long", path);
	if (i < 0)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: %s", path);
	iface = &res->interfaces[i];
	ret = parse_opt_uint(item, path, "mtu", &iface->mtu, err);
	if (ret == 0)
		ret = parse_opt_strdup(item, path, "socketPath", &iface->socket_path, err);
	if (ret == 0)
		ret = parse_opt_strdup(item, path, "pciID", &iface->pci_id, err);
	return ret;
}

/* ips[].version (0.3.x, 0.4.0): optional on input, but must match the
 * address when present; 1.0.0 and later results lack it. */
static int parse_ip_version(const json_t *item, const char *path, const struct vp_cni_ip *ip,
			    struct vp_error *err)
{
	const char *v;
	int ret = vp_json_opt_str(item, path, "version", NULL, &v, err);

	if (ret < 0 || !v)
		return ret;
	if (strcmp(v, ip->address.ip.family == AF_INET ? "4" : "6"))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s.version: \"%.8s\" does not match the address family", path, v);
	return 0;
}

static int parse_ip(const json_t *item, const char *path, struct vp_cni_result *res,
		    struct vp_error *err)
{
	struct vp_cni_ip ip;
	int64_t index;
	int ret;

	ret = parse_cidr(item, path, "address", &ip.address, err);
	if (ret == 0)
		ret = parse_opt_ip(item, path, "gateway", &ip.gateway, err);
	if (ret == 0)
		ret = parse_ip_version(item, path, &ip, err);
	if (ret == 0)
		ret = vp_json_opt_int(item, path, "interface", -1, 0, INT32_MAX, &index, err);
	if (ret < 0)
		return ret;
	if (index >= (int64_t)res->n_interfaces)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s.interface: index %lld is out of range (%zu interfaces)", path,
				     (long long)index, res->n_interfaces);
	if (ip.gateway.family && ip.gateway.family != ip.address.ip.family)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s.gateway: address family differs from the address", path);
	ip.interface = (int)index;
	return vp_cni_result_add_ip(res, &ip) < 0
		? vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: %s", path) : 0;
}

static int parse_route(const json_t *item, const char *path, struct vp_cni_result *res,
		       struct vp_error *err)
{
	struct vp_cni_route r;
	int64_t scope;
	int ret;

	ret = parse_cidr(item, path, "dst", &r.dst, err);
	if (ret == 0)
		ret = parse_opt_ip(item, path, "gw", &r.gw, err);
	if (ret == 0)
		ret = parse_opt_uint(item, path, "mtu", &r.mtu, err);
	if (ret == 0)
		ret = parse_opt_uint(item, path, "advmss", &r.advmss, err);
	if (ret == 0)
		ret = parse_opt_uint(item, path, "priority", &r.priority, err);
	if (ret == 0)
		ret = parse_opt_uint(item, path, "table", &r.table, err);
	if (ret == 0)
		ret = vp_json_opt_int(item, path, "scope", -1, 0, 255, &scope, err);
	if (ret < 0)
		return ret;
	if (r.gw.family && r.gw.family != r.dst.ip.family)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "%s.gw: address family differs from dst", path);
	r.scope = (int)scope;
	return vp_cni_result_add_route(res, &r) < 0
		? vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: %s", path) : 0;
}

typedef int (*parse_item_fn)(const json_t *item, const char *path, struct vp_cni_result *res,
			     struct vp_error *err);

/* Parse every object of the optional array json[key] with fn. */
static int parse_list(const json_t *json, const char *key, parse_item_fn fn,
		      struct vp_cni_result *res, struct vp_error *err)
{
	char path[48];
	json_t *list, *item;
	size_t i;
	int ret = vp_json_opt_array(json, "", key, &list, err);

	json_array_foreach(list, i, item) {
		if (ret < 0)
			break;
		vp_json_path(path, sizeof(path), key, NULL, (long)i);
		ret = json_is_object(item) ? fn(item, path, res, err)
			: vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, "%s: expected an object", path);
	}
	return ret;
}

int vp_cni_result_parse(const json_t *json, const char *version, struct vp_cni_result *out,
			struct vp_error *err)
{
	json_t *dns;
	int ret;

	if (!json_is_object(json))
		return vp_error_code(err, VP_CNI_ERR_DECODE, 0, "result: expected a JSON object");
	if (!version || !vp_cni_version_supported(version))
		return vp_error_code(err, VP_CNI_ERR_INCOMPATIBLE_VERSION, 0,
				     "result: version \"%.32s\" is not supported", version ? version : "");
	ret = parse_list(json, "interfaces", parse_interface, out, err);
	if (ret == 0)
		ret = parse_list(json, "ips", parse_ip, out, err);
	if (ret == 0)
		ret = parse_list(json, "routes", parse_route, out, err);
	if (ret == 0)
		ret = vp_json_opt_obj(json, "", "dns", &dns, err);
	if (ret == 0 && dns && !(out->dns = json_deep_copy(dns)))
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: dns");
	if (ret < 0)
		vp_cni_result_clear(out);
	return ret;
}

/* ---- rendering ---- */

/* Set key to a new value; false on ENOMEM (value NULL included). */
static bool put(json_t *obj, const char *key, json_t *value)
{
	return value && json_object_set_new(obj, key, value) == 0;
}

static bool put_str(json_t *obj, const char *key, const char *s)
{
	return !s || !*s || put(obj, key, json_string(s));
}

static bool put_uint(json_t *obj, const char *key, unsigned v)
{
	return !v || put(obj, key, json_integer(v));
}

static bool put_ip(json_t *obj, const char *key, const struct vp_ip *ip)
{
	char buf[VP_IP_STRLEN];

	return !ip->family || put(obj, key, json_string(vp_ip_str(ip, buf)));
}

static bool put_prefix(json_t *obj, const char *key, const struct vp_prefix *p)
{
	char buf[VP_PREFIX_STRLEN];

	return put(obj, key, json_string(vp_prefix_str(p, buf)));
}

static json_t *interface_json(const struct vp_cni_interface *iface, bool v11)
{
	json_t *o = json_object();
	bool ok = o && put_str(o, "name", iface->name) && put_str(o, "mac", iface->mac) &&
		  put_str(o, "sandbox", iface->sandbox);

	if (ok && v11)
		ok = put_uint(o, "mtu", iface->mtu) && put_str(o, "socketPath", iface->socket_path) &&
		     put_str(o, "pciID", iface->pci_id);
	if (!ok)
		json_decref(o);
	return ok ? o : NULL;
}

static json_t *ip_json(const struct vp_cni_ip *ip, bool pre10)
{
	json_t *o = json_object();
	bool ok = o && put_prefix(o, "address", &ip->address) && put_ip(o, "gateway", &ip->gateway);

	if (ok && ip->interface >= 0)
		ok = put(o, "interface", json_integer(ip->interface));
	if (ok && pre10)
		ok = put_str(o, "version", ip->address.ip.family == AF_INET ? "4" : "6");
	if (!ok)
		json_decref(o);
	return ok ? o : NULL;
}

static json_t *route_json(const struct vp_cni_route *r, bool v11)
{
	json_t *o = json_object();
	bool ok = o && put_prefix(o, "dst", &r->dst) && put_ip(o, "gw", &r->gw);

	if (ok && v11)
		ok = put_uint(o, "mtu", r->mtu) && put_uint(o, "advmss", r->advmss) &&
		     put_uint(o, "priority", r->priority) && put_uint(o, "table", r->table) &&
		     (r->scope < 0 || put(o, "scope", json_integer(r->scope)));
	if (!ok)
		json_decref(o);
	return ok ? o : NULL;
}

json_t *vp_cni_result_to_json(const struct vp_cni_result *res, const char *version)
{
	bool v11 = vp_cni_version_cmp(version, "1.1.0") >= 0;
	bool pre10 = vp_cni_version_cmp(version, "1.0.0") < 0;
	json_t *o = json_object(), *a;
	bool ok = o && put(o, "cniVersion", json_string(version));

	if (ok && res->n_interfaces) {
		ok = put(o, "interfaces", a = json_array());
		for (size_t i = 0; ok && i < res->n_interfaces; i++)
			ok = json_array_append_new(a, interface_json(&res->interfaces[i], v11)) == 0;
	}
	if (ok && res->n_ips) {
		ok = put(o, "ips", a = json_array());
		for (size_t i = 0; ok && i < res->n_ips; i++)
			ok = json_array_append_new(a, ip_json(&res->ips[i], pre10)) == 0;
	}
	if (ok && res->n_routes) {
		ok = put(o, "routes", a = json_array());
		for (size_t i = 0; ok && i < res->n_routes; i++)
			ok = json_array_append_new(a, route_json(&res->routes[i], v11)) == 0;
	}
	if (ok && res->dns)
		ok = put(o, "dns", json_deep_copy(res->dns));
	if (!ok)
		json_decref(o);
	return ok ? o : NULL;
}
