/* test_csi_pool.c - vblk-csi's pool: name and ID checks, records, and the
 * reconcile of every state a crash can leave (csi/pool/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi/pool/copy.h"
#include "csi/pool/keylock.h"
#include "csi/pool/name.h"
#include "csi/pool/pool.h"
#include "csi/pool/record.h"

static char dir[] = "/tmp/vpt-csiu-XXXXXX";
static char findings[4096];

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void test_names(void **state)
{
	char n128[129], n129[130];

	(void)state;
	memset(n128, 'a', 128);
	n128[128] = '\0';
	memset(n129, 'a', 129);
	n129[129] = '\0';
	assert_int_equal(vp_pool_check_name("pvc-1234", NULL), 0);
	assert_int_equal(vp_pool_check_name(n128, NULL), 0);
	assert_int_equal(vp_pool_check_name("d\xc3\xa9j\xc3\xa0 vu\ttab", NULL), 0);
	assert_int_equal(vp_pool_check_name("\xf0\x9f\x92\xbe disk", NULL), 0);
	assert_int_equal(vp_pool_check_name(n129, NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("", NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("..", NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("a/b", NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("a..b", NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("a\x01", NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("a\x1f", NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("a\x7f", NULL), -EINVAL);
	assert_int_equal(vp_pool_check_name("a\xc2\x85", NULL), -EINVAL);   /* U+0085 */
	assert_int_equal(vp_pool_check_name("a\xff", NULL), -EINVAL);       /* not UTF-8 */
	assert_int_equal(vp_pool_check_name("a\xc0\xaf", NULL), -EINVAL);   /* overlong "/" */
	assert_int_equal(vp_pool_check_name("a\xed\xa0\x80", NULL), -EINVAL); /* surrogate */
	assert_int_equal(vp_pool_check_name("a\xe2\x82", NULL), -EINVAL);   /* truncated */
	assert_int_equal(vp_pool_check_name("a\xf4\x90\x80\x80", NULL), -EINVAL); /* > U+10FFFF */
}

static void test_ids(void **state)
{
	char a[VP_POOL_ID_SIZE], b[VP_POOL_ID_SIZE];

	(void)state;
	assert_int_equal(vp_pool_new_id(a, VP_VOLUME_ID_PREFIX, NULL), 0);
	assert_int_equal(vp_pool_new_id(b, VP_VOLUME_ID_PREFIX, NULL), 0);
	assert_true(vp_pool_is_volume_id(a));
	assert_string_not_equal(a, b);
	assert_true(vp_pool_is_volume_id("vol-0123456789abcdef"));
	assert_false(vp_pool_is_volume_id("vol-0123456789ABCDEF"));
	assert_false(vp_pool_is_volume_id("vol-0123456789abcde"));
	assert_false(vp_pool_is_volume_id("vol-0123456789abcdef0"));
	assert_false(vp_pool_is_volume_id("vol-../../etc/passwd"));
	assert_false(vp_pool_is_volume_id(""));
}

static void test_record_roundtrip(void **state)
{
	struct vp_volume v = { .id = "vol-00000000000000aa", .name = "pvc \"quoted\"",
			       .size = 5 << 20, .fs_type = "xfs", .vm_disk = true,
			       .source = "snap-00000000000000bb", .created_ns = 1764720000123456789 }, w;
	char *text;

	(void)state;
	assert_int_equal(vp_record_encode(&v, &text), 0);
	assert_int_equal(vp_record_decode(text, strlen(text), &w, NULL), 0);
	assert_string_equal(w.id, v.id);
	assert_string_equal(w.name, v.name);
	assert_int_equal(w.size, v.size);
	assert_string_equal(w.fs_type, "xfs");
	assert_true(w.vm_disk);
	assert_string_equal(w.source, "snap-00000000000000bb");
	assert_true(w.created_ns == 1764720000123456789);
	free(text);
}

static void test_record_bad(void **state)
{
	static const char *const bad[] = {
		"[]", "{", "{\"version\":2,\"id\":\"vol-00000000000000aa\",\"name\":\"a\",\"size\":1}",
		"{\"version\":1,\"id\":\"../x\",\"name\":\"a\",\"size\":1}",
		"{\"version\":1,\"id\":\"vol-00000000000000aa\",\"name\":\"a/b\",\"size\":1}",
		"{\"version\":1,\"id\":\"vol-00000000000000aa\",\"name\":\"a\",\"size\":-1}",
		"{\"version\":1,\"id\":\"vol-00000000000000aa\",\"size\":1}",
		"{\"version\":1,\"id\":\"vol-00000000000000aa\",\"name\":\"a\",\"size\":1,"
		"\"fsType\":\"aaaaaaaaaaaaaaaaaaaaa\"}",
		"{\"version\":1,\"id\":\"vol-00000000000000aa\",\"name\":\"a\",\"size\":1,"
		"\"source\":\"../../x\"}",
	};
	struct vp_error err = { 0 };
	struct vp_volume v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vp_error_clear(&err);
		assert_int_not_equal(vp_record_decode(bad[i], strlen(bad[i]), &v, &err), 0);
		assert_true(err.msg[0] != '\0');
	}
}

static void report(void *ctx, const char *event, const char *file, const char *detail)
{
	(void)ctx;
	(void)detail;
	snprintf(findings + strlen(findings), sizeof(findings) - strlen(findings), "%s:%s\n",
		 event, file);
}

static void put(const char *pool, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/volumes/%s", pool, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool there(const char *pool, const char *sub, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/%s", pool, sub, name);
	return access(path, F_OK) == 0;
}

#define REC(id, name) "{\"version\":1,\"id\":\"" id "\",\"name\":\"" name "\",\"size\":1048576}"

/* One pool holding each state a crash (or an operator) can leave. */
static void test_reconcile(void **state)
{
	char pool[256];
	struct vp_pool *p;
	struct vp_volume v, *list;
	char next[VP_POOL_ID_SIZE];
	size_t n;

	(void)state;
	snprintf(pool, sizeof(pool), "%s/pool", dir);
	assert_int_equal(vp_pool_open(pool, report, NULL, &p, NULL), 0);
	vp_pool_close(p);
	put(pool, "vol-000000000000000a.json", REC("vol-000000000000000a", "ok"));
	put(pool, "vol-000000000000000a.img", "");
	/* create: crash after the image, before the record */
	put(pool, "vol-000000000000000b.img.new", "");
	/* create: crash after the record, before the rename */
	put(pool, "vol-000000000000000c.json", REC("vol-000000000000000c", "half"));
	put(pool, "vol-000000000000000c.img.new", "");
	/* delete: crash after the image moved aside */
	put(pool, "vol-000000000000000d.json", REC("vol-000000000000000d", "going"));
	put(pool, "vol-000000000000000d.img.del", "");
	/* delete: crash after the record went */
	put(pool, "vol-000000000000000e.img.del", "");
	/* record write: crash before the rename */
	put(pool, "vol-000000000000000f.json.tmp.123", "{");
	/* an image nobody knows, a record whose image is gone, a bad record */
	put(pool, "vol-0000000000000010.img", "data");
	put(pool, "vol-0000000000000011.json", REC("vol-0000000000000011", "lost"));
	put(pool, "vol-0000000000000012.json", "{not json");
	put(pool, "vol-0000000000000013.json", REC("vol-0000000000000099", "mismatch"));
	put(pool, "README", "operator's note");

	findings[0] = '\0';
	assert_int_equal(vp_pool_open(pool, report, NULL, &p, NULL), 0);
	assert_int_equal(vp_pool_find_name(p, VP_VOLUME_ID_PREFIX, "ok", &v), 0);
	assert_false(v.image_missing);
	assert_int_equal(vp_pool_find_name(p, VP_VOLUME_ID_PREFIX, "half", &v), 0);
	assert_true(there(pool, "volumes", "vol-000000000000000c.img"));
	assert_false(there(pool, "volumes", "vol-000000000000000c.img.new"));
	assert_false(there(pool, "volumes", "vol-000000000000000b.img.new"));
	assert_int_equal(vp_pool_find_name(p, VP_VOLUME_ID_PREFIX, "going", &v), -ENOENT);
	assert_false(there(pool, "volumes", "vol-000000000000000d.json"));
	assert_false(there(pool, "volumes", "vol-000000000000000d.img.del"));
	assert_false(there(pool, "volumes", "vol-000000000000000e.img.del"));
	assert_false(there(pool, "volumes", "vol-000000000000000f.json.tmp.123"));
	assert_true(there(pool, "lost+found", "vol-0000000000000010.img"));
	assert_int_equal(vp_pool_find_name(p, VP_VOLUME_ID_PREFIX, "lost", &v), 0);
	assert_true(v.image_missing);
	assert_true(there(pool, "lost+found", "vol-0000000000000012.json"));
	assert_true(there(pool, "lost+found", "vol-0000000000000013.json"));
	assert_true(there(pool, "volumes", "README"));
	/* Every finding is reported. */
	assert_non_null(strstr(findings, "unfinished-create:vol-000000000000000b.img.new"));
	assert_non_null(strstr(findings, "unfinished-create:vol-000000000000000c.img.new"));
	assert_non_null(strstr(findings, "unfinished-delete:vol-000000000000000d.img.del"));
	assert_non_null(strstr(findings, "unfinished-delete:vol-000000000000000e.img.del"));
	assert_non_null(strstr(findings, "unfinished-record-write:vol-000000000000000f.json.tmp.123"));
	assert_non_null(strstr(findings, "image-without-record:vol-0000000000000010.img"));
	assert_non_null(strstr(findings, "record-without-image:vol-0000000000000011"));
	assert_non_null(strstr(findings, "bad-record:vol-0000000000000012.json"));
	assert_non_null(strstr(findings, "bad-record:vol-0000000000000013.json"));
	assert_non_null(strstr(findings, "unexpected-file:README"));
	assert_int_equal(vp_pool_list(p, VP_VOLUME_ID_PREFIX, NULL, "", 0, &list, &n, next), 0);
	assert_int_equal(n, 3);  /* ok, half, lost */
	free(list);
	/* The volume without its image can still be deleted. */
	assert_int_equal(vp_pool_find_name(p, VP_VOLUME_ID_PREFIX, "lost", &v), 0);
	assert_int_equal(vp_pool_delete(p, v.id, NULL), 0);
	assert_false(there(pool, "volumes", "vol-0000000000000011.json"));
	vp_pool_close(p);

	/* A second start finds nothing more to do. */
	findings[0] = '\0';
	assert_int_equal(vp_pool_open(pool, report, NULL, &p, NULL), 0);
	assert_string_equal(findings, "unexpected-file:README\n");
	vp_pool_close(p);
}

static void test_create_delete_grow(void **state)
{
	char pool[256], path[PATH_MAX];
	struct vp_pool *p;
	struct vp_volume v = { .name = "a", .size = 2 << 20 }, w;
	struct stat st;
	bool reflinked;

	(void)state;
	snprintf(pool, sizeof(pool), "%s/pool2", dir);
	assert_int_equal(vp_pool_open(pool, report, NULL, &p, NULL), 0);
	assert_int_equal(vp_pool_create(p, VP_VOLUME_ID_PREFIX, &v, &reflinked, NULL), 0);
	assert_int_equal(vp_pool_image_path(p, v.id, path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 2 << 20);
	assert_int_equal(st.st_blocks, 0);
	assert_int_equal(vp_pool_grow(p, v.id, 4 << 20, &w, NULL), 0);
	assert_int_equal(w.size, 4 << 20);
	vp_pool_close(p);
	assert_int_equal(vp_pool_open(pool, report, NULL, &p, NULL), 0);
	assert_int_equal(vp_pool_find_id(p, v.id, &w), 0);
	assert_int_equal(w.size, 4 << 20);
	assert_int_equal(vp_pool_delete(p, v.id, NULL), 0);
	assert_int_equal(vp_pool_delete(p, v.id, NULL), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(vp_pool_find_id(p, v.id, &w), -ENOENT);
	vp_pool_close(p);
}

/* Data at 0 and at 3 MiB, holes elsewhere: the copy has the same bytes and
 * no more allocated blocks than the source (plus rounding). */
static void test_copy_sparse(void **state)
{
	char src_path[PATH_MAX], dst_path[PATH_MAX], a[4096], b[4096];
	struct stat ss, ds;
	bool reflinked;
	int src, dst;

	(void)state;
	snprintf(src_path, sizeof(src_path), "%s/src.img", dir);
	snprintf(dst_path, sizeof(dst_path), "%s/dst.img", dir);
	src = open(src_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dst = open(dst_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(src >= 0 && dst >= 0);
	memset(a, 'x', sizeof(a));
	assert_int_equal(pwrite(src, a, sizeof(a), 0), sizeof(a));
	assert_int_equal(pwrite(src, a, sizeof(a), 3 << 20), sizeof(a));
	assert_int_equal(ftruncate(src, 8 << 20), 0);
	assert_int_equal(vp_copy_image(src, dst, &reflinked, NULL), 0);
	assert_int_equal(fstat(src, &ss), 0);
	assert_int_equal(fstat(dst, &ds), 0);
	assert_int_equal(ds.st_size, 8 << 20);
	assert_true(ds.st_blocks <= ss.st_blocks + 16);
	for (off_t off = 0; off < (8 << 20); off += sizeof(a)) {
		assert_int_equal(pread(src, a, sizeof(a), off), sizeof(a));
		assert_int_equal(pread(dst, b, sizeof(b), off), sizeof(b));
		assert_memory_equal(a, b, sizeof(a));
	}
	/* The sparse path itself, whatever the filesystem. */
	assert_int_equal(ftruncate(dst, 0), 0);
	assert_int_equal(vp_copy_sparse(src, dst, NULL), 0);
	assert_int_equal(pread(dst, b, sizeof(b), 3 << 20), sizeof(b));
	assert_int_equal(b[0], 'x');
	assert_int_equal(pread(dst, b, sizeof(b), 1 << 20), sizeof(b));
	assert_int_equal(b[0], 0);
	close(src);
	close(dst);
}

static void test_keylock(void **state)
{
	struct vp_keylock kl;

	(void)state;
	vp_keylock_init(&kl);
	vp_keylock_acquire(&kl, "name:a");
	vp_keylock_acquire(&kl, "name:b");  /* another key does not wait */
	vp_keylock_release(&kl, "name:a");
	vp_keylock_acquire(&kl, "name:a");
	vp_keylock_release(&kl, "name:a");
	vp_keylock_release(&kl, "name:b");
	vp_keylock_destroy(&kl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_bad),
		cmocka_unit_test(test_reconcile),
		cmocka_unit_test(test_create_delete_grow),
		cmocka_unit_test(test_copy_sparse),
		cmocka_unit_test(test_keylock),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
