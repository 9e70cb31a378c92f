/* test_cni_config.c - the CNI_* environment, CNI_ARGS, the stdin config
 * (version negotiation, name/type, prevResult, GC attachments), the VERSION
 * reply and the error JSON.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cni/core/skel_internal.h"

#define ENV_ADD "CNI_COMMAND=ADD", "CNI_CONTAINERID=abc123", "CNI_NETNS=/var/run/netns/t", \
	"CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin"

static void assert_error(int ret, const struct vp_error *err, int code, const char *needle)
{
	assert_true(ret < 0);
	assert_int_equal(err->code, code);
	if (!strstr(err->msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err->msg, needle);
}

/* Parse envp into call (initialised here); the result of vp_cni_env_parse. */
static int env(struct vp_cni_call *call, char *const *envp, struct vp_error *err)
{
	vp_cni_call_init(call);
	memset(err, 0, sizeof(*err));
	return vp_cni_env_parse(call, envp, err);
}

static void env_fails(char *const *envp, const char *needle)
{
	struct vp_cni_call call;
	struct vp_error err;

	assert_error(env(&call, envp, &err), &err, VP_CNI_ERR_INVALID_ENV, needle);
	vp_cni_call_free(&call);
}

static void test_env_add(void **state)
{
	char *envp[] = { "HOME=/root", ENV_ADD, "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web-0", NULL };
	struct vp_cni_call call;
	struct vp_error err;

	(void)state;
	assert_int_equal(env(&call, envp, &err), 0);
	assert_int_equal(call.req.command, VP_CNI_ADD);
	assert_string_equal(call.req.container_id, "abc123");
	assert_string_equal(call.req.netns, "/var/run/netns/t");
	assert_string_equal(call.req.ifname, "eth0");
	assert_string_equal(call.req.cni_path, "/opt/cni/bin");
	assert_ptr_equal(call.req.envp, envp);
	assert_string_equal(vp_cni_env_arg(&call.req, "K8S_POD_NAME"), "web-0");
	assert_string_equal(vp_cni_env_arg(&call.req, "IgnoreUnknown"), "1");
	assert_null(vp_cni_env_arg(&call.req, "IP"));
	vp_cni_call_free(&call);
}

static void test_env_errors(void **state)
{
	(void)state;
	env_fails((char *[]){ "CNI_CONTAINERID=a", "CNI_PATH=/x", NULL }, "CNI_COMMAND: missing");
	env_fails((char *[]){ "CNI_COMMAND=", "CNI_PATH=/x", NULL }, "CNI_COMMAND: missing");
	env_fails((char *[]){ "CNI_COMMAND=add", "CNI_PATH=/x", NULL }, "unknown command");
	env_fails((char *[]){ "CNI_IFNAME=0123456789abcdef", ENV_ADD, NULL }, "CNI_IFNAME");
	env_fails((char *[]){ "CNI_IFNAME=eth/0", ENV_ADD, NULL }, "CNI_IFNAME");
	env_fails((char *[]){ "CNI_IFNAME=eth:0", ENV_ADD, NULL }, "CNI_IFNAME");
	env_fails((char *[]){ "CNI_IFNAME=eth 0", ENV_ADD, NULL }, "CNI_IFNAME");
	env_fails((char *[]){ "CNI_IFNAME=..", ENV_ADD, NULL }, "CNI_IFNAME");
	env_fails((char *[]){ "CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0",
			      "CNI_PATH=/x", NULL }, "CNI_NETNS: missing");
	env_fails((char *[]){ "CNI_COMMAND=CHECK", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0",
			      "CNI_PATH=/x", NULL }, "CNI_NETNS: missing");
	env_fails((char *[]){ "CNI_COMMAND=DEL", "CNI_IFNAME=eth0", "CNI_PATH=/x", NULL },
		  "CNI_CONTAINERID: missing");
	env_fails((char *[]){ "CNI_CONTAINERID=-abc", ENV_ADD, NULL }, "CNI_CONTAINERID");
	env_fails((char *[]){ "CNI_CONTAINERID=a/b", ENV_ADD, NULL }, "CNI_CONTAINERID");
	env_fails((char *[]){ "CNI_COMMAND=DEL", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0", NULL },
		  "CNI_PATH: missing");
	env_fails((char *[]){ "CNI_COMMAND=GC", NULL }, "CNI_PATH: missing");
}

static void test_env_optional(void **state)
{
	char *del[] = { "CNI_COMMAND=DEL", "CNI_CONTAINERID=a.b_c-1", "CNI_IFNAME=123456789012345",
			"CNI_PATH=/x", NULL };
	char *gc[] = { "CNI_COMMAND=GC", "CNI_PATH=/x", "CNI_IFNAME=/bad/", NULL };
	char *version[] = { "CNI_COMMAND=VERSION", "CNI_ARGS=junk", NULL };
	struct vp_cni_call call;
	struct vp_error err;

	(void)state;
	assert_int_equal(env(&call, del, &err), 0);
	assert_null(call.req.netns);   /* optional on DEL */
	assert_string_equal(call.req.ifname, "123456789012345");
	vp_cni_call_free(&call);
	assert_int_equal(env(&call, gc, &err), 0);   /* GC needs only CNI_PATH */
	assert_null(call.req.ifname);
	assert_int_equal(call.req.command, VP_CNI_GC);
	vp_cni_call_free(&call);
	assert_int_equal(env(&call, version, &err), 0);   /* VERSION needs nothing */
	assert_int_equal(call.req.command, VP_CNI_VERSION);
	vp_cni_call_free(&call);
}

static void test_cni_args(void **state)
{
	static const char *bad[] = { "foo", "a=b=c", "=v", "IgnoreUnknown=1;x" };
	struct vp_cni_call call;
	struct vp_error err = { 0 };

	(void)state;
	vp_cni_call_init(&call);
	assert_int_equal(vp_cni_env_args_parse(&call, "IgnoreUnknown=true;;IP=10.0.0.5;E=;", &err), 0);
	assert_int_equal(call.req.n_env_args, 3);
	assert_string_equal(vp_cni_env_arg(&call.req, "IgnoreUnknown"), "true");
	assert_string_equal(vp_cni_env_arg(&call.req, "IP"), "10.0.0.5");
	assert_string_equal(vp_cni_env_arg(&call.req, "E"), "");
	assert_int_equal(vp_cni_env_args_parse(&call, "", &err), 0);
	assert_int_equal(call.req.n_env_args, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_error(vp_cni_env_args_parse(&call, bad[i], &err), &err, VP_CNI_ERR_INVALID_ENV,
			     "CNI_ARGS");
	}
	vp_cni_call_free(&call);
}

/* Parse text as command's config into call (initialised here). */
static int config(struct vp_cni_call *call, enum vp_cni_command command, const char *text,
		  struct vp_error *err)
{
	char *copy = strdup(text);

	assert_non_null(copy);
	vp_cni_call_init(call);
	memset(err, 0, sizeof(*err));
	call->req.command = command;
	return vp_cni_config_parse(call, copy, strlen(copy), err);
}

static void config_fails(enum vp_cni_command command, const char *text, int code, const char *needle)
{
	struct vp_cni_call call;
	struct vp_error err;

	assert_error(config(&call, command, text, &err), &err, code, needle);
	vp_cni_call_free(&call);
}

static void test_config_ok(void **state)
{
	const char *text = "{\"cniVersion\":\"0.4.0\",\"name\":\"net1\",\"type\":\"vnet-bridge\","
		"\"runtimeConfig\":{\"mac\":\"0a:00:00:00:00:01\"},\"args\":{\"cni\":{}},"
		"\"prevResult\":{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.2/24\"}]}}";
	struct vp_cni_call call;
	struct vp_error err;

	(void)state;
	assert_int_equal(config(&call, VP_CNI_CHECK, text, &err), 0);
	assert_string_equal(call.req.version, "0.4.0");
	assert_string_equal(call.req.network, "net1");
	assert_string_equal(call.req.type, "vnet-bridge");
	assert_non_null(call.req.runtime_config);
	assert_non_null(call.req.args);
	assert_non_null(call.req.prev);
	assert_int_equal(call.req.prev->n_ips, 1);
	assert_int_equal(call.req.stdin_len, strlen(text));
	assert_memory_equal(call.req.stdin_raw, text, strlen(text));
	vp_cni_call_free(&call);
}

static void test_config_errors(void **state)
{
	(void)state;
	config_fails(VP_CNI_ADD, "{\"cniVersion\":", VP_CNI_ERR_DECODE, "");
	config_fails(VP_CNI_ADD, "", VP_CNI_ERR_DECODE, "");
	config_fails(VP_CNI_ADD, "[1]", VP_CNI_ERR_DECODE, "object");
	config_fails(VP_CNI_ADD, "{\"name\":\"n\",\"type\":\"t\"}", 1, "cniVersion: missing");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"type\":\"t\"}", 1, "0.2.0");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.2.0\",\"name\":\"n\",\"type\":\"t\"}", 1, "1.2.0");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.0\",\"name\":\"n\",\"type\":\"t\"}", 1, "1.0");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":1,\"name\":\"n\",\"type\":\"t\"}", 7, "cniVersion");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.0.0\",\"type\":\"t\"}", 7, "name");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.0.0\",\"name\":\"a b\",\"type\":\"t\"}", 7, "name");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", 7, "type");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":3}", 7, "type");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"t\",\"runtimeConfig\":1}",
		     7, "runtimeConfig");
	config_fails(VP_CNI_CHECK, "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"t\"}", 1,
		     "does not allow CHECK");
	config_fails(VP_CNI_STATUS, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"t\"}", 1,
		     "does not allow STATUS");
	config_fails(VP_CNI_GC, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"t\"}", 1,
		     "does not allow GC");
	config_fails(VP_CNI_ADD, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"t\","
		     "\"prevResult\":{\"ips\":[{\"address\":\"nope\"}]}}", 7, "prevResult: ips[0].address");
}

static void test_config_gc(void **state)
{
	const char *base = "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\",";
	char text[512];
	struct vp_cni_call call;
	struct vp_error err;

	(void)state;
	snprintf(text, sizeof(text), "%s\"cni.dev/valid-attachments\":[{\"containerID\":\"c1\","
		 "\"ifname\":\"eth0\"},{\"containerID\":\"c2\",\"ifname\":\"net1\"}]}", base);
	assert_int_equal(config(&call, VP_CNI_GC, text, &err), 0);
	assert_int_equal(call.req.n_valid, 2);
	assert_string_equal(call.req.valid[1].container_id, "c2");
	assert_string_equal(call.req.valid[1].ifname, "net1");
	vp_cni_call_free(&call);

	/* libcni's old key, and an empty list. */
	snprintf(text, sizeof(text), "%s\"cni.dev/attachments\":[{\"containerID\":\"c1\",\"ifname\":\"eth0\"}]}", base);
	assert_int_equal(config(&call, VP_CNI_GC, text, &err), 0);
	assert_int_equal(call.req.n_valid, 1);
	vp_cni_call_free(&call);
	snprintf(text, sizeof(text), "%s\"cni.dev/valid-attachments\":[]}", base);
	assert_int_equal(config(&call, VP_CNI_GC, text, &err), 0);
	assert_int_equal(call.req.n_valid, 0);
	vp_cni_call_free(&call);

	snprintf(text, sizeof(text), "%s\"x\":1}", base);
	config_fails(VP_CNI_GC, text, 7, "valid-attachments: missing");
	snprintf(text, sizeof(text), "%s\"cni.dev/valid-attachments\":[{\"containerID\":\"c1\"}]}", base);
	config_fails(VP_CNI_GC, text, 7, "cni.dev/valid-attachments[0].ifname");
	snprintf(text, sizeof(text), "%s\"cni.dev/valid-attachments\":[\"c1\"]}", base);
	config_fails(VP_CNI_GC, text, 7, "cni.dev/valid-attachments[0]");
	snprintf(text, sizeof(text), "%s\"cni.dev/valid-attachments\":{}}", base);
	config_fails(VP_CNI_GC, text, 7, "cni.dev/valid-attachments");
}

static void test_versions(void **state)
{
	json_t *info;

	(void)state;
	assert_true(vp_cni_version_cmp("0.3.1", "0.4.0") < 0);
	assert_true(vp_cni_version_cmp("1.1.0", "1.0.0") > 0);
	assert_true(vp_cni_version_cmp("0.10.0", "0.4.0") > 0);
	assert_int_equal(vp_cni_version_cmp("1.0.0", "1.0.0"), 0);
	assert_true(vp_cni_version_supported("0.3.0"));
	assert_false(vp_cni_version_supported("0.2.0"));
	assert_false(vp_cni_version_supported("1.0"));

	info = vp_cni_version_info("{\"cniVersion\":\"0.4.0\"}", 22);
	assert_string_equal(json_string_value(json_object_get(info, "cniVersion")), "0.4.0");
	assert_int_equal(json_array_size(json_object_get(info, "supportedVersions")), 5);
	assert_string_equal(json_string_value(json_array_get(json_object_get(info, "supportedVersions"), 4)),
			    "1.1.0");
	json_decref(info);
	info = vp_cni_version_info("", 0);
	assert_string_equal(json_string_value(json_object_get(info, "cniVersion")), "1.1.0");
	json_decref(info);
	info = vp_cni_version_info("{\"cniVersion\":\"9.9.9\"}", 22);
	assert_string_equal(json_string_value(json_object_get(info, "cniVersion")), "1.1.0");
	json_decref(info);
}

static void test_error_json(void **state)
{
	struct vp_error err = { 0 };
	json_t *e;

	(void)state;
	vp_error_code(&err, VP_CNI_ERR_INVALID_CONFIG, 0, "ipam.type: required");
	e = vp_cni_error_json("0.4.0", &err);
	assert_string_equal(json_string_value(json_object_get(e, "cniVersion")), "0.4.0");
	assert_int_equal(json_integer_value(json_object_get(e, "code")), 7);
	assert_string_equal(json_string_value(json_object_get(e, "msg")), "invalid network config");
	assert_string_equal(json_string_value(json_object_get(e, "details")), "ipam.type: required");
	json_decref(e);

	memset(&err, 0, sizeof(err));   /* no code: a system error */
	e = vp_cni_error_json("1.1.0", &err);
	assert_int_equal(json_integer_value(json_object_get(e, "code")), VP_CNI_ERR_SYSTEM);
	assert_string_equal(json_string_value(json_object_get(e, "details")), "system error");
	json_decref(e);

	vp_error_code(&err, 4, 0, "CNI_IFNAME: \"\xff\xfe\" bad");   /* not UTF-8 */
	e = vp_cni_error_json("1.1.0", &err);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "details")), "CNI_IFNAME: \"??\" bad");
	json_decref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_add),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_env_optional),
		cmocka_unit_test(test_cni_args),
		cmocka_unit_test(test_config_ok),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_gc),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_error_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
