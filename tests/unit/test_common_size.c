/* test_common_size.c - vp_parse_size and vp_size_str. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "common/size.h"

static void test_parse_ok(void **state)
{
	static const struct { const char *in; uint64_t want; } cases[] = {
		{ "0", 0 }, { "512", 512 }, { "512B", 512 }, { "4K", 4096 }, { "4k", 4096 },
		{ "4KiB", 4096 }, { "1M", 1 << 20 }, { "64MiB", 64ULL << 20 }, { "10G", 10ULL << 30 },
		{ "2T", 2ULL << 40 }, { "3P", 3ULL << 50 }, { "15E", 15ULL << 60 },
		{ "18446744073709551615", UINT64_MAX }, { "007", 7 },
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = 1;
		assert_int_equal(vp_parse_size(cases[i].in, &v), 0);
		assert_true(v == cases[i].want);
	}
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1.5G", "G", "1X", "1KB", "1kib", "1Ki", "0x10",
		"1GG", "1iB", "abc",
	};
	uint64_t v = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vp_parse_size(bad[i], &v), -EINVAL);
		assert_true(v == 42); /* untouched on failure */
	}
	assert_int_equal(vp_parse_size(NULL, &v), -EINVAL);
	assert_int_equal(vp_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(vp_parse_size("16E", &v), -ERANGE);
	assert_int_equal(vp_parse_size("99999999999999999999999", &v), -ERANGE);
	assert_true(v == 42);
}

static void test_format(void **state)
{
	char buf[VP_SIZE_STRLEN];

	(void)state;
	assert_string_equal(vp_size_str(0, buf), "0");
	assert_string_equal(vp_size_str(1023, buf), "1023");
	assert_string_equal(vp_size_str(4096, buf), "4K");
	assert_string_equal(vp_size_str(64ULL << 20, buf), "64M");
	assert_string_equal(vp_size_str(3ULL << 29, buf), "1.5G");
	assert_string_equal(vp_size_str(UINT64_MAX, buf), "16.0E");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
