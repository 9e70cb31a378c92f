/* fuzz_csi_request.c - vblk-csi's handling of untrusted CSI request bytes:
 * the first byte picks a request type, the rest is unpacked as it
 * (csi_unpack, with its repack check) and, for CreateVolume, run through
 * every check CreateVolume makes before touching the pool (name,
 * capabilities, parameters, capacity, topology), and for record text
 * through the pool's record parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csi/pool/name.h"
#include "csi/pool/record.h"
#include "csi/service.h"

static const ProtobufCMessageDescriptor *const types[] = {
	&csi__v1__create_volume_request__descriptor,
	&csi__v1__create_snapshot_request__descriptor,
	&csi__v1__list_volumes_request__descriptor,
	&csi__v1__validate_volume_capabilities_request__descriptor,
	&csi__v1__controller_expand_volume_request__descriptor,
	&csi__v1__get_capacity_request__descriptor,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static void check_create(const Csi__V1__CreateVolumeRequest *req)
{
	struct vp_volume v = { 0 };
	char msg[256];
	uint64_t size;

	(void)vp_pool_check_name(req->name, NULL);
	(void)csi_caps_supported(req->volume_capabilities, req->n_volume_capabilities, msg,
				 sizeof(msg));
	(void)csi_parse_params((void *const *)req->parameters, req->n_parameters, &v, msg,
			       sizeof(msg));
	(void)csi_capacity(req->capacity_range, CSI_DEFAULT_SIZE, &size, msg, sizeof(msg));
	(void)csi_capacity_fits(req->capacity_range, 1 << 20);
	(void)csi_topology_ok(req->accessibility_requirements, "node");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vp_grpc_reply reply = { 0 };
	struct vp_volume v;
	void *msg;

	if (size < 1)
		return 0;
	if (data[0] == 0xff) {  /* a record file's text */
		char *text = malloc(size);

		if (!text)
			return 0;
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		(void)vp_record_decode(text, size - 1, &v, NULL);
		free(text);
		return 0;
	}
	msg = csi_unpack(types[data[0] % N_TYPES], data + 1, size - 1, &reply);
	if (msg && data[0] % N_TYPES == 0)
		check_create(msg);
	csi_free(msg);
	return 0;
}
