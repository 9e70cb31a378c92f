/* test_vblk_table.c - the run-time export table (snapshots survive changes,
 * remove/resize refusals, force) and the control protocol's request
 * handling (vp_control_handle: validation, errors, commands; ublk-add and
 * ublk-remove against a stand-in for the daemon's ublk registry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "vblk/control.h"
#include "vblk/nbd/table.h"

/* A stand-in for vblkd's ublk registry: one device at most, id 7; add
 * answers add_errno when set (the kernel has no ublk: ENODEV). */
struct fake_ublk {
	bool has;
	char name[16];
	unsigned queues, depth;
	int add_errno;
};

struct fixture {
	char dir[64], img[96], sock[96];
	struct vp_nbd_table table;
	struct vp_control *ctl;
	int kicks;
	struct fake_ublk ublk;
};

static void kick(void *ctx)
{
	((struct fixture *)ctx)->kicks++;
}

static int fake_ublk_add(void *ctx, struct vp_control_ublk *u, const char *path, unsigned flags,
			 struct vp_error *err)
{
	struct fake_ublk *f = ctx;

	(void)path;
	(void)flags;
	if (f->add_errno)
		return vp_error_code(err, 0, f->add_errno, "ublk: fake refusal");
	f->has = true;
	snprintf(f->name, sizeof(f->name), "%s", u->name);
	f->queues = u->queues;
	f->depth = u->depth;
	u->id = 7;
	return 0;
}

static int fake_ublk_get(void *ctx, const char *name, struct vp_control_ublk *out)
{
	struct fake_ublk *f = ctx;

	if (!f->has || strcmp(f->name, name))
		return -ENOENT;
	*out = (struct vp_control_ublk){ .name = f->name, .queues = f->queues, .depth = f->depth,
					 .id = 7 };
	return 0;
}

static int fake_ublk_remove(void *ctx, const char *name, struct vp_error *err)
{
	struct fake_ublk *f = ctx;
	struct vp_control_ublk u;

	if (fake_ublk_get(ctx, name, &u))
		return vp_error_code(err, 0, ENOENT, "export %s has no ublk device", name);
	f->has = false;
	return 0;
}

static const struct vp_control_ublk_ops fake_ublk_ops = {
	.add = fake_ublk_add, .remove = fake_ublk_remove, .get = fake_ublk_get,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vp_error err = { 0 };
	struct vp_control_config cfg = { .kick = kick };
	FILE *fp;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/vp-test-table.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->img, sizeof(f->img), "%s/a.img", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/ctl.sock", f->dir);
	fp = fopen(f->img, "w");
	if (!fp || ftruncate(fileno(fp), 1 << 20) < 0 || fclose(fp))
		return -1;
	if (vp_nbd_table_init(&f->table, 2, &err))
		return -1;
	cfg.path = f->sock;
	cfg.table = &f->table;
	cfg.kick_ctx = f;
	cfg.ublk = &fake_ublk_ops;
	cfg.ublk_ctx = &f->ublk;
	if (vp_control_new(&cfg, &f->ctl, &err))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	vp_control_free(f->ctl);
	vp_nbd_table_fini(&f->table);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void test_snapshots(void **state)
{
	struct fixture *f = *state;
	struct vp_nbd_export_spec spec = { .name = "a", .path = f->img };
	struct vp_error err = { 0 };
	struct vp_nbd_snapshot *old, *cur;
	unsigned attached = 99;

	assert_int_equal(vp_nbd_table_add(&f->table, &spec, &err), 0);
	assert_int_equal(vp_nbd_table_add(&f->table, &spec, &err), -EEXIST);
	spec.name = "";
	assert_int_equal(vp_nbd_table_add(&f->table, &spec, &err), -EINVAL);
	spec.name = "bad\nname";
	assert_int_equal(vp_nbd_table_add(&f->table, &spec, &err), -EINVAL);
	spec.name = "b";
	spec.path = f->dir; /* a directory */
	assert_int_equal(vp_nbd_table_add(&f->table, &spec, &err), -EISDIR);

	old = vp_nbd_table_acquire(&f->table);
	assert_int_equal(old->n, 1);
	assert_true(old->exports[0].img->size == 1 << 20);
	assert_non_null(old->exports[0].stats);

	/* A connection attached to the old snapshot's entry. */
	vp_nbd_entry_attach(old->exports[0].entry, 1);
	assert_int_equal(vp_nbd_table_remove(&f->table, "a", false, &attached, &err), -EBUSY);
	assert_int_equal(attached, 1);
	assert_int_equal(vp_nbd_table_resize(&f->table, "a", 4096, &err), -EBUSY); /* shrink */
	assert_int_equal(vp_nbd_table_resize(&f->table, "a", 2 << 20, &err), 0);   /* grow */
	cur = vp_nbd_table_acquire(&f->table);
	assert_true(cur->exports[0].img->size == 2 << 20);  /* new connections */
	assert_true(old->exports[0].img->size == 1 << 20);  /* the old one keeps its size */
	assert_ptr_equal(cur->exports[0].stats, old->exports[0].stats); /* stats carry over */
	assert_false(vp_nbd_entry_removed(old->exports[0].entry));
	assert_int_equal(vp_nbd_table_remove(&f->table, "a", true, &attached, &err), 0);
	assert_true(vp_nbd_entry_removed(old->exports[0].entry));
	assert_int_equal(vp_nbd_table_remove(&f->table, "a", true, NULL, &err), -ENOENT);
	assert_int_equal(vp_nbd_table_resize(&f->table, "a", 1 << 20, &err), -ENOENT);
	vp_nbd_entry_attach(old->exports[0].entry, -1);
	/* Both snapshots stay readable after removal; freed on put (ASan). */
	assert_string_equal(old->exports[0].name, "a");
	vp_nbd_snapshot_put(cur);
	vp_nbd_snapshot_put(old);
	cur = vp_nbd_table_acquire(&f->table);
	assert_int_equal(cur->n, 0);
	vp_nbd_snapshot_put(cur);
}

/* Send req through the control handler; returns the parsed response. */
static json_t *call(struct fixture *f, const char *req)
{
	char *out = vp_control_handle(f->ctl, req, strlen(req));
	json_t *resp;

	assert_non_null(out);
	resp = json_loads(out, 0, NULL);
	assert_non_null(resp);
	free(out);
	return resp;
}

static void expect_error(struct fixture *f, const char *req, int errnum, const char *text)
{
	json_t *resp = call(f, req);

	assert_true(json_is_false(json_object_get(resp, "ok")));
	assert_int_equal(json_integer_value(json_object_get(resp, "errno")), errnum);
	if (!strstr(json_string_value(json_object_get(resp, "error")), text))
		fail_msg("%s: error '%s' lacks '%s'", req,
			 json_string_value(json_object_get(resp, "error")), text);
	json_decref(resp);
}

static void test_control_requests(void **state)
{
	struct fixture *f = *state;
	char req[512];
	json_t *resp;
	struct stat st;

	assert_int_equal(stat(f->sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	expect_error(f, "not json", EINVAL, "invalid JSON");
	expect_error(f, "[1]", EINVAL, "expected a JSON object");
	expect_error(f, "{}", ENOENT, "command: required");
	expect_error(f, "{\"command\":7}", EINVAL, "command: expected a string");
	expect_error(f, "{\"command\":\"x\"}", EOPNOTSUPP, "unknown command 'x'");
	expect_error(f, "{\"command\":\"export-list\",\"junk\":1}", EINVAL, "junk: unknown field");
	expect_error(f, "{\"command\":\"export-add\",\"name\":\"a\"}", ENOENT, "image: required");
	expect_error(f, "{\"command\":\"export-add\",\"name\":\"a\",\"image\":\"a.img\"}", EINVAL,
		     "not an absolute path");
	expect_error(f, "{\"command\":\"export-add\",\"name\":\"a\",\"image\":\"/x\\u0000y\"}", EINVAL,
		     "\\u0000 is not allowed");
	expect_error(f, "{\"command\":\"image-create\",\"path\":\"/tmp/x\",\"size\":-5}", EINVAL,
		     "must not be negative");
	expect_error(f, "{\"command\":\"image-create\",\"path\":\"/tmp/x\",\"size\":1.5}", EINVAL,
		     "size: expected an integer");
	expect_error(f, "{\"command\":\"image-create\",\"path\":\"/tmp/x\",\"size\":\"1.5G\"}", EINVAL,
		     "not a byte count");
	expect_error(f, "{\"command\":\"image-resize\",\"size\":1}", EINVAL, "exactly one of");
	expect_error(f, "{\"command\":\"stats\",\"name\":\"nosuch\"}", ENOENT, "no export named");

	snprintf(req, sizeof(req), "{\"command\":\"image-create\",\"path\":\"%s/b.img\",\"size\":\"64K\"}",
		 f->dir);
	resp = call(f, req);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(resp, "image"), "size")),
			 65536);
	json_decref(resp);
	snprintf(req, sizeof(req), "{\"command\":\"export-add\",\"name\":\"b\",\"image\":\"%s/b.img\","
		 "\"readonly\":true,\"description\":\"d\"}", f->dir);
	resp = call(f, req);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	assert_true(json_is_true(json_object_get(json_object_get(resp, "export"), "readonly")));
	json_decref(resp);
	resp = call(f, "{\"command\":\"stats\"}");
	assert_int_equal(json_array_size(json_object_get(resp, "exports")), 1);
	json_decref(resp);
	snprintf(req, sizeof(req), "{\"command\":\"image-resize\",\"path\":\"%s/b.img\",\"size\":4096}",
		 f->dir);
	expect_error(f, req, EBUSY, "exported as b");
	resp = call(f, "{\"command\":\"export-remove\",\"name\":\"b\",\"force\":true}");
	assert_true(json_is_true(json_object_get(resp, "ok")));
	assert_int_equal(json_integer_value(json_object_get(resp, "draining")), 0);
	assert_int_equal(f->kicks, 0); /* nothing attached: no need to wake workers */
	json_decref(resp);
}

/* ublk-add / ublk-remove: field bounds (those of --ublk), unknown export,
 * the registry's refusal passed on with nothing registered, the device in
 * the listing, already added, export-remove and shrink refused meanwhile. */
static void test_control_ublk(void **state)
{
	struct fixture *f = *state;
	char req[512];
	json_t *resp, *u;

	expect_error(f, "{\"command\":\"ublk-add\"}", ENOENT, "name: required");
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"a\",\"queues\":0}", ERANGE,
		     "queues: 0 is outside [1, 16]");
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"a\",\"queues\":17}", ERANGE,
		     "queues: 17 is outside [1, 16]");
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"a\",\"depth\":1025}", ERANGE,
		     "depth: 1025 is outside [1, 1024]");
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"a\",\"depth\":\"8\"}", EINVAL,
		     "depth: expected an integer");
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"a\",\"socket\":\"/x\"}", EINVAL,
		     "socket: unknown field");
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"nosuch\"}", ENOENT,
		     "no export named nosuch");
	expect_error(f, "{\"command\":\"ublk-remove\",\"name\":\"a\"}", ENOENT,
		     "export a has no ublk device");

	snprintf(req, sizeof(req), "{\"command\":\"export-add\",\"name\":\"a\",\"image\":\"%s\"}",
		 f->img);
	resp = call(f, req);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);
	f->ublk.add_errno = ENODEV;
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"a\"}", ENODEV, "fake refusal");
	assert_false(f->ublk.has);
	f->ublk.add_errno = 0;

	resp = call(f, "{\"command\":\"ublk-add\",\"name\":\"a\",\"queues\":2}");
	assert_true(json_is_true(json_object_get(resp, "ok")));
	u = json_object_get(resp, "ublk");
	assert_string_equal(json_string_value(json_object_get(u, "device")), "/dev/ublkb7");
	assert_int_equal(json_integer_value(json_object_get(u, "id")), 7);
	assert_int_equal(json_integer_value(json_object_get(u, "queues")), 2);
	assert_int_equal(json_integer_value(json_object_get(u, "depth")), 128); /* --ublk's default */
	json_decref(resp);
	expect_error(f, "{\"command\":\"ublk-add\",\"name\":\"a\"}", EEXIST,
		     "already has the ublk device /dev/ublkb7");
	resp = call(f, "{\"command\":\"export-list\"}");
	u = json_object_get(json_array_get(json_object_get(resp, "exports"), 0), "ublk");
	assert_string_equal(json_string_value(json_object_get(u, "device")), "/dev/ublkb7");
	json_decref(resp);
	expect_error(f, "{\"command\":\"export-remove\",\"name\":\"a\",\"force\":true}", EBUSY,
		     "ublk-remove it first");
	expect_error(f, "{\"command\":\"image-resize\",\"export\":\"a\",\"size\":4096}", EBUSY,
		     "while it is the ublk device /dev/ublkb7");
	resp = call(f, "{\"command\":\"image-resize\",\"export\":\"a\",\"size\":\"2M\"}");
	assert_true(json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);

	resp = call(f, "{\"command\":\"ublk-remove\",\"name\":\"a\"}");
	assert_true(json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);
	assert_false(f->ublk.has);
	resp = call(f, "{\"command\":\"export-list\"}");
	assert_null(json_object_get(json_array_get(json_object_get(resp, "exports"), 0), "ublk"));
	json_decref(resp);
	resp = call(f, "{\"command\":\"export-remove\",\"name\":\"a\"}");
	assert_true(json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_ublk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
