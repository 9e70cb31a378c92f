/* delegate.c - run a delegate plugin (IPAM) found on CNI_PATH: the same
 * environment with CNI_COMMAND set to the verb, the caller's stdin bytes on
 * its stdin, its stdout read back (capped) and its exit status checked.  No
 * shell; every fd is close-on-exec; the child is always reaped.  Start and
 * finish are split so a plugin can do its own work while IPAM runs.
 *
 * When the delegate found is this very executable (vnet-cni, cni/multicall)
 * it runs in-process instead: the same vp_cni_run() over the same
 * environment and stdin bytes, its stdout captured in memory, so the caller
 * sees exactly what the child would have printed, minus a process start.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json.h"
#include "cni/core/delegate.h"
#include "cni/core/skel_internal.h"

#define OUT_MAX (1u << 20)   /* a delegate's stdout: result or error JSON */
#define ERR_MAX 1024u        /* its stderr, kept for the error message */

extern char **environ;

/* Bytes read from one of the child's pipes, at most max of them kept. */
struct sink {
	char *buf;
	size_t len, max;
	bool overflow;
};

const char *vp_cni_ipam_type(const struct vp_cni_request *req, struct vp_error *err)
{
	const char *type;
	json_t *ipam;

	if (vp_json_req_obj(req->config, "", "ipam", &ipam, err) < 0 ||
	    vp_json_req_str(ipam, "ipam", "type", &type, err) < 0)
		return NULL;
	return type;
}

/* The executable file type in one of the colon-separated dirs of cni_path. */
static int find_plugin(const char *cni_path, const char *type, char *path, size_t size)
{
	const char *dir = cni_path, *end;
	struct stat st;
	int len, n;

	for (; *dir; dir = *end ? end + 1 : end) {
		end = strchrnul(dir, ':');
		len = (int)(end - dir);
		if (len == 0)
			continue;
		n = snprintf(path, size, "%.*s/%s", len, dir, type);
		if (n > 0 && (size_t)n < size && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(path, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* envp with CNI_COMMAND replaced by command_var; free the array (only). */
static char **child_env(char *const *envp, char *command_var)
{
	size_t n = 0, i = 0;
	char **env;

	while (envp[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (; *envp; envp++)
		if (strncmp(*envp, "CNI_COMMAND=", 12))
			env[i++] = *envp;
	env[i] = command_var;
	return env;
}

/* A copy of data to use as the child's stdin: a memfd never
 * blocks the writer and never raises SIGPIPE. */
static int stdin_fd(const char *data, size_t len)
{
	int fd = memfd_create("cni-stdin", MFD_CLOEXEC), ret = 0;
	size_t done = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (done < len && ret == 0) {
		n = write(fd, data + done, len - done);
		if (n > 0)
			done += (size_t)n;
		else if (n == 0 || errno != EINTR)
			ret = n == 0 ? -EIO : -errno;
	}
	if (ret == 0 && lseek(fd, 0, SEEK_SET) < 0)
		ret = -errno;
	if (ret == 0)
		return fd;
	close(fd);
	return ret;
}

static int spawn(const char *path, char **env, const int fds[3], pid_t *pid)
{
	char *argv[] = { (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	int ret;

	ret = posix_spawn_file_actions_init(&fa);
	if (ret)
		return -ret;
	for (int i = 0; i < 3 && ret == 0; i++)
		ret = posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	if (ret == 0)
		ret = posix_spawn(pid, path, &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	return -ret;
}

/* Read what fd has into s: 1 when more may come, 0 at EOF, or -errno. */
static int drain(int fd, struct sink *s)
{
	char chunk[4096], *bigger;
	ssize_t n = read(fd, chunk, sizeof(chunk));
	size_t keep;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	keep = (size_t)n < s->max - s->len ? (size_t)n : s->max - s->len;
	s->overflow |= keep < (size_t)n;
	if (keep == 0)
		return 1;
	bigger = realloc(s->buf, s->len + keep + 1);
	if (!bigger)
		return -ENOMEM;
	s->buf = bigger;
	memcpy(s->buf + s->len, chunk, keep);
	s->len += keep;
	s->buf[s->len] = '\0';
	return 1;
}

/* Read the child's stdout and stderr until both close; -EFBIG when stdout
 * passes OUT_MAX (stderr beyond ERR_MAX is dropped). */
static int collect(const int fds[2], struct sink sinks[2])
{
	struct pollfd p[2] = { { .fd = fds[0], .events = POLLIN }, { .fd = fds[1], .events = POLLIN } };
	int open = 2, ret;

	while (open) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			ret = drain(p[i].fd, &sinks[i]);
			if (ret < 0)
				return ret;
			if (ret == 0) {
				p[i].fd = -1;
				open--;
			}
		}
		if (sinks[0].overflow)
			return -EFBIG;
	}
	return 0;
}

static int reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* A delegate started by vp_cni_delegate_start(): its pid and the read ends
 * of its stdout and stderr; or, run in-process, its output and exit code. */
struct vp_cni_delegation {
	const struct vp_cni_request *req;
	const char *type;
	enum vp_cni_command command;
	pid_t pid;
	int out, errfd;
	bool builtin;
	int exit_code;
	char *builtin_out;
	size_t builtin_len;
	char path[4096];
};

enum { IN, OUT_R, OUT_W, ERR_R, ERR_W, N_FDS };

/* Spawn d->path with its stdin, stdout and stderr set up; on success d
 * holds the child and the read ends of its pipes. */
static int launch(struct vp_cni_delegation *d, char **env, struct vp_error *err)
{
	int fd[N_FDS] = { -1, -1, -1, -1, -1 }, ret;
	const struct vp_cni_request *req = d->req;

	ret = fd[IN] = stdin_fd(req->stdin_raw ? req->stdin_raw : "", req->stdin_len);
	if (ret >= 0 && (pipe2(&fd[OUT_R], O_CLOEXEC) < 0 || pipe2(&fd[ERR_R], O_CLOEXEC) < 0))
		ret = -errno;
	if (ret >= 0)
		ret = spawn(d->path, env, (const int[3]){ fd[IN], fd[OUT_W], fd[ERR_W] }, &d->pid);
	if (ret < 0)
		vp_error_code(err, VP_CNI_ERR_SYSTEM, -ret, "running %s: %s", d->path, strerror(-ret));
	else {
		d->out = fd[OUT_R];   /* the write ends close below, so EOF comes */
		d->errfd = fd[ERR_R]; /* when the child exits */
		fd[OUT_R] = fd[ERR_R] = -1;
		ret = 0;
	}
	for (int i = 0; i < N_FDS; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return ret;
}

/* Run plugin in this process as its own process would have run; its
 * stdout is kept in d for vp_cni_delegate_finish(). */
static int run_builtin(struct vp_cni_delegation *d, const struct vp_cni_plugin *plugin,
		       char **env, struct vp_error *err)
{
	const struct vp_cni_request *req = d->req;
	int in = stdin_fd(req->stdin_raw ? req->stdin_raw : "", req->stdin_len);
	FILE *out = in < 0 ? NULL : open_memstream(&d->builtin_out, &d->builtin_len);

	if (!out) {
		int e = in < 0 ? -in : errno;

		if (in >= 0)
			close(in);
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, e, "running %s: %s", d->type, strerror(e));
	}
	d->exit_code = vp_cni_run(plugin, env, in, out);
	d->builtin = true;
	close(in);
	if (fclose(out) != 0)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, errno, "running %s: %s", d->type,
				     strerror(errno));
	return 0;
}

/* Gather d's output and exit status; the child is reaped whatever happens. */
static int gather(struct vp_cni_delegation *d, struct sink sinks[2], int *status,
		  struct vp_error *err)
{
	int ret;

	ret = collect((const int[2]){ d->out, d->errfd }, sinks);
	if (ret < 0) {
		kill(d->pid, SIGKILL);
		vp_error_code(err, VP_CNI_ERR_SYSTEM, -ret, "reading the output of %s: %s", d->path,
			      strerror(-ret));
	}
	if (reap(d->pid, status) < 0 && ret == 0)
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ECHILD, "waiting for %s: lost the child",
				    d->path);
	return ret;
}

/* A failed delegate: pass its error JSON through, else say how it died. */
static int delegate_error(const char *type, int status, const struct sink sinks[2],
			  struct vp_error *err)
{
	json_t *e = sinks[0].len ? json_loadb(sinks[0].buf, sinks[0].len, 0, NULL) : NULL;
	json_int_t code = json_integer_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "msg"));
	const char *details = json_string_value(json_object_get(e, "details"));
	int ret;

	if (code > 0 && code <= INT32_MAX && msg)
		ret = vp_error_code(err, (int)code, EREMOTEIO, "%s: %s%s%s", type, msg,
				    details && *details ? ": " : "", details ? details : "");
	else if (WIFSIGNALED(status))
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, 0, "%s: killed by signal %d", type,
				    WTERMSIG(status));
	else
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, 0, "%s: exit status %d: %s", type,
				    WEXITSTATUS(status), sinks[1].len ? sinks[1].buf : "(no output)");
	json_decref(e);
	return ret;
}

/* Parse ADD's output in its own cniVersion (the config's if absent). */
static int delegate_result(const struct vp_cni_request *req, const char *type,
			   const struct sink *out, struct vp_cni_result *result, struct vp_error *err)
{
	const char *version;
	json_t *json;
	int ret;

	ret = vp_json_parse(out->buf ? out->buf : "", out->len, &json, err);
	if (ret == 0) {
		version = json_string_value(json_object_get(json, "cniVersion"));
		ret = vp_cni_result_parse(json, version ? version : req->version, result, err);
		json_decref(json);
	}
	if (ret < 0)
		vp_error_prefix(err, "result of %s", type);
	return ret;
}

int vp_cni_delegate_start(const struct vp_cni_request *req, const char *type,
			  enum vp_cni_command command, struct vp_cni_delegation **out,
			  struct vp_error *err)
{
	const struct vp_cni_plugin *builtin;
	struct vp_cni_delegation *d;
	char command_var[32];
	char **env;
	int ret;

	*out = NULL;
	if (command == VP_CNI_VERSION)
		return vp_error_set(err, EINVAL, "VERSION is not delegated");
	if (!*type || strchr(type, '/') || strstr(type, ".."))
		return vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				     "plugin type \"%.64s\" is not a plain file name", type);
	d = calloc(1, sizeof(*d));
	if (!d)
		return vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: delegating to %s", type);
	*d = (struct vp_cni_delegation){ .req = req, .type = type, .command = command,
					 .out = -1, .errfd = -1 };
	if (!req->cni_path || find_plugin(req->cni_path, type, d->path, sizeof(d->path)) < 0) {
		free(d);
		return vp_error_code(err, command == VP_CNI_STATUS ? VP_CNI_ERR_NOT_AVAILABLE
				     : VP_CNI_ERR_INVALID_CONFIG, 0,
				     "unknown IPAM type \"%.64s\": not found on CNI_PATH %.200s", type,
				     req->cni_path ? req->cni_path : "(unset)");
	}
	snprintf(command_var, sizeof(command_var), "CNI_COMMAND=%s", vp_cni_command_name(command));
	env = child_env(req->envp ? req->envp : environ, command_var);
	builtin = vp_cni_builtin(type, d->path);
	/* One of ours that is not an IPAM plugin would delegate in turn,
	 * to itself again: refuse before it changes anything. */
	if (builtin && !builtin->ipam)
		ret = vp_error_code(err, VP_CNI_ERR_INVALID_CONFIG, 0,
				    "%s is not an IPAM plugin", type);
	else if (!env)
		ret = vp_error_code(err, VP_CNI_ERR_SYSTEM, ENOMEM, "out of memory: delegating to %s", type);
	else
		ret = builtin ? run_builtin(d, builtin, env, err) : launch(d, env, err);
	free(env);
	if (ret < 0) {
		free(d->builtin_out);
		free(d);
		return ret;
	}
	*out = d;
	return 0;
}

int vp_cni_delegate_finish(struct vp_cni_delegation *d, struct vp_cni_result *result,
			   struct vp_error *err)
{
	struct sink sinks[2] = { { .max = OUT_MAX }, { .max = ERR_MAX } };
	int status = 0, ret = 0;

	if (d->builtin) {
		sinks[0].buf = d->builtin_out;
		sinks[0].len = d->builtin_len;
		status = W_EXITCODE(d->exit_code, 0);
	} else {
		ret = gather(d, sinks, &status, err);
		close(d->out);
		close(d->errfd);
	}
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		ret = delegate_error(d->type, status, sinks, err);
	else if (ret == 0 && d->command == VP_CNI_ADD && result)
		ret = delegate_result(d->req, d->type, &sinks[0], result, err);
	free(d);
	free(sinks[0].buf);
	free(sinks[1].buf);
	return ret;
}

int vp_cni_delegate(const struct vp_cni_request *req, const char *type,
		    enum vp_cni_command command, struct vp_cni_result *result,
		    struct vp_error *err)
{
	struct vp_cni_delegation *d;
	int ret;

	ret = vp_cni_delegate_start(req, type, command, &d, err);
	return ret < 0 ? ret : vp_cni_delegate_finish(d, result, err);
}
