/* tap.c - vnetctl tap add|del|show: persistent taps for VMs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vnet/tap.h"
#include "vnet/vnetctl/vnetctl.h"

static int tap_check(struct vnetctl *c, const struct vnetctl_tap *t, const struct vp_link_info *l,
		     struct vp_error *err)
{
	bool mq = t->multi_queue || t->queues > 1;
	char what[IFNAMSIZ + 8];
	struct vp_tap_state st;
	int ret;

	ret = vp_tap_inspect(t->name, &st, err);
	if (ret == -EINVAL)
		return vp_error_code(err, 0, EEXIST, "tap %s: kind is %s, want tun (tap)", t->name,
				    l->kind[0] ? l->kind : "plain");
	if (ret < 0)
		return ret;
	if (st.multi_queue != mq)
		return vp_error_code(err, 0, EEXIST, "tap %s: multi_queue is %s, want %s", t->name,
				    st.multi_queue ? "on" : "off", mq ? "on" : "off");
	if (st.vnet_hdr != t->vnet_hdr)
		return vp_error_code(err, 0, EEXIST, "tap %s: vnet_hdr is %s, want %s", t->name,
				    st.vnet_hdr ? "on" : "off", t->vnet_hdr ? "on" : "off");
	if (st.owner != t->owner)
		return vp_error_code(err, 0, EEXIST, "tap %s: owner is %ld, want %ld", t->name,
				    st.owner, t->owner);
	if (st.group != t->group)
		return vp_error_code(err, 0, EEXIST, "tap %s: group is %ld, want %ld", t->name,
				    st.group, t->group);
	if (t->mtu && l->mtu != t->mtu)
		return vp_error_code(err, 0, EEXIST, "tap %s: mtu is %u, want %u", t->name, l->mtu,
				    t->mtu);
	snprintf(what, sizeof(what), "tap %s", t->name);
	ret = vnetctl_check_master(&c->ns[0], what, l, t->bridge, err);
	return ret ? ret : vnetctl_check_owner(c, what, l, err);
}

int vnetctl_tap_ensure(struct vnetctl *c, const struct vnetctl_tap *t, struct vp_error *err)
{
	struct vp_tap_config cfg = {
		.name = t->name, .queues = t->queues ? t->queues : 1,
		.multi_queue = t->multi_queue, .vnet_hdr = t->vnet_hdr,
		.owner = t->owner, .group = t->group, .mtu = t->mtu,
	};
	struct vp_link_info l;
	int ret;

	ret = vnetctl_link_lookup(&c->ns[0], t->name, &l, err);
	if (ret == 0) {
		ret = tap_check(c, t, &l, err);
		if (ret == 0)
			vnetctl_already(c, "present", "tap %s", t->name);
		return ret;
	}
	if (ret != -ENODEV)
		return ret;
	if (!c->dry_run) {
		ret = vp_tap_create(c->ns[0].nl, &cfg, &l, err);
		if (ret == 0)
			ret = vnetctl_link_created(c, &c->ns[0], &l, t->bridge, err);
		if (ret < 0)
			return ret;
	}
	vnetctl_done(c, "created", "tap %s", t->name);
	return 0;
}

static const struct vnetctl_optdef add_opts[] = {
	{ "queues", "N", "queues (default 1; more than 1 makes it multi-queue)" },
	{ "multi-queue", NULL, "IFF_MULTI_QUEUE even with one queue" },
	{ "vnet-hdr", NULL, "IFF_VNET_HDR (virtio-net header, for vhost-net)" },
	{ "owner", "UID", "user allowed to open it (default: none)" },
	{ "group", "GID", "group allowed to open it (default: none)" },
	{ "bridge", "BRIDGE", "enslave it to BRIDGE" },
	{ "mtu", "N", "MTU" },
	{ NULL, NULL, NULL },
};

static int tap_add(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	struct vnetctl_tap t = { 0 };
	unsigned long queues, mtu, owner, group;
	int ret;

	ret = vnetctl_arg_name(a, "tap NAME", &t.name, err);
	if (ret == 0)
		ret = vnetctl_arg_uint(a, "queues", 1, 256, &queues, err);
	if (ret == 0)
		ret = vnetctl_arg_uint(a, "mtu", 0, 65535, &mtu, err);
	if (ret == 0)
		ret = vnetctl_arg_uint(a, "owner", (unsigned long)-1, 0xfffffffe, &owner, err);
	if (ret == 0)
		ret = vnetctl_arg_uint(a, "group", (unsigned long)-1, 0xfffffffe, &group, err);
	if (ret < 0)
		return ret;
	if (queues < 1)
		return vnetctl_usage(err, "--queues must be at least 1");
	t.queues = queues;
	t.mtu = mtu;
	t.owner = vnetctl_arg(a, "owner") ? (long)owner : -1;
	t.group = vnetctl_arg(a, "group") ? (long)group : -1;
	t.multi_queue = vnetctl_flag(a, "multi-queue");
	t.vnet_hdr = vnetctl_flag(a, "vnet-hdr");
	t.bridge = vnetctl_arg(a, "bridge");
	return vnetctl_tap_ensure(c, &t, err);
}

static int tap_del(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	const char *name;
	int ret = vnetctl_arg_name(a, "tap NAME", &name, err);

	return ret ? ret : vnetctl_link_remove(c, "tap", "tun", NULL, name, err);
}

static json_t *tap_state(struct vnetctl_ns *ns, const struct vp_link_info *l)
{
	struct vp_tap_state st;

	(void)ns;
	if (vp_tap_inspect(l->name, &st, NULL) < 0)
		return NULL;
	return json_pack("{s:b, s:b, s:I, s:I, s:b}", "multi_queue", st.multi_queue,
			 "vnet_hdr", st.vnet_hdr, "owner", (json_int_t)st.owner,
			 "group", (json_int_t)st.group, "persistent", st.persist);
}

static int tap_show(struct vnetctl *c, const struct vnetctl_args *a, struct vp_error *err)
{
	return vnetctl_link_show(c, "tun", NULL, a->name, tap_state, err);
}

static const struct vnetctl_verb verbs[] = {
	{ "add", "NAME [--queues N] [--multi-queue] [--vnet-hdr] [--owner UID] [--group GID] "
	  "[--bridge BRIDGE] [--mtu N]",
	  "Create persistent tap NAME (up); an existing one must match every option.",
	  add_opts, tap_add },
	{ "del", "NAME", "Delete tap NAME.", NULL, tap_del },
	{ "show", "[NAME] [--json]", "Show one tap or all, with flags, owner and group.", NULL,
	  tap_show },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct vnetctl_family vnetctl_tap_family = { "tap", "persistent tap devices", verbs };
