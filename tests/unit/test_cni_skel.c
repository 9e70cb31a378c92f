/* test_cni_skel.c - vp_cni_run() end to end (env + stdin in, result or
 * error JSON out) with a fake plugin table, and IPAM delegation to fake
 * delegate scripts in a temp dir (result, error pass-through, crash,
 * garbage, oversized output, missing binary; started and finished apart,
 * and undone while running), checking that no child is left unreaped and
 * no fd leaks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cni/core/delegate.h"
#include "cni/core/skel_internal.h"
#include "cni/plumb/pod_iface.h"
#include "common/undo.h"

/* ---- vp_cni_run with a fake plugin ---- */

struct seen {
	int calls;
	enum vp_cni_command command;
	size_t n_valid;
	char arg[32];
	int fail_code;       /* handlers fail with this code when >= 0 */
};

static struct seen seen;   /* what the fake handlers saw: tests only */

static int fake_handler(const struct vp_cni_request *req, struct vp_cni_result *result,
			struct vp_error *err)
{
	struct vp_cni_ip ip = { .interface = 0 };
	const char *arg = vp_cni_env_arg(req, "POD");

	seen.calls++;
	seen.command = req->command;
	seen.n_valid = req->n_valid;
	snprintf(seen.arg, sizeof(seen.arg), "%s", arg ? arg : "");
	if (seen.fail_code >= 0)
		return vp_error_code(err, seen.fail_code, EIO, "creating %s", req->ifname);
	if (req->command != VP_CNI_ADD)
		return 0;
	assert_non_null(result);
	assert_int_equal(vp_cni_result_add_interface(result, req->ifname, "0a:00:00:00:00:09",
						     req->netns), 0);
	assert_int_equal(vp_prefix_parse("10.4.0.7/24", &ip.address), 0);
	assert_int_equal(vp_cni_result_add_ip(result, &ip), 0);
	return 0;
}

static const struct vp_cni_plugin fake = {
	.name = "fake", .add = fake_handler, .del = fake_handler, .check = fake_handler,
	.gc = fake_handler,   /* no status: NULL succeeds */
};

/* Run the fake plugin; returns the exit code, *out the printed text (or NULL). */
static int run(char *const *envp, const char *input, char **out)
{
	int fd = memfd_create("stdin", 0), ret;
	size_t len = 0;
	FILE *f;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, input, strlen(input)), (ssize_t)strlen(input));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	*out = NULL;
	f = open_memstream(out, &len);
	assert_non_null(f);
	seen = (struct seen){ .fail_code = seen.fail_code };
	ret = vp_cni_run(&fake, envp, fd, f);
	fclose(f);
	close(fd);
	if (len == 0) {
		free(*out);
		*out = NULL;
	}
	return ret;
}

/* Run expecting error JSON with code; returns it (caller decrefs). */
static json_t *run_fails(char *const *envp, const char *input, int code)
{
	char *out;
	json_t *e;

	assert_int_equal(run(envp, input, &out), 1);
	assert_non_null(out);
	e = json_loads(out, 0, NULL);
	if (!e || json_integer_value(json_object_get(e, "code")) != code)
		fail_msg("want code %d, got %s", code, out);
	assert_non_null(json_object_get(e, "msg"));
	assert_non_null(json_object_get(e, "details"));
	free(out);
	return e;
}

#define ENV(cmd) "CNI_COMMAND=" cmd, "CNI_CONTAINERID=c1", "CNI_NETNS=/run/netns/t", \
	"CNI_IFNAME=eth0", "CNI_PATH=/nonexistent"
#define CONF(v) "{\"cniVersion\":\"" v "\",\"name\":\"n1\",\"type\":\"fake\"}"

static int setup(void **state)
{
	(void)state;
	seen.fail_code = -1;
	return 0;
}

static void test_run_add(void **state)
{
	char *envp[] = { ENV("ADD"), "CNI_ARGS=POD=web;IgnoreUnknown=1", NULL };
	json_t *res, *ip;
	char *out;

	(void)state;
	assert_int_equal(run(envp, CONF("0.4.0"), &out), 0);
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.arg, "web");
	res = json_loads(out, 0, NULL);
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "cniVersion")), "0.4.0");
	ip = json_array_get(json_object_get(res, "ips"), 0);
	assert_string_equal(json_string_value(json_object_get(ip, "address")), "10.4.0.7/24");
	assert_string_equal(json_string_value(json_object_get(ip, "version")), "4");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(res, "interfaces"), 0), "sandbox")), "/run/netns/t");
	json_decref(res);
	free(out);

	assert_int_equal(run(envp, CONF("1.1.0"), &out), 0);
	res = json_loads(out, 0, NULL);
	ip = json_array_get(json_object_get(res, "ips"), 0);
	assert_null(json_object_get(ip, "version"));
	json_decref(res);
	free(out);
}

static void test_run_quiet_verbs(void **state)
{
	char *del[] = { "CNI_COMMAND=DEL", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0", "CNI_PATH=/x", NULL };
	char *status[] = { "CNI_COMMAND=STATUS", "CNI_PATH=/x", NULL };
	char *gc[] = { "CNI_COMMAND=GC", "CNI_PATH=/x", NULL };
	char *check[] = { ENV("CHECK"), NULL };
	char *out;

	(void)state;
	assert_int_equal(run(del, CONF("1.0.0"), &out), 0);   /* no CNI_NETNS on DEL */
	assert_null(out);
	assert_int_equal(seen.command, VP_CNI_DEL);
	assert_int_equal(run(check, CONF("0.4.0"), &out), 0);
	assert_null(out);
	assert_int_equal(seen.command, VP_CNI_CHECK);
	assert_int_equal(run(status, CONF("1.1.0"), &out), 0);
	assert_null(out);
	assert_int_equal(seen.calls, 0);   /* NULL handler: success */
	assert_int_equal(run(gc, "{\"cniVersion\":\"1.1.0\",\"name\":\"n1\",\"type\":\"fake\","
			 "\"cni.dev/valid-attachments\":[{\"containerID\":\"c1\",\"ifname\":\"eth0\"}]}",
			 &out), 0);
	assert_null(out);
	assert_int_equal(seen.command, VP_CNI_GC);
	assert_int_equal(seen.n_valid, 1);
}

static void test_run_version(void **state)
{
	char *envp[] = { "CNI_COMMAND=VERSION", NULL };
	json_t *v;
	char *out;

	(void)state;
	assert_int_equal(run(envp, "{\"cniVersion\":\"1.0.0\"}", &out), 0);
	v = json_loads(out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(v, "cniVersion")), "1.0.0");
	assert_int_equal(json_array_size(json_object_get(v, "supportedVersions")), 5);
	json_decref(v);
	free(out);
	assert_int_equal(run(envp, "", &out), 0);
	v = json_loads(out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(v, "cniVersion")), "1.1.0");
	json_decref(v);
	free(out);
}

static void test_run_errors(void **state)
{
	char *add[] = { ENV("ADD"), NULL };
	char *check[] = { ENV("CHECK"), NULL };
	json_t *e;

	(void)state;
	json_decref(run_fails(add, "{\"cniVersion\":\"1.0.0\",", VP_CNI_ERR_DECODE));
	e = run_fails(add, CONF("0.9.0"), VP_CNI_ERR_INCOMPATIBLE_VERSION);
	assert_string_equal(json_string_value(json_object_get(e, "cniVersion")), "1.1.0");
	json_decref(e);
	json_decref(run_fails((char *[]){ "CNI_PATH=/x", NULL }, CONF("1.0.0"), VP_CNI_ERR_INVALID_ENV));
	json_decref(run_fails((char *[]){ "CNI_IFNAME=eth0123456789abc", ENV("ADD"), NULL }, CONF("1.0.0"),
			      VP_CNI_ERR_INVALID_ENV));
	json_decref(run_fails((char *[]){ "CNI_IFNAME=a/b", ENV("ADD"), NULL }, CONF("1.0.0"),
			      VP_CNI_ERR_INVALID_ENV));
	json_decref(run_fails((char *[]){ "CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0",
					  "CNI_PATH=/x", NULL }, CONF("1.0.0"), VP_CNI_ERR_INVALID_ENV));
	json_decref(run_fails((char *[]){ "CNI_ARGS=oops", ENV("ADD"), NULL }, CONF("1.0.0"),
			      VP_CNI_ERR_INVALID_ENV));
	e = run_fails(check, CONF("0.3.1"), VP_CNI_ERR_INCOMPATIBLE_VERSION);
	assert_string_equal(json_string_value(json_object_get(e, "cniVersion")), "0.3.1");
	assert_non_null(strstr(json_string_value(json_object_get(e, "details")), "CHECK"));
	json_decref(e);
	assert_int_equal(seen.calls, 0);
}

static void test_run_handler_fails(void **state)
{
	char *add[] = { ENV("ADD"), NULL };
	json_t *e;

	(void)state;
	seen.fail_code = 0;   /* no code: system error */
	e = run_fails(add, CONF("1.0.0"), VP_CNI_ERR_SYSTEM);
	assert_string_equal(json_string_value(json_object_get(e, "cniVersion")), "1.0.0");
	assert_non_null(strstr(json_string_value(json_object_get(e, "details")), "creating eth0"));
	json_decref(e);
	seen.fail_code = VP_CNI_ERR_IFACE_EXISTS;
	json_decref(run_fails(add, CONF("1.0.0"), VP_CNI_ERR_IFACE_EXISTS));
	seen.fail_code = -1;
}

/* ---- delegation ---- */

struct sandbox {
	char dir[64];
	char cni_path[200];
};

static void write_script(const struct sandbox *sb, const char *name, const char *body, mode_t mode)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sb->dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int sandbox_setup(void **state)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	assert_non_null(sb);
	strcpy(sb->dir, "/tmp/vp-cnicore-XXXXXX");
	assert_non_null(mkdtemp(sb->dir));
	snprintf(sb->cni_path, sizeof(sb->cni_path), "/nonexistent::%s", sb->dir);
	write_script(sb, "ipam-ok",
		     "cat > \"${0%/*}/stdin.$CNI_COMMAND\"\n"
		     "echo '{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":\"4\",\"address\":\"10.2.0.5/24\","
		     "\"gateway\":\"10.2.0.1\"}],\"dns\":{\"nameservers\":[\"10.2.0.1\"]}}'", 0755);
	write_script(sb, "ipam-err",
		     "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"store busy\",\"details\":\"locked\"}'\n"
		     "exit 1", 0755);
	write_script(sb, "ipam-crash", "echo boom >&2\nexit 3", 0755);
	write_script(sb, "ipam-garbage", "echo not json", 0755);
	write_script(sb, "ipam-big", "head -c 3000000 /dev/zero\nsleep 5", 0755);
	write_script(sb, "ipam-noexec", "exit 0", 0644);
	write_script(sb, "ipam-slow",
		     "sleep 0.3\necho \"$CNI_COMMAND\" >> \"${0%/*}/log\"\n"
		     "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.3.0.9/24\"}]}'", 0755);
	*state = sb;
	return setup(NULL);
}

static int sandbox_teardown(void **state)
{
	struct sandbox *sb = *state;
	struct dirent *de;
	DIR *d = opendir(sb->dir);
	char path[400];

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", sb->dir, de->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(sb->dir);
	free(sb);
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A request as vp_cni_run would build it, for delegation. */
static void make_request(const struct sandbox *sb, struct vp_cni_call *call, char **envp,
			 const char *config)
{
	struct vp_error err = { 0 };

	vp_cni_call_init(call);
	assert_int_equal(vp_cni_env_parse(call, envp, &err), 0);
	call->req.cni_path = sb->cni_path;
	assert_int_equal(vp_cni_config_parse(call, strdup(config), strlen(config), &err), 0);
}

static void assert_no_children(void)
{
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_delegate_add(void **state)
{
	const char *conf = "{\"cniVersion\":\"0.3.1\",\"name\":\"n1\",\"type\":\"fake\","
			   "\"ipam\":{\"type\":\"ipam-ok\"}}";
	char *envp[] = { "PATH=/usr/bin:/bin", ENV("ADD"), NULL };
	struct sandbox *sb = *state;
	struct vp_cni_result res = { 0 };
	struct vp_error err = { 0 };
	struct vp_cni_call call;
	char path[128], *text;
	size_t len;
	int fds = count_fds(), fd;

	make_request(sb, &call, envp, conf);
	assert_string_equal(vp_cni_ipam_type(&call.req, &err), "ipam-ok");
	if (vp_cni_delegate(&call.req, "ipam-ok", VP_CNI_ADD, &res, &err) != 0)
		fail_msg("delegate: %s", err.msg);
	assert_int_equal(res.n_ips, 1);
	assert_int_equal(res.n_interfaces, 0);
	assert_non_null(res.dns);
	vp_cni_result_clear(&res);

	/* Same stdin; CNI_COMMAND replaced by the verb asked for. */
	snprintf(path, sizeof(path), "%s/stdin.ADD", sb->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(vp_cni_read_all(fd, 1 << 20, &text, &len), 0);
	close(fd);
	assert_string_equal(text, conf);
	free(text);
	assert_int_equal(vp_cni_delegate(&call.req, "ipam-ok", VP_CNI_DEL, NULL, &err), 0);
	snprintf(path, sizeof(path), "%s/stdin.DEL", sb->dir);
	assert_int_equal(access(path, F_OK), 0);

	vp_cni_call_free(&call);
	assert_no_children();
	assert_int_equal(count_fds(), fds);
}

/* Delegate type and command; asserts failure with code and a detail. */
static void delegate_fails(struct vp_cni_call *call, const char *type, enum vp_cni_command cmd,
			   int code, const char *needle)
{
	struct vp_cni_result res = { 0 };
	struct vp_error err = { 0 };

	assert_true(vp_cni_delegate(&call->req, type, cmd, &res, &err) < 0);
	if (err.code != code || !strstr(err.msg, needle))
		fail_msg("%s: want code %d with \"%s\", got %d \"%s\"", type, code, needle, err.code, err.msg);
	assert_int_equal(res.n_ips, 0);
}

static void test_delegate_errors(void **state)
{
	char *envp[] = { "PATH=/usr/bin:/bin", ENV("ADD"), NULL };
	struct sandbox *sb = *state;
	struct vp_error err = { 0 };
	struct vp_cni_call call;
	int fds = count_fds();

	make_request(sb, &call, envp, CONF("1.0.0"));
	assert_null(vp_cni_ipam_type(&call.req, &err));
	assert_int_equal(err.code, 7);
	delegate_fails(&call, "ipam-err", VP_CNI_ADD, 11, "ipam-err: store busy: locked");
	delegate_fails(&call, "ipam-crash", VP_CNI_DEL, VP_CNI_ERR_SYSTEM, "exit status 3: boom");
	delegate_fails(&call, "ipam-garbage", VP_CNI_ADD, VP_CNI_ERR_DECODE, "result of ipam-garbage");
	delegate_fails(&call, "ipam-big", VP_CNI_ADD, VP_CNI_ERR_SYSTEM, "reading the output");
	delegate_fails(&call, "ipam-missing", VP_CNI_ADD, 7, "unknown IPAM type");
	delegate_fails(&call, "ipam-missing", VP_CNI_STATUS, VP_CNI_ERR_NOT_AVAILABLE, "unknown IPAM type");
	delegate_fails(&call, "ipam-noexec", VP_CNI_ADD, 7, "unknown IPAM type");
	delegate_fails(&call, "../bin/sh", VP_CNI_ADD, 7, "plain file name");
	delegate_fails(&call, "a/b", VP_CNI_ADD, 7, "plain file name");
	delegate_fails(&call, "", VP_CNI_ADD, 7, "plain file name");
	vp_cni_call_free(&call);
	assert_no_children();
	assert_int_equal(count_fds(), fds);
}

/* Start returns while the child runs; finish collects it, also when the
 * child exited long before; an error seen at finish is the delegate's. */
static void test_delegate_async(void **state)
{
	char *envp[] = { "PATH=/usr/bin:/bin", ENV("ADD"), NULL };
	struct sandbox *sb = *state;
	struct vp_cni_delegation *d = NULL;
	struct vp_cni_result res = { 0 };
	struct vp_error err = { 0 };
	struct vp_cni_call call;
	char path[128];
	int fds = count_fds();

	make_request(sb, &call, envp, CONF("1.0.0"));
	snprintf(path, sizeof(path), "%s/log", sb->dir);
	assert_int_equal(vp_cni_delegate_start(&call.req, "ipam-slow", VP_CNI_ADD, &d, &err), 0);
	assert_non_null(d);
	assert_int_equal(access(path, F_OK), -1);   /* still running */
	if (vp_cni_delegate_finish(d, &res, &err) != 0)
		fail_msg("finish: %s", err.msg);
	assert_int_equal(res.n_ips, 1);
	vp_cni_result_clear(&res);
	assert_int_equal(access(path, F_OK), 0);

	/* The child exits (a zombie) before finish is called. */
	assert_int_equal(vp_cni_delegate_start(&call.req, "ipam-ok", VP_CNI_ADD, &d, &err), 0);
	usleep(300 * 1000);
	assert_int_equal(vp_cni_delegate_finish(d, &res, &err), 0);
	assert_int_equal(res.n_ips, 1);
	vp_cni_result_clear(&res);
	assert_int_equal(vp_cni_delegate_start(&call.req, "ipam-err", VP_CNI_ADD, &d, &err), 0);
	usleep(300 * 1000);
	assert_true(vp_cni_delegate_finish(d, &res, &err) < 0);
	assert_int_equal(err.code, 11);
	assert_int_equal(res.n_ips, 0);

	/* Failing to start leaves nothing running. */
	d = (struct vp_cni_delegation *)&err;
	assert_true(vp_cni_delegate_start(&call.req, "ipam-missing", VP_CNI_ADD, &d, &err) < 0);
	assert_null(d);
	vp_cni_call_free(&call);
	assert_no_children();
	assert_int_equal(count_fds(), fds);
}

/* The undo of an IPAM ADD still running waits for it, then runs DEL. */
static void test_delegate_async_undo(void **state)
{
	const char *conf = "{\"cniVersion\":\"1.0.0\",\"name\":\"n1\",\"type\":\"fake\","
			   "\"ipam\":{\"type\":\"ipam-slow\"}}";
	char *envp[] = { "PATH=/usr/bin:/bin", ENV("ADD"), NULL };
	struct sandbox *sb = *state;
	struct vp_undo undo = VP_UNDO_INIT;
	struct vp_pod_iface_ipam ia;
	struct vp_cni_result res = { 0 };
	struct vp_error err = { 0 };
	struct vp_cni_call call;
	char path[128], *text;
	size_t len;
	int fds = count_fds(), fd;

	make_request(sb, &call, envp, conf);
	assert_int_equal(vp_pod_iface_ipam_add_start(&call.req, &undo, &ia, &err), 0);
	vp_undo_run(&undo);
	vp_undo_forget(&undo);
	assert_null(ia.d);
	snprintf(path, sizeof(path), "%s/log", sb->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(vp_cni_read_all(fd, 1 << 20, &text, &len), 0);
	close(fd);
	assert_string_equal(text, "ADD\nDEL\n");
	free(text);

	/* finish: the caller's own error stands when IPAM succeeded. */
	assert_int_equal(vp_pod_iface_ipam_add_start(&call.req, &undo, &ia, &err), 0);
	assert_int_equal(vp_error_set(&err, EIO, "creating the veth"), -EIO);
	assert_int_equal(vp_pod_iface_ipam_add_finish(&ia, -EIO, &res, &err), -EIO);
	assert_non_null(strstr(err.msg, "creating the veth"));
	assert_null(ia.d);
	vp_undo_run(&undo);
	vp_undo_forget(&undo);
	vp_cni_result_clear(&res);
	vp_cni_call_free(&call);
	assert_no_children();
	assert_int_equal(count_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_run_add, setup),
		cmocka_unit_test_setup(test_run_quiet_verbs, setup),
		cmocka_unit_test_setup(test_run_version, setup),
		cmocka_unit_test_setup(test_run_errors, setup),
		cmocka_unit_test_setup(test_run_handler_fails, setup),
		cmocka_unit_test_setup_teardown(test_delegate_add, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_delegate_errors, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_delegate_async, sandbox_setup, sandbox_teardown),
		cmocka_unit_test_setup_teardown(test_delegate_async_undo, sandbox_setup, sandbox_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
