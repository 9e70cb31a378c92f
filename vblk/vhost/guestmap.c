/* guestmap.c - checked, SIGBUS-guarded mappings of front-end memory. */
#include "vblk/vhost/guestmap.h"

#include <errno.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

enum { SLOT_FREE, SLOT_BUSY, SLOT_LIVE };

/* Read by the signal handler without locks: a slot's fields are written
 * while it is BUSY and published by the release store of LIVE. */
struct slot {
	int state;
	uintptr_t start;
	size_t len;
	int *flag;
	int efd;
};

static struct slot slots[VP_GUESTMAP_MAX];
static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

static void notify(const struct slot *s)
{
	uint64_t one = 1;

	if (s->flag)
		__atomic_store_n(s->flag, 1, __ATOMIC_SEQ_CST);
	if (s->efd >= 0 && write(s->efd, &one, sizeof(one)) < 0) {
		/* counter saturated: a wake-up is pending anyway */
	}
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved = errno;

	(void)uc;
	for (unsigned i = 0; si->si_code > 0 && i < VP_GUESTMAP_MAX; i++) {
		struct slot *s = &slots[i];

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_LIVE || a - s->start >= s->len)
			continue;
		if (mmap((void *)s->start, s->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
			break;
		notify(s);
		errno = saved;
		return; /* the access is retried on the zero pages */
	}
	/* Not ours: the retried access (or the re-raised signal) meets the
	 * disposition that was there before us. */
	sigaction(SIGBUS, &previous, NULL);
	if (si->si_code <= 0)
		raise(sig);
	errno = saved;
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous))
		install_error = errno;
}

static int slot_claim(void)
{
	for (int i = 0; i < VP_GUESTMAP_MAX; i++) {
		int expected = SLOT_FREE;

		if (__atomic_compare_exchange_n(&slots[i].state, &expected, SLOT_BUSY, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return i;
	}
	return -1;
}

/* fd must hold [offset, offset+len): a mapping past the end of the file
 * faults (SIGBUS) on first access.  And it must live in memory (tmpfs,
 * which memfds are, or hugetlbfs): a page fault on a file of a FUSE
 * file system the front end serves would wait for as long as it likes,
 * holding a queue thread that the device's teardown waits for. */
static int check_fd(int fd, uint64_t offset, uint64_t len, const char *what, struct vp_error *err)
{
	struct stat st;
	struct statfs fs;

	if (fstat(fd, &st) || fstatfs(fd, &fs))
		return vp_error_set(err, errno, "%s: fstat", what);
	if (!S_ISREG(st.st_mode))
		return vp_error_set(err, EINVAL, "%s: fd is not a regular file (mode 0%o)", what,
				    (unsigned)(st.st_mode & S_IFMT));
	if (fs.f_type != TMPFS_MAGIC && fs.f_type != HUGETLBFS_MAGIC)
		return vp_error_set(err, EINVAL,
				    "%s: fd is not on tmpfs or hugetlbfs (file system 0x%lx)", what,
				    (unsigned long)fs.f_type);
	if (len == 0 || len > SIZE_MAX || offset > (uint64_t)st.st_size ||
	    len > (uint64_t)st.st_size - offset)
		return vp_error_set(err, EINVAL,
				    "%s: bytes %llu+%llu outside its fd (%lld bytes)", what,
				    (unsigned long long)offset, (unsigned long long)len,
				    (long long)st.st_size);
	return 0;
}

int vp_guestmap_open(struct vp_guestmap *m, int fd, uint64_t offset, uint64_t len,
		     const struct vp_guestmap_sink *sink, const char *what, struct vp_error *err)
{
	int ret = check_fd(fd, offset, len, what, err);
	struct slot *s;
	void *map;
	int i;

	*m = (struct vp_guestmap){ .slot = -1 };
	if (ret)
		return ret;
	pthread_once(&install_once, install);
	if (install_error)
		return vp_error_set(err, install_error, "%s: SIGBUS handler", what);
	i = slot_claim();
	if (i < 0)
		return vp_error_set(err, ENOSPC, "%s: more than %d guest mappings", what,
				    VP_GUESTMAP_MAX);
	map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
		   (off_t)offset);
	if (map == MAP_FAILED) {
		ret = vp_error_set(err, errno, "%s: mmap %llu bytes", what, (unsigned long long)len);
		__atomic_store_n(&slots[i].state, SLOT_FREE, __ATOMIC_RELEASE);
		return ret;
	}
	s = &slots[i];
	s->start = (uintptr_t)map;
	s->len = (size_t)len;
	s->flag = sink ? sink->flag : NULL;
	s->efd = sink ? sink->efd : -1;
	__atomic_store_n(&s->state, SLOT_LIVE, __ATOMIC_RELEASE);
	*m = (struct vp_guestmap){ .addr = map, .len = (size_t)len, .slot = i };
	return 0;
}

void vp_guestmap_close(struct vp_guestmap *m)
{
	if (!m->addr)
		return;
	/* Unregister first: once unmapped the range may be reused by anything. */
	__atomic_store_n(&slots[m->slot].state, SLOT_FREE, __ATOMIC_RELEASE);
	munmap(m->addr, m->len);
	*m = (struct vp_guestmap){ .slot = -1 };
}
