/*
 * What loadgen reads of the machine and of the processes it measures:
 * memory, CPU and scheduler time from /proc, the machine's CPU model and
 * load, the cost of an fdatasync on the state directory's disk, and the
 * stall probe, which sees when the machine itself stands still.
 */
#include <sys/stat.h>
#include <sys/utsname.h>
#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

void
sleep_ms(double msec)
{
	long ns = (long)(msec * 1e6);
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	nanosleep(&ts, NULL);
}

/* VmRSS and VmHWM of a process, in KiB. */
void
proc_mem(pid_t pid, long *rss, long *hwm)
{
	char path[64], line[256];
	FILE *f;

	*rss = *hwm = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = atol(line + 6);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm = atol(line + 6);
	}
	fclose(f);
}

/* User + system CPU time of a process, in milliseconds. */
double
proc_cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which is in parentheses. */
	char *p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* Of all the threads of a process, the nanoseconds run on a CPU and
 * waited runnable for one (/proc/PID/task/TID/schedstat). -1 unknown. */
void
proc_sched(pid_t pid, double *run_ns, double *wait_ns)
{
	char path[96], line[128];
	unsigned long long r, w;
	struct dirent *d;
	DIR *dir;

	*run_ns = *wait_ns = -1;
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if ((dir = opendir(path)) == NULL)
		return;
	*run_ns = *wait_ns = 0;
	while ((d = readdir(dir)) != NULL) {
		FILE *f;
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/schedstat", (long)pid, d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), f) != NULL && sscanf(line, "%llu %llu", &r, &w) == 2) {
			*run_ns += (double)r;
			*wait_ns += (double)w;
		}
		fclose(f);
	}
	closedir(dir);
}

/* The machine's CPU time, busy and all, in clock ticks (/proc/stat). */
void
machine_cpu(double *busy, double *all)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	*busy = *all = -1;
	if (f == NULL)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	    &v[4], &v[5], &v[6], &v[7]) == 8) {
		*all = 0;
		for (int i = 0; i < 8; i++)
			*all += (double)v[i];
		*busy = *all - (double)v[3] - (double)v[4];	/* less idle and iowait */
	}
	fclose(f);
}

/* What one small append and fdatasync cost on the state directory's disk:
 * the floor under a durable checkout's latency. */
void
disk_probe(double *p50, double *p99)
{
	struct samples s = { NULL, 0, 0, 0 };
	char *path = path_in(tmpdir, "fsync-probe"), rec[200];
	int fd;

	*p50 = *p99 = -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0) {
		free(path);
		return;
	}
	memset(rec, 'x', sizeof(rec));
	uint64_t end = now_ns() + 2000000000ull;
	for (int i = 0; i < 1000 && now_ns() < end; i++) {
		uint64_t t0 = now_ns();
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) || fdatasync(fd) != 0)
			break;
		sample_add(&s, now_ns() - t0);
	}
	close(fd);
	unlink(path);
	free(path);
	*p50 = sample_pct(&s, 0.5);
	*p99 = sample_pct(&s, 0.99);
	sample_free(&s);
}

/* The machine's CPU model, count, kernel and architecture, as "machine". */
void
machine_info(json_t *o)
{
	char model[256] = "unknown", line[512];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');
			if (p != NULL) {
				snprintf(model, sizeof(model), "%s", p + 2);
				model[strcspn(model, "\n")] = '\0';
			}
			break;
		}
	}
	if (f != NULL)
		fclose(f);
	uname(&u);
	json_object_set_new(o, "machine", json_pack("{s:i, s:s, s:s, s:s}",
	    "nproc", (int)sysconf(_SC_NPROCESSORS_ONLN), "cpu", model,
	    "kernel", u.release, "arch", u.machine));
}

/* The 1-minute load average: other work on the machine shows in every
 * figure, so the report says how much there was. */
double
loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f != NULL) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* ---- machine stalls ----
 *
 * One thread per CPU, pinned to it at real-time priority, wakes every
 * millisecond and notes when it woke more than STALL_NS late. At
 * SCHED_FIFO nothing in this machine's own scheduler keeps it waiting, so
 * such a delay is its CPU standing still: on a virtual machine, the host
 * not running it. While every CPU stands still nothing runs, the server
 * least of all: a request falling due then waits for the end of the stall
 * whatever the server does, so the machine's stalls bound the latency
 * figures from below (see the half-load figure). */

#define STALL_NS	1000000ull	/* a wake this late is a stall */
#define MAX_STALLS	65536

struct stall { uint64_t start, end; };

static struct {
	pthread_mutex_t mu;
	struct stall v[MAX_STALLS];
	size_t n;
	int nprobes;		/* threads running, one per CPU */
	int realtime;		/* every one got SCHED_FIFO */
} stalls = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *
stall_probe(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	int cpu = (int)(intptr_t)arg;
	uint64_t next = now_ns();
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0 ||
	    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0) {
		pthread_mutex_lock(&stalls.mu);
		stalls.realtime = 0;
		pthread_mutex_unlock(&stalls.mu);
	}
	for (;;) {
		next += 1000000ull;
		struct timespec ts = { (time_t)(next / 1000000000ull), (long)(next % 1000000000ull) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		uint64_t now = now_ns();
		if (now > next + STALL_NS) {
			pthread_mutex_lock(&stalls.mu);
			if (stalls.n < MAX_STALLS)
				stalls.v[stalls.n++] = (struct stall){ next, now };
			pthread_mutex_unlock(&stalls.mu);
			next = now;
		}
	}
	return NULL;
}

void
stall_probe_start(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_attr_t a;
	pthread_t t;

	stalls.realtime = 1;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	for (long i = 0; i < ncpu && i < CPU_SETSIZE; i++)
		if (pthread_create(&t, &a, stall_probe, (void *)(intptr_t)i) == 0)
			stalls.nprobes++;
	pthread_attr_destroy(&a);
}

struct edge { uint64_t t; int d; };

static int
cmp_edge(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	/* Ends before starts at the same instant: touching is not overlap. */
	return x->t < y->t ? -1 : x->t > y->t ? 1 : x->d - y->d;
}

/* The whole-machine stalls overlapping [from, to): the times every CPU
 * stood still at once, into *out (freed by the caller). */
static size_t
machine_stalls(uint64_t from, uint64_t to, struct stall **out)
{
	struct edge *e;
	size_t ne = 0, n = 0;
	int depth = 0;
	uint64_t start = 0;

	*out = NULL;
	pthread_mutex_lock(&stalls.mu);
	if ((e = calloc(2 * stalls.n + 1, sizeof(*e))) == NULL ||
	    (*out = calloc(stalls.n + 1, sizeof(**out))) == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < stalls.n; i++) {
		if (stalls.v[i].end <= from || stalls.v[i].start >= to)
			continue;
		e[ne++] = (struct edge){ stalls.v[i].start, 1 };
		e[ne++] = (struct edge){ stalls.v[i].end, -1 };
	}
	pthread_mutex_unlock(&stalls.mu);
	qsort(e, ne, sizeof(*e), cmp_edge);
	for (size_t i = 0; i < ne; i++) {
		if (e[i].d > 0 && ++depth == stalls.nprobes)
			start = e[i].t;
		else if (e[i].d < 0 && depth-- == stalls.nprobes)
			(*out)[n++] = (struct stall){ start, e[i].t };
	}
	free(e);
	return n;
}

/* The whole-machine stalls in [from, to): how many, their total and the
 * longest (ms), and the share of [from, to) in which a request falling due
 * waits longer than bound_ms for the machine alone (a stall's time after
 * its first bound_ms). */
struct stall_sum
stall_sum(uint64_t from, uint64_t to, double bound_ms)
{
	struct stall_sum r = { 0, 0, 0, 0 };
	uint64_t bound = (uint64_t)(bound_ms * 1e6), over = 0;
	struct stall *m;

	r.n = machine_stalls(from, to, &m);
	for (size_t i = 0; i < r.n; i++) {
		uint64_t len = m[i].end - m[i].start;
		r.total_ms += ns_ms(len);
		if (ns_ms(len) > r.longest_ms)
			r.longest_ms = ns_ms(len);
		if (len > bound)
			over += len - bound;
	}
	free(m);
	if (to > from)
		r.over_share = (double)over / (double)(to - from);
	return r;
}

/* Of the requests (open loop: due at due, taking lat) that took longer
 * than bound_ms, how many fell due near a stall of any one CPU: from
 * before ms ahead of it to after ms past its end. */
size_t
slow_near_stalls(const struct samples *due, const struct samples *lat, double bound_ms,
    double before, double after, size_t *nslow)
{
	uint64_t bound = (uint64_t)(bound_ms * 1e6), b = (uint64_t)(before * 1e6);
	uint64_t f = (uint64_t)(after * 1e6);
	size_t near = 0;

	*nslow = 0;
	pthread_mutex_lock(&stalls.mu);
	for (size_t i = 0; i < due->n && i < lat->n; i++) {
		if (lat->v[i] <= bound)
			continue;
		(*nslow)++;
		uint64_t t = due->v[i];
		for (size_t k = 0; k < stalls.n; k++)
			if (t + b >= stalls.v[k].start && t < stalls.v[k].end + f) {
				near++;
				break;
			}
	}
	pthread_mutex_unlock(&stalls.mu);
	return near;
}

/* Milliseconds any CPU stood still in [from, to), summed over the CPUs. */
double
cpu_stall_ms(uint64_t from, uint64_t to)
{
	double ms = 0;

	pthread_mutex_lock(&stalls.mu);
	for (size_t i = 0; i < stalls.n; i++)
		if (stalls.v[i].end > from && stalls.v[i].start < to)
			ms += ns_ms(stalls.v[i].end - stalls.v[i].start);
	pthread_mutex_unlock(&stalls.mu);
	return ms;
}

/* The probe threads running, one per CPU. */
int
stall_probe_count(void)
{
	return stalls.nprobes;
}

/* Every probe thread got SCHED_FIFO. */
int
stall_probe_realtime(void)
{
	return stalls.realtime;
}
