/* options.h - vblk-csi's command line (docs/csi.md lists the options). */
#ifndef VP_CSI_OPTIONS_H
#define VP_CSI_OPTIONS_H

#include <limits.h>

#include "common/error.h"

enum csi_mode { CSI_MODE_ALL, CSI_MODE_CONTROLLER, CSI_MODE_NODE };

struct csi_options {
	char socket[PATH_MAX];       /* the endpoint's unix socket path */
	const char *node_id;
	const char *pool;
	enum csi_mode mode;
	const char *vblkd_control;   /* NULL: no vblkd to tell or probe */
	const char *vblkd_nbd;       /* vblkd's NBD unix socket, or NULL (needs vblkd_control) */
	const char *kubelet_dir;     /* where staging and target paths must be */
};

/* Parse argv (and CSI_ENDPOINT when --endpoint is not given): 0, 1 when
 * --help was asked (usage printed by the caller), or -EINVAL with err set. */
int csi_parse_options(int argc, char **argv, struct csi_options *o,
		      struct vp_error *err) VP_MUST_CHECK;

extern const char csi_usage[];

#endif
