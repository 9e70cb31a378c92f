/* record.c - volume records as JSON (record.h). */
#include "csi/pool/record.h"

#include <errno.h>
#include <string.h>

#include "common/json.h"

int vp_record_encode(const struct vp_volume *v, char **text)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:I, s:s, s:b, s:s, s:I}", "version",
			      VP_RECORD_VERSION, "id", v->id, "name", v->name,
			      "size", (json_int_t)v->size, "fsType", v->fs_type, "vmDisk", v->vm_disk,
			      "source", v->source, "created", (json_int_t)v->created_ns);

	if (!o)
		return -ENOMEM;
	*text = vp_json_dump(o);
	json_decref(o);
	return *text ? 0 : -ENOMEM;
}

static int copy_str(char *dst, size_t size, const char *src, const char *what,
		    struct vp_error *err)
{
	if (strlen(src) >= size)
		return vp_error_code(err, 0, EINVAL, "record: %s too long", what);
	strcpy(dst, src);
	return 0;
}

static int decode_fields(const json_t *o, struct vp_volume *v, struct vp_error *err)
{
	const char *id, *name, *fs, *src;
	int64_t version, size;
	int ret;

	if ((ret = vp_json_req_int(o, "", "version", 1, VP_RECORD_VERSION, &version, err)) ||
	    (ret = vp_json_req_str(o, "", "id", &id, err)) ||
	    (ret = vp_json_req_str(o, "", "name", &name, err)) ||
	    (ret = vp_json_req_int(o, "", "size", 0, INT64_MAX, &size, err)) ||
	    (ret = vp_json_opt_str(o, "", "fsType", "", &fs, err)) ||
	    (ret = vp_json_opt_bool(o, "", "vmDisk", false, &v->vm_disk, err)) ||
	    (ret = vp_json_opt_str(o, "", "source", "", &src, err)) ||
	    (ret = vp_json_opt_int(o, "", "created", 0, 0, INT64_MAX, &v->created_ns, err)))
		return ret;
	if (!vp_pool_is_id(id))
		return vp_error_code(err, 0, EINVAL, "record: id %s is not a volume or snapshot ID", id);
	if (*src && !vp_pool_is_id(src))
		return vp_error_code(err, 0, EINVAL, "record: source %s is not an ID", src);
	if ((ret = vp_pool_check_name(name, err))) {
		vp_error_prefix(err, "record");
		return ret;
	}
	v->size = (uint64_t)size;
	return copy_str(v->id, sizeof(v->id), id, "id", err) ?:
	       copy_str(v->name, sizeof(v->name), name, "name", err) ?:
	       copy_str(v->fs_type, sizeof(v->fs_type), fs, "fsType", err) ?:
	       copy_str(v->source, sizeof(v->source), src, "source", err);
}

int vp_record_decode(const char *text, size_t len, struct vp_volume *v, struct vp_error *err)
{
	json_t *o;
	int ret;

	*v = (struct vp_volume){ 0 };
	ret = vp_json_parse(text, len, &o, err);
	if (ret)
		return ret;
	if (!json_is_object(o))
		ret = vp_error_code(err, 0, EINVAL, "record: not a JSON object");
	else
		ret = decode_fields(o, v, err);
	json_decref(o);
	return ret;
}
