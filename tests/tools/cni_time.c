/* cni_time.c - run one CNI plugin the way a runtime does (posix_spawn, the
 * config on stdin, the caller's environment) and report how long it took,
 * without the cost of the shell that starts this tool.
 *
 * usage: cni_time CONFIG_FILE PLUGIN [ARG...]
 * The plugin's stdout goes to our stdout; the elapsed wall time in
 * microseconds is printed on stderr as "cni_time_us=N".  The exit status is
 * the plugin's (128+signal when it was killed).
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t actions;
	long long start;
	int status, ret;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: %s CONFIG_FILE PLUGIN [ARG...]\n", argv[0]);
		return 2;
	}
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 0, argv[1], O_RDONLY, 0);
	start = now_us();
	ret = posix_spawn(&pid, argv[2], &actions, NULL, &argv[2], environ);
	if (ret != 0) {
		fprintf(stderr, "cni_time: cannot run %s\n", argv[2]);
		return 2;
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	fprintf(stderr, "cni_time_us=%lld\n", now_us() - start);
	posix_spawn_file_actions_destroy(&actions);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
