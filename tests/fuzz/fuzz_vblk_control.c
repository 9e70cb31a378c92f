/* fuzz_vblk_control.c - libFuzzer harness for vblkd's control requests:
 * the input is one request line for vp_control_handle, served by a fresh
 * control server and empty export table each time (no vhost registry).
 *
 * Requests name files, and we run as root: a request that parses as JSON
 * has every string starting with '/' moved under a private temporary
 * directory, inputs containing ".." are dropped, file sizes are capped by
 * RLIMIT_FSIZE, and the directory is emptied after each request.  Other
 * inputs go in unchanged.  Every response must be a JSON object with "ok".
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "vblk/control.h"

static char dir[64];

static void remove_dir(void)
{
	rmdir(dir);  /* emptied after every request */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rlimit fsize = { 16 << 20, 16 << 20 };

	(void)argc;
	(void)argv;
	/* vpt-: the test prefix .ci/run's sweep removes if we die uncleanly. */
	strcpy(dir, "/tmp/vpt-fuzz-control.XXXXXX");
	if (!mkdtemp(dir) || atexit(remove_dir) || setrlimit(RLIMIT_FSIZE, &fsize) < 0)
		abort();
	signal(SIGXFSZ, SIG_IGN);
	return 0;
}

/* Move absolute paths in the request's string members under dir. */
static char *confine(json_t *req)
{
	const char *key;
	json_t *v;

	json_object_foreach(req, key, v) {
		const char *s = json_string_value(v);
		char *moved;

		if (!s || s[0] != '/')
			continue;
		if (asprintf(&moved, "%s%s", dir, s) < 0)
			return NULL;
		json_string_set(v, moved);
		free(moved);
	}
	return json_dumps(req, JSON_COMPACT);
}

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			if (unlinkat(dirfd(d), e->d_name, 0) < 0)
				abort();   /* only files can be made there */
	closedir(d);
}

static void handle(const char *text, size_t len)
{
	struct vp_control_config cfg = { 0 };
	struct vp_nbd_table table;
	struct vp_control *ctl;
	struct vp_error err = { 0 };
	char sock[96];
	json_t *resp;
	char *out;

	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	cfg.path = sock;
	cfg.table = &table;
	if (vp_nbd_table_init(&table, 1, &err) < 0)
		abort();
	if (vp_control_new(&cfg, &ctl, &err) < 0)
		abort();
	out = vp_control_handle(ctl, text, len);
	if (out) {
		resp = json_loads(out, 0, NULL);
		if (!json_is_object(resp) || !json_is_boolean(json_object_get(resp, "ok")) ||
		    strchr(out, '\n'))
			abort();
		json_decref(resp);
	}
	free(out);
	vp_control_free(ctl);
	vp_nbd_table_fini(&table);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req;
	char *text;

	if (size > VP_CONTROL_MAX_LINE || memmem(data, size, "..", 2))
		return 0;
	req = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, NULL);
	if (!req) {
		handle((const char *)data, size);
	} else if (json_is_object(req) && (text = confine(req))) {
		handle(text, strlen(text));
		free(text);
	}
	json_decref(req);
	empty_dir();
	return 0;
}
