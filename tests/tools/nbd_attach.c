/* nbd_attach.c - drive vblk-csi's kernel NBD client (csi/node/nbd.h) from
 * a test, e.g. inside a QEMU guest against vblkd on the host:
 *
 *   nbd_attach connect tcp:HOST:PORT|unix:PATH EXPORT BACKEND
 *       handshake, NBD_CMD_CONNECT; prints the device (/dev/nbdN)
 *   nbd_attach find BACKEND      prints the device connected under BACKEND
 *   nbd_attach detach BACKEND    NBD_CMD_DISCONNECT of that device
 *   nbd_attach available         exit 0 when the kernel has the nbd family
 *
 * Exit status: 0 done, 1 failure (the error on stderr), 2 usage, 3 (find,
 * detach) no device under BACKEND.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "csi/node/nbd.h"

static int fail(const struct vp_error *err)
{
	fprintf(stderr, "nbd_attach: %s\n", err->msg);
	return 1;
}

/* A stream socket connected to tcp:IPV4:PORT or unix:PATH, or -errno. */
static int dial(const char *addr, struct vp_error *err)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_in in = { .sin_family = AF_INET };
	char host[64];
	const struct sockaddr *sa;
	socklen_t len;
	const char *colon;
	int s;

	if (!strncmp(addr, "unix:", 5) && strlen(addr + 5) < sizeof(un.sun_path)) {
		strcpy(un.sun_path, addr + 5);
		sa = (const struct sockaddr *)&un;
		len = sizeof(un);
	} else if (!strncmp(addr, "tcp:", 4) && (colon = strrchr(addr + 4, ':')) &&
		   (size_t)(colon - addr - 4) < sizeof(host)) {
		memcpy(host, addr + 4, (size_t)(colon - addr - 4));
		host[colon - addr - 4] = '\0';
		in.sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &in.sin_addr) != 1)
			return vp_error_code(err, 0, EINVAL, "%s: not an IPv4 address", host);
		sa = (const struct sockaddr *)&in;
		len = sizeof(in);
	} else {
		return vp_error_code(err, 0, EINVAL, "%s: want tcp:IPV4:PORT or unix:PATH", addr);
	}
	s = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return vp_error_set(err, errno, "socket");
	if (connect(s, sa, len) < 0) {
		int e = errno;

		close(s);
		return vp_error_set(err, e, "connect %s", addr);
	}
	return s;
}

static int do_connect(const char *addr, const char *name, const char *backend)
{
	struct vp_error err = { 0 };
	struct vp_nbdc_export e;
	struct vp_nbdc_dev d;
	int s = dial(addr, &err), ret;

	if (s < 0)
		return fail(&err);
	ret = vp_nbdc_handshake(s, name, &e, &err);
	ret = ret ?: vp_nbdc_attach(s, &e, backend, &d, &err);
	close(s);  /* the kernel holds the socket now */
	if (ret)
		return fail(&err);
	printf("%s size=%llu block=%u flags=%#x\n", d.dev, (unsigned long long)e.size,
	       e.block_size, e.flags);
	return 0;
}

static int do_find(const char *backend, bool detach)
{
	struct vp_error err = { 0 };
	struct vp_nbdc_dev d;
	int ret = vp_nbdc_find(backend, &d, &err);

	if (ret == -ENOENT) {
		fprintf(stderr, "nbd_attach: no device connected under %s\n", backend);
		return 3;
	}
	if (ret || (detach && vp_nbdc_detach(d.index, &err)))
		return fail(&err);
	printf("%s\n", d.dev);
	return 0;
}

int main(int argc, char **argv)
{
	struct vp_error err = { 0 };

	if (argc == 5 && !strcmp(argv[1], "connect"))
		return do_connect(argv[2], argv[3], argv[4]);
	if (argc == 3 && (!strcmp(argv[1], "find") || !strcmp(argv[1], "detach")))
		return do_find(argv[2], !strcmp(argv[1], "detach"));
	if (argc == 2 && !strcmp(argv[1], "available"))
		return vp_nbdc_available(&err) ? fail(&err) : 0;
	fprintf(stderr, "usage: nbd_attach connect tcp:HOST:PORT|unix:PATH EXPORT BACKEND\n"
			"       nbd_attach find|detach BACKEND\n"
			"       nbd_attach available\n");
	return 2;
}
