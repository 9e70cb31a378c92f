/* nat.c - vnetctl nat add|del|show: masquerade through the same nftables
 * attachments as the CNI plugins' ipMasq (vnet/nft.h), owned as
 * <network>/<name>/nat where network is "vnetctl" or "vnetctl:<topology>".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vnet/nft.h"
#include "vnet/vnetctl/vnetctl.h"

static struct vp_nft_owner nat_owner(const struct vnetctl *c, const char *name)
{
	struct vp_nft_owner o = { c->nat_network, name, "nat" };

	return o;
}

int vnetctl_nat_ensure(struct vnetctl *c, const struct vnetctl_nat *n, struct vp_error *err)
{
	struct vp_nft_masq masq[VNETCTL_NAT_MAX_SOURCES];
	struct vp_nft_attachment a = { .owner = nat_owner(c, n->name), .masq = masq,
				       .n_masq = n->n_sources };
	struct vp_error why = { 0 };
	bool present;
	int ret;

	for (size_t i = 0; i < n->n_sources; i++) {
		masq[i].ip = n->sources[i];
		masq[i].net = vp_prefix_network(&n->exclude);
	}
	if (vp_nft_verify(&a, &why) == 0) {
		vnetctl_already(c, "present", "nat %s", n->name);
		return 0;
	}
	ret = vp_nft_owned_present(&a.owner, &present, err);
	if (ret < 0)
		return ret;
	if (present)
		return vp_error_code(err, 0, EEXIST, "nat %s: differs from what is asked (%s)", n->name,
				    why.msg);
	if (!c->dry_run) {
		ret = c->undo ? vp_nft_attach_undoable(&a, c->undo, err) : vp_nft_attach(&a, err);
		if (ret < 0)
			return ret;
	}
	vnetctl_done(c, "created", "nat %s", n->name);
	return 0;
}

int vnetctl_nat_remove(struct vnetctl *c, const char *name, struct vp_error *err)
{
	struct vp_nft_owner o = nat_owner(c, name);
	bool present;
	int ret;

	ret = vp_nft_owned_present(&o, &present, err);
	if (ret < 0)
		return ret;
	if (!present) {
		vnetctl_already(c, "absent", "nat %s", name);
		return 0;
	}
	if (!c->dry_run) {
		ret = vp_nft_detach(&o, err);
		if (ret < 0)
			return ret;
	}
	vnetctl_done(c, "deleted", "nat %s", name);
	return 0;
}

/* "a,b,c" into n->sources. */
int vnetctl_nat_sources_parse(const char *list, struct vnetctl_nat *n)
{
	char buf[VNETCTL_NAT_MAX_SOURCES * VP_IP_STRLEN], *save, *tok;

	if (strlen(list) >= sizeof(buf))
		return -E2BIG;
	snprintf(buf, sizeof(buf), "%s", list);
	n->n_sources = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n->n_sources == VNETCTL_NAT_MAX_SOURCES)
			return -E2BIG;
		if (vp_ip_parse(tok, &n->sources[n->n_sources]) < 0)
			return -EINVAL;
		n->n_sources++;
	}
	return n->n_sources ? 0 : -EINVAL;
}

static const struct vnetctl_optdef add_opts[] = {
	{ "source", "IP[,IP...]", "addresses to masquerade (required, at most 16)" },
	{ "exclude", "PREFIX", "traffic towards PREFIX is not masqueraded (required: the "
	  "sources' own subnet)" },
	{ NULL, NULL, NULL },
};

static int nat_add(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *src = vnetctl_arg(a, "source"), *ex = vnetctl_arg(a, "exclude");
	struct vnetctl_nat n = { 0 };
	int ret;

	ret = vnetctl_arg_name(a, "nat NAME", &n.name, err);
	if (ret < 0)
		return ret;
	if (!src || vnetctl_nat_sources_parse(src, &n) < 0)
		return vnetctl_usage(err, "nat add: --source IP[,IP...] (1-%d addresses) is required",
				     VNETCTL_NAT_MAX_SOURCES);
	if (!ex || vp_prefix_parse(ex, &n.exclude) < 0)
		return vnetctl_usage(err, "nat add: --exclude PREFIX is required");
	return vnetctl_nat_ensure(c, &n, err);
}

static int nat_del(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *name;
	int ret = vnetctl_arg_name(a, "nat NAME", &name, err);

	return ret ? ret : vnetctl_nat_remove(c, name, err);
}

static int nat_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vp_nft_owner o;
	const char *name;
	bool present;
	int ret;

	ret = vnetctl_arg_name(a, "nat NAME", &name, err);
	if (ret < 0)
		return ret;
	o = nat_owner(c, name);
	ret = vp_nft_owned_present(&o, &present, err);
	if (ret < 0)
		return ret;
	if (c->json)
		vnetctl_print_json(json_pack("{s:s, s:s, s:b}", "name", name, "owner", "vnetctl",
					     "present", present));
	else
		printf("nat %s: %s\n", name, present ? "present" : "absent");
	return 0;
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "NAME --source IP[,IP...] --exclude PREFIX",
	  "Masquerade traffic from the sources unless it goes to PREFIX.", add_opts, nat_add },
	{ "del", "NAME", "Remove the masquerade rules of NAME.", NULL, nat_del },
	{ "show", "NAME [--json]", "Say whether NAME's rules are installed.", NULL, nat_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_nat_family = { "nat", "masquerade (nftables)", verbs };
