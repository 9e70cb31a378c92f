/* options.c - vblk-csi's command line (options.h). */
#include "csi/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi/pool/name.h"

const char csi_usage[] =
	"usage: vblk-csi --endpoint unix:///PATH --node-id ID --pool DIR\n"
	"                [--mode all|controller|node] [--vblkd-control PATH]\n"
	"                [--vblkd-nbd PATH] [--kubelet-dir DIR]\n"
	"  --endpoint      the CSI socket (default: $CSI_ENDPOINT)\n"
	"  --node-id       this node's name, the value of topology.vblk.vplumb.dev/node\n"
	"  --pool          directory of the volume images and their records\n"
	"  --mode          services to serve besides Identity (default all)\n"
	"  --vblkd-control vblkd's control socket: probed, and told of expanded volumes\n"	"  --vblkd-nbd     vblkd's NBD unix socket (its --nbd unix:PATH): kernel devices are\n"
	"                  then attached with the kernel's NBD client where it has one\n"
	"  --kubelet-dir   staging and target paths must be under it (default /var/lib/kubelet)\n";

/* "unix:///abs/path" or "unix:/abs/path" into o->socket. */
static int parse_endpoint(const char *ep, struct csi_options *o, struct vp_error *err)
{
	const char *path = NULL;

	if (!strncmp(ep, "unix://", 7))
		path = ep + 7;
	else if (!strncmp(ep, "unix:", 5))
		path = ep + 5;
	if (!path || path[0] != '/')
		return vp_error_code(err, 0, EINVAL, "--endpoint %s: expected unix:///ABSOLUTE/PATH", ep);
	if (strlen(path) >= 108)
		return vp_error_code(err, 0, EINVAL, "--endpoint %s: socket path too long", ep);
	strcpy(o->socket, path);
	return 0;
}

static int parse_mode(const char *m, struct csi_options *o, struct vp_error *err)
{
	if (!strcmp(m, "all"))
		o->mode = CSI_MODE_ALL;
	else if (!strcmp(m, "controller"))
		o->mode = CSI_MODE_CONTROLLER;
	else if (!strcmp(m, "node"))
		o->mode = CSI_MODE_NODE;
	else
		return vp_error_code(err, 0, EINVAL, "--mode %s: expected all, controller or node", m);
	return 0;
}

static int check(struct csi_options *o, const char *endpoint, struct vp_error *err)
{
	if (!endpoint)
		return vp_error_code(err, 0, EINVAL, "--endpoint (or CSI_ENDPOINT) is required");
	if (!o->node_id || !o->pool)
		return vp_error_code(err, 0, EINVAL, "--node-id and --pool are required");
	if (!*o->node_id || strlen(o->node_id) > VP_POOL_NAME_MAX || !vp_pool_utf8_ok(o->node_id))
		return vp_error_code(err, 0, EINVAL, "--node-id: 1 to %d bytes of UTF-8 without "
				     "control characters", VP_POOL_NAME_MAX);
	if (o->vblkd_nbd && !o->vblkd_control)
		return vp_error_code(err, 0, EINVAL, "--vblkd-nbd needs --vblkd-control (vblkd "
				     "is asked to export the volume there)");
	if (o->vblkd_nbd && (o->vblkd_nbd[0] != '/' || strlen(o->vblkd_nbd) >= 108))
		return vp_error_code(err, 0, EINVAL, "--vblkd-nbd %s: an absolute unix socket "
				     "path, shorter than 108 bytes", o->vblkd_nbd);
	if (o->kubelet_dir[0] != '/')
		return vp_error_code(err, 0, EINVAL, "--kubelet-dir %s: must be absolute",
				     o->kubelet_dir);
	return parse_endpoint(endpoint, o, err);
}

int csi_parse_options(int argc, char **argv, struct csi_options *o, struct vp_error *err)
{
	static const struct option longopts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "node-id", required_argument, NULL, 'n' },
		{ "pool", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "vblkd-control", required_argument, NULL, 'c' },
		{ "vblkd-nbd", required_argument, NULL, 'b' },
		{ "kubelet-dir", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *endpoint = getenv("CSI_ENDPOINT");
	int c, ret;

	*o = (struct csi_options){ .mode = CSI_MODE_ALL, .kubelet_dir = "/var/lib/kubelet" };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'n': o->node_id = optarg; break;
		case 'p': o->pool = optarg; break;
		case 'c': o->vblkd_control = optarg; break;
		case 'b': o->vblkd_nbd = optarg; break;
		case 'k': o->kubelet_dir = optarg; break;
		case 'h': return 1;
		case 'm':
			if ((ret = parse_mode(optarg, o, err)))
				return ret;
			break;
		default:
			return vp_error_code(err, 0, EINVAL, "unknown option (see --help)");
		}
	}
	if (optind < argc)
		return vp_error_code(err, 0, EINVAL, "unexpected argument %s", argv[optind]);
	return check(o, endpoint, err);
}
