/* test_ublk_desc.c - ublk I/O descriptor decoding (ops, flags, bounds
 * against the image and the tag buffer, read-only images) and command
 * opcode encoding; no kernel ublk needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>

#include "vblk/ublk/desc.h"

#define IMG (1024 * 1024ull)  /* 2048 sectors */
#define BUF (64 * 1024u)      /* 128 sectors */

static int decode(unsigned op, unsigned flags, uint64_t start, uint32_t n, bool ro,
		  struct vp_ublk_req *req)
{
	struct ublksrv_io_desc iod = {
		.op_flags = op | flags, .nr_sectors = n, .start_sector = start,
	};

	return vp_ublk_desc_decode(&iod, IMG, BUF, ro, req);
}

static void test_ops(void **state)
{
	struct vp_ublk_req r;

	(void)state;
	assert_int_equal(decode(UBLK_IO_OP_READ, 0, 8, 16, false, &r), 0);
	assert_int_equal(r.kind, VP_UBLK_READ);
	assert_int_equal(r.offset, 4096);
	assert_int_equal(r.len, 8192);
	assert_false(r.fua);
	assert_int_equal(decode(UBLK_IO_OP_WRITE, UBLK_IO_F_FUA, 0, 1, false, &r), 0);
	assert_int_equal(r.kind, VP_UBLK_WRITE);
	assert_true(r.fua);
	assert_int_equal(r.len, 512);
	assert_int_equal(decode(UBLK_IO_OP_FLUSH, 0, 0, 0, false, &r), 0);
	assert_int_equal(r.kind, VP_UBLK_FLUSH);
	assert_int_equal(decode(UBLK_IO_OP_DISCARD, 0, 100, 1000, false, &r), 0);
	assert_int_equal(r.kind, VP_UBLK_DISCARD);
	assert_int_equal(r.offset, 100 * 512);
	assert_int_equal(r.len, 1000 * 512);
	assert_int_equal(decode(UBLK_IO_OP_WRITE_ZEROES, UBLK_IO_F_NOUNMAP, 0, 2048, false, &r), 0);
	assert_int_equal(r.kind, VP_UBLK_WRITE_ZEROES);
	assert_true(r.no_unmap);
	assert_int_equal(decode(UBLK_IO_OP_WRITE_ZEROES, 0, 0, 8, false, &r), 0);
	assert_false(r.no_unmap);
	/* FUA means nothing outside WRITE. */
	assert_int_equal(decode(UBLK_IO_OP_READ, UBLK_IO_F_FUA, 0, 1, false, &r), 0);
	assert_false(r.fua);
}

static void test_unsupported(void **state)
{
	struct vp_ublk_req r;

	(void)state;
	assert_int_equal(decode(UBLK_IO_OP_WRITE_SAME, 0, 0, 1, false, &r), -EOPNOTSUPP);
	assert_int_equal(decode(6, 0, 0, 1, false, &r), -EOPNOTSUPP);
	assert_int_equal(decode(0xff, 0, 0, 1, false, &r), -EOPNOTSUPP);
	/* Flags never turn into an op. */
	assert_int_equal(decode(0xfe, UBLK_IO_F_FUA, 0, 1, false, &r), -EOPNOTSUPP);
}

static void test_bounds(void **state)
{
	struct vp_ublk_req r;

	(void)state;
	/* The last sector, and the whole buffer. */
	assert_int_equal(decode(UBLK_IO_OP_READ, 0, 2047, 1, false, &r), 0);
	assert_int_equal(decode(UBLK_IO_OP_WRITE, 0, 1920, 128, false, &r), 0);
	/* One past the end, and a start beyond it. */
	assert_int_equal(decode(UBLK_IO_OP_READ, 0, 2047, 2, false, &r), -EIO);
	assert_int_equal(decode(UBLK_IO_OP_READ, 0, 2048, 1, false, &r), -EIO);
	assert_int_equal(decode(UBLK_IO_OP_DISCARD, 0, 2049, 0, false, &r), -EIO);
	/* Sector arithmetic that would wrap. */
	assert_int_equal(decode(UBLK_IO_OP_READ, 0, UINT64_MAX, 1, false, &r), -EIO);
	assert_int_equal(decode(UBLK_IO_OP_WRITE, 0, UINT64_MAX - 1, 2, false, &r), -EIO);
	assert_int_equal(decode(UBLK_IO_OP_DISCARD, 0, 1, UINT32_MAX, false, &r), -EIO);
	/* Larger than the tag buffer, or empty. */
	assert_int_equal(decode(UBLK_IO_OP_READ, 0, 0, 129, false, &r), -EIO);
	assert_int_equal(decode(UBLK_IO_OP_WRITE, 0, 0, 0, false, &r), -EIO);
	/* Discard and write-zeroes carry no data: only the image bounds them. */
	assert_int_equal(decode(UBLK_IO_OP_DISCARD, 0, 0, 2048, false, &r), 0);
	assert_int_equal(decode(UBLK_IO_OP_WRITE_ZEROES, 0, 0, 2049, false, &r), -EIO);
}

static void test_partial_sector_image(void **state)
{
	struct ublksrv_io_desc iod = { .op_flags = UBLK_IO_OP_READ, .nr_sectors = 1, .start_sector = 1 };
	struct vp_ublk_req r;

	(void)state;
	/* 1000 bytes: one whole sector; the tail is not exposed. */
	assert_int_equal(vp_ublk_desc_decode(&iod, 1000, BUF, false, &r), -EIO);
	iod.start_sector = 0;
	assert_int_equal(vp_ublk_desc_decode(&iod, 1000, BUF, false, &r), 0);
}

static void test_readonly(void **state)
{
	struct vp_ublk_req r;

	(void)state;
	assert_int_equal(decode(UBLK_IO_OP_READ, 0, 0, 8, true, &r), 0);
	assert_int_equal(decode(UBLK_IO_OP_FLUSH, 0, 0, 0, true, &r), 0);
	assert_int_equal(decode(UBLK_IO_OP_WRITE, 0, 0, 8, true, &r), -EROFS);
	assert_int_equal(decode(UBLK_IO_OP_DISCARD, 0, 0, 8, true, &r), -EROFS);
	assert_int_equal(decode(UBLK_IO_OP_WRITE_ZEROES, 0, 0, 8, true, &r), -EROFS);
}

static void test_cmd_op(void **state)
{
	(void)state;
	/* Legacy numbers are the bare command numbers. */
	assert_int_equal(vp_ublk_cmd_op(UBLK_CMD_ADD_DEV, 32, false), 0x04);
	assert_int_equal(vp_ublk_cmd_op(UBLK_IO_FETCH_REQ, 16, false), 0x20);
	/* _IOWR('u', nr, size) / _IOR: dir<<30 | size<<16 | 'u'<<8 | nr. */
	assert_int_equal(vp_ublk_cmd_op(UBLK_CMD_ADD_DEV, 32, true), 0xc0207504u);
	assert_int_equal(vp_ublk_cmd_op(UBLK_CMD_START_DEV, 32, true), 0xc0207506u);
	assert_int_equal(vp_ublk_cmd_op(UBLK_IO_FETCH_REQ, 16, true), 0xc0107520u);
	assert_int_equal(vp_ublk_cmd_op(UBLK_IO_COMMIT_AND_FETCH_REQ, 16, true), 0xc0107521u);
	assert_int_equal(vp_ublk_cmd_op(VP_UBLK_CMD_GET_FEATURES, 32, true), 0x80207513u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_partial_sector_image),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_cmd_op),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
