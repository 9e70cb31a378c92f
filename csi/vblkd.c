/* vblkd.c - one request, one answer on vblkd's control socket (vblkd.h). */
#include "csi/vblkd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"

#define ANSWER_MAX (64U << 10)

static int dial(const char *path, struct vp_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CSI_VBLKD_TIMEOUT_MS / 1000,
			      .tv_usec = (CSI_VBLKD_TIMEOUT_MS % 1000) * 1000 };
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		return vp_error_set(err, ENAMETOOLONG, "vblkd control %s", path);
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return vp_error_set(err, errno, "vblkd control %s", path);
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(s);
		return vp_error_set(err, e, "vblkd control %s", path);
	}
	return s;
}

/* Read one answer line from s into a malloc'd buffer. */
static int read_line(int s, char **line, size_t *len, struct vp_error *err)
{
	char *buf = malloc(ANSWER_MAX);
	size_t n = 0;

	if (!buf)
		return vp_error_set(err, ENOMEM, "vblkd answer");
	while (n < ANSWER_MAX && !memchr(buf, '\n', n)) {
		ssize_t got = read(s, buf + n, ANSWER_MAX - n);

		if (got <= 0) {
			free(buf);
			return vp_error_set(err, got ? errno : EPIPE, "vblkd answer");
		}
		n += (size_t)got;
	}
	*line = buf;
	*len = (char *)memchr(buf, '\n', n) ? (size_t)((char *)memchr(buf, '\n', n) - buf) : n;
	return 0;
}

/* Send request, parse the answer: 0 when "ok" is true, else -errno of the
 * answer.  With out, the answer (a new reference) when it is 0. */
static int ask(const char *path, json_t *request, json_t **out, struct vp_error *err)
{
	char *text = vp_json_dump(request), *line = NULL;
	size_t len = 0;
	json_t *answer = NULL;
	int s, ret;
	bool ok = false;
	int64_t e;

	if (!text)
		return vp_error_set(err, ENOMEM, "vblkd request");
	s = dial(path, err);
	ret = s < 0 ? s : 0;
	if (!ret && (write(s, text, strlen(text)) < 0 || write(s, "\n", 1) < 0))
		ret = vp_error_set(err, errno, "vblkd control %s: send", path);
	ret = ret ?: read_line(s, &line, &len, err);
	ret = ret ?: vp_json_parse(line, len, &answer, err);
	ret = ret ?: vp_json_opt_bool(answer, "", "ok", false, &ok, err);
	if (!ret && !ok) {
		const char *msg = "";

		if (vp_json_opt_int(answer, "", "errno", EIO, 1, 4095, &e, NULL))
			e = EIO;
		if (vp_json_opt_str(answer, "", "error", "", &msg, NULL))
			msg = "(no message)";
		ret = vp_error_code(err, 0, (int)e, "vblkd: %s", msg);
	}
	if (!ret && out)
		*out = json_incref(answer);
	json_decref(answer);
	free(line);
	free(text);
	if (s >= 0)
		close(s);
	return ret;
}

int csi_vblkd_ping(const char *path, struct vp_error *err)
{
	json_t *req = json_pack("{s:s}", "command", "export-list");
	int ret = req ? ask(path, req, NULL, err) : vp_error_set(err, ENOMEM, "vblkd request");

	json_decref(req);
	return ret;
}

/* vblkd's export-list answer (a new reference) into *answer. */
static int list_exports(const char *path, json_t **answer, struct vp_error *err)
{
	json_t *req = json_pack("{s:s}", "command", "export-list");
	int ret = req ? ask(path, req, answer, err) : vp_error_set(err, ENOMEM, "vblkd request");

	json_decref(req);
	return ret;
}

int csi_vblkd_each_export(const char *path, void (*fn)(void *ctx, const char *name), void *ctx,
			  struct vp_error *err)
{
	json_t *answer = NULL, *e;
	int ret = list_exports(path, &answer, err);
	size_t i;

	if (ret)
		return ret;
	json_array_foreach(json_object_get(answer, "exports"), i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));

		if (n)
			fn(ctx, n);
	}
	json_decref(answer);
	return 0;
}

/* The ublk device id in a ublk object of vblkd's answer: 0, or -EPROTO
 * when it has none in range. */
static int ublk_id(const json_t *u, uint32_t *id, struct vp_error *err)
{
	const json_t *v = json_object_get(u, "id");

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
		return vp_error_code(err, 0, EPROTO, "vblkd: ublk answer without a device id");
	*id = (uint32_t)json_integer_value(v);
	return 0;
}

int csi_vblkd_ublk_find(const char *path, const char *name, uint32_t *id, struct vp_error *err)
{
	json_t *answer = NULL, *e, *u = NULL;
	int ret = list_exports(path, &answer, err);
	size_t i;

	if (ret)
		return ret;
	json_array_foreach(json_object_get(answer, "exports"), i, e)
		if (json_is_string(json_object_get(e, "name")) &&
		    !strcmp(json_string_value(json_object_get(e, "name")), name))
			u = json_object_get(e, "ublk");
	ret = u ? ublk_id(u, id, err) : -ENOENT;
	json_decref(answer);
	return ret;
}

struct serves_query {
	const char *name;
	bool found;
};

static void match_name(void *ctx, const char *name)
{
	struct serves_query *q = ctx;

	q->found |= !strcmp(q->name, name);
}

int csi_vblkd_serves(const char *path, const char *name, bool *serves, struct vp_error *err)
{
	struct serves_query q = { name, false };
	int ret = csi_vblkd_each_export(path, match_name, &q, err);

	*serves = q.found;
	return ret;
}

int csi_vblkd_resized(const char *path, const char *name, uint64_t size, struct vp_error *err)
{
	json_t *req = json_pack("{s:s, s:s, s:I}", "command", "image-resize", "export", name,
				"size", (json_int_t)size);
	int ret = req ? ask(path, req, NULL, err) : vp_error_set(err, ENOMEM, "vblkd request");

	json_decref(req);
	return ret;
}

/* ask() with req consumed. */
static int ask_once(const char *path, json_t *req, json_t **out, struct vp_error *err)
{
	int ret = req ? ask(path, req, out, err) : vp_error_set(err, ENOMEM, "vblkd request");

	json_decref(req);
	return ret;
}

int csi_vblkd_export_add(const char *path, const char *name, const char *image, bool readonly,
			 struct vp_error *err)
{
	return ask_once(path, json_pack("{s:s, s:s, s:s, s:b}", "command", "export-add", "name",
					name, "image", image, "readonly", readonly), NULL, err);
}

int csi_vblkd_export_claim(const char *path, const char *name, const char *image,
			   bool readonly, struct vp_error *err)
{
	const struct timespec step = { .tv_nsec = CSI_VBLKD_CLAIM_STEP_MS * 1000000L };
	int ret;

	for (unsigned waited = 0;; waited += CSI_VBLKD_CLAIM_STEP_MS) {
		ret = csi_vblkd_export_add(path, name, image, readonly, err);
		if (ret != -EBUSY || waited >= CSI_VBLKD_CLAIM_WAIT_MS)
			return ret;
		vp_error_clear(err);
		nanosleep(&step, NULL);
	}
}

int csi_vblkd_export_remove(const char *path, const char *name, bool *synced,
			    struct vp_error *err)
{
	json_t *answer = NULL;
	int ret = ask_once(path, json_pack("{s:s, s:s}", "command", "export-remove", "name", name),
			   &answer, err);
	const char *why;

	*synced = true;
	if (ret)
		return ret;
	/* "synced" is absent for a read-only image: nothing to sync. */
	if (json_is_false(json_object_get(answer, "synced"))) {
		*synced = false;
		why = json_string_value(json_object_get(answer, "sync_error"));
		vp_error_code(err, 0, EIO, "vblkd: final fdatasync of %s failed: %s", name,
			      why ? why : "(no message)");
	}
	json_decref(answer);
	return 0;
}

int csi_vblkd_vhost_add(const char *path, const char *name, const char *socket,
			struct vp_error *err)
{
	return ask_once(path, json_pack("{s:s, s:s, s:s}", "command", "vhost-add", "name", name,
					"socket", socket), NULL, err);
}

int csi_vblkd_vhost_remove(const char *path, const char *name, struct vp_error *err)
{
	return ask_once(path, json_pack("{s:s, s:s}", "command", "vhost-remove", "name", name),
			NULL, err);
}

int csi_vblkd_ublk_add(const char *path, const char *name, uint32_t *id, struct vp_error *err)
{
	json_t *answer = NULL;
	int ret = ask_once(path, json_pack("{s:s, s:s}", "command", "ublk-add", "name", name),
			   &answer, err);

	if (ret)
		return ret;
	ret = ublk_id(json_object_get(answer, "ublk"), id, err);
	json_decref(answer);
	return ret;
}

int csi_vblkd_ublk_remove(const char *path, const char *name, struct vp_error *err)
{
	return ask_once(path, json_pack("{s:s, s:s}", "command", "ublk-remove", "name", name),
			NULL, err);
}
