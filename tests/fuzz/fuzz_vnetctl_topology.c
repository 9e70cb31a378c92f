/* fuzz_vnetctl_topology.c - libFuzzer harness for the vnetctl topology
 * parser: any input either parses into a topology whose references all
 * resolve, or fails as a usage error with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnet/vnetctl/topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vp_error err = { 0 };
	struct vnetctl_topology t;

	if (vnetctl_topology_parse((const char *)data, size, &t, &err) < 0) {
		if (err.code != VNETCTL_ERR_USAGE || !err.msg[0] || t.root)
			abort();
		return 0;
	}
	if (!t.name || (t.n_bridges && !t.bridges))
		abort();
	/* Dependency order: every master comes before its ports. */
	for (size_t i = 0; i < t.n_bridges; i++) {
		size_t j;

		if (!t.bridges[i].master)
			continue;
		for (j = 0; j < i && strcmp(t.bridges[j].b.name, t.bridges[i].master); j++)
			;
		if (j == i)
			abort();
	}
	vnetctl_topology_free(&t);
	return 0;
}
