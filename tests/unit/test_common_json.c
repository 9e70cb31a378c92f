/* test_common_json.c - typed getters, their defaults and path-naming errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/json.h"

static json_t *load(const char *text)
{
	json_t *j = NULL;

	assert_int_equal(vp_json_parse(text, strlen(text), &j, NULL), 0);
	return j;
}

static void test_getters(void **state)
{
	json_t *j = load("{\"s\":\"x\",\"b\":true,\"n\":42,\"o\":{},\"a\":[],\"z\":null}");
	struct vp_error err = { 0 };
	const char *s;
	int64_t n;
	json_t *o;
	bool b;

	(void)state;
	assert_int_equal(vp_json_req_str(j, "", "s", &s, &err), 0);
	assert_string_equal(s, "x");
	assert_int_equal(vp_json_opt_str(j, "", "missing", "def", &s, &err), 0);
	assert_string_equal(s, "def");
	assert_int_equal(vp_json_opt_str(j, "", "z", "def", &s, &err), 0);
	assert_string_equal(s, "def");
	assert_int_equal(vp_json_opt_bool(j, "", "b", false, &b, &err), 0);
	assert_true(b);
	assert_int_equal(vp_json_opt_int(j, "", "n", 0, 0, 100, &n, &err), 0);
	assert_int_equal(n, 42);
	assert_int_equal(vp_json_req_obj(j, "", "o", &o, &err), 0);
	assert_non_null(o);
	assert_int_equal(vp_json_opt_array(j, "", "a", &o, &err), 0);
	assert_non_null(o);
	assert_int_equal(vp_json_opt_array(j, "", "missing", &o, &err), 0);
	assert_null(o);
	json_decref(j);
}

static void test_errors_name_path(void **state)
{
	json_t *j = load("{\"s\":1,\"n\":500}");
	struct vp_error err = { 0 };
	const char *s;
	int64_t n;
	bool b;

	(void)state;
	assert_int_equal(vp_json_req_str(j, "ipam.ranges[0][1]", "s", &s, &err), -EINVAL);
	assert_string_equal(err.msg, "ipam.ranges[0][1].s: expected a string");
	assert_int_equal(err.code, 7);
	assert_int_equal(vp_json_req_str(j, "", "gone", &s, &err), -ENOENT);
	assert_string_equal(err.msg, "gone: required");
	assert_int_equal(vp_json_opt_int(j, "", "n", 0, 0, 100, &n, &err), -ERANGE);
	assert_string_equal(err.msg, "n: 500 is outside [0, 100]");
	assert_int_equal(vp_json_opt_bool(j, "x", "n", false, &b, &err), -EINVAL);
	assert_string_equal(err.msg, "x.n: expected true or false");
	json_decref(j);
}

static void test_parse_errors(void **state)
{
	struct vp_error err = { 0 };
	json_t *j = NULL;
	char path[64];

	(void)state;
	assert_int_equal(vp_json_parse("{\"a\":", 5, &j, &err), -EINVAL);
	assert_null(j);
	assert_int_equal(err.code, 6);
	assert_non_null(strstr(err.msg, "line 1"));
	assert_int_equal(vp_json_parse("{\"a\":1,\"a\":2}", 13, &j, &err), -EINVAL);
	assert_string_equal(vp_json_path(path, sizeof(path), "ipam", "ranges", -1), "ipam.ranges");
	assert_string_equal(vp_json_path(path, sizeof(path), "ipam.ranges", NULL, 3), "ipam.ranges[3]");
	assert_string_equal(vp_json_path(path, sizeof(path), "", "name", -1), "name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_errors_name_path),
		cmocka_unit_test(test_parse_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
