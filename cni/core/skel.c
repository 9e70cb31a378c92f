/* skel.c - vp_cni_main(): environment, stdin, config, one handler from the
 * plugin's table, and the result or error JSON on stdout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "cni/core/skel_internal.h"

extern char **environ;

void vp_cni_call_init(struct vp_cni_call *call)
{
	memset(call, 0, sizeof(*call));
}

void vp_cni_call_free(struct vp_cni_call *call)
{
	free(call->args_buf);
	free(call->req.env_args);
	free(call->req.valid);
	json_decref(call->req.config);
	free(call->input);
	vp_cni_result_clear(&call->prev);
	vp_cni_call_init(call);
}

int vp_cni_read_all(int fd, size_t cap, char **out, size_t *len)
{
	size_t size = 0, used = 0;
	char *buf = NULL, *bigger;
	ssize_t n;
	int ret;

	for (;;) {
		if (used == size) {
			ret = -EFBIG;   /* cap + 1 bytes read: too big */
			if (size > cap)
				goto fail;
			size = size ? size * 2 : 4096;
			size = size > cap + 1 ? cap + 1 : size;
			ret = -ENOMEM;
			bigger = realloc(buf, size + 1);   /* + the NUL */
			if (!bigger)
				goto fail;
			buf = bigger;
		}
		n = read(fd, buf + used, size - used);
		if (n < 0 && errno == EINTR)
			continue;
		ret = -errno;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
fail:
	free(buf);
	return ret;
}

/* stdin, or nothing for VERSION from a terminal (it would block). */
static int read_input(int fd, enum vp_cni_command command, char **text, size_t *len,
		      struct vp_error *err)
{
	int ret;

	if (command == VP_CNI_VERSION && isatty(fd)) {
		*len = 0;
		*text = strdup("");
		return *text ? 0 : vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: stdin");
	}
	ret = vp_cni_read_all(fd, VP_CNI_STDIN_MAX, text, len);
	if (ret == -EFBIG)
		return vp_error_code(err, VP_CNI_ERR_DECODE, 0, "stdin: config larger than %u bytes",
				     VP_CNI_STDIN_MAX);
	if (ret < 0)
		return vp_error_code(err, VP_CNI_ERR_DECODE, -ret, "stdin: reading the config: %s",
				     strerror(-ret));
	return 0;
}

/* Call the plugin's handler for req->command; ADD's result goes to *reply. */
static int dispatch(const struct vp_cni_plugin *plugin, const struct vp_cni_request *req,
		    json_t **reply, struct vp_error *err)
{
	const vp_cni_handler handlers[] = {
		[VP_CNI_ADD] = plugin->add,
		[VP_CNI_DEL] = plugin->del,
		[VP_CNI_CHECK] = plugin->check,
		[VP_CNI_STATUS] = plugin->status,
		[VP_CNI_GC] = plugin->gc,
	};
	bool with_result = req->command == VP_CNI_ADD || req->command == VP_CNI_CHECK;
	struct vp_cni_result result = { 0 };
	int ret = 0;

	if (handlers[req->command])
		ret = handlers[req->command](req, with_result ? &result : NULL, err);
	if (ret == 0 && req->command == VP_CNI_ADD &&
	    !(*reply = vp_cni_result_to_json(&result, req->version)))
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: rendering the result");
	vp_cni_result_clear(&result);
	return ret;
}

/* Everything up to the reply: *reply is set for ADD and VERSION. */
static int handle(const struct vp_cni_plugin *plugin, struct vp_cni_call *call, char *const *envp,
		  int in_fd, json_t **reply, struct vp_error *err)
{
	char *text;
	size_t len;
	int ret;

	ret = vp_cni_env_parse(call, envp, err);
	if (ret == 0)
		ret = read_input(in_fd, call->req.command, &text, &len, err);
	if (ret < 0)
		return ret;
	if (call->req.command == VP_CNI_VERSION) {
		*reply = vp_cni_version_info(text, len);
		free(text);
		return *reply ? 0 : vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: VERSION");
	}
	ret = vp_cni_config_parse(call, text, len, err);
	return ret < 0 ? ret : dispatch(plugin, &call->req, reply, err);
}

/* Print reply as one line; false when it could not be written. */
static bool print(FILE *out, const json_t *reply)
{
	char *text = vp_json_dump(reply);
	bool ok = text && fprintf(out, "%s\n", text) > 0 && fflush(out) == 0;

	free(text);
	return ok;
}

int vp_cni_run(const struct vp_cni_plugin *plugin, char *const *envp, int in_fd, FILE *out)
{
	struct vp_error err = { 0 };
	struct vp_cni_call call;
	json_t *reply = NULL;
	int ret;

	vp_cni_call_init(&call);
	ret = handle(plugin, &call, envp, in_fd, &reply, &err);
	if (ret != 0) {
		json_decref(reply);
		reply = vp_cni_error_json(call.req.version ? call.req.version : VP_CNI_DEFAULT_VERSION,
					  &err);
	}
	if (reply && !print(out, reply))
		ret = -EIO;
	json_decref(reply);
	vp_cni_call_free(&call);
	return ret == 0 ? 0 : 1;
}

int vp_cni_main(const struct vp_cni_plugin *plugin)
{
	return vp_cni_run(plugin, environ, STDIN_FILENO, stdout);
}

/* The plugins of this executable, once vp_cni_main_multi() has run. */
static const struct vp_cni_plugin *const *builtins;

static const struct vp_cni_plugin *builtin_named(const char *name)
{
	for (const struct vp_cni_plugin *const *p = builtins; p && *p; p++)
		if (strcmp((*p)->name, name) == 0)
			return *p;
	return NULL;
}

const struct vp_cni_plugin *vp_cni_builtin(const char *type, const char *path)
{
	const struct vp_cni_plugin *plugin = builtin_named(type);
	struct stat self, other;

	if (!plugin || stat("/proc/self/exe", &self) < 0 || stat(path, &other) < 0)
		return NULL;
	return self.st_dev == other.st_dev && self.st_ino == other.st_ino ? plugin : NULL;
}

int vp_cni_main_multi(const struct vp_cni_plugin *const *plugins, const char *argv0)
{
	const char *name = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
	const struct vp_cni_plugin *plugin;

	builtins = plugins;
	plugin = builtin_named(name);
	if (plugin)
		return vp_cni_main(plugin);
	fprintf(stderr, "%s: run me as one of:", name);
	for (const struct vp_cni_plugin *const *p = plugins; *p; p++)
		fprintf(stderr, " %s", (*p)->name);
	fprintf(stderr, " (symlinks to this executable)\n");
	return 2;
}
