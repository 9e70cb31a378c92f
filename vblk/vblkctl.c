/* vblkctl.c - command-line client of vblkd's control socket: builds one
 * JSON request from the command line, sends it, and prints the response as
 * a table (or raw JSON with --json).
 *
 * Exit status: 0 success, 1 the daemon refused or failed the request,
 * 2 usage error or the daemon could not be reached / answered garbage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "common/json.h"
#include "common/size.h"

#define DEFAULT_CONTROL "/run/vblkd/control.sock"
#define MAX_RESPONSE (16U << 20)
#define EXIT_REFUSED 1
#define EXIT_USAGE 2

struct opts {
	const char *control, *cache, *description, *export, *queues, *depth;
	bool json, readonly, force, preallocate;
	char **args;     /* positional words: args[0] is the object ("export") */
	int nargs;
};

typedef int (*build_fn)(const struct opts *o, json_t *req);
typedef void (*print_fn)(const struct opts *o, const json_t *resp);

struct verb {
	const char *object, *verb;   /* "export", "add"; verb NULL for "stats" */
	const char *command;         /* control protocol command */
	int min_args, max_args;      /* positional words after object and verb */
	const char *usage;
	build_fn build;
	print_fn print;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vblkctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see vblkctl --help)\n");
	return -EINVAL;
}

/* An absolute form of path (relative paths are taken from the cwd). */
static json_t *abs_path(const char *path)
{
	char cwd[PATH_MAX], buf[PATH_MAX * 2];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return json_string(path);
	snprintf(buf, sizeof(buf), "%s/%s", strcmp(cwd, "/") ? cwd : "", path);
	return json_string(buf);
}

static int size_arg(const char *text, json_t *req)
{
	uint64_t n;

	if (vp_parse_size(text, &n) || n == 0 || n > INT64_MAX)
		return usage_error("'%s' is not a size (bytes, or with K, M, G, T suffix)", text);
	return json_object_set_new(req, "size", json_integer((json_int_t)n));
}

/* ---- request builders; positional args start at o->args[2] ---- */

static int build_export_add(const struct opts *o, json_t *req)
{
	json_object_set_new(req, "name", json_string(o->args[2]));
	json_object_set_new(req, "image", abs_path(o->args[3]));
	if (o->readonly)
		json_object_set_new(req, "readonly", json_true());
	if (o->cache)
		json_object_set_new(req, "cache", json_string(o->cache));
	if (o->description)
		json_object_set_new(req, "description", json_string(o->description));
	return 0;
}

static int build_export_remove(const struct opts *o, json_t *req)
{
	json_object_set_new(req, "name", json_string(o->args[2]));
	if (o->force)
		json_object_set_new(req, "force", json_true());
	return 0;
}

/* The number given as --flag (NULL: not given) into req's key; vblkd
 * checks its bounds. */
static int number_arg(const char *flag, const char *text, const char *key, json_t *req)
{
	char *end;
	long n;

	if (!text)
		return 0;
	errno = 0;
	n = strtol(text, &end, 10);
	if (errno || end == text || *end || n < 0 || n > INT_MAX)
		return usage_error("--%s=%s: expected a number", flag, text);
	return json_object_set_new(req, key, json_integer(n));
}

static int build_vhost_add(const struct opts *o, json_t *req)
{
	json_object_set_new(req, "name", json_string(o->args[2]));
	json_object_set_new(req, "socket", abs_path(o->args[3]));
	return number_arg("queues", o->queues, "queues", req);
}

static int build_ublk_add(const struct opts *o, json_t *req)
{
	json_object_set_new(req, "name", json_string(o->args[2]));
	return number_arg("queues", o->queues, "queues", req) ?:
	       number_arg("depth", o->depth, "depth", req);
}

static int build_name(const struct opts *o, json_t *req)
{
	return json_object_set_new(req, "name", json_string(o->args[2]));
}

static int build_nothing(const struct opts *o, json_t *req)
{
	(void)o;
	(void)req;
	return 0;
}

static int build_image_create(const struct opts *o, json_t *req)
{
	json_object_set_new(req, "path", abs_path(o->args[2]));
	if (o->preallocate)
		json_object_set_new(req, "sparse", json_false());
	return size_arg(o->args[3], req);
}

static int build_image_resize(const struct opts *o, json_t *req)
{
	if (o->export && o->nargs != 3)
		return usage_error("%s: with --export give only the new SIZE", "image resize");
	if (!o->export && o->nargs != 4)
		return usage_error("%s: expected PATH SIZE or --export NAME SIZE", "image resize");
	if (o->export)
		json_object_set_new(req, "export", json_string(o->export));
	else
		json_object_set_new(req, "path", abs_path(o->args[2]));
	return size_arg(o->args[o->nargs - 1], req);
}

static int build_image_info(const struct opts *o, json_t *req)
{
	json_object_set_new(req, "path", abs_path(o->args[2]));
	return 0;
}

static int build_stats(const struct opts *o, json_t *req)
{
	if (o->nargs == 2)
		json_object_set_new(req, "name", json_string(o->args[1]));
	return 0;
}

/* ---- printers ---- */

static const char *size_str(const json_t *v, char *buf)
{
	return vp_size_str((uint64_t)json_integer_value(v), buf);
}

/* The vhost-user line under an export that has a server. */
static void print_vhost(const json_t *v)
{
	if (!v)
		return;
	printf("  vhost-user %s queues=%lld %s\n", json_string_value(json_object_get(v, "socket")),
	       (long long)json_integer_value(json_object_get(v, "queues")),
	       json_is_true(json_object_get(v, "connected")) ? "connected" : "idle");
}

/* The ublk line under an export that has a device. */
static void print_ublk(const json_t *u)
{
	if (!u)
		return;
	printf("  ublk %s queues=%lld depth=%lld\n", json_string_value(json_object_get(u, "device")),
	       (long long)json_integer_value(json_object_get(u, "queues")),
	       (long long)json_integer_value(json_object_get(u, "depth")));
}

static void print_exports(const json_t *list)
{
	char buf[VP_SIZE_STRLEN];
	size_t i;
	json_t *e;

	printf("%-16s %8s %-3s %-9s %5s  %s\n", "NAME", "SIZE", "RO", "CACHE", "CONNS", "IMAGE");
	json_array_foreach(list, i, e) {
		const char *desc = json_string_value(json_object_get(e, "description"));

		printf("%-16s %8s %-3s %-9s %5lld  %s%s%s%s\n",
		       json_string_value(json_object_get(e, "name")),
		       size_str(json_object_get(e, "size"), buf),
		       json_is_true(json_object_get(e, "readonly")) ? "yes" : "no",
		       json_string_value(json_object_get(e, "cache")),
		       (long long)json_integer_value(json_object_get(e, "connections")),
		       json_string_value(json_object_get(e, "image")), desc ? "  (" : "",
		       desc ? desc : "", desc ? ")" : "");
		print_vhost(json_object_get(e, "vhost"));
		print_ublk(json_object_get(e, "ublk"));
	}
}

static void print_export_list(const struct opts *o, const json_t *resp)
{
	(void)o;
	print_exports(json_object_get(resp, "exports"));
}

static void print_export_one(const struct opts *o, const json_t *resp)
{
	json_t *list = json_array();

	(void)o;
	json_array_append(list, json_object_get(resp, "export"));
	print_exports(list);
	json_decref(list);
}

static void print_export_remove(const struct opts *o, const json_t *resp)
{
	json_int_t n = json_integer_value(json_object_get(resp, "draining"));

	printf("removed export %s", o->args[2]);
	if (n)
		printf(" (draining %lld connection%s)", (long long)n, n == 1 ? "" : "s");
	if (json_is_false(json_object_get(resp, "synced")))
		printf("; its fdatasync failed: %s", json_string_value(json_object_get(resp, "sync_error")));
	printf("\n");
}

static void print_vhost_add(const struct opts *o, const json_t *resp)
{
	const json_t *v = json_object_get(resp, "vhost");

	(void)o;
	printf("export %s served over vhost-user at %s (%lld queue%s)\n",
	       json_string_value(json_object_get(v, "name")),
	       json_string_value(json_object_get(v, "socket")),
	       (long long)json_integer_value(json_object_get(v, "queues")),
	       json_integer_value(json_object_get(v, "queues")) == 1 ? "" : "s");
}

static void print_vhost_remove(const struct opts *o, const json_t *resp)
{
	(void)resp;
	printf("stopped vhost-user server of export %s\n", o->args[2]);
}

static void print_ublk_add(const struct opts *o, const json_t *resp)
{
	const json_t *u = json_object_get(resp, "ublk");

	(void)o;
	printf("export %s served as %s (%lld queue%s, depth %lld)\n",
	       json_string_value(json_object_get(u, "name")),
	       json_string_value(json_object_get(u, "device")),
	       (long long)json_integer_value(json_object_get(u, "queues")),
	       json_integer_value(json_object_get(u, "queues")) == 1 ? "" : "s",
	       (long long)json_integer_value(json_object_get(u, "depth")));
}

static void print_ublk_remove(const struct opts *o, const json_t *resp)
{
	(void)resp;
	printf("removed ublk device of export %s\n", o->args[2]);
}

static void print_image(const struct opts *o, const json_t *resp)
{
	const json_t *img = json_object_get(resp, "image"), *v;
	char buf[VP_SIZE_STRLEN];
	size_t i;

	if (!img) { /* image resize --export answers with the export */
		print_export_one(o, resp);
		return;
	}
	printf("path:      %s\n", json_string_value(json_object_get(img, "path")));
	printf("type:      %s\n", json_string_value(json_object_get(img, "type")));
	printf("size:      %s (%lld bytes)\n", size_str(json_object_get(img, "size"), buf),
	       (long long)json_integer_value(json_object_get(img, "size")));
	printf("allocated: %s (%lld bytes)\n", size_str(json_object_get(img, "allocated"), buf),
	       (long long)json_integer_value(json_object_get(img, "allocated")));
	printf("exports:  ");
	json_array_foreach(json_object_get(img, "exports"), i, v)
		printf(" %s", json_string_value(v));
	printf("%s\n", json_array_size(json_object_get(img, "exports")) ? "" : " -");
}

static double num(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(json_object_get(obj, a), b);

	return json_is_number(v) ? json_number_value(v) : 0;
}

static void print_stats(const struct opts *o, const json_t *resp)
{
	static const char *const ops[] = { "read", "write", "flush", "trim", "other" };
	char rb[VP_SIZE_STRLEN], wb[VP_SIZE_STRLEN];
	size_t i;
	json_t *e;

	(void)o;
	printf("%-16s %9s %9s %7s %7s %6s %8s %8s %8s %9s %9s %9s %9s\n", "EXPORT", "READS",
	       "WRITES", "FLUSHES", "TRIMS", "ERRORS", "READ", "WRITTEN", "IOPS", "P50(us)",
	       "P90(us)", "P99(us)", "P99.9(us)");
	json_array_foreach(json_object_get(resp, "exports"), i, e) {
		const json_t *all = json_object_get(json_object_get(e, "latency_us"), "all");

		printf("%-16s %9.0f %9.0f %7.0f %7.0f %6lld %8s %8s %8.1f %9.1f %9.1f %9.1f %9.1f\n",
		       json_string_value(json_object_get(e, "name")), num(e, "ops", ops[0]),
		       num(e, "ops", ops[1]), num(e, "ops", ops[2]), num(e, "ops", ops[3]),
		       (long long)json_integer_value(json_object_get(e, "errors")),
		       vp_size_str((uint64_t)num(e, "bytes", "read"), rb),
		       vp_size_str((uint64_t)num(e, "bytes", "write"), wb), num(e, "iops", "total"),
		       json_number_value(json_object_get(all, "p50")),
		       json_number_value(json_object_get(all, "p90")),
		       json_number_value(json_object_get(all, "p99")),
		       json_number_value(json_object_get(all, "p99.9")));
	}
}

static const struct verb verbs[] = {
	{ "export", "add", "export-add", 2, 2,
	  "export add NAME IMAGE [--readonly] [--cache=none|writeback] [--description TEXT]",
	  build_export_add, print_export_one },
	{ "export", "remove", "export-remove", 1, 1, "export remove NAME [--force]",
	  build_export_remove, print_export_remove },
	{ "export", "list", "export-list", 0, 0, "export list", build_nothing, print_export_list },
	{ "image", "create", "image-create", 2, 2, "image create PATH SIZE [--preallocate]",
	  build_image_create, print_image },
	{ "image", "resize", "image-resize", 1, 2, "image resize PATH SIZE | --export NAME SIZE",
	  build_image_resize, print_image },
	{ "image", "info", "image-info", 1, 1, "image info PATH", build_image_info, print_image },
	{ "stats", NULL, "stats", 0, 1, "stats [NAME]", build_stats, print_stats },
	{ "vhost", "add", "vhost-add", 2, 2, "vhost add NAME SOCKET [--queues N]", build_vhost_add,
	  print_vhost_add },
	{ "vhost", "remove", "vhost-remove", 1, 1, "vhost remove NAME", build_name,
	  print_vhost_remove },
	{ "ublk", "add", "ublk-add", 1, 1, "ublk add NAME [--queues N] [--depth D]", build_ublk_add,
	  print_ublk_add },
	{ "ublk", "remove", "ublk-remove", 1, 1, "ublk remove NAME", build_name, print_ublk_remove },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vblkctl [--control PATH] [--json] COMMAND\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %s\n", verbs[i].usage);
	fprintf(f, "\nPATH defaults to $VBLKD_CONTROL or " DEFAULT_CONTROL ".\n"
		   "Exit status: 0 ok, 1 request refused by vblkd, 2 usage or connection error.\n");
}

static const struct verb *find_verb(const struct opts *o)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct verb *v = &verbs[i];
		int words = v->verb ? 2 : 1;

		if (o->nargs < words || strcmp(o->args[0], v->object) ||
		    (v->verb && strcmp(o->args[1], v->verb)))
			continue;
		if (o->nargs - words < v->min_args || o->nargs - words > v->max_args) {
			fprintf(stderr, "vblkctl: usage: vblkctl %s\n", v->usage);
			return NULL;
		}
		return v;
	}
	usage_error("unknown command '%s'", o->nargs ? o->args[0] : "");
	return NULL;
}

/* Options valid only with one command. */
static int check_flags(const struct opts *o, const struct verb *v)
{
	if ((o->readonly || o->cache || o->description) && strcmp(v->command, "export-add"))
		return usage_error("%s: --readonly, --cache and --description go with export add", v->command);
	if (o->cache && strcmp(o->cache, "none") && strcmp(o->cache, "writeback"))
		return usage_error("--cache=%s: expected none or writeback", o->cache);
	if (o->force && strcmp(v->command, "export-remove"))
		return usage_error("%s: --force goes with export remove", v->command);
	if (o->preallocate && strcmp(v->command, "image-create"))
		return usage_error("%s: --preallocate goes with image create", v->command);
	if (o->queues && strcmp(v->command, "vhost-add") && strcmp(v->command, "ublk-add"))
		return usage_error("%s: --queues goes with vhost add and ublk add", v->command);
	if (o->depth && strcmp(v->command, "ublk-add"))
		return usage_error("%s: --depth goes with ublk add", v->command);
	if (o->export && strcmp(v->command, "image-resize"))
		return usage_error("%s: --export goes with image resize", v->command);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "control", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "readonly", no_argument, NULL, 'r' },      { "cache", required_argument, NULL, 'C' },
		{ "description", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },         { "preallocate", no_argument, NULL, 'p' },
		{ "export", required_argument, NULL, 'e' },  { "help", no_argument, NULL, 'h' },
		{ "queues", required_argument, NULL, 'q' },  { "depth", required_argument, NULL, 'D' },
		{ 0 },
	};
	int c;

	o->control = getenv("VBLKD_CONTROL") ? getenv("VBLKD_CONTROL") : DEFAULT_CONTROL;
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->control = optarg; break;
		case 'j': o->json = true; break;
		case 'r': o->readonly = true; break;
		case 'C': o->cache = optarg; break;
		case 'd': o->description = optarg; break;
		case 'f': o->force = true; break;
		case 'p': o->preallocate = true; break;
		case 'e': o->export = optarg; break;
		case 'q': o->queues = optarg; break;
		case 'D': o->depth = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	return 0;
}

/* Send one request line and read one response line (malloc'd in *out). */
static int talk(const char *path, const char *req, char **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = 0, cap = 4096;
	char *buf = NULL;
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		ret = -errno;
		goto out;
	}
	while (!ret && !(len && buf[len - 1] == '\n')) {
		char *nb = len + 1 >= cap || !buf ? realloc(buf, cap *= 2) : buf;
		ssize_t n;

		if (!nb || cap > MAX_RESPONSE) {
			ret = nb ? -EMSGSIZE : -ENOMEM;
			buf = nb ? nb : buf;
			break;
		}
		buf = nb;
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		ret = n < 0 ? -errno : n == 0 ? -ECONNRESET : 0;
		len += n > 0 ? (size_t)n : 0;
	}
	if (!ret) {
		buf[len] = 0;
		*out = buf;
		buf = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* Send the request, print the answer; returns the exit status. */
static int run(const struct opts *o, const struct verb *v, json_t *req)
{
	struct vp_error err = { 0 };
	char *text = vp_json_dump(req), *line = NULL;
	json_t *resp = NULL;
	int ret, status = EXIT_USAGE;

	ret = text ? talk(o->control, text, &line) : -ENOMEM;
	if (ret) {
		fprintf(stderr, "vblkctl: control socket %s: %s\n", o->control, strerror(-ret));
		goto out;
	}
	if (vp_json_parse(line, strlen(line), &resp, &err) || !json_is_object(resp) ||
	    !json_is_boolean(json_object_get(resp, "ok"))) {
		fprintf(stderr, "vblkctl: bad response from vblkd: %s\n", line);
		goto out;
	}
	status = json_is_true(json_object_get(resp, "ok")) ? 0 : EXIT_REFUSED;
	if (o->json)
		fputs(line, stdout);
	else if (status)
		fprintf(stderr, "vblkctl: %s: %s\n", v->command,
			json_string_value(json_object_get(resp, "error")));
	else
		v->print(o, resp);
out:
	json_decref(resp);
	free(line);
	free(text);
	return status;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	const struct verb *v;
	json_t *req;
	int status;

	if (parse_opts(argc, argv, &o) || !(v = find_verb(&o)) || check_flags(&o, v))
		return EXIT_USAGE;
	req = json_pack("{s:s}", "command", v->command);
	if (!req || v->build(&o, req)) {
		json_decref(req);
		return EXIT_USAGE;
	}
	status = run(&o, v, req);
	json_decref(req);
	return status;
}
