/* topology.c - the topology file parser (see topology.h and docs/vnetctl.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "vnet/netns.h"
#include "vnet/vnetctl/topology.h"

#define TOPOLOGY_FILE_MAX (1 << 20)
#define PATH_LEN 128

/* Every error here is a usage error (exit 2). */
static int bad(struct vp_error *err, int ret)
{
	if (ret < 0 && err)
		err->code = VNETCTL_ERR_USAGE;
	return ret;
}

static int fail(struct vp_error *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct vp_error *err, const char *path, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return vp_error_code(err, VNETCTL_ERR_USAGE, EINVAL, "%s: %s", path, msg);
}

/* Reject keys of obj not in allowed (NULL-terminated). */
static int check_keys(const json_t *obj, const char *path, const char *const *allowed,
		      struct vp_error *err)
{
	char p[PATH_LEN];
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return fail(err, path[0] ? path : "(root)", "expected an object%s", "");
	json_object_foreach((json_t *)obj, key, v) {
		size_t i;

		for (i = 0; allowed[i] && strcmp(allowed[i], key); i++)
			;
		if (!allowed[i])
			return fail(err, vp_json_path(p, sizeof(p), path, key, -1),
				    "unknown field \"%s\"", key);
	}
	return 0;
}

static int req_name(const json_t *o, const char *path, const char *key, size_t max,
		    const char **out, struct vp_error *err)
{
	char p[PATH_LEN];
	int ret = bad(err, vp_json_req_str(o, path, key, out, err));

	if (ret < 0)
		return ret;
	vp_json_path(p, sizeof(p), path, key, -1);
	if (!(*out)[0] || strchr(*out, '/'))
		return fail(err, p, "\"%s\" must be non-empty, without '/'", *out);
	if (strlen(*out) > max)
		return fail(err, p, "name too long (more than %zu characters)", max);
	return 0;
}

static int opt_name(const json_t *o, const char *path, const char *key, size_t max,
		    const char **out, struct vp_error *err)
{
	*out = NULL;
	if (!json_object_get(o, key))
		return 0;
	return req_name(o, path, key, max, out, err);
}

static int opt_uint(const json_t *o, const char *path, const char *key, int64_t max,
		    int64_t def, int64_t *out, struct vp_error *err)
{
	return bad(err, vp_json_opt_int(o, path, key, def, def < 0 ? def : 0, max, out, err));
}

/* The array at key (absent: none) with each element's path. */
typedef int (*elem_fn)(struct vnetctl_topology *t, const json_t *e, const char *path, size_t i,
		       struct vp_error *err);

static int each(struct vnetctl_topology *t, const char *key, size_t elem_size, void **arr,
		size_t *n, elem_fn fn, struct vp_error *err)
{
	char p[PATH_LEN];
	json_t *a, *e;
	size_t i;
	int ret;

	ret = bad(err, vp_json_opt_array(t->root, "", key, &a, err));
	if (ret < 0 || !a)
		return ret;
	*arr = calloc(json_array_size(a) ? json_array_size(a) : 1, elem_size);
	if (!*arr)
		return vp_error_set(err, ENOMEM, "%s", key);
	json_array_foreach(a, i, e) {
		vp_json_path(p, sizeof(p), key, NULL, (long)i);
		ret = fn(t, e, p, i, err);
		if (ret < 0)
			return ret;
		(*n)++;
	}
	return 0;
}

static int parse_namespace(struct vnetctl_topology *t, const json_t *e, const char *path,
			   size_t i, struct vp_error *err)
{
	static const char *const keys[] = { "name", NULL };
	int ret = check_keys(e, path, keys, err);

	return ret ? ret : req_name(e, path, "name", VP_NETNS_NAME_MAX, &t->namespaces[i], err);
}

static int parse_bridge(struct vnetctl_topology *t, const json_t *e, const char *path, size_t i,
			struct vp_error *err)
{
	static const char *const keys[] = { "name", "mtu", "bridge", NULL };
	struct vnetctl_topo_bridge *b = &t->bridges[i];
	int64_t mtu;
	int ret;

	ret = check_keys(e, path, keys, err);
	ret = ret ?: req_name(e, path, "name", IFNAMSIZ - 1, &b->b.name, err);
	ret = ret ?: opt_uint(e, path, "mtu", 65535, 0, &mtu, err);
	ret = ret ?: opt_name(e, path, "bridge", IFNAMSIZ - 1, &b->master, err);
	b->b.mtu = mtu;
	return ret;
}

static int parse_veth(struct vnetctl_topology *t, const json_t *e, const char *path, size_t i,
		      struct vp_error *err)
{
	static const char *const keys[] = { "name", "peer", "netns", "bridge", "mtu", NULL };
	struct vnetctl_veth *v = &t->veths[i];
	int64_t mtu;
	int ret;

	ret = check_keys(e, path, keys, err);
	ret = ret ?: req_name(e, path, "name", IFNAMSIZ - 1, &v->name, err);
	ret = ret ?: req_name(e, path, "peer", IFNAMSIZ - 1, &v->peer, err);
	ret = ret ?: opt_name(e, path, "netns", VP_NETNS_NAME_MAX, &v->netns, err);
	ret = ret ?: opt_name(e, path, "bridge", IFNAMSIZ - 1, &v->bridge, err);
	ret = ret ?: opt_uint(e, path, "mtu", 65535, 0, &mtu, err);
	v->mtu = mtu;
	return ret;
}

static int parse_tap(struct vnetctl_topology *t, const json_t *e, const char *path, size_t i,
		     struct vp_error *err)
{
	static const char *const keys[] = { "name", "queues", "multiQueue", "vnetHdr", "owner",
					    "group", "bridge", "mtu", NULL };
	struct vnetctl_tap *tap = &t->taps[i];
	int64_t queues, owner, group, mtu;
	int ret;

	ret = check_keys(e, path, keys, err);
	ret = ret ?: req_name(e, path, "name", IFNAMSIZ - 1, &tap->name, err);
	ret = ret ?: bad(err, vp_json_opt_int(e, path, "queues", 1, 1, 256, &queues, err));
	ret = ret ?: bad(err, vp_json_opt_bool(e, path, "multiQueue", false, &tap->multi_queue, err));
	ret = ret ?: bad(err, vp_json_opt_bool(e, path, "vnetHdr", false, &tap->vnet_hdr, err));
	ret = ret ?: opt_uint(e, path, "owner", 0xfffffffe, -1, &owner, err);
	ret = ret ?: opt_uint(e, path, "group", 0xfffffffe, -1, &group, err);
	ret = ret ?: opt_name(e, path, "bridge", IFNAMSIZ - 1, &tap->bridge, err);
	ret = ret ?: opt_uint(e, path, "mtu", 65535, 0, &mtu, err);
	tap->queues = queues;
	tap->owner = owner;
	tap->group = group;
	tap->mtu = mtu;
	return ret;
}

static int parse_addr(struct vnetctl_topology *t, const json_t *e, const char *path, size_t i,
		      struct vp_error *err)
{
	static const char *const keys[] = { "link", "netns", "address", NULL };
	struct vnetctl_addr *a = &t->addrs[i];
	char p[PATH_LEN];
	const char *s;
	int ret;

	ret = check_keys(e, path, keys, err);
	ret = ret ?: req_name(e, path, "link", IFNAMSIZ - 1, &a->link, err);
	ret = ret ?: opt_name(e, path, "netns", VP_NETNS_NAME_MAX, &a->netns, err);
	ret = ret ?: bad(err, vp_json_req_str(e, path, "address", &s, err));
	if (ret == 0 && vp_prefix_parse(s, &a->prefix) < 0)
		ret = fail(err, vp_json_path(p, sizeof(p), path, "address", -1),
			   "\"%s\" is not an ADDRESS/LENGTH", s);
	return ret;
}

static int parse_route(struct vnetctl_topology *t, const json_t *e, const char *path, size_t i,
		       struct vp_error *err)
{
	static const char *const keys[] = { "dst", "via", "link", "netns", "metric", NULL };
	struct vnetctl_route *r = &t->routes[i];
	const char *dst, *via;
	char p[PATH_LEN];
	int64_t metric;
	int ret;

	ret = check_keys(e, path, keys, err);
	ret = ret ?: bad(err, vp_json_req_str(e, path, "dst", &dst, err));
	ret = ret ?: bad(err, vp_json_opt_str(e, path, "via", NULL, &via, err));
	ret = ret ?: opt_name(e, path, "link", IFNAMSIZ - 1, &r->link, err);
	ret = ret ?: opt_name(e, path, "netns", VP_NETNS_NAME_MAX, &r->netns, err);
	ret = ret ?: opt_uint(e, path, "metric", 0xffffffff, 0, &metric, err);
	if (ret < 0)
		return ret;
	r->metric = metric;
	if (via && vp_ip_parse(via, &r->via) < 0)
		return fail(err, vp_json_path(p, sizeof(p), path, "via", -1),
			    "\"%s\" is not an IP address", via);
	if (vnetctl_route_dst_parse(dst, &r->via, &r->dst) < 0)
		return fail(err, vp_json_path(p, sizeof(p), path, "dst", -1),
			    "\"%s\" is not a prefix or \"default\"", dst);
	if (!r->link && !via)
		return fail(err, path, "a route needs \"via\" or \"link\"%s", "");
	return 0;
}

static int parse_nat(struct vnetctl_topology *t, const json_t *e, const char *path, size_t i,
		     struct vp_error *err)
{
	static const char *const keys[] = { "name", "sources", "exclude", NULL };
	struct vnetctl_nat *n = &t->nats[i];
	char p[PATH_LEN];
	const char *ex, *s;
	json_t *srcs, *v;
	size_t j;
	int ret;

	ret = check_keys(e, path, keys, err);
	ret = ret ?: req_name(e, path, "name", 64, &n->name, err);
	ret = ret ?: bad(err, vp_json_req_str(e, path, "exclude", &ex, err));
	ret = ret ?: bad(err, vp_json_opt_array(e, path, "sources", &srcs, err));
	if (ret < 0)
		return ret;
	if (vp_prefix_parse(ex, &n->exclude) < 0)
		return fail(err, vp_json_path(p, sizeof(p), path, "exclude", -1),
			    "\"%s\" is not a prefix", ex);
	vp_json_path(p, sizeof(p), path, "sources", -1);
	if (!srcs || !json_array_size(srcs) || json_array_size(srcs) > VNETCTL_NAT_MAX_SOURCES)
		return fail(err, p, "expected 1 to %s addresses", "16");
	json_array_foreach(srcs, j, v) {
		char q[PATH_LEN];

		vp_json_path(q, sizeof(q), p, NULL, (long)j);
		s = json_string_value(v);
		if (!s || vp_ip_parse(s, &n->sources[j]) < 0)
			return fail(err, q, "expected an IP address%s", "");
		if (n->sources[j].family != n->exclude.ip.family)
			return fail(err, q, "%s is not of the family of \"exclude\"", s);
		for (size_t k = 0; k < j; k++)
			if (vp_ip_equal(&n->sources[k], &n->sources[j]))
				return fail(err, q, "%s listed twice", s);
		n->n_sources++;
	}
	return 0;
}

/* ---- cross-checks ---- */

static bool declared_ns(const struct vnetctl_topology *t, const char *ns)
{
	for (size_t i = 0; i < t->n_namespaces; i++)
		if (!strcmp(t->namespaces[i], ns))
			return true;
	return false;
}

static const struct vnetctl_topo_bridge *find_bridge(const struct vnetctl_topology *t,
						     const char *name)
{
	for (size_t i = 0; i < t->n_bridges; i++)
		if (!strcmp(t->bridges[i].b.name, name))
			return &t->bridges[i];
	return NULL;
}

/* Is link a link of the topology in ns (NULL: host)? */
static bool declared_link(const struct vnetctl_topology *t, const char *ns, const char *link)
{
	if (ns)
		for (size_t i = 0; i < t->n_veths; i++)
			if (t->veths[i].netns && !strcmp(t->veths[i].netns, ns) &&
			    !strcmp(t->veths[i].peer, link))
				return true;
	if (ns)
		return !strcmp(link, "lo");
	if (find_bridge(t, link))
		return true;
	for (size_t i = 0; i < t->n_veths; i++)
		if (!strcmp(t->veths[i].name, link) ||
		    (!t->veths[i].netns && !strcmp(t->veths[i].peer, link)))
			return true;
	for (size_t i = 0; i < t->n_taps; i++)
		if (!strcmp(t->taps[i].name, link))
			return true;
	return false;
}

static int check_ns_ref(const struct vnetctl_topology *t, const char *path, const char *ns,
			struct vp_error *err)
{
	char p[PATH_LEN];

	if (!ns || declared_ns(t, ns))
		return 0;
	return fail(err, vp_json_path(p, sizeof(p), path, "netns", -1),
		    "namespace \"%s\" is not in \"namespaces\"", ns);
}

static int check_bridge_ref(const struct vnetctl_topology *t, const char *path, const char *br,
			    struct vp_error *err)
{
	char p[PATH_LEN];

	if (!br || find_bridge(t, br))
		return 0;
	return fail(err, vp_json_path(p, sizeof(p), path, "bridge", -1),
		    "bridge \"%s\" is not in \"bridges\"", br);
}

static int check_link_ref(const struct vnetctl_topology *t, const char *path, const char *ns,
			  const char *link, struct vp_error *err)
{
	char p[PATH_LEN], msg[128];

	if (!link || declared_link(t, ns, link))
		return 0;
	snprintf(msg, sizeof(msg), "no link \"%s\" of the topology in %s", link,
		 ns ? ns : "the host namespace");
	return fail(err, vp_json_path(p, sizeof(p), path, "link", -1), "%s", msg);
}

/* The k-th host link name of the topology (bridges, veths with their peer
 * when it stays on the host, taps) and its path; NULL past the end. */
static const char *host_link(const struct vnetctl_topology *t, size_t k, char *path, size_t size)
{
	if (k < t->n_bridges) {
		snprintf(path, size, "bridges[%zu].name", k);
		return t->bridges[k].b.name;
	}
	k -= t->n_bridges;
	if (k < 2 * t->n_veths) {
		const struct vnetctl_veth *v = &t->veths[k / 2];

		snprintf(path, size, "veths[%zu].%s", k / 2, k % 2 ? "peer" : "name");
		return k % 2 == 0 ? v->name : v->netns ? "" : v->peer;
	}
	k -= 2 * t->n_veths;
	if (k < t->n_taps) {
		snprintf(path, size, "taps[%zu].name", k);
		return t->taps[k].name;
	}
	return NULL;
}

/* Host link names must be unique. */
static int check_unique(const struct vnetctl_topology *t, struct vp_error *err)
{
	char p[PATH_LEN], q[PATH_LEN];
	const char *a, *b;

	for (size_t i = 0; (a = host_link(t, i, p, sizeof(p))); i++)
		for (size_t j = 0; a[0] && j < i; j++)
			if ((b = host_link(t, j, q, sizeof(q))) && !strcmp(a, b))
				return fail(err, p, "link name \"%s\" used twice (also %s)", a, q);
	return 0;
}

static int check_refs(const struct vnetctl_topology *t, struct vp_error *err)
{
	char p[PATH_LEN];
	int ret = check_unique(t, err);

	for (size_t i = 0; ret == 0 && i < t->n_namespaces; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t->namespaces[i], t->namespaces[j]))
				return fail(err, vp_json_path(p, sizeof(p), "namespaces", NULL, (long)i),
					    "namespace \"%s\" listed twice", t->namespaces[i]);
	for (size_t i = 0; ret == 0 && i < t->n_bridges; i++)
		ret = check_bridge_ref(t, vp_json_path(p, sizeof(p), "bridges", NULL, (long)i),
				       t->bridges[i].master, err);
	for (size_t i = 0; ret == 0 && i < t->n_veths; i++) {
		vp_json_path(p, sizeof(p), "veths", NULL, (long)i);
		ret = check_ns_ref(t, p, t->veths[i].netns, err) ?:
		      check_bridge_ref(t, p, t->veths[i].bridge, err);
	}
	for (size_t i = 0; ret == 0 && i < t->n_taps; i++)
		ret = check_bridge_ref(t, vp_json_path(p, sizeof(p), "taps", NULL, (long)i),
				       t->taps[i].bridge, err);
	for (size_t i = 0; ret == 0 && i < t->n_addrs; i++) {
		vp_json_path(p, sizeof(p), "addresses", NULL, (long)i);
		ret = check_ns_ref(t, p, t->addrs[i].netns, err) ?:
		      check_link_ref(t, p, t->addrs[i].netns, t->addrs[i].link, err);
	}
	for (size_t i = 0; ret == 0 && i < t->n_routes; i++) {
		vp_json_path(p, sizeof(p), "routes", NULL, (long)i);
		ret = check_ns_ref(t, p, t->routes[i].netns, err) ?:
		      check_link_ref(t, p, t->routes[i].netns, t->routes[i].link, err);
	}
	for (size_t i = 0; ret == 0 && i < t->n_nats; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t->nats[i].name, t->nats[j].name))
				return fail(err, vp_json_path(p, sizeof(p), "nat", NULL, (long)i),
					    "nat \"%s\" listed twice", t->nats[i].name);
	return ret;
}

/* Order the bridges so each comes after its master; a cycle is an error
 * naming the bridge where it closes. */
static int order_bridges(struct vnetctl_topology *t, struct vp_error *err)
{
	struct vnetctl_topo_bridge *sorted;
	size_t n = t->n_bridges, done = 0;
	bool *placed;

	if (!n)
		return 0;
	sorted = calloc(n, sizeof(*sorted));
	placed = calloc(n, sizeof(*placed));
	if (!sorted || !placed) {
		free(sorted);
		free(placed);
		return vp_error_set(err, ENOMEM, "ordering bridges");
	}
	while (done < n) {
		size_t before = done;

		for (size_t i = 0; i < n; i++) {
			bool ready = !t->bridges[i].master;

			for (size_t j = 0; !ready && j < done; j++)
				ready = !strcmp(sorted[j].b.name, t->bridges[i].master);
			if (placed[i] || !ready)
				continue;
			placed[i] = true;
			sorted[done++] = t->bridges[i];
		}
		if (done == before)
			break;
	}
	if (done < n) {
		char p[PATH_LEN];
		size_t i;

		for (i = 0; placed[i]; i++)
			;
		free(sorted);
		free(placed);
		return fail(err, vp_json_path(p, sizeof(p), "bridges", NULL, (long)i),
			    "bridge \"%s\" is part of a cycle of bridges", t->bridges[i].b.name);
	}
	free(t->bridges);
	free(placed);
	t->bridges = sorted;
	return 0;
}

static int parse_root(struct vnetctl_topology *t, struct vp_error *err)
{
	static const char *const keys[] = { "name", "namespaces", "bridges", "veths", "taps",
					    "addresses", "routes", "nat", NULL };
	int ret;

	ret = check_keys(t->root, "", keys, err);
	ret = ret ?: req_name(t->root, "", "name", VNETCTL_TOPOLOGY_NAME_MAX, &t->name, err);
	ret = ret ?: each(t, "namespaces", sizeof(*t->namespaces), (void **)&t->namespaces,
			  &t->n_namespaces, parse_namespace, err);
	ret = ret ?: each(t, "bridges", sizeof(*t->bridges), (void **)&t->bridges, &t->n_bridges,
			  parse_bridge, err);
	ret = ret ?: each(t, "veths", sizeof(*t->veths), (void **)&t->veths, &t->n_veths,
			  parse_veth, err);
	ret = ret ?: each(t, "taps", sizeof(*t->taps), (void **)&t->taps, &t->n_taps, parse_tap, err);
	ret = ret ?: each(t, "addresses", sizeof(*t->addrs), (void **)&t->addrs, &t->n_addrs,
			  parse_addr, err);
	ret = ret ?: each(t, "routes", sizeof(*t->routes), (void **)&t->routes, &t->n_routes,
			  parse_route, err);
	ret = ret ?: each(t, "nat", sizeof(*t->nats), (void **)&t->nats, &t->n_nats, parse_nat, err);
	ret = ret ?: check_refs(t, err);
	return ret ?: order_bridges(t, err);
}

int vnetctl_topology_parse(const char *text, size_t len, struct vnetctl_topology *t,
			   struct vp_error *err)
{
	int ret;

	memset(t, 0, sizeof(*t));
	ret = bad(err, vp_json_parse(text, len, &t->root, err));
	if (ret == 0)
		ret = parse_root(t, err);
	if (ret < 0)
		vnetctl_topology_free(t);
	return ret;
}

int vnetctl_topology_load(const char *file, struct vnetctl_topology *t, struct vp_error *err)
{
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd, ret;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vp_error_set(err, errno, "opening %s", file);
	buf = malloc(TOPOLOGY_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return vp_error_set(err, ENOMEM, "reading %s", file);
	}
	while ((n = read(fd, buf + len, TOPOLOGY_FILE_MAX + 1 - len)) > 0 &&
	       (len += n) <= TOPOLOGY_FILE_MAX)
		;
	close(fd);
	if (n < 0)
		ret = vp_error_set(err, errno, "reading %s", file);
	else if (len > TOPOLOGY_FILE_MAX)
		ret = vp_error_code(err, VNETCTL_ERR_USAGE, EFBIG, "%s: larger than 1 MiB", file);
	else
		ret = vnetctl_topology_parse(buf, len, t, err);
	free(buf);
	if (ret < 0)
		vp_error_prefix(err, "%s", file);
	return ret;
}

void vnetctl_topology_free(struct vnetctl_topology *t)
{
	free(t->namespaces);
	free(t->bridges);
	free(t->veths);
	free(t->taps);
	free(t->addrs);
	free(t->routes);
	free(t->nats);
	json_decref(t->root);
	memset(t, 0, sizeof(*t));
}
