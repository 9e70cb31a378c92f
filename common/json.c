/* json.c - typed JSON getters whose errors name the path of the bad value. */
#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char *vp_json_path(char *buf, size_t size, const char *path, const char *key, long index)
{
	const char *sep = (path && *path) ? "." : "";

	if (!path)
		path = "";
	if (key)
		snprintf(buf, size, "%s%s%s", path, sep, key);
	else
		snprintf(buf, size, "%s[%ld]", path, index);
	return buf;
}

/* The value at obj.key, NULL when the key is absent or JSON null. */
static json_t *lookup(const json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_null(v) ? NULL : v;
}

static int type_error(struct vp_error *err, const char *path, const char *key, const char *want)
{
	char full[256];

	return vp_error_code(err, VP_JSON_ERR_CODE, EINVAL, "%s: expected %s",
			     vp_json_path(full, sizeof(full), path, key, -1), want);
}

static int missing_error(struct vp_error *err, const char *path, const char *key)
{
	char full[256];

	return vp_error_code(err, VP_JSON_ERR_CODE, ENOENT, "%s: required",
			     vp_json_path(full, sizeof(full), path, key, -1));
}

int vp_json_opt_str(const json_t *obj, const char *path, const char *key,
		    const char *def, const char **out, struct vp_error *err)
{
	json_t *v = lookup(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return type_error(err, path, key, "a string");
	*out = json_string_value(v);
	return 0;
}

int vp_json_req_str(const json_t *obj, const char *path, const char *key,
		    const char **out, struct vp_error *err)
{
	if (!lookup(obj, key))
		return missing_error(err, path, key);
	return vp_json_opt_str(obj, path, key, NULL, out, err);
}

int vp_json_opt_bool(const json_t *obj, const char *path, const char *key,
		     bool def, bool *out, struct vp_error *err)
{
	json_t *v = lookup(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return type_error(err, path, key, "true or false");
	*out = json_is_true(v);
	return 0;
}

int vp_json_opt_int(const json_t *obj, const char *path, const char *key,
		    int64_t def, int64_t min, int64_t max, int64_t *out, struct vp_error *err)
{
	json_t *v = lookup(obj, key);
	json_int_t n;
	char full[256];

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return type_error(err, path, key, "an integer");
	n = json_integer_value(v);
	if (n < min || n > max)
		return vp_error_code(err, VP_JSON_ERR_CODE, ERANGE,
				     "%s: %lld is outside [%lld, %lld]",
				     vp_json_path(full, sizeof(full), path, key, -1),
				     (long long)n, (long long)min, (long long)max);
	*out = n;
	return 0;
}

int vp_json_req_int(const json_t *obj, const char *path, const char *key,
		    int64_t min, int64_t max, int64_t *out, struct vp_error *err)
{
	if (!lookup(obj, key))
		return missing_error(err, path, key);
	return vp_json_opt_int(obj, path, key, 0, min, max, out, err);
}

int vp_json_opt_obj(const json_t *obj, const char *path, const char *key,
		    json_t **out, struct vp_error *err)
{
	json_t *v = lookup(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return type_error(err, path, key, "an object");
	*out = v;
	return 0;
}

int vp_json_req_obj(const json_t *obj, const char *path, const char *key,
		    json_t **out, struct vp_error *err)
{
	if (!lookup(obj, key)) {
		*out = NULL;
		return missing_error(err, path, key);
	}
	return vp_json_opt_obj(obj, path, key, out, err);
}

int vp_json_opt_array(const json_t *obj, const char *path, const char *key,
		      json_t **out, struct vp_error *err)
{
	json_t *v = lookup(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return type_error(err, path, key, "an array");
	*out = v;
	return 0;
}

int vp_json_parse(const char *text, size_t len, json_t **out, struct vp_error *err)
{
	json_error_t jerr;

	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return vp_error_code(err, 6, EINVAL, "invalid JSON at line %d column %d: %s",
				     jerr.line, jerr.column, jerr.text);
	return 0;
}

char *vp_json_dump(const json_t *value)
{
	return json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
}
