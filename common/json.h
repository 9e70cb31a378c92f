/* json.h - typed getters over jansson whose errors name the JSON path.
 *
 * Every getter takes the path of the object it reads from ("" for the root,
 * "ipam.ranges[0][1]" deeper down) so an error reads like
 *   "ipam.ranges[0][1].subnet: expected a string".
 * Errors carry code 7 (CNI "invalid network config") unless noted; other
 * protocols may override err->code.
 *
 * The _opt_ getters leave *out at def when the key is absent (or JSON null);
 * the _req_ getters fail with -ENOENT.  A present key of the wrong type or out
 * of range fails with -EINVAL.  Returned strings and objects are borrowed from
 * the json_t and live as long as it does.
 */
#ifndef VP_COMMON_JSON_H
#define VP_COMMON_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define VP_JSON_ERR_CODE 7

int vp_json_req_str(const json_t *obj, const char *path, const char *key,
		    const char **out, struct vp_error *err) VP_MUST_CHECK;
int vp_json_opt_str(const json_t *obj, const char *path, const char *key,
		    const char *def, const char **out, struct vp_error *err) VP_MUST_CHECK;
int vp_json_opt_bool(const json_t *obj, const char *path, const char *key,
		     bool def, bool *out, struct vp_error *err) VP_MUST_CHECK;
/* Integers must lie in [min, max]. */
int vp_json_opt_int(const json_t *obj, const char *path, const char *key,
		    int64_t def, int64_t min, int64_t max, int64_t *out,
		    struct vp_error *err) VP_MUST_CHECK;
int vp_json_req_int(const json_t *obj, const char *path, const char *key,
		    int64_t min, int64_t max, int64_t *out, struct vp_error *err) VP_MUST_CHECK;
/* Objects and arrays: absent gives *out = NULL. */
int vp_json_opt_obj(const json_t *obj, const char *path, const char *key,
		    json_t **out, struct vp_error *err) VP_MUST_CHECK;
int vp_json_req_obj(const json_t *obj, const char *path, const char *key,
		    json_t **out, struct vp_error *err) VP_MUST_CHECK;
int vp_json_opt_array(const json_t *obj, const char *path, const char *key,
		      json_t **out, struct vp_error *err) VP_MUST_CHECK;

/* Build a child path into buf: vp_json_path(buf, sz, "ipam", "ranges") gives
 * "ipam.ranges"; with key NULL and index >= 0 it appends "[index]".
 * Returns buf (truncated safely when too long). */
const char *vp_json_path(char *buf, size_t size, const char *path, const char *key, long index);

/* Parse text into a JSON value; on failure err says where (line, column) and
 * has code 6 (CNI "failed to decode"). *out is a new reference. */
int vp_json_parse(const char *text, size_t len, json_t **out, struct vp_error *err) VP_MUST_CHECK;

/* Serialize compactly with sorted keys; caller frees.  NULL on ENOMEM. */
char *vp_json_dump(const json_t *value);

#endif
