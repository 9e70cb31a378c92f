/* ipam_fill.c - pre-fill a vnet-ipam state file with N allocations (one per
 * range set each, container IDs "fill<n>") in one commit, for benchmarks.
 * Usage: ipam_fill <config.json> <count> */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cni/ipam/config.h"
#include "cni/ipam/store.h"

static int fill(const struct vp_ipam_config *cfg, struct vp_ipam_store *s, long count,
		struct vp_error *err)
{
	char cid[64];
	int ret;

	for (long i = 0; i < count; i++) {
		snprintf(cid, sizeof(cid), "fill%08ld", i);
		for (size_t k = 0; k < cfg->n_sets; k++) {
			struct vp_ip ip;

			if (vp_ipam_store_find_free(s, k, &ip))
				return vp_error_set(err, ENOSPC, "range set %zu full after %ld", k, i);
			if ((ret = vp_ipam_store_add(s, &ip, cid, "eth0", err)))
				return ret;
			vp_ipam_store_set_cursor(s, k, &ip);
		}
	}
	return vp_ipam_store_commit(s, err);
}

int main(int argc, char **argv)
{
	struct vp_ipam_config cfg;
	struct vp_ipam_store *s;
	struct vp_error err = { 0 };
	json_error_t jerr;
	json_t *j;
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <config.json> <count>\n", argv[0]);
		return 2;
	}
	j = json_load_file(argv[1], 0, &jerr);
	if (!j) {
		fprintf(stderr, "%s: %s\n", argv[1], jerr.text);
		return 1;
	}
	ret = vp_ipam_config_parse(j, &cfg, &err);
	json_decref(j);
	if (ret == 0) {
		ret = vp_ipam_store_open(&cfg, NULL, NULL, &s, &err);
		if (ret == 0) {
			ret = fill(&cfg, s, strtol(argv[2], NULL, 10), &err);
			vp_ipam_store_close(s);
		}
		vp_ipam_config_free(&cfg);
	}
	if (ret)
		fprintf(stderr, "ipam_fill: %s\n", err.msg);
	return ret ? 1 : 0;
}
