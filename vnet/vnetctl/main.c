/* main.c - vnetctl: network plumbing for scripts and VM hosts over the vnet
 * library (the CNI plugins' own).  The only file that talks to the user.
 *
 *   vnetctl OBJECT add|del|show [NAME] [OPTIONS] [--json]
 *   vnetctl apply|destroy|diff FILE
 *
 * Exit codes: 0 done or already so, 1 error, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vnet/vnetctl/topology.h"
#include "vnet/vnetctl/vnetctl.h"

static const struct vnetctl_family *const families[] = {
	&vnetctl_bridge_family, &vnetctl_veth_family, &vnetctl_tap_family,
	&vnetctl_macvtap_family, &vnetctl_addr_family, &vnetctl_route_family,
	&vnetctl_nat_family, &vnetctl_redirect_family, &vnetctl_link_family,
	&vnetctl_netns_family, NULL,
};

static const struct {
	const char *name, *help;
	int (*run)(struct vnetctl *c, const struct vnetctl_topology *t, struct vp_error *err);
} topology_verbs[] = {
	{ "apply", "bring the topology in FILE up (all or nothing)", vnetctl_topology_apply },
	{ "destroy", "take it down (only what its apply made)", vnetctl_topology_destroy },
	{ "diff", "print what apply would change", vnetctl_topology_diff },
};

#define N_TOPOLOGY_VERBS (sizeof(topology_verbs) / sizeof(topology_verbs[0]))

static bool is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

static void usage_main(FILE *f)
{
	fprintf(f, "usage: vnetctl OBJECT VERB [NAME] [OPTIONS] [--json]\n"
		   "       vnetctl apply|destroy|diff FILE\n\nobjects:\n");
	for (size_t i = 0; families[i]; i++)
		fprintf(f, "  %-9s %s\n", families[i]->name, families[i]->summary);
	fprintf(f, "\ntopologies (JSON, see docs/vnetctl.md):\n");
	for (size_t i = 0; i < N_TOPOLOGY_VERBS; i++)
		fprintf(f, "  %-9s %s\n", topology_verbs[i].name, topology_verbs[i].help);
	fprintf(f, "\n`vnetctl OBJECT --help` lists its verbs, `vnetctl OBJECT VERB --help` its "
		   "options.\nExit codes: 0 done or already so, 1 error, 2 usage.\n");
}

static void usage_family(FILE *f, const struct vnetctl_family *fam)
{
	fprintf(f, "usage: vnetctl %s VERB ...   (%s)\n\n", fam->name, fam->summary);
	for (const struct vnetctl_verb *v = fam->verbs; v->name; v++)
		fprintf(f, "  vnetctl %s %s %s\n      %s\n", fam->name, v->name, v->synopsis,
			v->help);
}

static void usage_verb(FILE *f, const struct vnetctl_family *fam, const struct vnetctl_verb *v)
{
	fprintf(f, "usage: vnetctl %s %s %s\n\n%s\n", fam->name, v->name, v->synopsis, v->help);
	if (v->opts && v->opts[0].name)
		fprintf(f, "\noptions:\n");
	for (const struct vnetctl_optdef *o = v->opts; o && o->name; o++) {
		char left[48];

		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-17s %s\n", left, o->help);
	}
	if (!strcmp(v->name, "show"))
		fprintf(f, "  %-17s print JSON instead of text\n", "--json");
}

/* Drop --json from argv (any position), noting it. */
static int strip_json(int argc, char **argv, bool *json)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			*json = true;
		else
			argv[n++] = argv[i];
	}
	return n;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (is_help(argv[i]))
			return true;
	return false;
}

static int run_topology(struct vnetctl *c, size_t verb, int argc, char **argv,
			struct vp_error *err)
{
	struct vnetctl_topology t;
	int ret;

	if (argc != 1)
		return vnetctl_usage(err, "%s: expected one FILE", topology_verbs[verb].name);
	ret = vnetctl_topology_load(argv[0], &t, err);
	if (ret < 0)
		return ret;
	ret = topology_verbs[verb].run(c, &t, err);
	vnetctl_topology_free(&t);
	return ret;
}

static int run_object(struct vnetctl *c, const struct vnetctl_family *fam, int argc, char **argv,
		      struct vp_error *err)
{
	const struct vnetctl_verb *v;
	struct vnetctl_args a;
	int ret;

	if (argc < 1 || is_help(argv[0])) {
		usage_family(argc < 1 ? stderr : stdout, fam);
		return argc < 1 ? vnetctl_usage(err, "%s: missing the VERB", fam->name) : 0;
	}
	for (v = fam->verbs; v->name && strcmp(v->name, argv[0]); v++)
		;
	if (!v->name)
		return vnetctl_usage(err, "%s: unknown verb \"%s\" (see vnetctl %s --help)",
				     fam->name, argv[0], fam->name);
	if (wants_help(argc - 1, argv + 1)) {
		usage_verb(stdout, fam, v);
		return 0;
	}
	if (c->json && strcmp(v->name, "show"))
		return vnetctl_usage(err, "--json goes with show only");
	ret = vnetctl_args_parse(argc - 1, argv + 1, v->opts, &a, err);
	return ret ? ret : v->run(c, &a, err);
}

static int dispatch(struct vnetctl *c, int argc, char **argv, struct vp_error *err)
{
	for (size_t i = 0; i < N_TOPOLOGY_VERBS; i++)
		if (!strcmp(argv[0], topology_verbs[i].name)) {
			if (wants_help(argc - 1, argv + 1)) {
				printf("usage: vnetctl %s FILE\n\n%s.\n", topology_verbs[i].name,
				       topology_verbs[i].help);
				return 0;
			}
			return run_topology(c, i, argc - 1, argv + 1, err);
		}
	for (size_t i = 0; families[i]; i++)
		if (!strcmp(argv[0], families[i]->name))
			return run_object(c, families[i], argc - 1, argv + 1, err);
	return vnetctl_usage(err, "unknown object \"%s\" (see vnetctl --help)", argv[0]);
}

int main(int argc, char **argv)
{
	struct vp_error err = { 0 };
	struct vnetctl c;
	bool json = false;
	int ret;

	argc = strip_json(argc - 1, argv + 1, &json);
	argv++;
	if (argc < 1 || is_help(argv[0])) {
		usage_main(argc < 1 ? stderr : stdout);
		return argc < 1 ? VNETCTL_EXIT_USAGE : VNETCTL_EXIT_OK;
	}
	ret = vnetctl_init(&c, &err);
	if (ret == 0) {
		c.json = json;
		ret = dispatch(&c, argc, argv, &err);
		vnetctl_fini(&c);
	}
	if (ret == 0)
		return VNETCTL_EXIT_OK;
	fprintf(stderr, "vnetctl: %s\n", err.msg[0] ? err.msg : strerror(-ret));
	return err.code == VNETCTL_ERR_USAGE ? VNETCTL_EXIT_USAGE : VNETCTL_EXIT_ERROR;
}
