/* config.c - parse and validate the host-local compatible "ipam" section. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "cni/core/cni.h"
#include "cni/ipam/config.h"

#define CFG_ERR(err, ...) vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0, __VA_ARGS__)

/* An optional address at obj.key; family 0 when absent. */
static int parse_opt_ip(const json_t *obj, const char *path, const char *key, struct vp_ip *out,
			struct vp_error *err)
{
	const char *text;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = vp_json_opt_str(obj, path, key, NULL, &text, err)) || !text)
		return ret;
	if (vp_ip_parse(text, out))
		return CFG_ERR(err, "%s.%s: invalid IP address \"%s\"", path, key, text);
	return 0;
}

static int parse_prefix(const json_t *obj, const char *path, const char *key,
			struct vp_prefix *out, struct vp_error *err)
{
	const char *text;
	int ret;

	if ((ret = vp_json_req_str(obj, path, key, &text, err)))
		return ret;
	if (vp_prefix_parse(text, out))
		return CFG_ERR(err, "%s.%s: invalid CIDR \"%s\"", path, key, text);
	return 0;
}

/* One {subnet, rangeStart, rangeEnd, gateway} object. */
static int parse_range(const json_t *obj, const char *path, struct vp_ipam_range *r,
		       struct vp_error *err)
{
	struct vp_prefix subnet;
	struct vp_ip start, end, gw;
	int ret;

	if (!json_is_object(obj))
		return CFG_ERR(err, "%s: expected an object", path);
	if ((ret = parse_prefix(obj, path, "subnet", &subnet, err)) ||
	    (ret = parse_opt_ip(obj, path, "rangeStart", &start, err)) ||
	    (ret = parse_opt_ip(obj, path, "rangeEnd", &end, err)) ||
	    (ret = parse_opt_ip(obj, path, "gateway", &gw, err)))
		return ret;
	if ((start.family && start.family != subnet.ip.family) ||
	    (end.family && end.family != subnet.ip.family) ||
	    (gw.family && gw.family != subnet.ip.family))
		return CFG_ERR(err, "%s: address family differs from the subnet's", path);
	return vp_ipam_range_init(r, &subnet, &start, &end, &gw, path, err);
}

static int parse_rangeset(const json_t *arr, const char *path, struct vp_ipam_rangeset *set,
			  struct vp_error *err)
{
	char sub[256];
	int ret;

	if (!json_is_array(arr))
		return CFG_ERR(err, "%s: expected an array of ranges", path);
	set->n = json_array_size(arr);
	if (set->n == 0)
		return CFG_ERR(err, "%s: empty range set", path);
	set->ranges = calloc(set->n, sizeof(*set->ranges));
	if (!set->ranges)
		return vp_error_set(err, ENOMEM, "%s", path);
	for (size_t i = 0; i < set->n; i++) {
		vp_json_path(sub, sizeof(sub), path, NULL, (long)i);
		if ((ret = parse_range(json_array_get(arr, i), sub, &set->ranges[i], err)))
			return ret;
	}
	return vp_ipam_rangeset_validate(set, path, err);
}

/* Legacy top-level subnet (first set, as host-local) plus "ranges". */
static int parse_ranges(const json_t *ipam, struct vp_ipam_config *cfg, struct vp_error *err)
{
	json_t *ranges;
	const char *subnet;
	size_t legacy, n;
	char path[256];
	int ret;

	if ((ret = vp_json_opt_str(ipam, "ipam", "subnet", NULL, &subnet, err)) ||
	    (ret = vp_json_opt_array(ipam, "ipam", "ranges", &ranges, err)))
		return ret;
	legacy = subnet ? 1 : 0;
	n = legacy + (ranges ? json_array_size(ranges) : 0);
	if (n == 0)
		return CFG_ERR(err, "ipam: no IP ranges specified (\"ranges\" or \"subnet\")");
	cfg->sets = calloc(n, sizeof(*cfg->sets));
	if (!cfg->sets)
		return vp_error_set(err, ENOMEM, "ipam.ranges");
	cfg->n_sets = n;
	if (legacy) {
		cfg->sets[0].ranges = calloc(1, sizeof(*cfg->sets[0].ranges));
		if (!cfg->sets[0].ranges)
			return vp_error_set(err, ENOMEM, "ipam");
		cfg->sets[0].n = 1;
		if ((ret = parse_range(ipam, "ipam", cfg->sets[0].ranges, err)))
			return ret;
	}
	for (size_t i = legacy; i < n; i++) {
		vp_json_path(path, sizeof(path), "ipam.ranges", NULL, (long)(i - legacy));
		if ((ret = parse_rangeset(json_array_get(ranges, i - legacy), path, &cfg->sets[i], err)))
			return ret;
		for (size_t j = 0; j < i; j++)
			if (vp_ipam_rangeset_overlaps(&cfg->sets[i], &cfg->sets[j]))
				return CFG_ERR(err, "%s: overlaps range set %zu", path, j);
	}
	return 0;
}

static int parse_route(const json_t *obj, const char *path, struct vp_cni_route *r,
		       struct vp_error *err)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->scope = -1;
	if (!json_is_object(obj))
		return CFG_ERR(err, "%s: expected an object", path);
	if ((ret = parse_prefix(obj, path, "dst", &r->dst, err)) ||
	    (ret = parse_opt_ip(obj, path, "gw", &r->gw, err)))
		return ret;
	if (r->gw.family && r->gw.family != r->dst.ip.family)
		return CFG_ERR(err, "%s.gw: address family differs from dst's", path);
	return 0;
}

static int parse_routes(const json_t *ipam, struct vp_ipam_config *cfg, struct vp_error *err)
{
	json_t *routes;
	char path[256];
	int ret;

	if ((ret = vp_json_opt_array(ipam, "ipam", "routes", &routes, err)) || !routes ||
	    json_array_size(routes) == 0)
		return ret;
	cfg->routes = calloc(json_array_size(routes), sizeof(*cfg->routes));
	if (!cfg->routes)
		return vp_error_set(err, ENOMEM, "ipam.routes");
	for (size_t i = 0; i < json_array_size(routes); i++) {
		vp_json_path(path, sizeof(path), "ipam.routes", NULL, (long)i);
		if ((ret = parse_route(json_array_get(routes, i), path, &cfg->routes[i], err)))
			return ret;
		cfg->n_routes++;
	}
	return 0;
}

/* Append each whitespace-separated word after the keyword to arr. */
static int append_words(json_t *arr, char *rest)
{
	char *save = NULL;

	for (char *w = strtok_r(rest, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save))
		if (json_array_append_new(arr, json_string(w)))
			return -ENOMEM;
	return 0;
}

/* One resolv.conf line into dns {nameservers, domain, search, options}. */
static int resolv_line(json_t *dns, char *line)
{
	char *save = NULL, *kw = strtok_r(line, " \t\r\n", &save), *rest = save;

	if (!kw || kw[0] == '#' || kw[0] == ';')
		return 0;
	if (strcmp(kw, "domain") == 0) {
		char *dom = strtok_r(rest, " \t\r\n", &save);

		return dom && json_object_set_new(dns, "domain", json_string(dom)) ? -ENOMEM : 0;
	}
	if (strcmp(kw, "nameserver") && strcmp(kw, "search") && strcmp(kw, "options"))
		return 0;
	kw = strcmp(kw, "nameserver") == 0 ? "nameservers" : kw;
	if (!json_object_get(dns, kw) && json_object_set_new(dns, kw, json_array()))
		return -ENOMEM;
	return append_words(json_object_get(dns, kw), rest);
}

static int parse_resolv(const json_t *ipam, struct vp_ipam_config *cfg, struct vp_error *err)
{
	const char *path;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int ret;

	if ((ret = vp_json_opt_str(ipam, "ipam", "resolvConf", NULL, &path, err)) || !path)
		return ret;
	f = fopen(path, "re");
	if (!f)
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, errno,
				     "ipam.resolvConf: cannot read %s", path);
	cfg->dns = json_object();
	ret = cfg->dns ? 0 : -ENOMEM;
	while (ret == 0 && getline(&line, &cap, f) >= 0)
		ret = resolv_line(cfg->dns, line);
	free(line);
	fclose(f);
	if (ret)
		return vp_error_set(err, -ret, "ipam.resolvConf: %s", path);
	return 0;
}

static int parse_names(const json_t *config, const json_t *ipam, struct vp_ipam_config *cfg,
		       struct vp_error *err)
{
	const char *name, *dir;
	int ret;

	if ((ret = vp_json_req_str(config, "", "name", &name, err)) ||
	    (ret = vp_json_opt_str(ipam, "ipam", "dataDir", VP_IPAM_DEFAULT_DATA_DIR, &dir, err)))
		return ret;
	/* The name becomes a directory: keep it one plain path component. */
	if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return CFG_ERR(err, "name: \"%s\" is not usable as a directory name", name);
	if (!dir[0])
		return CFG_ERR(err, "ipam.dataDir: empty path");
	cfg->network = strdup(name);
	cfg->data_dir = strdup(dir);
	if (!cfg->network || !cfg->data_dir)
		return vp_error_set(err, ENOMEM, "ipam config");
	return 0;
}

int vp_ipam_config_parse(const json_t *config, struct vp_ipam_config *out, struct vp_error *err)
{
	json_t *ipam;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = vp_json_req_obj(config, "", "ipam", &ipam, err)) ||
	    (ret = parse_names(config, ipam, out, err)) ||
	    (ret = parse_ranges(ipam, out, err)) ||
	    (ret = parse_routes(ipam, out, err)) ||
	    (ret = parse_resolv(ipam, out, err)))
		goto out;
	out->requested = calloc(out->n_sets, sizeof(*out->requested));
	if (!out->requested)
		ret = vp_error_set(err, ENOMEM, "ipam config");
out:
	if (ret)
		vp_ipam_config_free(out);
	return ret;
}

/* Assign one requested address (text at path) to the range set holding it. */
static int request_one(struct vp_ipam_config *cfg, const char *text, const char *path,
		       struct vp_error *err)
{
	char buf[VP_PREFIX_STRLEN];
	struct vp_prefix p;
	struct vp_ip ip;

	if (vp_prefix_parse(text, &p) == 0)
		ip = p.ip;
	else if (vp_ip_parse(text, &ip))
		return CFG_ERR(err, "%s: invalid IP address \"%s\"", path, text);
	for (size_t i = 0; i < cfg->n_sets; i++) {
		const struct vp_ipam_range *r = vp_ipam_rangeset_find(&cfg->sets[i], &ip);

		if (!r)
			continue;
		if (vp_ip_equal(&ip, &r->gateway))
			return CFG_ERR(err, "%s: requested IP %s is the gateway of its range", path,
				       text);
		if (cfg->requested[i].family && !vp_ip_equal(&cfg->requested[i], &ip))
			return CFG_ERR(err, "%s: requested IP %s is in range set %zu, which already "
				       "has requested IP %s", path, text, i,
				       vp_ip_str(&cfg->requested[i], buf));
		cfg->requested[i] = ip;
		return 0;
	}
	return CFG_ERR(err, "%s: requested IP %s is not in any range set", path, text);
}

static int request_array(struct vp_ipam_config *cfg, const json_t *arr, const char *path,
			 struct vp_error *err)
{
	char sub[256];
	int ret;

	for (size_t i = 0; arr && i < json_array_size(arr); i++) {
		const json_t *v = json_array_get(arr, i);

		vp_json_path(sub, sizeof(sub), path, NULL, (long)i);
		if (!json_is_string(v))
			return CFG_ERR(err, "%s: expected a string", sub);
		if ((ret = request_one(cfg, json_string_value(v), sub, err)))
			return ret;
	}
	return 0;
}

static int request_env(struct vp_ipam_config *cfg, const char *env_ips, struct vp_error *err)
{
	char *copy = env_ips ? strdup(env_ips) : NULL, *save = NULL;
	int ret = 0;

	if (env_ips && !copy)
		return vp_error_set(err, ENOMEM, "CNI_ARGS IP");
	for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; w && !ret;
	     w = strtok_r(NULL, ",", &save))
		ret = request_one(cfg, w, "CNI_ARGS IP", err);
	free(copy);
	return ret;
}

int vp_ipam_config_requested(struct vp_ipam_config *cfg, const json_t *runtime_config,
			     const json_t *args, const char *env_ips, struct vp_error *err)
{
	json_t *rc_ips = NULL, *cni = NULL, *arg_ips = NULL;
	int ret;

	if ((runtime_config &&
	     (ret = vp_json_opt_array(runtime_config, "runtimeConfig", "ips", &rc_ips, err))) ||
	    (args && (ret = vp_json_opt_obj(args, "args", "cni", &cni, err))) ||
	    (cni && (ret = vp_json_opt_array(cni, "args.cni", "ips", &arg_ips, err))))
		return ret;
	if ((ret = request_env(cfg, env_ips, err)) ||
	    (ret = request_array(cfg, arg_ips, "args.cni.ips", err)) ||
	    (ret = request_array(cfg, rc_ips, "runtimeConfig.ips", err)))
		return ret;
	return 0;
}

void vp_ipam_config_free(struct vp_ipam_config *cfg)
{
	for (size_t i = 0; cfg->sets && i < cfg->n_sets; i++)
		free(cfg->sets[i].ranges);
	free(cfg->sets);
	free(cfg->routes);
	free(cfg->requested);
	free(cfg->network);
	free(cfg->data_dir);
	if (cfg->dns)
		json_decref(cfg->dns);
	memset(cfg, 0, sizeof(*cfg));
}
