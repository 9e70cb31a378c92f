/* errjson.c - the CNI error JSON: {cniVersion, code, msg, details}, with a
 * short msg per code and the full vplumb error text as details.
 */
#include "cni/core/skel_internal.h"

/* The short meaning of code (SPEC.md "Error codes" and vplumb's own). */
static const char *code_msg(int code)
{
	switch (code) {
	case VP_CNI_ERR_INCOMPATIBLE_VERSION: return "incompatible CNI version";
	case VP_CNI_ERR_UNSUPPORTED_FIELD: return "unsupported field in network configuration";
	case VP_CNI_ERR_UNKNOWN_CONTAINER: return "container unknown or does not exist";
	case VP_CNI_ERR_INVALID_ENV: return "invalid necessary environment variables";
	case VP_CNI_ERR_IO: return "I/O failure";
	case VP_CNI_ERR_DECODE: return "failed to decode content";
	case VP_CNI_ERR_INVALID_CONFIG: return "invalid network config";
	case VP_CNI_ERR_TRY_AGAIN: return "try again later";
	case VP_CNI_ERR_NOT_AVAILABLE: return "plugin not available";
	case VP_CNI_ERR_LIMITED_CONNECTIVITY: return "plugin not available, existing containers may have limited connectivity";
	case VP_CNI_ERR_SYSTEM: return "system error";
	case VP_CNI_ERR_EXHAUSTED: return "no free address in range set";
	case VP_CNI_ERR_IFACE_EXISTS: return "interface already exists";
	case VP_CNI_ERR_ATTACHMENT_EXISTS: return "attachment already exists";
	default: return "plugin error";
	}
}

/* text as a JSON string; bytes that are not valid UTF-8 (an env value cut by
 * "%.100s", say) become '?' rather than losing the whole error. */
static json_t *string_lossy(const char *text)
{
	char copy[sizeof(((struct vp_error *)0)->msg)];
	json_t *s = json_string(text);
	size_t i;

	if (s)
		return s;
	for (i = 0; text[i] && i < sizeof(copy) - 1; i++)
		copy[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
	copy[i] = '\0';
	return json_string(copy);
}

json_t *vp_cni_error_json(const char *version, const struct vp_error *err)
{
	int code = err->code > 0 ? err->code : VP_CNI_ERR_SYSTEM;

	return json_pack("{s:s, s:i, s:s, s:o}", "cniVersion", version, "code", code,
			 "msg", code_msg(code),
			 "details", string_lossy(err->msg[0] ? err->msg : code_msg(code)));
}
