/* vhost_frontend.c - drive vblkd's vhost-user-blk export without a VM: the
 * handshake, real virtio-blk requests on hand-built rings in memfd guest
 * memory, hostile messages and rings, and crash/reconnect with inflight
 * resubmission.  Exit 0 pass, 1 fail (the reason on stderr).
 *
 * Usage: vhost_frontend SOCKET IMAGE NAME TEST [ARG]
 *   smoke [QUEUES]         handshake, config, write/read/verify (direct,
 *                          indirect, region-straddling buffers, queue depth),
 *                          flush, GET_ID, discard, write zeroes, error statuses
 *   evil CASE              one hostile input; expect an error status or a
 *                          disconnect, then a clean reconnect that works
 *   crash COUNT PROGRESS [QUEUES]
 *                          COUNT 64 KiB writes, progress (acks) written to
 *                          file PROGRESS; survives the daemon being killed
 *                          and restarted; verifies every write on the image
 *   inflight-sim           fake a crash in the inflight region; the daemon
 *                          must resubmit exactly the in-flight heads
 *   resize NEWSIZE         grow the image file; expect a config-change notice
 *                          and the new capacity
 *   await-size SIZE        connect, print "connected", then wait (10 s at
 *                          most) for a config-change notice and capacity SIZE
 *                          (someone else grows the image), and write and read
 *                          back its last 4 KiB
 *   zeroes                 write zeroes with and without unmap, in write-back
 *                          and write-through mode, over written data: every
 *                          range reads back as zeroes (images that cannot
 *                          punch: the daemon falls back to writing zeroes)
 *   pattern write|check SEED
 *                          64 KiB of pattern SEED at sector 8 written, or read
 *                          and compared, through the rings only (IMAGE is not
 *                          opened: it may be served by another host path)
 *   flush ok|ioerr         one FLUSH; its status must be VIRTIO_BLK_S_OK or
 *                          VIRTIO_BLK_S_IOERR (a writeback error of the image)
 *   bench RW SECONDS [QUEUES]
 *                          load generator (works with any vhost-user-blk back
 *                          end): 4 KiB random reads (RW=randread) or writes
 *                          (randwrite) at queue depth 32 per queue, one thread
 *                          per queue, kicks suppressed as a guest driver does;
 *                          prints "iops=N q0=N ..." on stdout
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vblk/vhost/inflight.h"
#include "vhost_frontend/fe.h"

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, " [%s]\n", fe->err);                                       \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static const char *g_sock, *g_image, *g_name;

static void pattern(uint8_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = (seed + i / 8) * 0x9e3779b97f4a7c15ULL;

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

static void image_read(struct fe *fe, uint64_t off, void *buf, size_t len)
{
	int fd = open(g_image, O_RDONLY);

	CHECK(fd >= 0 && pread(fd, buf, len, (off_t)off) == (ssize_t)len, "read image at %llu",
	      (unsigned long long)off);
	close(fd);
}

static void get_config(struct fe *fe, struct virtio_blk_config *cfg)
{
	struct vp_vhost_config c = { 0, sizeof(*cfg), 0, { 0 } };
	struct vp_vhost_hdr h;

	CHECK(fe_send(fe, VHOST_USER_GET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + sizeof(*cfg), NULL, 0) == 0 &&
		      fe_recv(fe, &h, &c, sizeof(c)) == 0 && h.size == VHOST_USER_CONFIG_HDR + sizeof(*cfg),
	      "GET_CONFIG");
	memcpy(cfg, c.data, sizeof(*cfg));
}

/* Write a pattern through queue q and read it back several ways. */
static void rw_check(struct fe *fe, unsigned q, uint64_t sector, uint32_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len), *img = malloc(len);
	uint32_t used;
	int st;

	pattern(buf, len, seed);
	memcpy(fe_slot_data(fe, q, 0), buf, len);
	st = fe_do(fe, q, VIRTIO_BLK_T_OUT, sector, len, 1, false, &used);
	CHECK(st == VIRTIO_BLK_S_OK && used == 1, "write q%u sector %llu: status %d used %u", q,
	      (unsigned long long)sector, st, used);
	image_read(fe, sector * 512, img, len);
	CHECK(memcmp(buf, img, len) == 0, "image content after write q%u", q);
	for (unsigned shape = 0; shape < 3; shape++) {
		memset(fe_slot_data(fe, q, 0), 0, len);
		st = fe_do(fe, q, VIRTIO_BLK_T_IN, sector, len, shape == 2 ? 16 : shape + 1, shape == 2,
			   &used);
		CHECK(st == VIRTIO_BLK_S_OK && used == len + 1, "read shape %u: status %d used %u", shape,
		      st, used);
		CHECK(memcmp(buf, fe_slot_data(fe, q, 0), len) == 0, "read back shape %u", shape);
	}
	free(buf);
	free(img);
}

/* Fill every slot of queue q at once (256 KiB each; one buffer straddles
 * the two memory regions), then verify each on the image. */
static void depth_check(struct fe *fe, unsigned q, uint64_t base_sector)
{
	uint8_t *img = malloc(FE_SLOT_DATA), *want = malloc(FE_SLOT_DATA);
	unsigned done = 0;

	for (unsigned s = 0; s < FE_SLOTS; s++) {
		pattern(fe_slot_data(fe, q, s), FE_SLOT_DATA, 1000 * q + s);
		CHECK(fe_submit(fe, q, VIRTIO_BLK_T_OUT, base_sector + s * (FE_SLOT_DATA / 512),
				FE_SLOT_DATA, s % 3 + 1, s % 3 == 2, s == FE_SLOTS - 1 || s % 5 == 0,
				s) == (int)s, "submit slot %u", s);
	}
	while (done < FE_SLOTS) {
		int n = fe_reap(fe, q, 5000);

		CHECK(n > 0, "depth: completions stopped at %u", done);
		done += (unsigned)n;
	}
	for (unsigned s = 0; s < FE_SLOTS; s++) {
		CHECK(fe_status(fe, q, s) == VIRTIO_BLK_S_OK, "depth slot %u status", s);
		pattern(want, FE_SLOT_DATA, 1000 * q + s);
		image_read(fe, (base_sector + s * (FE_SLOT_DATA / 512)) * 512, img, FE_SLOT_DATA);
		CHECK(memcmp(img, want, FE_SLOT_DATA) == 0, "depth slot %u data on image", s);
	}
	free(img);
	free(want);
}

static void range_op(struct fe *fe, unsigned q, uint32_t type, uint64_t sector, uint32_t n,
		     uint32_t flags, int want)
{
	struct virtio_blk_discard_write_zeroes seg = { sector, n, flags };
	int st;

	memcpy(fe_slot_data(fe, q, 0), &seg, sizeof(seg));
	st = fe_do(fe, q, type, 0, sizeof(seg), 1, false, NULL);
	CHECK(st == want, "range op %u sector %llu n %u flags %u: status %d, want %d", type,
	      (unsigned long long)sector, n, flags, st, want);
}

static void expect_zero(struct fe *fe, unsigned q, uint64_t sector, uint32_t len)
{
	uint8_t *img = malloc(len), *zero = calloc(1, len);

	CHECK(fe_do(fe, q, VIRTIO_BLK_T_IN, sector, len, 1, false, NULL) == VIRTIO_BLK_S_OK, "read");
	CHECK(memcmp(fe_slot_data(fe, q, 0), zero, len) == 0, "guest reads zeroes");
	image_read(fe, sector * 512, img, len);
	CHECK(memcmp(img, zero, len) == 0, "image holds zeroes");
	free(img);
	free(zero);
}

static int test_smoke(struct fe *fe, unsigned nq)
{
	struct virtio_blk_config cfg;
	uint64_t cap;
	uint32_t used;
	int st;

	CHECK(fe_connect(fe, 2000) == 0, "connect");
	CHECK(fe->event_idx && fe->indirect, "EVENT_IDX and INDIRECT_DESC offered");
	CHECK((fe->features & ((1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
			       (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_BLK_F_MQ))) ==
		      ((1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
		       (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_BLK_F_MQ)),
	      "blk features 0x%llx", (unsigned long long)fe->features);
	get_config(fe, &cfg);
	cap = cfg.capacity;
	CHECK(cap * 512 >= 64ULL << 20 && cfg.num_queues >= nq && cfg.seg_max >= 60 &&
		      cfg.max_discard_seg == 1 && cfg.write_zeroes_may_unmap == 1,
	      "config: capacity %llu queues %u seg_max %u", (unsigned long long)cap, cfg.num_queues,
	      cfg.seg_max);
	for (unsigned q = 0; q < nq; q++) {
		rw_check(fe, q, 8 + q * 4096, 64 << 10, q + 1);
		depth_check(fe, q, 65536 + q * 32768);
	}
	CHECK(fe_do(fe, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 1, false, NULL) == VIRTIO_BLK_S_OK, "flush");
	st = fe_do(fe, 0, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, 1, false, &used);
	CHECK(st == VIRTIO_BLK_S_OK && used == VIRTIO_BLK_ID_BYTES + 1 &&
		      strncmp((char *)fe_slot_data(fe, 0, 0), g_name, VIRTIO_BLK_ID_BYTES) == 0,
	      "GET_ID: status %d used %u", st, used);
	/* discard, write zeroes (with and without unmap) read back as zeroes */
	rw_check(fe, 0, 2048, 64 << 10, 77);
	range_op(fe, 0, VIRTIO_BLK_T_DISCARD, 2048, 128, 0, VIRTIO_BLK_S_OK);
	expect_zero(fe, 0, 2048, 64 << 10);
	rw_check(fe, 0, 2048, 64 << 10, 78);
	range_op(fe, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2048, 64, 0, VIRTIO_BLK_S_OK);
	range_op(fe, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2048 + 64, 64, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
		 VIRTIO_BLK_S_OK);
	expect_zero(fe, 0, 2048, 64 << 10);
	/* errors: status, not a crash or a disconnect */
	range_op(fe, 0, VIRTIO_BLK_T_DISCARD, 0, 8, 1, VIRTIO_BLK_S_UNSUPP);
	range_op(fe, 0, VIRTIO_BLK_T_DISCARD, cap - 4, 8, 0, VIRTIO_BLK_S_IOERR);
	CHECK(fe_do(fe, 0, VIRTIO_BLK_T_IN, cap, 512, 1, false, NULL) == VIRTIO_BLK_S_IOERR,
	      "read past the end");
	CHECK(fe_do(fe, 0, VIRTIO_BLK_T_OUT, cap - 1, 1024, 1, false, NULL) == VIRTIO_BLK_S_IOERR,
	      "write across the end");
	CHECK(fe_do(fe, 0, VIRTIO_BLK_T_IN, ~0ULL / 256, 512, 1, false, NULL) == VIRTIO_BLK_S_IOERR,
	      "huge sector");
	CHECK(fe_do(fe, 0, VIRTIO_BLK_T_IN, 0, 100, 1, false, NULL) == VIRTIO_BLK_S_IOERR,
	      "length not a sector multiple");
	CHECK(fe_do(fe, 0, 99, 0, 512, 1, false, NULL) == VIRTIO_BLK_S_UNSUPP, "unknown type");
	/* writethrough mode (config wce = 0) still writes */
	{
		struct vp_vhost_config c = { offsetof(struct virtio_blk_config, wce), 1, 0, { 0 } };

		CHECK(fe_send(fe, VHOST_USER_SET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + 1, NULL, 0) == 0,
		      "SET_CONFIG");
		get_config(fe, &cfg);
		CHECK(cfg.wce == 0, "wce now 0");
		rw_check(fe, 0, 4096, 4096, 5);
	}
	for (unsigned q = 0; q < nq; q++)
		CHECK(fe->q[q].missed_calls == 0, "queue %u: %u completions without interrupt", q,
		      fe->q[q].missed_calls);
	printf("ok - smoke (%u queues)\n", nq);
	return 0;
}

static int test_zeroes(struct fe *fe)
{
	struct vp_vhost_config wt = { offsetof(struct virtio_blk_config, wce), 1, 0, { 0 } };

	CHECK(fe_connect(fe, 2000) == 0, "connect");
	for (int pass = 0; pass < 2; pass++) { /* write-back, then write-through (FUA) */
		rw_check(fe, 0, 2048, 64 << 10, 90 + pass);
		range_op(fe, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2048, 64, 0, VIRTIO_BLK_S_OK);
		range_op(fe, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2048 + 64, 64,
			 VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, VIRTIO_BLK_S_OK);
		expect_zero(fe, 0, 2048, 64 << 10);
		CHECK(fe_send(fe, VHOST_USER_SET_CONFIG, 0, &wt, VHOST_USER_CONFIG_HDR + 1, NULL, 0) == 0,
		      "SET_CONFIG");
	}
	printf("ok - zeroes\n");
	return 0;
}

/* ---- hostile inputs ---- */

static void send_raw_state(struct fe *fe, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vp_vhost_vring_state s = { idx, num };

	CHECK(fe_send(fe, req, 0, &s, sizeof(s), NULL, 0) == 0, "send");
}

/* Message-level cases, sent right after connecting.  Returns 1 when the
 * case was recognised. */
static int evil_message(struct fe *fe, const char *c)
{
	uint64_t big[40] = { 0 };
	int fd = fe->memfd;
	struct vp_vhost_mem_table mt = { .nregions = 1 };

	if (!strcmp(c, "short-payload"))
		CHECK(fe_send(fe, VHOST_USER_SET_VRING_NUM, 0, big, 4, NULL, 0) == 0, "send");
	else if (!strcmp(c, "huge-size"))
		CHECK(fe_send(fe, VHOST_USER_SET_FEATURES, 0, big, 8, NULL, 0) == 0 &&
			      fe_send(fe, VHOST_USER_SET_OWNER, 0, big, 300, NULL, 0) == 0, "send");
	else if (!strcmp(c, "missing-fd")) {
		mt.regions[0] = (struct vp_vhost_region){ FE_GPA_BASE, 1 << 20, (uintptr_t)fe->mem, 0 };
		CHECK(fe_send(fe, VHOST_USER_SET_MEM_TABLE, 0, &mt, 8 + 32, NULL, 0) == 0, "send");
	} else if (!strcmp(c, "extra-fd"))
		CHECK(fe_send(fe, VHOST_USER_SET_OWNER, 0, NULL, 0, &fd, 1) == 0, "send");
	else if (!strcmp(c, "too-many-regions")) {
		mt.nregions = 9;
		CHECK(fe_send(fe, VHOST_USER_SET_MEM_TABLE, 0, &mt, 8, NULL, 0) == 0, "send");
	} else if (!strcmp(c, "region-overlap")) {
		int fds[2] = { fd, fd };

		mt.nregions = 2;
		mt.regions[0] = (struct vp_vhost_region){ FE_GPA_BASE, 1 << 20, (uintptr_t)fe->mem, 0 };
		mt.regions[1] = (struct vp_vhost_region){ FE_GPA_BASE + 4096, 1 << 20,
							  (uintptr_t)fe->mem + (2 << 20), 0 };
		CHECK(fe_send(fe, VHOST_USER_SET_MEM_TABLE, 0, &mt, 8 + 64, fds, 2) == 0, "send");
	} else if (!strcmp(c, "region-wrap")) {
		mt.regions[0] = (struct vp_vhost_region){ ~0ULL - 4095, 1 << 20, (uintptr_t)fe->mem, 0 };
		CHECK(fe_send(fe, VHOST_USER_SET_MEM_TABLE, 0, &mt, 8 + 32, &fd, 1) == 0, "send");
	} else if (!strcmp(c, "bad-version"))
		CHECK(fe_send(fe, VHOST_USER_GET_FEATURES, 0x2, NULL, 0, NULL, 0) == 0, "send");
	else if (!strcmp(c, "queue-index"))
		send_raw_state(fe, VHOST_USER_SET_VRING_NUM, 200, 128);
	else if (!strcmp(c, "bad-num"))
		send_raw_state(fe, VHOST_USER_SET_VRING_NUM, 0, 100);
	else if (!strcmp(c, "unknown-request"))
		CHECK(fe_send(fe, 999, 0, NULL, 0, NULL, 0) == 0, "send");
	else if (!strcmp(c, "kick-no-fd"))
		CHECK(fe_send(fe, VHOST_USER_SET_VRING_KICK, 0, big, 8, NULL, 0) == 0, "send");
	else if (!strcmp(c, "config-range")) {
		struct vp_vhost_config cf = { 250, 100, 0, { 0 } };

		CHECK(fe_send(fe, VHOST_USER_GET_CONFIG, 0, &cf, VHOST_USER_CONFIG_HDR + 4, NULL, 0) == 0,
		      "send");
	} else if (!strcmp(c, "inflight-small")) {
		struct vp_vhost_inflight_desc d = { 64, 0, 1, 128, 0 };

		CHECK(fe_send(fe, VHOST_USER_SET_INFLIGHT_FD, 0, &d, sizeof(d), &fd, 1) == 0, "send");
	} else if (!strcmp(c, "region-past-fd")) {
		/* a region 1 MiB longer than the memfd behind it */
		mt.regions[0] = (struct vp_vhost_region){ FE_GPA_BASE, fe->memsize + (1 << 20),
							  (uintptr_t)fe->mem, 0 };
		CHECK(fe_send(fe, VHOST_USER_SET_MEM_TABLE, 0, &mt, 8 + 32, &fd, 1) == 0, "send");
	} else if (!strcmp(c, "addreg-past-fd")) {
		struct vp_vhost_mem_reg r = { 0, { FE_GPA_BASE, 1 << 20, (uintptr_t)fe->mem,
						   fe->memsize - 4096 } };

		CHECK(fe_send(fe, VHOST_USER_ADD_MEM_REG, 0, &r, sizeof(r), &fd, 1) == 0, "send");
	} else if (!strcmp(c, "region-huge")) {
		/* a sparse 2 TiB memfd: mapping it whole would take a sixty-fourth
		 * of the daemon's address space */
		int huge = memfd_create("fe-huge", MFD_CLOEXEC);

		CHECK(huge >= 0 && ftruncate(huge, 2LL << 40) == 0, "memfd");
		mt.regions[0] = (struct vp_vhost_region){ FE_GPA_BASE, 2ULL << 40, (uintptr_t)fe->mem, 0 };
		CHECK(fe_send(fe, VHOST_USER_SET_MEM_TABLE, 0, &mt, 8 + 32, &huge, 1) == 0, "send");
		close(huge);
	} else if (!strcmp(c, "inflight-huge")) {
		struct vp_vhost_inflight_desc d = { 1ULL << 30, 0, 1, 128, 0 };
		int huge = memfd_create("fe-huge", MFD_CLOEXEC);

		CHECK(huge >= 0 && ftruncate(huge, 1LL << 30) == 0, "memfd");
		CHECK(fe_send(fe, VHOST_USER_SET_INFLIGHT_FD, 0, &d, sizeof(d), &huge, 1) == 0, "send");
		close(huge);
	} else if (!strcmp(c, "inflight-past-fd")) {
		struct vp_vhost_inflight_desc d = { 65536, 0, 1, 128, 0 };
		int small = memfd_create("fe-small", MFD_CLOEXEC);

		CHECK(small >= 0 && ftruncate(small, 4096) == 0, "memfd");
		CHECK(fe_send(fe, VHOST_USER_SET_INFLIGHT_FD, 0, &d, sizeof(d), &small, 1) == 0, "send");
		close(small);
	} else if (!strcmp(c, "kick-pipe") || !strcmp(c, "call-pipe") || !strcmp(c, "kick-socket") ||
		   !strcmp(c, "call-file") || !strcmp(c, "backend-pipe")) {
		int p[2];
		uint64_t idx = 0;
		uint32_t req = c[0] == 'k' ? VHOST_USER_SET_VRING_KICK :
			       c[0] == 'c' ? VHOST_USER_SET_VRING_CALL : VHOST_USER_SET_BACKEND_REQ_FD;

		if (strstr(c, "socket"))
			CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0, "socketpair");
		else if (strstr(c, "file"))
			p[0] = p[1] = open(g_image, O_RDWR | O_CLOEXEC);
		else
			CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
		CHECK(p[0] >= 0, "fd");
		CHECK(fe_send(fe, req, 0, &idx, req == VHOST_USER_SET_BACKEND_REQ_FD ? 0 : 8, &p[0], 1) == 0,
		      "send");
		close(p[0]);
		if (p[1] != p[0])
			close(p[1]);
	} else if (!strcmp(c, "region-on-disk")) {
		/* guest memory in a file on the image's (disk) file system */
		char path[4096];
		int disk;

		snprintf(path, sizeof(path), "%s.guestmem", g_image);
		disk = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		CHECK(disk >= 0 && ftruncate(disk, 1 << 20) == 0, "create %s", path);
		unlink(path);
		mt.regions[0] = (struct vp_vhost_region){ FE_GPA_BASE, 1 << 20, (uintptr_t)fe->mem, 0 };
		CHECK(fe_send(fe, VHOST_USER_SET_MEM_TABLE, 0, &mt, 8 + 32, &disk, 1) == 0, "send");
		close(disk);
	} else if (!strcmp(c, "truncated")) {
		CHECK(write(fe->sock, big, 6) == 6, "send");
		shutdown(fe->sock, SHUT_WR);
	} else
		return 0;
	return 1;
}

/* The daemon's own inflight fd is sealed (it cannot be shrunk); hand it a
 * memfd of ours instead, over a reconnect.  Returns that memfd. */
static int swap_inflight(struct fe *fe)
{
	int own = memfd_create("fe-inflight", MFD_CLOEXEC);

	CHECK(fe->inflight_fd >= 0 && ftruncate(fe->inflight_fd, 0) < 0 && errno == EPERM,
	      "the daemon's inflight memfd is not sealed against shrinking");
	CHECK(own >= 0 && ftruncate(own, (off_t)fe->inflight_size) == 0, "memfd");
	fe_disconnect(fe);
	close(fe->inflight_fd);
	fe->inflight_fd = own;
	CHECK(fe_connect(fe, 2000) == 0, "reconnect with our inflight fd");
	return own;
}

/* Ring-level cases, after a full handshake: build a bad chain in queue 0
 * and kick.  Returns 1 when recognised. */
static int evil_ring(struct fe *fe, const char *c)
{
	struct fe_queue *q = &fe->q[0];
	uint64_t hdr_gpa = fe_slot_data_gpa(0, 0), data_gpa = hdr_gpa + 4096;
	struct vring_desc *ind = (void *)(fe_slot_data(fe, 0, 1));
	uint64_t ind_gpa = fe_slot_data_gpa(0, 1);
	uint16_t head = 0;
	int shrink = -1;

	memset(fe_slot_data(fe, 0, 0), 0, 16); /* a valid IN header */
	q->desc[0] = (struct vring_desc){ hdr_gpa, 16, VRING_DESC_F_NEXT, 1 };
	q->desc[1] = (struct vring_desc){ data_gpa, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	q->desc[2] = (struct vring_desc){ data_gpa + 512, 1, VRING_DESC_F_WRITE, 0 };
	if (!strcmp(c, "desc-loop"))
		q->desc[2] = (struct vring_desc){ data_gpa + 512, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0 };
	else if (!strcmp(c, "desc-oob"))
		q->desc[1].next = 500;
	else if (!strcmp(c, "head-oob"))
		head = 4000;
	else if (!strcmp(c, "addr-oob"))
		q->desc[1].addr = 0x1000; /* below the guest's memory */
	else if (!strcmp(c, "addr-wrap"))
		q->desc[1] = (struct vring_desc){ ~0ULL - 100, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
	else if (!strcmp(c, "len-past-region"))
		q->desc[1].len = 0x7fffffff;
	else if (!strcmp(c, "long-chain")) {
		for (unsigned i = 1; i < FE_QSIZE; i++)
			q->desc[i] = (struct vring_desc){ data_gpa, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
							  (uint16_t)((i + 1) % FE_QSIZE) };
	} else if (!strcmp(c, "no-status"))
		q->desc[0].flags = 0;
	else if (!strcmp(c, "read-after-write"))
		q->desc[2].flags = 0;
	else if (!strcmp(c, "avail-jump")) {
		q->avail_idx += 1000;
	} else if (!strcmp(c, "shrink-mem")) {
		shrink = fe->memfd;
	} else if (!strcmp(c, "shrink-inflight")) {
		shrink = swap_inflight(fe);
	} else if (!strcmp(c, "call-saturated")) {
		/* the call eventfd made blocking again and one short of full:
		 * the daemon's interrupt for this request cannot be written */
		uint64_t most = 0xfffffffffffffffeULL, v;
		int fl = fcntl(q->call, F_GETFL);

		/* a round trip: the daemon has handled SET_VRING_CALL (and set
		 * O_NONBLOCK) before we clear it */
		CHECK(fe_get_u64(fe, VHOST_USER_GET_FEATURES, &v) == 0, "round trip");
		fe_slot_data(fe, 0, 0)[4096 + 512] = 0xee; /* the status byte */
		CHECK(fl >= 0 && fcntl(q->call, F_SETFL, fl & ~O_NONBLOCK) == 0 &&
			      write(q->call, &most, sizeof(most)) == sizeof(most), "saturate call fd");
	} else if (!strcmp(c, "kick-file-running")) {
		/* a regular file reads EOF at once: a queue thread reading its
		 * kicks from it would spin */
		int file = open(g_image, O_RDONLY | O_CLOEXEC);
		uint64_t idx = 0;

		CHECK(file >= 0 && fe_send(fe, VHOST_USER_SET_VRING_KICK, 0, &idx, 8, &file, 1) == 0,
		      "send");
		close(file);
	} else if (!strncmp(c, "indirect-", 9)) {
		ind[0] = (struct vring_desc){ hdr_gpa, 16, VRING_DESC_F_NEXT, 1 };
		ind[1] = (struct vring_desc){ data_gpa, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 };
		ind[2] = (struct vring_desc){ data_gpa + 512, 1, VRING_DESC_F_WRITE, 0 };
		q->desc[0] = (struct vring_desc){ ind_gpa, 3 * 16, VRING_DESC_F_INDIRECT, 0 };
		if (!strcmp(c, "indirect-loop"))
			ind[2] = (struct vring_desc){ data_gpa + 512, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0 };
		else if (!strcmp(c, "indirect-nested"))
			ind[1] = (struct vring_desc){ ind_gpa, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 2 };
		else if (!strcmp(c, "indirect-len"))
			q->desc[0].len = 40;
		else if (!strcmp(c, "indirect-oob"))
			q->desc[0].addr = 0x2000;
		else if (!strcmp(c, "indirect-huge"))
			q->desc[0].len = 16 * 65536;
		else if (!strcmp(c, "indirect-next"))
			q->desc[0].flags |= VRING_DESC_F_NEXT;
		else if (!strcmp(c, "indirect-many")) {
			/* 200 writable 1-byte segments: more than the daemon takes */
			for (unsigned i = 1; i < 201; i++)
				ind[i] = (struct vring_desc){ data_gpa + i, 1,
							      VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
							      (uint16_t)(i + 1) };
			ind[201].flags = VRING_DESC_F_WRITE;
			ind[201].addr = data_gpa + 512;
			ind[201].len = 1;
			q->desc[0].len = 202 * 16;
		} else
			return 0;
	} else
		return 0;
	q->avail->ring[q->avail_idx % FE_QSIZE] = head;
	__atomic_store_n(&q->avail->idx, ++q->avail_idx, __ATOMIC_RELEASE);
	/* Pull the pages from under the daemon's mapping: its next access
	 * to them would be a SIGBUS (we do not touch them any more). */
	CHECK(shrink < 0 || ftruncate(shrink, 0) == 0, "shrink");
	fe_kick(fe, 0);
	return 1;
}

static int test_evil(struct fe *fe, const char *c)
{
	struct fe good;
	bool closed;

	if (!strncmp(c, "desc-", 5) || !strncmp(c, "indirect-", 9) || !strncmp(c, "addr-", 5) ||
	    !strcmp(c, "head-oob") || !strcmp(c, "len-past-region") || !strcmp(c, "long-chain") ||
	    !strcmp(c, "no-status") || !strcmp(c, "read-after-write") || !strcmp(c, "avail-jump") ||
	    !strncmp(c, "shrink-", 7) || !strcmp(c, "kick-file-running") ||
	    !strcmp(c, "call-saturated")) {
		CHECK(fe_connect(fe, 2000) == 0, "connect");
		CHECK(evil_ring(fe, c), "unknown case '%s'", c);
	} else {
		/* a bare connection: the hostile message comes first */
		CHECK(fe_open(fe, 2000) == 0, "connect");
		CHECK(evil_message(fe, c), "unknown case '%s'", c);
	}
	closed = fe_closed(fe, 3000);
	if (!closed) { /* the alternative to a disconnect: an error status */
		uint8_t st = ((uint8_t *)fe_slot_data(fe, 0, 0))[4096 + 512];

		/* call-saturated: a good request, completed without interrupt;
		 * what counts is that the daemon can still stop its queue */
		CHECK(st == VIRTIO_BLK_S_IOERR || st == VIRTIO_BLK_S_UNSUPP ||
			      (st == VIRTIO_BLK_S_OK && !strcmp(c, "call-saturated")),
		      "case %s: neither a disconnect nor an error status", c);
	}
	fe_fini(fe);
	/* the daemon still serves this export */
	CHECK(fe_init(&good, g_sock, 1) == 0, "init");
	fe = &good;
	CHECK(fe_connect(fe, 5000) == 0, "reconnect after %s", c);
	rw_check(fe, 0, 100, 4096, 42);
	fe_fini(fe);
	printf("ok - evil %s (%s)\n", c, closed ? "disconnected" : "error status");
	return 0;
}

/* ---- crash and reconnect ---- */

static void set_writethrough(struct fe *fe)
{
	struct vp_vhost_config c = { offsetof(struct virtio_blk_config, wce), 1, 0, { 0 } };

	CHECK(fe_send(fe, VHOST_USER_SET_CONFIG, 0, &c, VHOST_USER_CONFIG_HDR + 1, NULL, 0) == 0,
	      "SET_CONFIG wce=0");
}

static void progress(const char *path, unsigned acks)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fprintf(f, "%u\n", acks);
		fclose(f);
	}
}

static int test_crash(struct fe *fe, unsigned count, const char *prog)
{
	const uint32_t len = 64 << 10;
	unsigned next = 0, acked = 0, reconnects = 0, nq = fe->nq;
	uint8_t *img = malloc(len), *want = malloc(len);

	CHECK(fe_connect(fe, 2000) == 0, "connect");
	set_writethrough(fe); /* every write O_DSYNC: slow, so many are in flight */
	while (acked < count) {
		for (unsigned q = 0; q < nq; q++) {
			while (next < count) {
				int s = fe_next_slot(fe, q);

				if (s < 0)
					break;
				pattern(fe_slot_data(fe, q, (unsigned)s), len, next + 7);
				CHECK(fe_submit(fe, q, VIRTIO_BLK_T_OUT, (uint64_t)next * (len / 512), len,
						1, next % 2, false, next) == s, "submit");
				next++;
			}
			fe_kick(fe, q);
		}
		for (unsigned q = 0; q < nq; q++) {
			int n = fe_reap(fe, q, 200);

			if (n == -ECONNRESET) {
				fe_disconnect(fe);
				reconnects++;
				CHECK(fe_connect(fe, 20000) == 0, "reconnect %u", reconnects);
				set_writethrough(fe);
				break;
			}
			CHECK(n >= 0, "reap");
			for (unsigned s = 0; s < FE_SLOTS; s++) {
				struct fe_slot *sl = &fe->q[q].slots[s];

				if (!sl->busy || !sl->done)
					continue;
				CHECK(fe_status(fe, q, s) == VIRTIO_BLK_S_OK, "write %llu status",
				      (unsigned long long)sl->tag);
				acked++;
			}
		}
		progress(prog, acked);
	}
	for (unsigned i = 0; i < count; i++) {
		pattern(want, len, i + 7);
		image_read(fe, (uint64_t)i * len, img, len);
		CHECK(memcmp(img, want, len) == 0, "write %u lost", i);
	}
	printf("ok - crash: %u writes acknowledged and on the image, %u reconnects\n", count, reconnects);
	free(img);
	free(want);
	return reconnects ? 0 : 2;
}

/* Fake what a crash leaves behind: heads taken (marked in flight) but not
 * completed, and a completion whose inflight mark was not yet cleared. */
static int test_inflight_sim(struct fe *fe)
{
	struct vp_inflight_queue *iq;
	struct fe_queue *q = &fe->q[0];
	uint8_t want[4096], img[4096];
	unsigned done = 0;

	CHECK(fe_connect(fe, 2000) == 0, "connect");
	rw_check(fe, 0, 0, 4096, 1);     /* slot 0: completed, head 0 */
	fe_disconnect(fe);
	usleep(100000);
	iq = fe_inflight_map(fe);
	CHECK(iq, "map inflight region");
	q->slots[0] = (struct fe_slot){ .busy = true, .done = true }; /* keep slot 0 out */
	for (unsigned i = 1; i <= 4; i++) {
		pattern(fe_slot_data(fe, 0, i), 4096, 100 + i);
		CHECK(fe_submit(fe, 0, VIRTIO_BLK_T_OUT, 8 * i, 4096, 1, i == 2, false, i) == (int)i,
		      "submit %u", i);
		if (i <= 3) { /* "taken" by the dead daemon, newest first in memory */
			iq->desc[i * 4].inflight = 1;
			iq->desc[i * 4].counter = 50 - i;
		}
	}
	/* head 0 completed but its mark survived the crash */
	iq->desc[0].inflight = 1;
	iq->desc[0].counter = 10;
	iq->last_batch_head = 0;
	iq->used_idx = (uint16_t)(q->used->idx - 1);
	CHECK(fe_connect(fe, 2000) == 0, "reconnect");
	while (done < 4) {
		int n = fe_reap(fe, 0, 5000);

		CHECK(n > 0, "resubmitted requests completed (%u of 4)", done);
		done += (unsigned)n;
	}
	CHECK(fe_reap(fe, 0, 300) == 0, "no extra completion");
	for (unsigned i = 1; i <= 4; i++) {
		CHECK(fe_status(fe, 0, i) == VIRTIO_BLK_S_OK, "request %u", i);
		pattern(want, 4096, 100 + i);
		image_read(fe, 8 * i * 512ULL, img, 4096);
		CHECK(memcmp(want, img, 4096) == 0, "request %u data", i);
	}
	for (unsigned i = 0; i < 16; i++)
		CHECK(iq->desc[i].inflight == 0, "head %u still marked", i);
	printf("ok - inflight-sim: 3 resubmitted, 1 popped, repaired last batch\n");
	return 0;
}

static int test_resize(struct fe *fe, uint64_t size)
{
	struct virtio_blk_config cfg;

	CHECK(fe_connect(fe, 2000) == 0, "connect");
	CHECK(truncate(g_image, (off_t)size) == 0, "truncate image");
	for (unsigned i = 0; i < 50 && !fe->config_changes; i++) {
		CHECK(fe_do(fe, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 1, false, NULL) == 0, "flush");
		usleep(100000);
		fe_drain_backend(fe);
	}
	CHECK(fe->config_changes > 0, "no config-change notice");
	get_config(fe, &cfg);
	CHECK(cfg.capacity == size / 512, "capacity %llu, want %llu", (unsigned long long)cfg.capacity,
	      (unsigned long long)size / 512);
	rw_check(fe, 0, size / 512 - 8, 4096, 9);
	printf("ok - resize: notice received, capacity %llu\n", (unsigned long long)cfg.capacity);
	return 0;
}

static int test_await_size(struct fe *fe, uint64_t size)
{
	struct virtio_blk_config cfg = { 0 };

	CHECK(fe_connect(fe, 2000) == 0, "connect");
	printf("connected\n");
	fflush(stdout);
	for (unsigned i = 0; i < 100 && (!fe->config_changes || cfg.capacity != size / 512); i++) {
		CHECK(fe_do(fe, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 1, false, NULL) == 0, "flush");
		usleep(100000);
		fe_drain_backend(fe);
		get_config(fe, &cfg);
	}
	CHECK(fe->config_changes > 0, "no config-change notice");
	CHECK(cfg.capacity == size / 512, "capacity %llu, want %llu", (unsigned long long)cfg.capacity,
	      (unsigned long long)size / 512);
	rw_check(fe, 0, size / 512 - 8, 4096, 11);
	printf("ok - await-size: notice received, capacity %llu\n", (unsigned long long)cfg.capacity);
	return 0;
}

/* One FLUSH, whose status must be want's ("ok" or "ioerr"). */
static int test_flush(struct fe *fe, const char *want)
{
	int expect = !strcmp(want, "ok") ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	int st;

	CHECK(!strcmp(want, "ok") || !strcmp(want, "ioerr"), "flush: expect ok or ioerr");
	CHECK(fe_connect(fe, 2000) == 0, "connect");
	st = fe_do(fe, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 1, false, NULL);
	CHECK(st == expect, "flush status %d, want %d (%s)", st, expect, want);
	printf("ok - flush answered %s\n", want);
	fe_disconnect(fe);
	return 0;
}

static int test_pattern(struct fe *fe, const char *how, uint64_t seed)
{
	const uint32_t len = 64 << 10;
	uint8_t *want = malloc(len);
	uint32_t used;
	int st;

	CHECK(want, "out of memory");
	CHECK(!strcmp(how, "write") || !strcmp(how, "check"), "pattern: write or check");
	CHECK(fe_connect(fe, 2000) == 0, "connect");
	pattern(want, len, seed);
	if (!strcmp(how, "write")) {
		memcpy(fe_slot_data(fe, 0, 0), want, len);
		st = fe_do(fe, 0, VIRTIO_BLK_T_OUT, 8, len, 1, false, &used);
		CHECK(st == VIRTIO_BLK_S_OK, "write: status %d", st);
		st = fe_do(fe, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 1, false, NULL);
		CHECK(st == VIRTIO_BLK_S_OK, "flush: status %d", st);
	} else {
		memset(fe_slot_data(fe, 0, 0), 0, len);
		st = fe_do(fe, 0, VIRTIO_BLK_T_IN, 8, len, 1, false, &used);
		CHECK(st == VIRTIO_BLK_S_OK && used == len + 1, "read: status %d used %u", st, used);
		CHECK(memcmp(want, fe_slot_data(fe, 0, 0), len) == 0, "pattern %llu read back",
		      (unsigned long long)seed);
	}
	printf("ok - pattern %s %llu\n", how, (unsigned long long)seed);
	fe_disconnect(fe);
	free(want);
	return 0;
}

struct bench_queue {
	struct fe *fe;
	unsigned q;
	uint32_t type;
	uint64_t blocks;           /* 4 KiB blocks in the image */
	double end;                /* CLOCK_MONOTONIC seconds */
	uint64_t ios, errors;
	pthread_t tid;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Count (and release) the completed slots of queue q. */
static void bench_collect(struct bench_queue *b)
{
	for (unsigned s = 0; s < FE_SLOTS; s++) {
		struct fe_slot *sl = &b->fe->q[b->q].slots[s];

		if (!sl->busy || !sl->done)
			continue;
		if (fe_status(b->fe, b->q, s) == VIRTIO_BLK_S_OK)
			b->ios++;
		else
			b->errors++;
	}
}

static void *bench_main(void *arg)
{
	struct bench_queue *b = arg;
	struct fe *fe = b->fe;
	struct fe_queue *q = &fe->q[b->q];
	uint64_t x = 0x9e3779b97f4a7c15ULL * (b->q + 1);

	while (now() < b->end) {
		uint16_t old = q->avail_idx;

		while (fe_next_slot(fe, b->q) >= 0) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;   /* xorshift64 */
			if (fe_submit(fe, b->q, b->type, (x % b->blocks) * 8, 4096, 1, false, false, 0) < 0)
				break;
		}
		if (q->avail_idx != old && fe_need_kick(fe, b->q, old))
			fe_kick(fe, b->q);
		if (fe_reap(fe, b->q, 2000) <= 0) {
			fprintf(stderr, "queue %u: no completion: %s\n", b->q, fe->err);
			b->errors++;
			return NULL;
		}
		bench_collect(b);
	}
	while (q->inflight && fe_reap(fe, b->q, 2000) > 0)
		;
	return NULL;
}

static int test_bench(struct fe *fe, const char *rw, double secs, unsigned nq)
{
	struct bench_queue b[FE_MAX_Q];
	uint64_t total = 0, errors = 0;
	struct stat st;
	double t0;

	CHECK(!strcmp(rw, "randread") || !strcmp(rw, "randwrite"), "RW must be randread or randwrite");
	CHECK(stat(g_image, &st) == 0 && st.st_size >= 4096, "image %s", g_image);
	fe->nregions = 1;
	CHECK(fe_connect(fe, 5000) == 0, "connect");
	for (unsigned s = 0; s < FE_SLOTS * nq; s++)
		pattern(fe_slot_data(fe, s / FE_SLOTS, s % FE_SLOTS), 4096, s);
	t0 = now();
	for (unsigned i = 0; i < nq; i++) {
		b[i] = (struct bench_queue){ fe, i, !strcmp(rw, "randread") ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
					     (uint64_t)st.st_size / 4096, t0 + secs, 0, 0, 0 };
		CHECK(pthread_create(&b[i].tid, NULL, bench_main, &b[i]) == 0, "thread");
	}
	for (unsigned i = 0; i < nq; i++) {
		pthread_join(b[i].tid, NULL);
		total += b[i].ios;
		errors += b[i].errors;
	}
	secs = now() - t0;
	printf("iops=%.0f", (double)total / secs);
	for (unsigned i = 0; i < nq; i++)
		printf(" q%u=%.0f", i, (double)b[i].ios / secs);
	printf(" errors=%llu\n", (unsigned long long)errors);
	fe_disconnect(fe);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct fe f, *fe = &f;
	unsigned nq = 1;
	int ret;

	if (argc < 5) {
		fprintf(stderr, "usage: vhost_frontend SOCKET IMAGE NAME TEST [ARG...]\n");
		return 1;
	}
	g_sock = argv[1];
	g_image = argv[2];
	g_name = argv[3];
	if (!strcmp(argv[4], "smoke") && argc > 5)
		nq = (unsigned)atoi(argv[5]);
	if (!strcmp(argv[4], "crash") && argc > 7)
		nq = (unsigned)atoi(argv[7]);
	if (!strcmp(argv[4], "bench") && argc > 7)
		nq = (unsigned)atoi(argv[7]);
	if (nq < 1 || nq > FE_MAX_Q || fe_init(fe, g_sock, nq)) {
		fprintf(stderr, "init failed: %s\n", fe->err);
		return 1;
	}
	if (!strcmp(argv[4], "smoke"))
		ret = test_smoke(fe, nq);
	else if (!strcmp(argv[4], "evil") && argc > 5)
		return test_evil(fe, argv[5]);
	else if (!strcmp(argv[4], "crash") && argc > 6)
		ret = test_crash(fe, (unsigned)atoi(argv[5]), argv[6]);
	else if (!strcmp(argv[4], "inflight-sim"))
		ret = test_inflight_sim(fe);
	else if (!strcmp(argv[4], "bench") && argc > 6)
		ret = test_bench(fe, argv[5], strtod(argv[6], NULL), nq);
	else if (!strcmp(argv[4], "zeroes"))
		ret = test_zeroes(fe);
	else if (!strcmp(argv[4], "pattern") && argc > 6)
		ret = test_pattern(fe, argv[5], strtoull(argv[6], NULL, 0));
	else if (!strcmp(argv[4], "flush") && argc > 5)
		ret = test_flush(fe, argv[5]);
	else if (!strcmp(argv[4], "resize") && argc > 5)
		ret = test_resize(fe, strtoull(argv[5], NULL, 0));
	else if (!strcmp(argv[4], "await-size") && argc > 5)
		ret = test_await_size(fe, strtoull(argv[5], NULL, 0));
	else {
		fprintf(stderr, "unknown test\n");
		ret = 1;
	}
	fe_fini(fe);
	return ret;
}
