/*
 * The failover timing script another engineer maintains
 * (bench/failover-times.sh): run it, bounded, and read its results from
 * the JSON file it writes, the last line of its output, or its table.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

/* Run the script with its output to outpath, the whole process group
 * stopped after 300 s; its wait status, and in *secs how long it ran. */
static int
script_run(const char *outpath, const char *jpath, double *secs)
{
	char abin[PATH_MAX];
	pid_t pid;
	int st = -1;

	if (realpath(bindir, abin) == NULL)
		snprintf(abin, sizeof(abin), "%s", bindir);
	fprintf(stderr, "loadgen: running %s (at most 300 s)\n", failover_script);
	uint64_t t0 = now_ns();
	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		setpgid(0, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);	/* ignored here, and that survives exec */
		setenv("SL_BINDIR", abin, 1);
		setenv("SL_BENCH_JSON", jpath, 1);
		execlp("sh", "sh", failover_script, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	while (waitpid(pid, &st, WNOHANG) != pid) {
		if (now_ns() - t0 > 300ull * 1000000000ull) {
			fprintf(stderr, "loadgen: %s still runs after 300 s; stopped\n",
			    failover_script);
			kill(-pid, SIGTERM);
			sleep_ms(2000);
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		sleep_ms(50);
	}
	*secs = (double)(now_ns() - t0) / 1e9;
	return st;
}

/* The first 64 KiB of the script's output, or NULL. */
static char *
script_output(const char *outpath)
{
	char *text = NULL;
	FILE *f = fopen(outpath, "r");

	if (f != NULL) {
		size_t cap = 1 << 16;
		text = calloc(1, cap);
		size_t n = text ? fread(text, 1, cap - 1, f) : 0;
		if (text)
			text[n] = '\0';
		fclose(f);
	}
	return text;
}

/* Without a JSON file: the last line of its output, when that is JSON, or
 * the rows of its table: poll_interval fail_after bound takeover (min-max)
 * handback (min-max), seconds. NULL when neither is there. */
static json_t *
script_results_from_output(const char *text)
{
	json_t *j = NULL;

	if (text[0] != '\0') {
		char *copy = strdup(text), *last;
		if (copy != NULL) {
			last = copy + strlen(copy);
			while (last > copy && (last[-1] == '\n' || last[-1] == ' '))
				*--last = '\0';
			char *nl = strrchr(copy, '\n');
			j = json_loads(nl ? nl + 1 : copy, 0, NULL);
			free(copy);
		}
	}
	if (j != NULL)
		return j;
	j = json_array();
	for (const char *line = text; line != NULL && *line != '\0'; ) {
		const char *nl = strchr(line, '\n');
		double pi, b, t, tmin, tmax, h, hmin, hmax;
		int fa;
		if (sscanf(line, "%lf %d %lf %lf (%lf-%lf) %lf (%lf-%lf)", &pi, &fa, &b, &t,
		    &tmin, &tmax, &h, &hmin, &hmax) == 9)
			json_array_append_new(j, json_pack("{s:f, s:i, s:f, s:f, s:f, s:f,"
			    " s:f, s:f, s:f}", "poll_interval", pi, "fail_after", fa,
			    "bound_s", b, "takeover_median_s", t, "takeover_min_s", tmin,
			    "takeover_max_s", tmax, "handback_median_s", h, "handback_min_s", hmin,
			    "handback_max_s", hmax));
		line = nl ? nl + 1 : NULL;
	}
	if (json_array_size(j) == 0) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

json_t *
run_failover_script(void)
{
	char *outpath, *jpath;
	double secs;
	json_t *res;

	if (access(failover_script, R_OK) != 0)
		return NULL;
	outpath = path_in(tmpdir, "failover.out");
	jpath = path_in(tmpdir, "failover.json");
	int st = script_run(outpath, jpath, &secs);
	json_t *j = json_load_file(jpath, 0, NULL);
	char *text = script_output(outpath);
	if (j == NULL && text != NULL)
		j = script_results_from_output(text);
	res = json_pack("{s:s, s:i, s:f, s:s}", "script", failover_script,
	    "exit", WIFEXITED(st) ? WEXITSTATUS(st) : -1, "seconds", secs,
	    "output", text ? text : "");
	if (j != NULL)
		json_object_set_new(res, "results", j);
	free(text);
	free(outpath);
	free(jpath);
	return res;
}
