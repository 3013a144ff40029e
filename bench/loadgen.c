/*
 * loadgen: the sl benchmark behind `make bench`.
 *
 * It starts slserve itself (a free 127.0.0.1 port, a temporary state
 * directory, fsync on), drives N keep-alive clients from one epoll loop and
 * measures what issue 7 asks for: throughput and latency of each operation
 * against the GET /v1/health ceiling of the same run, checkout latency at
 * half of peak load (open loop), and at 1k, 10k and 100k leases the server's
 * memory, restart time, GET /v1/licenses latency and the cost of a backup's
 * full and incremental sync; and what a backup's mirror costs a checkout
 * (issue 15: a Primary alone and one with a backup polling it, in turns;
 * -M alone).
 * It prints a table with each figure, its target and whether it is met,
 * and writes the same as JSON.
 *
 * This file holds the options and the order of the runs; loadgen.h says
 * which file does what (the load engine is engine.c).
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

#include "loadgen.h"

/* ---- options ---- */

const char *bindir = "build/rel/bin";
const char *json_path = "build/bench/results.json";
const char *failover_script = "bench/failover-times.sh";
int nclients = 32;
int heartbeats = 3;
double phase_secs = 5.0;
double warmup_secs = 0.5;
long scales[MAX_SCALES] = { 1000, 10000, 100000 };
int nscales = 3;
int external_port;
double only_rate;
static int keep_tmp;
static int only_mirror;		/* -M: only the mirrored checkout */
static int only_policy;		/* -Y: only the usage policy run */

char tmpdir[256];

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "loadgen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	kill_children();
	if (tmpdir[0] != '\0')
		fprintf(stderr, "loadgen: state and server logs kept in %s\n", tmpdir);
	exit(1);
}

char *
path_in(const char *dir, const char *name)
{
	char *path = util_path_join(dir, name);

	if (path == NULL)
		fatal("out of memory");
	return path;
}

static void
on_signal(int sig)
{
	kill_children();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: loadgen [-K] [-b bindir] [-c clients] [-k heartbeats] [-t seconds]\n"
	    "               [-s scales] [-F failover-script] [-o results.json] [-P port]\n"
	    "               [-R rate] [-M | -Y]\n"
	    "  -b dir      where slserve is (default %s)\n"
	    "  -c N        concurrent keep-alive clients (default %d)\n"
	    "  -k N        heartbeats per lease in the lifecycle run (default %d)\n"
	    "  -t SECONDS  measured seconds per load phase (default %g)\n"
	    "  -s LIST     lease counts for the scale table (default 1000,10000,100000;\n"
	    "              \"\" for none)\n"
	    "  -F FILE     failover timing script, run when it exists (default %s)\n"
	    "  -o FILE     JSON results (default %s)\n"
	    "  -K          keep the temporary state directory\n"
	    "  -P PORT     only the load phases, against a server already on PORT\n"
	    "  -R RATE     only the open-loop runs (checkout, then health), at RATE a second\n"
	    "  -M          only the mirrored checkout (a Primary alone and one with a backup)\n"
	    "  -Y          only the checkout with a usage policy of ten rules, and without\n",
	    bindir, nclients, heartbeats, phase_secs, failover_script, json_path);
}

/* Let the results and the temporary directory go; main's exit status. */
static int
finish(void)
{
	json_decref(results);
	if (!keep_tmp)
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("state and logs kept in %s\n", tmpdir);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* -s LIST: the lease counts of the scale runs; -1 when malformed. */
static int
parse_scales(const char *list)
{
	nscales = 0;
	for (const char *p = list; *p != '\0' && nscales < MAX_SCALES; ) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p || v < 1 || v > 190000)
			return -1;
		scales[nscales++] = v;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* The options into the globals: 0 to run, else main's exit status (64
 * after a usage error, 0 after -h). */
static int
parse_options(int argc, char **argv, int *status)
{
	int ch;

	while ((ch = getopt(argc, argv, "b:c:F:hk:KMo:P:R:s:t:Y")) != -1) {
		switch (ch) {
		case 'b': bindir = optarg; break;
		case 'c': nclients = atoi(optarg); break;
		case 'F': failover_script = optarg; break;
		case 'k': heartbeats = atoi(optarg); break;
		case 'K': keep_tmp = 1; break;
		case 'M': only_mirror = 1; break;
		case 'Y': only_policy = 1; break;
		case 'o': json_path = optarg; break;
		case 'P': external_port = atoi(optarg); break;
		case 'R': only_rate = atof(optarg); break;
		case 's':
			if (parse_scales(optarg) != 0)
				goto bad;
			break;
		case 't': phase_secs = atof(optarg); break;
		case 'h': usage(stdout); *status = 0; return -1;
		default: goto bad;
		}
	}
	if (optind != argc || nclients < 1 || nclients > MAX_CONNS || heartbeats < 0 ||
	    heartbeats > 1000 || !(phase_secs >= 0.5 && phase_secs <= 120) ||
	    !(only_rate == 0 || (only_rate >= 1 && only_rate <= 1e6)) ||
	    ((only_mirror || only_policy) && (external_port > 0 || only_rate > 0)) ||
	    (only_mirror && only_policy))
		goto bad;
	/* Against another's server, or only the open loops: no scale runs
	 * and no failover script. */
	if (external_port > 0 || only_rate > 0) {
		nscales = 0;
		failover_script = "";
	}
	return 0;
bad:
	usage(stderr);
	*status = 64;
	return -1;
}

/* -M or -Y: the mirrored checkout or the usage policy run alone. */
static int
main_alone(void (*run)(void), void (*report)(void), double load_before)
{
	run();
	printf("\nsl benchmark: %d keep-alive clients, fsync on; load average %.2f before,"
	    " %.2f after\n", nclients, load_before, loadavg());
	report();
	results_write();
	return finish();
}

int
main(int argc, char **argv)
{
	struct load_result load;
	double disk50, disk99;
	int status;

	if (parse_options(argc, argv, &status) != 0)
		return status;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	atexit(kill_children);
	/* util_random_hex draws from libsodium. */
	if (sodium_init() < 0)
		fatal("libsodium failed to initialise");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/slbench.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp: %s", strerror(errno));
	write_licenses();
	stall_probe_start();
	double load_before = loadavg();
	results_new(load_before);
	if (only_mirror)
		return main_alone(run_mirror, report_mirror, load_before);
	if (only_policy)
		return main_alone(run_policy, report_policy, load_before);

	run_load(&load);
	if (external_port == 0 && only_rate == 0) {
		run_mirror();
		run_policy();
	}
	for (int i = 0; i < nscales; i++)
		run_scale(scales[i], &sres[i]);
	disk_probe(&disk50, &disk99);
	json_object_set_new(results, "disk_fdatasync", json_pack("{s:f, s:f}", "p50_ms", disk50,
	    "p99_ms", disk99));
	json_t *failover = run_failover_script();

	report_load(&load, disk50, disk99, load_before);
	report_mirror();
	report_policy();
	report_scale();
	report_failover(failover);
	results_write();
	load_free(&load);
	return finish();
}
