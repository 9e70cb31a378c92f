/* fuzz_cni_config.c - libFuzzer harness for the CNI config parser: the
 * input is a plugin's stdin.  Every config that parses must render its
 * prevResult in every supported version, and each rendering must parse
 * back (the renderer never emits what the parser refuses).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/core/skel_internal.h"

/* Render res in every version and parse it back; abort on a mismatch. */
static void check_round_trip(const struct vp_cni_result *res)
{
	for (const char *const *v = vp_cni_versions; *v; v++) {
		struct vp_cni_result back = { 0 };
		struct vp_error err = { 0 };
		json_t *json = vp_cni_result_to_json(res, *v);

		if (!json)
			continue;   /* ENOMEM */
		if (vp_cni_result_parse(json, *v, &back, &err) < 0 || back.n_ips != res->n_ips ||
		    back.n_routes != res->n_routes || back.n_interfaces != res->n_interfaces)
			abort();
		vp_cni_result_clear(&back);
		json_decref(json);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum vp_cni_command commands[] = { VP_CNI_ADD, VP_CNI_CHECK, VP_CNI_GC };

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		struct vp_error err = { 0 };
		struct vp_cni_call call;
		char *text = malloc(size + 1);

		if (!text)
			return 0;
		memcpy(text, data, size);
		text[size] = '\0';
		vp_cni_call_init(&call);
		call.req.command = commands[i];
		if (vp_cni_config_parse(&call, text, size, &err) == 0 && call.req.prev)
			check_round_trip(call.req.prev);
		if (err.msg[sizeof(err.msg) - 1] != '\0')
			abort();
		vp_cni_call_free(&call);
	}
	return 0;
}
