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
 * (issue 15: one Primary alone, then with a backup polling it, -M alone).
 * It prints a table with each figure, its target and whether it is met,
 * and writes the same as JSON.
 *
 * One thread and plain non-blocking sockets: on a 2-core machine the
 * generator shares the CPU with the server it measures, so it must cost
 * far less than the server does per request. Every wait is bounded.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define ID_MAX		72		/* lease ids are at most 64 characters */
#define MAX_SAMPLES	(4u << 20)	/* latency samples kept per operation */
#define MAX_CONNS	1024
#define NLICENSES	100		/* licenses p00..p99, one product each */
#define SEATS		2000		/* seats per license: room for 100k + load */
#define LEASE_TIMEOUT	3600		/* soft leases that outlive the run */

/* ---- options ---- */

static const char *bindir = "build/rel/bin";
static const char *json_path = "build/bench/results.json";
static const char *failover_script = "bench/failover-times.sh";
static int nclients = 32;
static int heartbeats = 3;
static double phase_secs = 5.0;
static double warmup_secs = 0.5;
static long scales[8] = { 1000, 10000, 100000 };
static int nscales = 3;
static int keep_tmp;
static int external_port;
static double only_rate;	/* -R: only the open-loop runs, at this rate */
static int only_mirror;		/* -M: only the mirrored checkout */

/* ---- small helpers ---- */

static char tmpdir[256];
static pid_t children[16];
static int nchildren;

static void
kill_children(void)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
}

static void
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

static void
on_signal(int sig)
{
	kill_children();
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double
ns_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void
sleep_ms(double msec)
{
	long ns = (long)(msec * 1e6);
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	nanosleep(&ts, NULL);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fatal("%s: %s", path, strerror(errno));
}

static void
random_hex(char *out, size_t bytes)
{
	unsigned char b[64];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || bytes > sizeof(b) || read(fd, b, bytes) != (ssize_t)bytes)
		fatal("/dev/urandom: %s", strerror(errno));
	close(fd);
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		fatal("cannot find a free port: %s", strerror(errno));
	close(fd);
	return ntohs(sa.sin_port);
}

/* VmRSS and VmHWM of a process, in KiB. */
static void
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
static double
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
static void
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
static void
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

/* ---- latency samples ---- */

struct samples {
	uint64_t *v;
	size_t n, cap;
	int sorted;
};

static void
sample_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		if (s->cap >= MAX_SAMPLES)
			return;
		size_t ncap = s->cap ? s->cap * 2 : 4096;
		uint64_t *nv = realloc(s->v, ncap * sizeof(*nv));
		if (nv == NULL)
			fatal("out of memory");
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = ns;
	s->sorted = 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) in milliseconds; -1 without samples. */
static double
sample_pct(struct samples *s, double p)
{
	if (s->n == 0)
		return -1;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
		s->sorted = 1;
	}
	size_t i = (size_t)(p * (double)s->n);
	if (i >= s->n)
		i = s->n - 1;
	return ns_ms(s->v[i]);
}

static void
sample_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
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

static void
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
struct stall_sum { size_t n; double total_ms, longest_ms, over_share; };

static struct stall_sum
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
static size_t
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
static double
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

/* ---- lease ids ---- */

struct idlist {
	char (*v)[ID_MAX];
	size_t n, cap, cursor;
};

static void
idlist_add(struct idlist *l, const char *id)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4096;
		char (*nv)[ID_MAX] = realloc(l->v, ncap * sizeof(*nv));
		if (nv == NULL)
			fatal("out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	snprintf(l->v[l->n++], ID_MAX, "%s", id);
}

static void
idlist_free(struct idlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- HTTP/1.1 responses ---- */

struct rbuf {
	char *p;
	size_t len, cap;
};

static void
rbuf_reserve(struct rbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t ncap = b->cap ? b->cap : 8192;
	while (ncap < b->len + more + 1)
		ncap *= 2;
	char *np = realloc(b->p, ncap);
	if (np == NULL)
		fatal("out of memory");
	b->p = np;
	b->cap = ncap;
}

struct hresp {
	int status;
	const char *body;
	size_t blen;
	size_t total;		/* bytes of the whole response */
	int close;		/* the server closes after it */
};

/* 1: a whole response starts buf; 0: more bytes needed; -1: not HTTP we
 * understand (slserve always sends Content-Length). */
static int
http_parse(const char *buf, size_t len, struct hresp *r)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	long long clen = -1;

	if (end == NULL)
		return len > 65536 ? -1 : 0;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	memset(r, 0, sizeof(*r));
	r->status = atoi(buf + 9);
	const char *line = memchr(buf, '\n', (size_t)(end - buf));
	while (line != NULL && line < end) {
		line++;
		size_t ll = (size_t)(end - line);
		const char *nl = memchr(line, '\n', ll);
		if (nl != NULL)
			ll = (size_t)(nl - line);
		if (ll > 15 && strncasecmp(line, "content-length:", 15) == 0)
			clen = strtoll(line + 15, NULL, 10);
		else if (ll > 11 && strncasecmp(line, "connection:", 11) == 0 &&
		    memmem(line, ll, "close", 5) != NULL)
			r->close = 1;
		else if (ll > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0)
			return -1;
		line = nl;
	}
	if (clen < 0)
		return -1;
	size_t hlen = (size_t)(end - buf) + 4;
	if (len < hlen + (size_t)clen)
		return 0;
	r->body = buf + hlen;
	r->blen = (size_t)clen;
	r->total = hlen + (size_t)clen;
	return 1;
}

static int
tcp_connect(int port, int nonblock)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* ---- a blocking keep-alive client for control requests ---- */

struct bconn {
	int fd, port;
	struct rbuf in;
};

static void
bconn_close(struct bconn *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

static int
bhttp_once(struct bconn *b, const char *req, size_t reqlen, struct hresp *r, int timeout_ms,
    int *got_any)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	size_t off = 0;

	*got_any = 0;
	if (b->fd < 0 && (b->fd = tcp_connect(b->port, 1)) < 0)
		return -1;
	b->in.len = 0;
	while (off < reqlen) {
		ssize_t n = send(b->fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd pfd = { b->fd, POLLOUT, 0 };
		int left = (int)((int64_t)(deadline - now_ns()) / 1000000);
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -1;
	}
	for (;;) {
		int rc = http_parse(b->in.p ? b->in.p : "", b->in.len, r);
		if (rc == 1)
			return r->close ? (bconn_close(b), 0) : 0;
		if (rc < 0)
			return -1;
		rbuf_reserve(&b->in, 1 << 16);
		ssize_t n = recv(b->fd, b->in.p + b->in.len, b->in.cap - b->in.len - 1, 0);
		if (n > 0) {
			b->in.len += (size_t)n;
			b->in.p[b->in.len] = '\0';
			*got_any = 1;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		struct pollfd pfd = { b->fd, POLLIN, 0 };
		int64_t left = ((int64_t)deadline - (int64_t)now_ns()) / 1000000;
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
	}
}

/* One request; the body in r stays valid until the next call on b.
 * A kept-alive connection the server has closed is retried once. */
static int
bhttp(struct bconn *b, const char *method, const char *path, const char *auth,
    const char *body, struct hresp *r, int timeout_ms)
{
	char head[1024];
	size_t blen = body ? strlen(body) : 0;
	int got_any, reused = b->fd >= 0;
	int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "%s%s%sContent-Length: %zu\r\n%s\r\n", method, path,
	    auth ? "Authorization: Bearer " : "", auth ? auth : "", auth ? "\r\n" : "",
	    blen, body ? "Content-Type: application/json\r\n" : "");
	char *req = malloc((size_t)n + blen + 1);

	if (req == NULL)
		fatal("out of memory");
	memcpy(req, head, (size_t)n);
	if (blen > 0)
		memcpy(req + n, body, blen);
	int rc = bhttp_once(b, req, (size_t)n + blen, r, timeout_ms, &got_any);
	if (rc != 0 && reused && !got_any) {
		bconn_close(b);
		rc = bhttp_once(b, req, (size_t)n + blen, r, timeout_ms, &got_any);
	}
	if (rc != 0)
		bconn_close(b);
	free(req);
	return rc;
}

/* GET path and decode the JSON answer; NULL unless 200. */
static json_t *
get_json(int port, const char *path, const char *auth, int timeout_ms)
{
	struct bconn b = { -1, port, { NULL, 0, 0 } };
	struct hresp r;
	json_t *o = NULL;

	if (bhttp(&b, "GET", path, auth, NULL, &r, timeout_ms) == 0 && r.status == 200)
		o = json_loadb(r.body, r.blen, 0, NULL);
	bconn_close(&b);
	free(b.in.p);
	return o;
}

/* The server's own request latency histogram (GET /metrics): from a
 * request's headers to its answer, so what the server itself took, not
 * the time a request waited for the generator or the scheduler. */
#define NHIST 24

static char admin_token[80];

struct hist {
	int n;
	double le[NHIST];	/* bucket bounds, seconds (the last is +Inf) */
	double count[NHIST];	/* cumulative */
};

/* The server's histograms of request times (its series of every route
 * and code added up, bucket by bucket) and of journal writes (each with
 * its fdatasync), from one scrape of /metrics. */
enum { HIST_REQUESTS, HIST_WRITES, NHISTS };

static int
server_hist(int port, struct hist h[NHISTS])
{
	static const char *const names[NHISTS] = {
		"sl_http_request_duration_seconds_bucket{",
		"sl_journal_write_duration_seconds_bucket{",
	};
	struct bconn b = { -1, port, { NULL, 0, 0 } };
	struct hresp r;
	int rc = -1;

	memset(h, 0, NHISTS * sizeof(*h));
	if (bhttp(&b, "GET", "/metrics", admin_token[0] ? admin_token : NULL, NULL, &r,
	    5000) == 0 && r.status == 200) {
		char *text = strndup(r.body, r.blen), *save = NULL;
		for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l != NULL;
		    l = strtok_r(NULL, "\n", &save)) {
			for (int k = 0; k < NHISTS; k++) {
				size_t kl = strlen(names[k]);
				char *le = strstr(l, "le=\""), *q = strstr(l, "} ");
				if (strncmp(l, names[k], kl) != 0 || le == NULL)
					continue;
				double bound = strtod(le + 4, NULL);
				int j = 0;
				while (j < h[k].n && h[k].le[j] != bound)
					j++;
				if (j == h[k].n) {
					if (h[k].n >= NHIST)
						continue;
					h[k].le[h[k].n++] = bound;
				}
				h[k].count[j] += q ? strtod(q + 2, NULL) : 0;
			}
		}
		free(text);
		rc = h[HIST_REQUESTS].n > 0 && h[HIST_WRITES].n > 0 ? 0 : -1;
	}
	bconn_close(&b);
	free(b.in.p);
	return rc;
}

/* From two scrapes: the bound (ms) of the first bucket holding the
 * p-quantile of the requests between them, and the share above over_ms
 * (a bucket bound). -1 when unknown. */
static double
hist_quantile(const struct hist *a, const struct hist *b, double p, double over_ms,
    double *share_over)
{
	double total, q = -1;

	*share_over = -1;
	if (a->n == 0 || a->n != b->n || (total = b->count[b->n - 1] - a->count[a->n - 1]) <= 0)
		return -1;
	for (int i = 0; i < b->n; i++) {
		double cum = b->count[i] - a->count[i];
		if (q < 0 && cum >= p * total)
			q = b->le[i] * 1000;
		if (b->le[i] * 1000 >= over_ms - 1e-9 && *share_over < 0)
			*share_over = 1 - cum / total;
	}
	return q;
}

/* ---- the servers under test ---- */

struct slsrv {
	char name[32];
	char dir[512];		/* its files */
	char conf[600];
	char log[600];
	int port;
	pid_t pid;
};

static char peer_token[80];

/* slserve refuses to run as root unless told; an older one does not know
 * the setting. Asked once, of slserve -n. */
static const char *
root_option(void)
{
	static const char *opt;
	char path[600], exe[PATH_MAX], text[1024];
	int st;
	pid_t pid;

	if (opt != NULL)
		return opt;
	opt = "";
	if (geteuid() != 0)
		return opt;
	snprintf(path, sizeof(path), "%s/probe.conf", tmpdir);
	snprintf(text, sizeof(text), "name = \"probe\"\nlisten = \"127.0.0.1:1\"\n"
	    "state_dir = \"probe-state\"\nlicenses = \"%s/licenses.conf\"\n"
	    "allow_root = true\n", tmpdir);
	write_file(path, text);
	snprintf(exe, sizeof(exe), "%s/slserve", bindir);
	if ((pid = fork()) == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(exe, "slserve", "-n", "-f", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		opt = "allow_root = true\n";
	unlink(path);
	return opt;
}

static void
srv_init(struct slsrv *s, const char *name, const char *tag, const char *extra)
{
	char path[700], text[4096];

	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->dir, sizeof(s->dir), "%s/%s-%s", tmpdir, name, tag);
	snprintf(s->conf, sizeof(s->conf), "%s/slserve.conf", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/slserve.log", s->dir);
	if (mkdir(s->dir, 0700) != 0)
		fatal("%s: %s", s->dir, strerror(errno));
	s->port = free_port();
	s->pid = -1;
	snprintf(text, sizeof(text),
	    "# written by loadgen\n"
	    "name = \"%s\"\n"
	    "listen = \"127.0.0.1:%d\"\n"
	    "state_dir = \"state\"\n"
	    "licenses = \"%s/%s\"\n"
	    "admin_token_file = \"%s/admin.token\"\n"
	    "peer_token_file = \"%s/peer.token\"\n"
	    /* every client of the bench is 127.0.0.1 */
	    "max_connections_per_ip = 0\n"
	    "max_leases_per_ip = 0\n"
	    "%s%s",
	    name, s->port, tmpdir, strcmp(name, "benchA") == 0 ? "licenses.conf" :
	    "licenses-b.conf", tmpdir, tmpdir, extra ? extra : "", root_option());
	snprintf(path, sizeof(path), "%s", s->conf);
	write_file(path, text);
}

static void
srv_forget(pid_t pid)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = -1;
}

/* Start slserve and wait (bounded) until /v1/health answers 200.
 * Returns the milliseconds from fork to the first 200. */
static double
srv_start(struct slsrv *s)
{
	char exe[PATH_MAX];
	uint64_t t0 = now_ns();
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/slserve", bindir);
	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		execl(exe, "slserve", "-d", "-f", s->conf, (char *)NULL);
		_exit(127);
	}
	s->pid = pid;
	if (nchildren < (int)(sizeof(children) / sizeof(children[0])))
		children[nchildren++] = pid;
	struct bconn b = { -1, s->port, { NULL, 0, 0 } };
	struct hresp r;
	while (now_ns() - t0 < 60ull * 1000000000ull) {
		if (bhttp(&b, "GET", "/v1/health", NULL, NULL, &r, 1000) == 0 &&
		    r.status == 200) {
			double ms = ns_ms(now_ns() - t0);
			bconn_close(&b);
			free(b.in.p);
			return ms;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			srv_forget(pid);
			s->pid = -1;
			fatal("slserve %s exited at start; see %s", s->name, s->log);
		}
		sleep_ms(1);
	}
	fatal("slserve %s did not answer within 60 s; see %s", s->name, s->log);
	return -1;
}

/* SIGTERM and wait (bounded); returns the milliseconds it took. */
static double
srv_stop(struct slsrv *s)
{
	uint64_t t0 = now_ns();
	int st;

	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &st, WNOHANG) != s->pid) {
		if (now_ns() - t0 > 20ull * 1000000000ull) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
			fprintf(stderr, "loadgen: %s did not stop within 20 s; killed\n", s->name);
			break;
		}
		sleep_ms(1);
	}
	srv_forget(s->pid);
	s->pid = -1;
	return ns_ms(now_ns() - t0);
}

static void
write_licenses(void)
{
	char path[512];
	size_t cap = NLICENSES * 160 + 256, len = 0;
	char *text = malloc(cap);

	if (text == NULL)
		fatal("out of memory");
	len += (size_t)snprintf(text + len, cap - len, "# written by loadgen\n");
	for (int i = 0; i < NLICENSES; i++)
		len += (size_t)snprintf(text + len, cap - len,
		    "license \"bench-%02d\" { product = \"p%02d\" count = %d expires = \"never\" "
		    "host = \"any\" timeout = %d }\n", i, i, SEATS, LEASE_TIMEOUT);
	snprintf(path, sizeof(path), "%s/licenses.conf", tmpdir);
	write_file(path, text);
	free(text);
	snprintf(path, sizeof(path), "%s/licenses-b.conf", tmpdir);
	write_file(path, "license \"b-own\" { product = \"bown\" count = 5 expires = \"never\" "
	    "host = \"any\" timeout = 300 }\n");
	random_hex(peer_token, 32);
	random_hex(admin_token, 32);
	char tok[100];
	snprintf(path, sizeof(path), "%s/peer.token", tmpdir);
	snprintf(tok, sizeof(tok), "%s\n", peer_token);
	write_file(path, tok);
	snprintf(path, sizeof(path), "%s/admin.token", tmpdir);
	snprintf(tok, sizeof(tok), "%s\n", admin_token);
	write_file(path, tok);
}

/* ---- the load engine ---- */

enum op { OP_HEALTH, OP_CHECKOUT, OP_HEARTBEAT, OP_CHECKIN, NOPS, OP_NONE = -1 };

enum mode { M_HEALTH, M_CHECKOUT, M_HEARTBEAT, M_CHECKIN, M_LIFECYCLE };

struct opstat {
	struct samples lat;
	uint64_t ok, errors;
	/* open loop: each request's due time and latency, in answer order */
	struct samples due, due_lat;
};

struct phase {
	const char *name;
	enum mode mode;
	int port;
	int nconns;
	double secs;		/* bound on the phase */
	double warmup;		/* not measured */
	double rate;		/* open loop: requests per second; 0: closed loop */
	long limit;		/* stop issuing after this many (0: no limit) */
	int heartbeats;		/* lifecycle: heartbeats per lease */
	struct idlist *ids;	/* checkout: granted ids go here; others take from it */
	/* results */
	struct opstat st[NOPS];
	double window;		/* seconds measured */
	uint64_t from, to;	/* what was measured, in now_ns() time */
	uint64_t issued, drained, reconnects, timeouts;
	double server_cpu_ms;	/* the server's CPU over the phase, when known */
};

struct conn {
	int fd, idx;
	int busy, drain, holding, hb_left, want_out;
	enum op op;
	uint64_t t0;		/* when the request was due */
	char req[512];
	size_t reqlen, reqoff;
	struct rbuf in;
	char lease[ID_MAX];
};

struct engine {
	struct phase *ph;
	int ep;
	struct conn *conns;
	struct conn **idle;
	int nidle, busy;
	uint64_t start, warm, end, last_done;
	int stopping;
	unsigned product;
};

static void
conn_events(struct engine *e, struct conn *c, int want_out)
{
	struct epoll_event ev = { EPOLLIN | (want_out ? EPOLLOUT : 0), { .ptr = c } };

	if (c->want_out != want_out) {
		epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want_out;
	}
}

static int
conn_open(struct engine *e, struct conn *c)
{
	struct epoll_event ev = { EPOLLIN, { .ptr = c } };

	if ((c->fd = tcp_connect(e->ph->port, 1)) < 0)
		return -1;
	c->want_out = 0;
	c->in.len = 0;
	epoll_ctl(e->ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

static void
conn_flush(struct engine *e, struct conn *c)
{
	while (c->reqoff < c->reqlen) {
		ssize_t n = send(c->fd, c->req + c->reqoff, c->reqlen - c->reqoff, MSG_NOSIGNAL);
		if (n > 0) {
			c->reqoff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_events(e, c, 1);
			return;
		}
		return;		/* the read side sees the error */
	}
	conn_events(e, c, 0);
}

/* The operation this connection does next, or OP_NONE. */
static enum op
conn_next_op(struct engine *e, struct conn *c)
{
	struct phase *ph = e->ph;

	if (ph->limit > 0 && (long)ph->issued >= ph->limit)
		return OP_NONE;
	switch (ph->mode) {
	case M_HEALTH:
		return OP_HEALTH;
	case M_CHECKOUT:
		return OP_CHECKOUT;
	case M_HEARTBEAT:
		if (ph->ids == NULL || ph->ids->n == 0)
			return OP_NONE;
		snprintf(c->lease, sizeof(c->lease), "%s",
		    ph->ids->v[ph->ids->cursor++ % ph->ids->n]);
		return OP_HEARTBEAT;
	case M_CHECKIN:
		if (ph->ids == NULL || ph->ids->cursor >= ph->ids->n)
			return OP_NONE;
		snprintf(c->lease, sizeof(c->lease), "%s", ph->ids->v[ph->ids->cursor++]);
		return OP_CHECKIN;
	case M_LIFECYCLE:
		if (!c->holding)
			return OP_CHECKOUT;
		return c->hb_left > 0 ? OP_HEARTBEAT : OP_CHECKIN;
	}
	return OP_NONE;
}

static void
conn_issue(struct engine *e, struct conn *c, enum op op, uint64_t due)
{
	char body[256];
	int n = 0;

	switch (op) {
	case OP_HEALTH:
		n = snprintf(c->req, sizeof(c->req),
		    "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
		break;
	case OP_CHECKOUT: {
		int b = snprintf(body, sizeof(body), "{\"product\":\"p%02u\",\"client\":"
		    "\"bench-%d\",\"user\":\"user%d\",\"host\":\"loadgen\",\"pid\":%d}",
		    e->product++ % NLICENSES, c->idx, c->idx, 10000 + c->idx);
		n = snprintf(c->req, sizeof(c->req), "POST /v1/checkout HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
		    "Content-Length: %d\r\n\r\n%s", b, body);
		break;
	}
	case OP_HEARTBEAT:
		n = snprintf(c->req, sizeof(c->req), "POST /v1/leases/%s/heartbeat HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", c->lease);
		break;
	case OP_CHECKIN:
		n = snprintf(c->req, sizeof(c->req), "DELETE /v1/leases/%s HTTP/1.1\r\n"
		    "Host: 127.0.0.1\r\n\r\n", c->lease);
		break;
	default:
		return;
	}
	c->reqlen = (size_t)n;
	c->reqoff = 0;
	c->op = op;
	c->t0 = due;
	c->busy = 1;
	e->busy++;
	if (!c->drain)
		e->ph->issued++;
	conn_flush(e, c);
}

static void
conn_idle(struct engine *e, struct conn *c)
{
	e->idle[e->nidle++] = c;
}

/* Decide what a connection that just became free does. */
static void
conn_continue(struct engine *e, struct conn *c, uint64_t now)
{
	struct phase *ph = e->ph;

	c->drain = 0;
	if (e->stopping) {
		/* Hand back what the lifecycle holds, unmeasured. */
		if (ph->mode == M_LIFECYCLE && c->holding && now < e->end + 3000000000ull) {
			c->drain = 1;
			ph->drained++;
			conn_issue(e, c, OP_CHECKIN, now);
		} else {
			conn_idle(e, c);
		}
		return;
	}
	if (ph->rate > 0) {
		conn_idle(e, c);	/* the scheduler hands out the next slot */
		return;
	}
	enum op op = conn_next_op(e, c);
	if (op == OP_NONE)
		conn_idle(e, c);
	else
		conn_issue(e, c, op, now);
}

static void
conn_done(struct engine *e, struct conn *c, const struct hresp *r, uint64_t now)
{
	struct phase *ph = e->ph;
	struct opstat *st = &ph->st[c->op];
	int ok;

	c->busy = 0;
	e->busy--;
	switch (c->op) {
	case OP_CHECKOUT:
		ok = r->status == 201 || r->status == 200;
		if (ok) {
			const char *p = memmem(r->body, r->blen, "\"lease\":\"", 9);
			size_t i = 0;
			if (p != NULL) {
				p += 9;
				while (i < ID_MAX - 1 && p + i < r->body + r->blen && p[i] != '"')
					i++;
			}
			if (i == 0)
				ok = 0;
			else {
				memcpy(c->lease, p, i);
				c->lease[i] = '\0';
				if (ph->mode == M_LIFECYCLE) {
					c->holding = 1;
					c->hb_left = ph->heartbeats;
				} else if (ph->ids != NULL) {
					idlist_add(ph->ids, c->lease);
				}
			}
		}
		break;
	case OP_HEARTBEAT:
		ok = r->status == 200;
		if (ph->mode == M_LIFECYCLE) {
			c->hb_left--;
			if (!ok)
				c->holding = 0;
		}
		break;
	case OP_CHECKIN:
		ok = r->status == 200;
		c->holding = 0;
		break;
	default:
		ok = r->status == 200;
		break;
	}
	if (!c->drain && now >= e->warm && now <= e->end) {
		if (ok) {
			st->ok++;
			sample_add(&st->lat, now - c->t0);
			if (e->ph->rate > 0) {
				sample_add(&st->due, c->t0);
				sample_add(&st->due_lat, now - c->t0);
			}
		} else {
			st->errors++;
		}
		e->last_done = now;
	}
	conn_continue(e, c, now);
}

/* The connection broke: count the request in flight as an error, reconnect. */
static void
conn_broken(struct engine *e, struct conn *c, uint64_t now)
{
	epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->busy) {
		c->busy = 0;
		e->busy--;
		e->ph->st[c->op].errors++;
	}
	c->holding = 0;
	if (++e->ph->reconnects > 1000 || conn_open(e, c) != 0) {
		e->stopping = 1;
		return;
	}
	conn_continue(e, c, now);
}

static void
conn_readable(struct engine *e, struct conn *c)
{
	for (;;) {
		rbuf_reserve(&c->in, 16384);
		ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_broken(e, c, now_ns());
			return;
		}
		c->in.len += (size_t)n;
		c->in.p[c->in.len] = '\0';
		struct hresp r;
		int rc = http_parse(c->in.p, c->in.len, &r);
		if (rc == 0)
			continue;
		if (rc < 0 || !c->busy) {
			conn_broken(e, c, now_ns());
			return;
		}
		uint64_t now = now_ns();
		int closing = r.close;
		/* One request in flight per connection: nothing follows it. */
		conn_done(e, c, &r, now);
		c->in.len = 0;
		if (closing) {
			conn_broken(e, c, now);
		}
		return;
	}
}

/* Stop issuing; idle lifecycle connections still holding a lease check it
 * in (the open loop leaves connections idle between their requests). */
static void
engine_stop(struct engine *e, uint64_t now)
{
	int n = e->nidle;

	if (e->stopping)
		return;
	e->stopping = 1;
	e->nidle = 0;
	for (int i = 0; i < n; i++)
		conn_continue(e, e->idle[i], now);
}

static void
run_phase(struct phase *ph)
{
	struct engine e;
	struct epoll_event evs[256];
	uint64_t interval = ph->rate > 0 ? (uint64_t)(1e9 / ph->rate) : 0;
	uint64_t q_head = 0, q_tail = 0;	/* open loop: due slots generated/served */

	memset(&e, 0, sizeof(e));
	e.ph = ph;
	if ((e.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		fatal("epoll: %s", strerror(errno));
	e.conns = calloc((size_t)ph->nconns, sizeof(*e.conns));
	e.idle = calloc((size_t)ph->nconns, sizeof(*e.idle));
	if (e.conns == NULL || e.idle == NULL)
		fatal("out of memory");
	/* Connections are opened 2 ms apart, as independent clients would:
	 * opened all at once, libmicrohttpd's thread pool lets whichever of
	 * its threads wakes first accept the whole burst, and one thread then
	 * serves every client while the other idles (BENCHMARKS.md). */
	for (int i = 0; i < ph->nconns; i++) {
		e.conns[i].idx = i;
		if (conn_open(&e, &e.conns[i]) != 0)
			fatal("connect 127.0.0.1:%d: %s", ph->port, strerror(errno));
		if (ph->nconns > 1 && i + 1 < ph->nconns)
			sleep_ms(2);
	}
	e.start = now_ns();
	e.warm = e.start + (uint64_t)(ph->warmup * 1e9);
	e.end = e.start + (uint64_t)(ph->secs * 1e9);
	e.last_done = e.warm;
	for (int i = 0; i < ph->nconns; i++)
		conn_continue(&e, &e.conns[i], e.start);

	for (;;) {
		uint64_t now = now_ns();
		if (!e.stopping && now >= e.end)
			engine_stop(&e, now);
		if (!e.stopping && ph->rate > 0) {
			while (e.start + q_tail * interval <= now && e.start + q_tail * interval < e.end)
				q_tail++;
			while (q_head < q_tail && e.nidle > 0) {
				struct conn *c = e.idle[--e.nidle];
				enum op op = conn_next_op(&e, c);
				if (op == OP_NONE) {
					e.idle[e.nidle++] = c;
					break;
				}
				conn_issue(&e, c, op, e.start + q_head * interval);
				q_head++;
			}
		}
		/* Closed loop with nothing left to do (ids used up, limit hit). */
		if (!e.stopping && ph->rate == 0 && e.busy == 0 && e.nidle == ph->nconns)
			engine_stop(&e, now);
		if (e.stopping && e.busy == 0)
			break;
		if (now > e.end + 5000000000ull) {
			ph->timeouts += (uint64_t)e.busy;
			break;
		}
		uint64_t wake = now + 50000000ull;
		if (!e.stopping && ph->rate > 0 && e.start + q_tail * interval < wake)
			wake = e.start + q_tail * interval;
		if (!e.stopping && e.end < wake)
			wake = e.end;
		struct timespec ts = { 0, 0 };
		if (wake > now) {
			ts.tv_sec = (time_t)((wake - now) / 1000000000ull);
			ts.tv_nsec = (long)((wake - now) % 1000000000ull);
		}
		int n = epoll_pwait2(e.ep, evs, 256, &ts, NULL);
		if (n < 0 && errno != EINTR)
			fatal("epoll_pwait2: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			if (evs[i].events & EPOLLOUT)
				conn_flush(&e, c);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_readable(&e, c);
		}
	}
	uint64_t stop = e.last_done < e.end ? e.last_done : e.end;
	ph->window = stop > e.warm ? (double)(stop - e.warm) / 1e9 : 0;
	ph->from = e.warm;
	ph->to = stop > e.warm ? stop : e.warm;
	for (int i = 0; i < ph->nconns; i++) {
		if (e.conns[i].fd >= 0)
			close(e.conns[i].fd);
		free(e.conns[i].in.p);
	}
	free(e.conns);
	free(e.idle);
	close(e.ep);
}

/* Run a phase and note the CPU the server (pid, when known) spent in it. */
static void
run_phase_cpu(struct phase *ph, pid_t pid)
{
	double c0 = pid > 0 ? proc_cpu_ms(pid) : -1;

	run_phase(ph);
	ph->server_cpu_ms = pid > 0 ? proc_cpu_ms(pid) - c0 : -1;
}

static void
phase_init(struct phase *ph, const char *name, enum mode mode, int port)
{
	memset(ph, 0, sizeof(*ph));
	ph->name = name;
	ph->mode = mode;
	ph->port = port;
	ph->nconns = nclients;
	ph->secs = phase_secs + warmup_secs;
	ph->warmup = warmup_secs;
	ph->heartbeats = heartbeats;
}

static void
phase_free(struct phase *ph)
{
	for (int i = 0; i < NOPS; i++) {
		sample_free(&ph->st[i].lat);
		sample_free(&ph->st[i].due);
		sample_free(&ph->st[i].due_lat);
	}
}

static double
phase_rate(const struct phase *ph, enum op op)
{
	return ph->window > 0 ? (double)ph->st[op].ok / ph->window : 0;
}

/* {"requests_per_s", "count", "errors", "p50_ms", "p99_ms", "p999_ms", "max_ms"} */
static json_t *
opstat_json(struct phase *ph, enum op op)
{
	struct opstat *st = &ph->st[op];

	json_t *o = json_pack("{s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f}",
	    "requests_per_s", phase_rate(ph, op), "count", (json_int_t)st->ok,
	    "errors", (json_int_t)st->errors, "p50_ms", sample_pct(&st->lat, 0.50),
	    "p99_ms", sample_pct(&st->lat, 0.99), "p999_ms", sample_pct(&st->lat, 0.999),
	    "max_ms", sample_pct(&st->lat, 1.0), "seconds", ph->window);
	if (ph->server_cpu_ms >= 0 && ph->issued > 0)
		json_object_set_new(o, "server_cpu_us_per_request",
		    json_real(ph->server_cpu_ms * 1000.0 / (double)ph->issued));
	return o;
}

/* Check in every lease of ids not yet used, unmeasured. */
static void
checkin_all(int port, struct idlist *ids)
{
	struct phase ph;

	if (ids->cursor >= ids->n)
		return;
	phase_init(&ph, "cleanup", M_CHECKIN, port);
	ph.secs = 120;
	ph.warmup = 0;
	ph.ids = ids;
	run_phase(&ph);
	phase_free(&ph);
}

/* Seats in use on a server, from /v1/licenses. */
static long
seats_in_use(int port)
{
	json_t *o = get_json(port, "/v1/licenses", NULL, 5000), *v;
	long n = 0;
	size_t i;

	if (o == NULL)
		fatal("GET /v1/licenses on port %d failed", port);
	json_array_foreach(json_object_get(o, "licenses"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "role")) ?
		    json_string_value(json_object_get(v, "role")) : "", "primary") == 0)
			n += (long)json_integer_value(json_object_get(v, "in_use"));
	json_decref(o);
	return n;
}

/* ---- the scale runs ---- */

static long replayed_records(const struct slsrv *s);

#define NINC 6
static const long inc_sizes[NINC] = { 1, 10, 100, 1000, 10000, 50000 };

struct scale_result {
	long leases;
	long filled;		/* leases the fill reached (< leases: it timed out) */
	double fill_s;
	long rss_kb, hwm_kb, rss_restart_kb, hwm_restart_kb;
	double lic_p50, lic_p99, lic_max;
	size_t lic_bytes;
	double co_p50, co_p99, co_rate;
	double stop_ms, restart_ms;
	double full_ms;
	size_t full_bytes;
	double backup_sync_ms;
	long backup_failed_polls;
	long backup_mirrored;
	double inc_ms[NINC];
	size_t inc_bytes[NINC];
	double backup_cpu_idle, backup_cpu_busy;	/* ms of CPU per second */
	long backup_rss_kb;
	long replayed;		/* journal records the restart replayed */
	double restart_cpu_ms;	/* CPU the restarted server had used when it answered */
	double primary_cpu_busy;
};

static struct scale_result sres[8];

/* VmRSS once it has stopped moving (two readings 200 ms apart within 1%,
 * at most 5 s), and VmHWM. */
static void
settle_mem(pid_t pid, long *rss, long *hwm)
{
	long prev = -1;

	for (int i = 0; i < 25; i++) {
		sleep_ms(200);
		proc_mem(pid, rss, hwm);
		if (prev > 0 && labs(*rss - prev) * 100 <= prev)
			break;
		prev = *rss;
	}
}

/* The latency of GET /v1/licenses, 200 times on one kept-alive connection. */
static void
measure_licenses(int port, struct scale_result *res)
{
	struct bconn b = { -1, port, { NULL, 0, 0 } };
	struct samples s = { NULL, 0, 0, 0 };
	struct hresp r;

	for (int i = 0; i < 200; i++) {
		uint64_t t0 = now_ns();
		if (bhttp(&b, "GET", "/v1/licenses", NULL, NULL, &r, 5000) != 0 || r.status != 200)
			fatal("GET /v1/licenses failed");
		sample_add(&s, now_ns() - t0);
		res->lic_bytes = r.total;
	}
	res->lic_p50 = sample_pct(&s, 0.5);
	res->lic_p99 = sample_pct(&s, 0.99);
	res->lic_max = sample_pct(&s, 1.0);
	sample_free(&s);
	bconn_close(&b);
	free(b.in.p);
}

/* What the Primary costs a peer: one full sync, and incremental syncs of
 * the last k journal records (the records the fill just wrote). */
static void
measure_peer_sync(int port, struct scale_result *res)
{
	struct bconn b = { -1, port, { NULL, 0, 0 } };
	json_t *h = get_json(port, "/v1/health", NULL, 5000);
	const char *epoch = json_string_value(json_object_get(h, "epoch"));
	long long seq = (long long)json_integer_value(json_object_get(h, "seq"));
	char path[512];
	struct hresp r;

	if (epoch == NULL)
		fatal("health without epoch");
	for (int i = 0; i < NINC; i++) {
		res->inc_ms[i] = -1;
		res->inc_bytes[i] = 0;
		if (inc_sizes[i] > seq || inc_sizes[i] >= 65536)
			continue;
		/* Best of three: the figure is the cost, not the noise. */
		double best = 1e9;
		for (int rep = 0; rep < 3; rep++) {
			snprintf(path, sizeof(path), "/v1/peer/sync?since=%lld&epoch=%s&name=bench-probe",
			    seq - inc_sizes[i], epoch);
			uint64_t t0 = now_ns();
			if (bhttp(&b, "GET", path, peer_token, NULL, &r, 30000) != 0 || r.status != 200)
				fatal("GET /v1/peer/sync failed");
			double ms = ns_ms(now_ns() - t0);
			if (memmem(r.body, r.blen, "\"full\":true", 11) != NULL)
				fatal("incremental sync of %ld records came back full", inc_sizes[i]);
			if (ms < best)
				best = ms;
			res->inc_bytes[i] = r.total;
		}
		res->inc_ms[i] = best;
	}
	snprintf(path, sizeof(path), "/v1/peer/sync?since=0&epoch=none&name=bench-probe");
	uint64_t t0 = now_ns();
	if (bhttp(&b, "GET", path, peer_token, NULL, &r, 60000) != 0 || r.status != 200)
		fatal("full GET /v1/peer/sync failed");
	res->full_ms = ns_ms(now_ns() - t0);
	res->full_bytes = r.total;
	json_decref(h);
	bconn_close(&b);
	free(b.in.p);
}

/* Start a backup of A and time its first full sync: from its start until
 * its health shows a good poll of A. Then its CPU cost, idle and while A's
 * leases change at a trickle. */
static void
measure_backup(struct slsrv *a, const char *tag, struct scale_result *res)
{
	struct slsrv b;
	char extra[512];

	/* fail_after 100: a slow sync shows as failed polls, not a takeover. */
	snprintf(extra, sizeof(extra), "failover \"benchA\" {\n  url = \"http://127.0.0.1:%d\"\n"
	    "  poll_interval = 1\n  fail_after = 100\n}\n", a->port);
	srv_init(&b, "benchB", tag, extra);
	uint64_t t0 = now_ns();
	srv_start(&b);
	res->backup_sync_ms = -1;
	while (now_ns() - t0 < 30ull * 1000000000ull) {
		json_t *h = get_json(b.port, "/v1/health", NULL, 2000);
		json_t *bu = json_array_get(json_object_get(h, "backs_up"), 0);
		if (bu != NULL && json_is_number(json_object_get(bu, "last_poll_age"))) {
			res->backup_sync_ms = ns_ms(now_ns() - t0);
			json_decref(h);
			break;
		}
		res->backup_failed_polls = (long)json_integer_value(json_object_get(bu,
		    "failed_polls"));
		json_decref(h);
		sleep_ms(2);
	}
	long hwm;
	proc_mem(b.pid, &res->backup_rss_kb, &hwm);
	/* Idle: polls that carry no change. */
	sleep_ms(1500);
	double c0 = proc_cpu_ms(b.pid);
	sleep_ms(2000);
	res->backup_cpu_idle = (proc_cpu_ms(b.pid) - c0) / 2.0;
	/* A trickle of change: 20 requests/s of checkout then checkin. */
	struct phase ph;
	phase_init(&ph, "trickle", M_LIFECYCLE, a->port);
	ph.nconns = 2;
	ph.rate = 20;
	ph.heartbeats = 0;
	ph.secs = 3;
	ph.warmup = 0;
	double c1 = proc_cpu_ms(b.pid), a1 = proc_cpu_ms(a->pid);
	run_phase(&ph);
	sleep_ms(500);
	res->backup_cpu_busy = (proc_cpu_ms(b.pid) - c1) / 3.5;
	res->primary_cpu_busy = (proc_cpu_ms(a->pid) - a1) / 3.5;
	phase_free(&ph);
	srv_stop(&b);
}

static void
run_scale(long leases, struct scale_result *res)
{
	struct slsrv a;
	struct idlist ids = { NULL, 0, 0, 0 };
	char tag[32];

	memset(res, 0, sizeof(*res));
	res->leases = leases;
	for (int k = 0; k < NINC; k++)
		res->inc_ms[k] = -1;
	snprintf(tag, sizeof(tag), "%ld", leases);
	srv_init(&a, "benchA", tag, "max_leases_per_client = 1000000\n");
	srv_start(&a);
	fprintf(stderr, "loadgen: %ld leases: filling\n", leases);

	struct phase fill;
	phase_init(&fill, "fill", M_CHECKOUT, a.port);
	fill.limit = leases;
	fill.secs = 180;
	fill.warmup = 0;
	uint64_t t0 = now_ns();
	run_phase(&fill);
	res->fill_s = (double)(now_ns() - t0) / 1e9;
	phase_free(&fill);
	long have = seats_in_use(a.port);
	if (have != leases) {
		/* Too slow to fill within the bound: say so, measure nothing. */
		fprintf(stderr, "loadgen: %ld leases wanted, server holds %ld after %.0f s\n",
		    leases, have, res->fill_s);
		res->filled = have;
		srv_stop(&a);
		return;
	}
	res->filled = have;
	/* The fill's last records may start a compaction (every compact_after
	 * records), which holds the snapshot's image and text for a moment:
	 * the steady figure is the one after it. VmHWM keeps the peak. */
	settle_mem(a.pid, &res->rss_kb, &res->hwm_kb);
	measure_licenses(a.port, res);

	/* Checkout cost with this many leases: a short lifecycle run. */
	struct phase lc;
	phase_init(&lc, "lifecycle-at-scale", M_LIFECYCLE, a.port);
	lc.secs = 2.0;
	lc.warmup = 0.3;
	run_phase(&lc);
	res->co_p50 = sample_pct(&lc.st[OP_CHECKOUT].lat, 0.5);
	res->co_p99 = sample_pct(&lc.st[OP_CHECKOUT].lat, 0.99);
	res->co_rate = phase_rate(&lc, OP_CHECKOUT) + phase_rate(&lc, OP_HEARTBEAT) +
	    phase_rate(&lc, OP_CHECKIN);
	phase_free(&lc);

	fprintf(stderr, "loadgen: %ld leases: peer sync\n", leases);
	measure_peer_sync(a.port, res);
	measure_backup(&a, tag, res);

	fprintf(stderr, "loadgen: %ld leases: restart\n", leases);
	long before = seats_in_use(a.port);
	res->stop_ms = srv_stop(&a);
	res->restart_ms = srv_start(&a);
	res->restart_cpu_ms = proc_cpu_ms(a.pid);
	res->replayed = replayed_records(&a);
	settle_mem(a.pid, &res->rss_restart_kb, &res->hwm_restart_kb);
	have = seats_in_use(a.port);
	if (have != before)
		fatal("restart lost seats: %ld held before, %ld after", before, have);
	srv_stop(&a);
	idlist_free(&ids);
}

/* What one small append and fdatasync cost on the state directory's disk:
 * the floor under a durable checkout's latency. */
static void
disk_probe(double *p50, double *p99)
{
	struct samples s = { NULL, 0, 0, 0 };
	char path[300], rec[200];
	int fd;

	*p50 = *p99 = -1;
	snprintf(path, sizeof(path), "%s/fsync-probe", tmpdir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
		return;
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
	*p50 = sample_pct(&s, 0.5);
	*p99 = sample_pct(&s, 0.99);
	sample_free(&s);
}

/* The journal records the last start of a server replayed, from its log. */
static long
replayed_records(const struct slsrv *s)
{
	char line[1024];
	long n = -1;
	FILE *f = fopen(s->log, "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *p = strstr(line, "state: snapshot at seq");
		unsigned long long seq;
		long r;
		if (p != NULL && sscanf(p, "state: snapshot at seq %llu, %ld journal", &seq, &r) == 2)
			n = r;
	}
	if (f != NULL)
		fclose(f);
	return n;
}

/* ---- the failover script another engineer maintains ---- */

static json_t *
run_failover_script(void)
{
	char outpath[700], jpath[700], abin[PATH_MAX];
	json_t *res = NULL;
	pid_t pid;
	int st = -1;

	if (access(failover_script, R_OK) != 0)
		return NULL;
	if (realpath(bindir, abin) == NULL)
		snprintf(abin, sizeof(abin), "%s", bindir);
	snprintf(outpath, sizeof(outpath), "%s/failover.out", tmpdir);
	snprintf(jpath, sizeof(jpath), "%s/failover.json", tmpdir);
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
	/* Bounded: the whole process group goes after 300 s. */
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
	double secs = (double)(now_ns() - t0) / 1e9;
	json_t *j = json_load_file(jpath, 0, NULL);
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
	/* Without a JSON file, the last line of its output may be JSON. */
	if (j == NULL && text != NULL && text[0] != '\0') {
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
	/* Its table: poll_interval fail_after bound takeover (min-max) handback
	 * (min-max), seconds. */
	if (j == NULL && text != NULL) {
		j = json_array();
		for (char *line = text; line != NULL && *line != '\0'; ) {
			char *nl = strchr(line, '\n');
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
	}
	res = json_pack("{s:s, s:i, s:f, s:s}", "script", failover_script,
	    "exit", WIFEXITED(st) ? WEXITSTATUS(st) : -1, "seconds", secs,
	    "output", text ? text : "");
	if (j != NULL)
		json_object_set_new(res, "results", j);
	free(text);
	return res;
}

/* ---- report ---- */

static json_t *results;
static int targets_met, targets_total;

static const char *
verdict(int met)
{
	targets_total++;
	targets_met += met;
	return met ? "met" : "NOT MET";
}

static void
target_json(const char *name, double value, const char *target, int met)
{
	json_array_append_new(json_object_get(results, "targets"), json_pack(
	    "{s:s, s:f, s:s, s:b}", "figure", name, "value", value, "target", target, "met", met));
}

/* ---- a mirrored checkout (issue 15) ----
 *
 * With synchronous_backup (the default) a checkout of the Primary's pool
 * is answered once it is on the Primary's disk and every backup polling it
 * has acknowledged it (its next long poll's since=SEQ, sent once the
 * backup has the records on its own disk). What that costs: one Primary,
 * the same closed-loop checkout run first alone, then with a backup
 * polling it (default poll settings), each also with one client (the
 * serial cost of a checkout, no batching). After the mirrored runs the
 * backup's mirror must hold every lease the Primary granted. */

struct mirror_result {
	struct phase solo, mirr;	/* N clients: no backup, a backup */
	struct phase solo1, mirr1;	/* one client */
	double warm_ms;			/* backup start to "warm" in its health */
	long granted;			/* checkouts answered 201 in the mirrored runs */
	long primary_in_use;		/* the Primary's seats, after */
	long backup_mirrored;		/* the backup's mirrored seats of benchA, after */
	double backup_cpu_ms;		/* the backup's CPU over the mirrored N-client run */
	/* The N-client runs: CPU run and time waited runnable for a CPU
	 * (schedstat), the Primary's in each run, the backup's when mirrored. */
	double a_run_ns[2], a_wait_ns[2], b_run_ns, b_wait_ns;
	double busy[2];			/* share of the machine's CPU busy in each */
	/* From the Primary's /metrics around each N-client run: requests it
	 * answered (checkouts and the backup's polls), journal writes. */
	double reqs[2], writes[2], write_p50[2], write_p99[2];
	int have_hist[2];
	/* What every poll costs whatever it carries: an incremental sync with
	 * no record in it (the Primary's licenses ride along), its size and
	 * the time to decode it here (jansson, as the backup does). */
	size_t empty_sync_bytes;
	double empty_sync_ms, empty_parse_ms;
};

static struct mirror_result mres;
static int mirror_ran;

/* Seats of pool's licenses a backup mirrors, from its /v1/licenses. */
static long
mirrored_seats(int port, const char *pool)
{
	json_t *o = get_json(port, "/v1/licenses", NULL, 5000), *v;
	long n = 0;
	size_t i;

	if (o == NULL)
		fatal("GET /v1/licenses on port %d failed", port);
	json_array_foreach(json_object_get(o, "licenses"), i, v) {
		const char *role = json_string_value(json_object_get(v, "role"));
		const char *p = json_string_value(json_object_get(v, "pool"));
		if (role != NULL && strcmp(role, "backup") == 0 && p != NULL && strcmp(p, pool) == 0)
			n += (long)json_integer_value(json_object_get(v, "in_use"));
	}
	json_decref(o);
	return n;
}

/* The backup's health lists pool as warm, after a good poll. */
static int
backup_warm(int port, const char *pool)
{
	json_t *h = get_json(port, "/v1/health", NULL, 2000), *v;
	int warm = 0;
	size_t i;

	json_array_foreach(json_object_get(h, "backs_up"), i, v) {
		const char *p = json_string_value(json_object_get(v, "pool"));
		const char *st = json_string_value(json_object_get(v, "status"));
		if (p != NULL && strcmp(p, pool) == 0 && st != NULL && strcmp(st, "warm") == 0 &&
		    json_is_number(json_object_get(v, "last_poll_age")))
			warm = 1;
	}
	json_decref(h);
	return warm;
}

/* An incremental sync of nothing (since = the last seq), no wait: best of
 * 20, its bytes, and the best time to decode its body. As a backup the
 * Primary has not seen ("bench-probe"); asked after the measured runs. */
static void
empty_sync(struct slsrv *a, struct mirror_result *m)
{
	struct bconn b = { -1, a->port, { NULL, 0, 0 } };
	json_t *h = get_json(a->port, "/v1/health", NULL, 5000);
	const char *epoch = json_string_value(json_object_get(h, "epoch"));
	char path[512];
	struct hresp r;

	m->empty_sync_ms = m->empty_parse_ms = -1;
	m->empty_sync_bytes = 0;
	snprintf(path, sizeof(path), "/v1/peer/sync?since=%lld&epoch=%s&name=bench-probe",
	    (long long)json_integer_value(json_object_get(h, "seq")), epoch ? epoch : "none");
	/* A backup names the licenses it holds (lic=GEN) and gets them only
	 * when they changed: learn the generation, then ask as it does. */
	if (bhttp(&b, "GET", path, peer_token, NULL, &r, 5000) == 0 && r.status == 200) {
		json_t *o = json_loadb(r.body, r.blen, 0, NULL);
		const char *gen = json_string_value(json_object_get(o, "licenses_gen"));
		if (gen != NULL)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&lic=%s", gen);
		json_decref(o);
	}
	for (int i = 0; i < 20; i++) {
		uint64_t t0 = now_ns();
		if (bhttp(&b, "GET", path, peer_token, NULL, &r, 5000) != 0 || r.status != 200)
			break;
		double ms = ns_ms(now_ns() - t0);
		if (m->empty_sync_ms < 0 || ms < m->empty_sync_ms)
			m->empty_sync_ms = ms;
		m->empty_sync_bytes = r.total;
		t0 = now_ns();
		json_t *o = json_loadb(r.body, r.blen, 0, NULL);
		ms = ns_ms(now_ns() - t0);
		json_decref(o);
		if (m->empty_parse_ms < 0 || ms < m->empty_parse_ms)
			m->empty_parse_ms = ms;
	}
	json_decref(h);
	bconn_close(&b);
	free(b.in.p);
}

static double
hist_total(const struct hist *h)
{
	return h->n > 0 ? h->count[h->n - 1] : 0;
}

/* A closed-loop checkout run on the Primary a, with its /metrics around
 * it when k >= 0. */
static void
mirror_phase(struct phase *ph, const char *name, struct slsrv *a, int nconns, double secs,
    struct idlist *ids, int k)
{
	struct hist h0[NHISTS], h1[NHISTS];

	phase_init(ph, name, M_CHECKOUT, a->port);
	ph->nconns = nconns;
	ph->secs = secs + warmup_secs;
	ph->ids = ids;
	/* The unmirrored seats are checked in before the mirrored runs; the
	 * one-client run after each needs far fewer than a quarter. */
	ph->limit = NLICENSES * SEATS / 4 * 3;
	int hh = k >= 0 && server_hist(a->port, h0) == 0;
	double r0, w0, r1, w1, b0, t0, b1, t1;
	proc_sched(a->pid, &r0, &w0);
	machine_cpu(&b0, &t0);
	run_phase_cpu(ph, a->pid);
	if (k < 0)
		return;
	machine_cpu(&b1, &t1);
	mres.busy[k] = t1 > t0 && t0 >= 0 ? (b1 - b0) / (t1 - t0) : -1;
	proc_sched(a->pid, &r1, &w1);
	mres.a_run_ns[k] = r0 >= 0 && r1 >= 0 ? r1 - r0 : -1;
	mres.a_wait_ns[k] = w0 >= 0 && w1 >= 0 ? w1 - w0 : -1;
	hh = hh && server_hist(a->port, h1) == 0;
	mres.have_hist[k] = hh;
	if (!hh)
		return;
	double ignored;
	/* The second scrape itself is one of the requests counted. */
	mres.reqs[k] = hist_total(&h1[HIST_REQUESTS]) - hist_total(&h0[HIST_REQUESTS]) - 1;
	mres.writes[k] = hist_total(&h1[HIST_WRITES]) - hist_total(&h0[HIST_WRITES]);
	mres.write_p50[k] = hist_quantile(&h0[HIST_WRITES], &h1[HIST_WRITES], 0.5, 1, &ignored);
	mres.write_p99[k] = hist_quantile(&h0[HIST_WRITES], &h1[HIST_WRITES], 0.99, 1, &ignored);
}

static void
run_mirror(void)
{
	struct mirror_result *m = &mres;
	struct slsrv a, b;
	struct idlist ids = { NULL, 0, 0, 0 };
	char extra[256];

	srv_init(&a, "benchA", "mirror", "max_leases_per_client = 1000000\n");
	srv_start(&a);
	fprintf(stderr, "loadgen: mirror: checkout without a backup, %d clients, %g s\n",
	    nclients, phase_secs);
	mirror_phase(&m->solo, "unmirrored", &a, nclients, phase_secs, &ids, 0);
	mirror_phase(&m->solo1, "unmirrored-1", &a, 1, 2.0, &ids, -1);
	/* Both start from no seats held; checkins with no backup yet. */
	checkin_all(a.port, &ids);
	idlist_free(&ids);

	/* A backup with the default poll settings and the shared peer token. */
	snprintf(extra, sizeof(extra), "failover \"benchA\" {\n  url = \"http://127.0.0.1:%d\"\n}\n",
	    a.port);
	srv_init(&b, "benchB", "mirror", extra);
	uint64_t t0 = now_ns();
	srv_start(&b);
	m->warm_ms = -1;
	while (now_ns() - t0 < 30ull * 1000000000ull) {
		if (backup_warm(b.port, "benchA")) {
			m->warm_ms = ns_ms(now_ns() - t0);
			break;
		}
		sleep_ms(5);
	}
	if (m->warm_ms < 0)
		fatal("the backup was not warm 30 s after its start; see %s", b.log);
	/* Its first polls settle (the Primary notes it, the fence). */
	sleep_ms(500);
	fprintf(stderr, "loadgen: mirror: checkout with a backup polling, %d clients, %g s\n",
	    nclients, phase_secs);
	double bc0 = proc_cpu_ms(b.pid), br0, bw0, br1, bw1;
	proc_sched(b.pid, &br0, &bw0);
	mirror_phase(&m->mirr, "mirrored", &a, nclients, phase_secs, &ids, 1);
	m->backup_cpu_ms = proc_cpu_ms(b.pid) - bc0;
	proc_sched(b.pid, &br1, &bw1);
	m->b_run_ns = br0 >= 0 && br1 >= 0 ? br1 - br0 : -1;
	m->b_wait_ns = bw0 >= 0 && bw1 >= 0 ? bw1 - bw0 : -1;
	mirror_phase(&m->mirr1, "mirrored-1", &a, 1, 2.0, &ids, -1);

	/* Every answered checkout waited for the backup: its mirror holds
	 * each one now, without waiting for another poll. */
	m->granted = (long)ids.n;
	m->primary_in_use = seats_in_use(a.port);
	m->backup_mirrored = mirrored_seats(b.port, "benchA");
	if (!backup_warm(b.port, "benchA"))
		m->backup_mirrored = -1;	/* not warm after the run: that is a failure */
	empty_sync(&a, m);
	srv_stop(&b);
	srv_stop(&a);
	idlist_free(&ids);
	mirror_ran = 1;
}

static void
report_mirror(void)
{
	struct mirror_result *m = &mres;
	struct { struct phase *ph; const char *label; } rows[] = {
		{ &m->solo, "checkout, no backup" },
		{ &m->mirr, "checkout, mirrored" },
		{ &m->solo1, "1 client, no backup" },
		{ &m->mirr1, "1 client, mirrored" },
	};
	json_t *runs = json_object();

	if (!mirror_ran)
		return;
	printf("\nmirrored checkout (issue 15): one Primary, closed loop, first alone, then with a"
	    "\nbackup polling it (default poll settings; synchronous_backup: answered once the"
	    "\nbackup has the grant on its disk)\n");
	printf("%-26s %10s %8s %8s %8s %8s %7s\n", "run", "req/s", "p50 ms", "p99 ms",
	    "p99.9 ms", "max ms", "cpu us");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct phase *ph = rows[i].ph;
		struct opstat *st = &ph->st[OP_CHECKOUT];
		char cpu[16] = "-", key[64];
		if (ph->server_cpu_ms >= 0 && ph->issued > 0)
			snprintf(cpu, sizeof(cpu), "%.0f", ph->server_cpu_ms * 1000 / (double)ph->issued);
		printf("%-26s %10.0f %8.3f %8.3f %8.3f %8.3f %7s%s\n", rows[i].label,
		    phase_rate(ph, OP_CHECKOUT), sample_pct(&st->lat, 0.5),
		    sample_pct(&st->lat, 0.99), sample_pct(&st->lat, 0.999),
		    sample_pct(&st->lat, 1.0), cpu,
		    st->errors || ph->timeouts ? " (errors!)" :
		    ph->limit > 0 && (long)ph->issued >= ph->limit ? " (seats ran out: cut short)" : "");
		snprintf(key, sizeof(key), "%s", ph->name);
		json_t *oj = opstat_json(ph, OP_CHECKOUT);
		json_object_set_new(oj, "clients", json_integer(ph->nconns));
		json_object_set_new(oj, "timeouts", json_integer((json_int_t)ph->timeouts));
		json_object_set_new(runs, key, oj);
	}
	printf("  (%d clients, then 1; cpu us: the Primary's CPU per checkout, all its threads)\n",
	    nclients);

	double r0 = phase_rate(&m->solo, OP_CHECKOUT), r1 = phase_rate(&m->mirr, OP_CHECKOUT);
	double ratio = r0 > 0 ? r1 / r0 : 0;
	double p50_0 = sample_pct(&m->solo.st[OP_CHECKOUT].lat, 0.5);
	double p50_1 = sample_pct(&m->mirr.st[OP_CHECKOUT].lat, 0.5);
	double p99_0 = sample_pct(&m->solo.st[OP_CHECKOUT].lat, 0.99);
	double p99_1 = sample_pct(&m->mirr.st[OP_CHECKOUT].lat, 0.99);
	double added = p50_1 - p50_0;
	double s50_0 = sample_pct(&m->solo1.st[OP_CHECKOUT].lat, 0.5);
	double s50_1 = sample_pct(&m->mirr1.st[OP_CHECKOUT].lat, 0.5);
	int ratio_ok = r0 > 0 && ratio >= 0.75, added_ok = p50_0 >= 0 && p50_1 >= 0 && added <= 1.0;
	int mirror_ok = m->backup_mirrored == m->primary_in_use && m->primary_in_use == m->granted;

	printf("\n%-52s %10s  %-12s %s\n", "mirrored checkout", "value", "target", "");
	printf("%-52s %10.2f  %-12s %s\n", "checkout rate, mirrored / unmirrored", ratio,
	    ">= 0.75", verdict(ratio_ok));
	target_json("mirrored / unmirrored checkout rate", ratio, ">= 0.75", ratio_ok);
	printf("%-52s %10.3f  %-12s %s\n", "p50 a mirror adds to a checkout (ms)", added,
	    "<= 1 ms", verdict(added_ok));
	target_json("p50 a mirror adds to a checkout (ms)", added, "<= 1 ms", added_ok);
	printf("%-52s %10ld  %-12s %s\n", "backup's mirrored seats after the runs",
	    m->backup_mirrored, "= granted", verdict(mirror_ok));
	target_json("backup's mirrored seats = seats the Primary granted",
	    (double)m->backup_mirrored, "= granted", mirror_ok);
	printf("  (%.0f -> %.0f checkouts/s; p50 %.3f -> %.3f ms; p99 %.3f -> %.3f ms, +%.3f ms)\n",
	    r0, r1, p50_0, p50_1, p99_0, p99_1, p99_1 - p99_0);
	printf("  (one client: p50 %.3f -> %.3f ms, +%.3f ms: the serial cost of one mirror round,"
	    "\n   with no other checkout to share it)\n", s50_0, s50_1, s50_1 - s50_0);
	printf("  (granted %ld checkouts in the mirrored runs; the Primary holds %ld seats, the"
	    "\n   backup's /v1/licenses mirrors %ld of them, read right after the last answer)\n",
	    m->granted, m->primary_in_use, m->backup_mirrored);
	double polls = -1, per_poll = -1;
	if (m->have_hist[1] && m->mirr.window > 0) {
		double w = (m->mirr.window + m->mirr.warmup);
		/* Everything the Primary answered besides checkouts: the polls. */
		polls = (m->reqs[1] - (double)m->mirr.issued) / w;
		per_poll = polls > 0 ? r1 / polls : -1;
	}
	if (m->have_hist[0] && m->have_hist[1]) {
		double w0 = m->solo.window + m->solo.warmup, w1 = m->mirr.window + m->mirr.warmup;
		printf("  (the Primary: journal writes (each an fdatasync) %.0f/s alone, %.0f/s"
		    " mirrored,\n   half <= %g / %g ms; mirrored it answered %.0f backup polls a second,"
		    "\n   %.1f checkouts per poll; the backup used %.0f ms of CPU a second)\n",
		    m->writes[0] / w0, m->writes[1] / w1, m->write_p50[0], m->write_p50[1],
		    polls, per_poll, m->mirr.window > 0 ? m->backup_cpu_ms / w1 : -1);
	}
	if (polls > 0 && m->b_run_ns >= 0 && m->a_run_ns[1] >= 0) {
		double w1 = m->mirr.window + m->mirr.warmup, np = polls * w1;
		printf("  (per poll, mirrored (schedstat, all threads): the backup ran %.3f ms and waited"
		    "\n   %.3f ms runnable for a CPU; the Primary ran %.3f ms and waited %.3f ms; a poll"
		    "\n   cycle took %.3f ms)\n", m->b_run_ns / np / 1e6, m->b_wait_ns / np / 1e6,
		    m->a_run_ns[1] / np / 1e6, m->a_wait_ns[1] / np / 1e6, 1000 / polls);
	}
	if (m->a_run_ns[0] >= 0 && m->a_run_ns[1] >= 0) {
		double n0 = (double)m->solo.issued, n1 = (double)m->mirr.issued;
		printf("  (per checkout, the Primary ran %.1f us and waited %.1f us runnable alone;"
		    "\n   %.1f us and %.1f us mirrored)\n", m->a_run_ns[0] / n0 / 1e3,
		    m->a_wait_ns[0] / n0 / 1e3, m->a_run_ns[1] / n1 / 1e3, m->a_wait_ns[1] / n1 / 1e3);
	}
	printf("  (the machine's CPUs were busy %.0f%% of the unmirrored run, %.0f%% of the mirrored;"
	    "\n   the generator, both servers and others' work share them)\n", m->busy[0] * 100,
	    m->busy[1] * 100);
	printf("  (a poll's answer with no record in it and the licenses unchanged:"
	    "\n   %zu bytes, fetched in %.3f ms at best; decoding it alone takes %.3f ms here)\n",
	    m->empty_sync_bytes, m->empty_sync_ms, m->empty_parse_ms);
	printf("  (the backup was warm %.0f ms after its start)\n", m->warm_ms);

	json_object_set_new(results, "mirror", json_pack("{s:o, s:i, s:f, s:f, s:f, s:f, s:f,"
	    " s:f, s:f, s:f, s:I, s:I, s:I, s:b, s:f, s:f, s:f, s:f, s:f}",
	    "runs", runs, "clients", nclients, "rate_ratio", ratio, "added_p50_ms", added,
	    "unmirrored_p99_ms", p99_0, "mirrored_p99_ms", p99_1,
	    "one_client_unmirrored_p50_ms", s50_0, "one_client_mirrored_p50_ms", s50_1,
	    "backup_warm_ms", m->warm_ms, "polls_per_s", polls,
	    "granted", (json_int_t)m->granted, "primary_in_use", (json_int_t)m->primary_in_use,
	    "backup_mirrored", (json_int_t)m->backup_mirrored, "mirror_complete", mirror_ok,
	    "checkouts_per_poll", per_poll,
	    "primary_journal_writes_per_s_unmirrored", m->have_hist[0] ?
	    m->writes[0] / (m->solo.window + m->solo.warmup) : -1,
	    "primary_journal_writes_per_s_mirrored", m->have_hist[1] ?
	    m->writes[1] / (m->mirr.window + m->mirr.warmup) : -1,
	    "backup_cpu_ms_per_s", m->mirr.window > 0 ?
	    m->backup_cpu_ms / (m->mirr.window + m->mirr.warmup) : -1,
	    "primary_journal_write_p50_bucket_ms_mirrored", m->write_p50[1]));
	json_t *mj = json_object_get(results, "mirror");
	json_object_set_new(mj, "machine_busy_unmirrored", json_real(m->busy[0]));
	json_object_set_new(mj, "machine_busy_mirrored", json_real(m->busy[1]));
	json_object_set_new(mj, "schedstat_ms", json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}",
	    "primary_run_unmirrored", m->a_run_ns[0] / 1e6,
	    "primary_wait_unmirrored", m->a_wait_ns[0] / 1e6,
	    "primary_run_mirrored", m->a_run_ns[1] / 1e6,
	    "primary_wait_mirrored", m->a_wait_ns[1] / 1e6,
	    "backup_run_mirrored", m->b_run_ns / 1e6, "backup_wait_mirrored", m->b_wait_ns / 1e6));
	json_object_set_new(mj, "empty_sync_bytes", json_integer((json_int_t)m->empty_sync_bytes));
	json_object_set_new(mj, "empty_sync_ms", json_real(m->empty_sync_ms));
	json_object_set_new(mj, "empty_sync_decode_ms", json_real(m->empty_parse_ms));
	phase_free(&m->solo);
	phase_free(&m->mirr);
	phase_free(&m->solo1);
	phase_free(&m->mirr1);
}

static void
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
static double
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
	    "               [-R rate] [-M]\n"
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
	    "  -M          only the mirrored checkout (a Primary alone, then with a backup)\n",
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

/* The summary line and results.json. */
static void
results_write(void)
{
	printf("\n%d of %d targets met\n", targets_met, targets_total);
	json_object_set_new(results, "targets_met", json_integer(targets_met));
	json_object_set_new(results, "targets_total", json_integer(targets_total));
	if (json_dump_file(results, json_path, JSON_INDENT(2)) != 0)
		fatal("cannot write %s", json_path);
	printf("results: %s\n", json_path);
}

int
main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "b:c:F:hk:KMo:P:R:s:t:")) != -1) {
		switch (ch) {
		case 'b': bindir = optarg; break;
		case 'c': nclients = atoi(optarg); break;
		case 'F': failover_script = optarg; break;
		case 'k': heartbeats = atoi(optarg); break;
		case 'K': keep_tmp = 1; break;
		case 'M': only_mirror = 1; break;
		case 'o': json_path = optarg; break;
		case 'P': external_port = atoi(optarg); break;
		case 'R': only_rate = atof(optarg); break;
		case 's': {
			nscales = 0;
			for (char *p = optarg; *p != '\0' && nscales < 8; ) {
				char *end;
				long v = strtol(p, &end, 10);
				if (end == p || v < 1 || v > 190000) {
					usage(stderr);
					return 64;
				}
				scales[nscales++] = v;
				p = *end == ',' ? end + 1 : end;
			}
			break;
		}
		case 't': phase_secs = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (optind != argc || nclients < 1 || nclients > MAX_CONNS || heartbeats < 0 ||
	    heartbeats > 1000 || !(phase_secs >= 0.5 && phase_secs <= 120) ||
	    !(only_rate == 0 || (only_rate >= 1 && only_rate <= 1e6))) {
		usage(stderr);
		return 64;
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	atexit(kill_children);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/slbench.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		fatal("mkdtemp: %s", strerror(errno));
	write_licenses();
	stall_probe_start();
	double load_before = loadavg();
	results = json_pack("{s:[], s:i, s:i, s:f, s:b, s:f}", "targets", "clients", nclients,
	    "heartbeats_per_lease", heartbeats, "phase_seconds", phase_secs, "fsync", 1,
	    "loadavg_before", load_before);
	machine_info(results);

	if (only_mirror) {
		if (external_port > 0 || only_rate > 0) {
			usage(stderr);
			return 64;
		}
		run_mirror();
		printf("\nsl benchmark: %d keep-alive clients, fsync on; load average %.2f before,"
		    " %.2f after\n", nclients, load_before, loadavg());
		report_mirror();
		results_write();
		return finish();
	}

	/* ---- load against one server ---- */
	struct slsrv a;
	struct idlist ids = { NULL, 0, 0, 0 };
	struct phase health, co, hb, ci, lc, half, halfh;

	if (external_port > 0) {
		/* A server someone else started (profiling): load phases only. */
		memset(&a, 0, sizeof(a));
		a.port = external_port;
		a.pid = -1;
		nscales = 0;
		failover_script = "";
	} else {
		srv_init(&a, "benchA", "load", "max_leases_per_client = 1000000\n");
		srv_start(&a);
	}
	if (only_rate > 0) {
		nscales = 0;
		failover_script = "";
	}
	fprintf(stderr, "loadgen: slserve on 127.0.0.1:%d, state in %s\n", a.port, a.dir);

	phase_init(&health, "health", M_HEALTH, a.port);
	phase_init(&co, "checkout", M_CHECKOUT, a.port);
	phase_init(&hb, "heartbeat", M_HEARTBEAT, a.port);
	phase_init(&ci, "checkin", M_CHECKIN, a.port);
	phase_init(&lc, "lifecycle", M_LIFECYCLE, a.port);
	if (only_rate == 0) {
		fprintf(stderr, "loadgen: GET /v1/health, %d clients, %g s\n", nclients, phase_secs);
		run_phase_cpu(&health, a.pid);

		fprintf(stderr, "loadgen: checkout\n");
		co.ids = &ids;
		/* Room for the later phases: never more than half the seats. */
		co.limit = NLICENSES * SEATS / 2;
		run_phase_cpu(&co, a.pid);

		fprintf(stderr, "loadgen: heartbeat\n");
		hb.ids = &ids;
		run_phase_cpu(&hb, a.pid);

		fprintf(stderr, "loadgen: checkin\n");
		ids.cursor = 0;
		ci.ids = &ids;
		run_phase_cpu(&ci, a.pid);
		checkin_all(a.port, &ids);
		idlist_free(&ids);

		fprintf(stderr, "loadgen: lifecycle: checkout, %d heartbeats, checkin\n", heartbeats);
		run_phase_cpu(&lc, a.pid);
	}

	double peak = only_rate > 0 ? 2 * only_rate : phase_rate(&co, OP_CHECKOUT);
	fprintf(stderr, "loadgen: open-loop checkout at %.0f/s (half of peak)\n", peak / 2);
	phase_init(&half, "half-load", M_CHECKOUT, a.port);
	half.rate = peak / 2 > 1 ? peak / 2 : 1;
	half.ids = &ids;
	struct hist h0[NHISTS], h1[NHISTS];
	int have_hist = server_hist(a.port, h0) == 0;
	run_phase_cpu(&half, a.pid);
	have_hist = have_hist && server_hist(a.port, h1) == 0;
	checkin_all(a.port, &ids);
	idlist_free(&ids);
	/* The same schedule of requests that do nothing: what this machine
	 * and HTTP stack alone add to a request at that rate. */
	fprintf(stderr, "loadgen: open-loop health at %.0f/s\n", half.rate);
	phase_init(&halfh, "health-half", M_HEALTH, a.port);
	halfh.rate = half.rate;
	run_phase_cpu(&halfh, a.pid);
	long rss, hwm;
	rss = hwm = -1;
	if (a.pid > 0)
		proc_mem(a.pid, &rss, &hwm);
	srv_stop(&a);

	/* ---- a mirrored checkout: its own Primary, then a backup ---- */
	if (external_port == 0 && only_rate == 0)
		run_mirror();

	/* ---- scale ---- */
	for (int i = 0; i < nscales; i++)
		run_scale(scales[i], &sres[i]);

	double disk50, disk99;
	disk_probe(&disk50, &disk99);
	json_object_set_new(results, "disk_fdatasync", json_pack("{s:f, s:f}", "p50_ms", disk50,
	    "p99_ms", disk99));
	json_t *failover = run_failover_script();

	/* ---- the table ---- */
	struct utsname u;
	uname(&u);
	json_t *m = json_object_get(results, "machine");
	double load_after = loadavg();
	json_object_set_new(results, "loadavg_after", json_real(load_after));
	printf("\nsl benchmark: %s, %lld cores, Linux %s; %d keep-alive clients, fsync on, "
	    "group commit\n", json_string_value(json_object_get(m, "cpu")),
	    (long long)json_integer_value(json_object_get(m, "nproc")), u.release, nclients);
	printf("load average %.2f before the run, %.2f after (the generator and the servers "
	    "share the cores)\n", load_before, load_after);
	printf("\n%-26s %10s %8s %8s %8s %8s %7s %7s  %-9s %s\n", "operation", "req/s",
	    "p50 ms", "p99 ms", "p99.9 ms", "max ms", "cpu us", "ratio", "target", "");
	double hr = phase_rate(&health, OP_HEALTH);
	struct { struct phase *ph; enum op op; const char *label; double target; } rows[] = {
		{ &health, OP_HEALTH, "health (ceiling)", 0 },
		{ &co, OP_CHECKOUT, "checkout", 0.5 },
		{ &hb, OP_HEARTBEAT, "heartbeat", 0.8 },
		{ &ci, OP_CHECKIN, "checkin", 0.8 },
		{ &lc, OP_CHECKOUT, "lifecycle: checkout", 0 },
		{ &lc, OP_HEARTBEAT, "lifecycle: heartbeat", 0 },
		{ &lc, OP_CHECKIN, "lifecycle: checkin", 0 },
		{ &half, OP_CHECKOUT, only_rate > 0 ? "checkout, open loop" : "checkout at half load",
		    0 },
		{ &halfh, OP_HEALTH, "health at the same rate", 0 },
	};
	json_t *ops = json_object();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct phase *ph = rows[i].ph;
		struct opstat *st = &ph->st[rows[i].op];
		if (ph->issued == 0)
			continue;	/* not run (-R) */
		double rate = phase_rate(ph, rows[i].op), ratio = hr > 0 ? rate / hr : 0;
		char tgt[32] = "", key[64];
		const char *v = "";
		if (rows[i].target > 0) {
			snprintf(tgt, sizeof(tgt), ">= %.1fx", rows[i].target);
			v = verdict(ratio >= rows[i].target);
			char fig[64];
			snprintf(fig, sizeof(fig), "%s req/s / health req/s", rows[i].label);
			target_json(fig, ratio, tgt, ratio >= rows[i].target);
		}
		char cpu[16] = "-";
		if (ph->server_cpu_ms >= 0 && ph->issued > 0)
			snprintf(cpu, sizeof(cpu), "%.0f", ph->server_cpu_ms * 1000 / (double)ph->issued);
		char rt[16] = "-";
		if (hr > 0)
			snprintf(rt, sizeof(rt), "%.2f", ratio);
		printf("%-26s %10.0f %8.3f %8.3f %8.3f %8.3f %7s %7s  %-9s %s%s\n", rows[i].label,
		    rate, sample_pct(&st->lat, 0.5), sample_pct(&st->lat, 0.99),
		    sample_pct(&st->lat, 0.999), sample_pct(&st->lat, 1.0), cpu, rt, tgt, v,
		    st->errors ? " (errors!)" : "");
		snprintf(key, sizeof(key), "%s", rows[i].label);
		for (char *p = key; *p; p++)
			if (*p == ' ' || *p == ':')
				*p = '_';
		json_t *oj = opstat_json(ph, rows[i].op);
		json_object_set_new(oj, "ratio_to_health", json_real(ratio));
		struct stall_sum ss = stall_sum(ph->from, ph->to, 2.0);
		json_object_set_new(oj, "machine_stall_ms", json_real(ss.total_ms));
		json_object_set_new(ops, key, oj);
	}
	json_object_set_new(results, "operations", ops);
	printf("  (cpu us: the server's CPU time per request in that run, all its threads;\n"
	    "   lifecycle rows share one figure for the mix)\n");
	/* How long the machine itself stood still in each run. */
	struct phase *runs[] = { &health, &co, &hb, &ci, &lc, &half, &halfh };
	printf("  (stalls, %s: ms per s of run that the\n   whole machine / one of its CPUs "
	    "stood still:", stalls.realtime ? "seen by a SCHED_FIFO thread on each CPU" :
	    "seen by a thread on each CPU without real-time priority (CPU contention counts)");
	for (size_t i = 0, shown = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		if (runs[i]->issued == 0)
			continue;
		struct stall_sum ss = stall_sum(runs[i]->from, runs[i]->to, 2.0);
		double w = runs[i]->window > 0 ? runs[i]->window : 1;
		printf("%s %s %.1f/%.1f", shown++ ? "," : "", runs[i]->name, ss.total_ms / w,
		    cpu_stall_ms(runs[i]->from, runs[i]->to) / w);
	}
	printf(")\n");
	double half_p99 = sample_pct(&half.st[OP_CHECKOUT].lat, 0.99);
	double offered = half.rate;
	printf("\n%-52s %10s  %-12s %s\n", "figure", "value", "target", "");
	if (only_rate > 0) {
		printf("%-52s %10.3f  (not the target: its rate is half the peak)\n",
		    "p99 checkout latency at the -R rate (ms)", half_p99);
	} else {
		printf("%-52s %10.3f  %-12s %s\n", "p99 checkout latency at half of peak load (ms)",
		    half_p99, "<= 2 ms", verdict(half_p99 >= 0 && half_p99 <= 2.0));
		target_json("p99 checkout latency at half of peak load (ms)", half_p99, "<= 2 ms",
		    half_p99 >= 0 && half_p99 <= 2.0);
	}
	double same_p99 = sample_pct(&halfh.st[OP_HEALTH].lat, 0.99);
	if (only_rate > 0)
		printf("  (open loop at %.0f checkouts/s, from -R; latency from each request's due"
		    " time)\n", offered);
	else
		printf("  (open loop at %.0f checkouts/s = half of the %.0f/s peak; latency from each "
		    "request's due time)\n", offered, peak);
	printf("  (GET /v1/health on the same schedule, which does no work: p99 %.3f ms,\n"
	    "   what this machine and HTTP stack alone add to a request at that rate)\n",
	    same_p99);
	printf("  (this disk: a 200-byte append + fdatasync takes %.3f ms median, %.3f ms p99,"
	    "\n   measured alone after the runs; every checkout waits for one)\n", disk50, disk99);
	/* A request due while the machine stands still is answered after
	 * the stall at the earliest: the share of the run in stalls beyond
	 * their first 2 ms is a share of requests no server answers in 2 ms. */
	struct stall_sum hs = stall_sum(half.from, half.to, 2.0);
	struct opstat *hst = &half.st[OP_CHECKOUT];
	size_t nslow, near = slow_near_stalls(&hst->due, &hst->due_lat, 2.0, 5, 15, &nslow);
	double srv_over = -1, srv_p99 = have_hist ? hist_quantile(&h0[HIST_REQUESTS],
	    &h1[HIST_REQUESTS], 0.99, 2.5, &srv_over) : -1;
	if (srv_p99 >= 0)
		printf("  (inside the server, from a request's headers to its answer (its own\n"
		    "   histogram): 99%% of these checkouts took <= %g ms, %.2f%% over 2.5 ms)\n",
		    srv_p99, srv_over * 100);
	/* The journal's writes in the run: a checkout that arrives while one
	 * is under way waits for it, then min_sync_interval, then its own. */
	double wr_over = -1, wr_p50 = -1, wr_p99 = -1, wr_n = 0, wr_slow_ms = 0;
	if (have_hist) {
		const struct hist *w0 = &h0[HIST_WRITES], *w1 = &h1[HIST_WRITES];
		double ignored;
		wr_p50 = hist_quantile(w0, w1, 0.5, 1, &ignored);
		wr_p99 = hist_quantile(w0, w1, 0.99, 1, &wr_over);
		if (wr_p99 >= 0)
			wr_n = w1->count[w1->n - 1] - w0->count[w0->n - 1];
		/* Each write over 1 ms counted at its bucket's lower bound. */
		for (int i = 1; wr_p99 >= 0 && i < w1->n; i++)
			if (w1->le[i - 1] >= 0.001)
				wr_slow_ms += (w1->count[i] - w0->count[i] - w1->count[i - 1] +
				    w0->count[i - 1]) * w1->le[i - 1] * 1000;
	}
	if (wr_p99 >= 0 && half.window > 0)
		printf("  (the server's journal writes in this run, each with its fdatasync (its\n"
		    "   histogram): %.0f a second, half took <= %g ms, 99%% <= %g ms, %.2f%% over 1 ms;\n"
		    "   writes over 1 ms were under way for at least %.1f%% of the run. A checkout\n"
		    "   waits for the write under way when it arrives, then min_sync_interval,\n"
		    "   then for its own)\n", wr_n / half.window, wr_p50, wr_p99, wr_over * 100,
		    wr_slow_ms / 10 / half.window);
	if (stalls.nprobes > 0) {
		printf("  (the machine stood still %zu time%s in this run, %.0f ms in all, the longest"
		    " %.1f ms;\n   requests falling due in a stall after its first 2 ms wait longer"
		    " than 2 ms\n   whatever the server does: %.2f%% of them (p99 <= 2 ms cannot be met"
		    " while\n   that share is 1%% or more). Of the %.2f%% of requests over 2 ms, %.0f%%"
		    " fell due\n   from 5 ms before a stall of one CPU to 15 ms after it)\n", hs.n,
		    hs.n == 1 ? "" : "s",
		    hs.total_ms, hs.longest_ms, hs.over_share * 100,
		    hst->due.n ? 100.0 * (double)nslow / (double)hst->due.n : 0,
		    nslow ? 100.0 * (double)near / (double)nslow : 0);
	}
	json_object_set_new(results, "half_load", json_pack("{s:f, s:f, s:f, s:f, s:I, s:f,"
	    " s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:b}",
	    "offered_per_s", offered, "achieved_per_s", phase_rate(&half, OP_CHECKOUT),
	    "p50_ms", sample_pct(&half.st[OP_CHECKOUT].lat, 0.5), "p99_ms", half_p99,
	    "machine_stalls", (json_int_t)hs.n, "machine_stall_ms", hs.total_ms,
	    "share_due_in_stall_beyond_2ms", hs.over_share,
	    "share_of_slow_near_cpu_stall", nslow ? (double)near / (double)nslow : 0,
	    "server_side_p99_bucket_ms", srv_p99, "health_same_rate_p99_ms", same_p99,
	    "journal_write_p99_bucket_ms", wr_p99, "journal_writes_over_1ms_share", wr_over,
	    "longest_stall_ms", hs.longest_ms,
	    "stall_probe_realtime", stalls.realtime));
	json_object_set_new(results, "load_server_rss_kib", json_integer(rss));
	report_mirror();

	/* Scale table. */
	json_t *scale = json_array();
	struct scale_result *big = NULL, *small = NULL;
	if (nscales > 0) {
		printf("\n%-8s %6s %7s %7s %7s %8s %7s %7s %8s %6s %7s %7s %7s\n", "leases",
		    "fill s", "RSS", "peak", "restart", "replayed", "lic p99", "co p99", "full",
		    "full", "backup", "backup", "backup");
		printf("%-8s %6s %7s %7s %7s %8s %7s %7s %8s %6s %7s %7s %7s\n", "", "", "MiB", "MiB",
		    "ms", "records", "ms", "ms", "fetch ms", "MiB", "sync ms", "MiB", "cpu ms/s");
	}
	for (int i = 0; i < nscales; i++) {
		struct scale_result *s = &sres[i];
		if (s->leases == 100000)
			big = s;
		if (s->leases == 1000 && s->filled == s->leases)
			small = s;
		if (s->filled != s->leases) {
			printf("%-10ld the fill reached only %ld leases in %.0f s: not measured\n",
			    s->leases, s->filled, s->fill_s);
			json_array_append_new(scale, json_pack("{s:I, s:I, s:f}", "leases",
			    (json_int_t)s->leases, "filled", (json_int_t)s->filled,
			    "fill_seconds", s->fill_s));
			continue;
		}
		printf("%-8ld %6.1f %7.1f %7.1f %7.0f %8ld %7.3f %7.3f %8.1f %6.1f %7.0f %7.1f %7.0f\n",
		    s->leases, s->fill_s, s->rss_kb / 1024.0, s->hwm_kb / 1024.0, s->restart_ms,
		    s->replayed, s->lic_p99, s->co_p99, s->full_ms, s->full_bytes / 1048576.0,
		    s->backup_sync_ms, s->backup_rss_kb / 1024.0, s->backup_cpu_busy);
		json_t *inc = json_array();
		for (int k = 0; k < NINC; k++)
			if (s->inc_ms[k] >= 0)
				json_array_append_new(inc, json_pack("{s:I, s:f, s:I}", "records",
				    (json_int_t)inc_sizes[k], "ms", s->inc_ms[k], "bytes",
				    (json_int_t)s->inc_bytes[k]));
		json_array_append_new(scale, json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f,"
		    " s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:I, s:o, s:f, s:f, s:I,"
		    " s:f, s:f, s:f}",
		    "leases", (json_int_t)s->leases, "fill_seconds", s->fill_s,
		    "rss_mib", s->rss_kb / 1024.0, "peak_rss_mib", s->hwm_kb / 1024.0,
		    "rss_after_restart_mib", s->rss_restart_kb / 1024.0,
		    "peak_rss_after_restart_mib", s->hwm_restart_kb / 1024.0,
		    "stop_ms", s->stop_ms, "restart_ms", s->restart_ms,
		    "licenses_p50_ms", s->lic_p50, "licenses_p99_ms", s->lic_p99,
		    "licenses_bytes", (json_int_t)s->lic_bytes,
		    "checkout_p50_ms", s->co_p50, "checkout_p99_ms", s->co_p99,
		    "lifecycle_req_per_s", s->co_rate,
		    "full_sync_fetch_ms", s->full_ms, "backup_full_sync_ms", s->backup_sync_ms,
		    "backup_failed_polls", (json_int_t)s->backup_failed_polls,
		    "licenses_max_ms", s->lic_max,
		    "full_sync_bytes", (json_int_t)s->full_bytes, "incremental_sync", inc,
		    "backup_cpu_ms_per_s_idle", s->backup_cpu_idle,
		    "backup_rss_mib", s->backup_rss_kb / 1024.0,
		    "restart_replayed_records", (json_int_t)s->replayed,
		    "restart_cpu_ms", s->restart_cpu_ms,
		    "backup_cpu_ms_per_s_changing", s->backup_cpu_busy,
		    "primary_cpu_ms_per_s_changing", s->primary_cpu_busy));
	}
	json_object_set_new(results, "scale", scale);
	if (nscales > 0) {
		printf("  (RSS: VmRSS once steady after the fill; peak: VmHWM (a compaction holds the\n"
		    "   snapshot's image and text for a moment); restart: SIGTERM, start, first 200\n"
		    "   from /v1/health, replaying that many journal records after the snapshot;\n"
		    "   lic p99: GET /v1/licenses; co p99: checkout in a %d-client lifecycle run;\n"
		    "   full fetch: GET /v1/peer/sync since 0; backup sync: a second slserve from its\n"
		    "   start to its first good poll; backup MiB: its VmRSS then; backup cpu: its CPU\n"
		    "   while the Primary's leases change at 20 requests/s)\n", nclients);
		printf("\n%-10s", "incremental sync: records");
		for (int k = 0; k < NINC; k++)
			printf(" %9ld", inc_sizes[k]);
		printf("\n");
		for (int i = 0; i < nscales; i++) {
			printf("%7ld leases: ms   ", sres[i].leases);
			for (int k = 0; k < NINC; k++)
				sres[i].inc_ms[k] < 0 ? printf(" %9s", "-") :
				    printf(" %9.3f", sres[i].inc_ms[k]);
			printf("\n%7ld leases: KiB  ", sres[i].leases);
			for (int k = 0; k < NINC; k++)
				sres[i].inc_ms[k] < 0 ? printf(" %9s", "-") :
				    printf(" %9.1f", sres[i].inc_bytes[k] / 1024.0);
			printf("\n");
		}
	}
	if (big != NULL && big->filled != big->leases) {
		static const char *const figs[] = { "resident memory at 100k leases (MiB)",
		    "restart at 100k leases (ms)", "GET /v1/licenses p99 at 100k leases (ms)",
		    "backup full sync at 100k leases (ms)" };
		printf("\nat 100,000 leases: not reached (%ld leases after %.0f s of checkouts)\n",
		    big->filled, big->fill_s);
		for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
			printf("%-52s %10s  %-12s %s\n", figs[i], "-", "", verdict(0));
			target_json(figs[i], -1, "not reached", 0);
		}
		big = NULL;
	}
	if (big != NULL) {
		printf("\n%-52s %10s  %-12s %s\n", "at 100,000 leases over 100 licenses", "value",
		    "target", "");
		double rmib = big->rss_kb / 1024.0, rrmib = big->rss_restart_kb / 1024.0;
		double worst = rmib > rrmib ? rmib : rrmib;
		printf("%-52s %10.1f  %-12s %s\n", "slserve resident memory (MiB, VmRSS)", worst,
		    "<= 64 MiB", verdict(worst <= 64));
		target_json("resident memory at 100k leases (MiB)", worst, "<= 64 MiB", worst <= 64);
		printf("%-52s %10.0f  %-12s %s\n", "restart: snapshot + journal replay (ms)",
		    big->restart_ms, "<= 1000 ms", verdict(big->restart_ms <= 1000));
		printf("  (%.0f ms of CPU; %ld journal records replayed after the snapshot)\n",
		    big->restart_cpu_ms, big->replayed);
		target_json("restart at 100k leases (ms)", big->restart_ms, "<= 1000 ms",
		    big->restart_ms <= 1000);
		printf("%-52s %10.3f  %-12s %s\n", "GET /v1/licenses p99 (ms)", big->lic_p99,
		    "<= 10 ms", verdict(big->lic_p99 <= 10));
		target_json("GET /v1/licenses p99 at 100k leases (ms)", big->lic_p99, "<= 10 ms",
		    big->lic_p99 <= 10);
		int sync_ok = big->backup_sync_ms >= 0 && big->backup_sync_ms <= 2000;
		printf("%-52s %10.0f  %-12s %s\n", "backup's full sync (ms)", big->backup_sync_ms,
		    "<= 2000 ms", verdict(sync_ok));
		target_json("backup full sync at 100k leases (ms)", big->backup_sync_ms,
		    "<= 2000 ms", sync_ok);
		if (small != NULL) {
			/* The same change must cost the same whatever the lease count. */
			int k = 2;	/* 100 records */
			double tr = big->inc_ms[k] / (small->inc_ms[k] > 0 ? small->inc_ms[k] : 1e-3);
			double br = (double)big->inc_bytes[k] / (double)(small->inc_bytes[k] ?
			    small->inc_bytes[k] : 1);
			int inc_ok = br <= 1.5 && (tr <= 2.0 || big->inc_ms[k] - small->inc_ms[k] < 1.0);
			/* Below a millisecond apart the ratio is noise. */
			printf("%-52s %10.2f  %-12s %s\n", "incremental sync of 100 records, time "
			    "100k/1k", tr, "~1", verdict(inc_ok));
			printf("  (%.2f ms at 100k leases, %.2f ms at 1k: met when the ratio is <= 2 "
			    "or the two are under 1 ms apart)\n", big->inc_ms[k], small->inc_ms[k]);
			printf("%-52s %10.2f  %-12s\n", "  bytes 100k/1k", br, "~1");
			target_json("incremental sync cost, 100k leases / 1k leases (time)", tr,
			    "~1 (<= 2; bytes <= 1.5)", inc_ok);
			/* The backup's side of the same changes: its CPU while the
			 * Primary changes at the same rate. */
			double bc = big->backup_cpu_busy, sc = small->backup_cpu_busy;
			double cr = bc / (sc > 1 ? sc : 1);
			int cpu_ok = cr <= 3 || bc < 50;
			printf("%-52s %10.1f  %-12s %s\n", "backup CPU while the Primary changes, "
			    "100k/1k", cr, "~1", verdict(cpu_ok));
			printf("  (%.0f ms/s at 100k leases, %.0f ms/s at 1k; 20 changes/s; met when "
			    "the ratio is <= 3 or under 50 ms/s)\n", bc, sc);
			target_json("backup CPU for the same changes, 100k leases / 1k leases", cr,
			    "~1 (<= 3)", cpu_ok);
		}
	}
	if (failover != NULL) {
		printf("\nfailover (%s, exit %lld, %.0f s):\n", failover_script,
		    (long long)json_integer_value(json_object_get(failover, "exit")),
		    json_real_value(json_object_get(failover, "seconds")));
		fputs(json_string_value(json_object_get(failover, "output")), stdout);
		json_t *v, *fo_rows = json_object_get(failover, "results");
		size_t i;
		if (json_is_array(fo_rows))
			printf("\n%-52s %10s  %-12s %s\n", "failover (median of the script's runs)",
			    "value", "target", "");
		json_array_foreach(json_is_array(fo_rows) ? fo_rows : NULL, i, v) {
			double pi = json_number_value(json_object_get(v, "poll_interval"));
			double b = json_number_value(json_object_get(v, "bound_s"));
			double t = json_number_value(json_object_get(v, "takeover_median_s"));
			double h = json_number_value(json_object_get(v, "handback_median_s"));
			char fig[80], tgt[32];
			snprintf(fig, sizeof(fig), "takeover, poll_interval %g, fail_after %lld (s)", pi,
			    (long long)json_integer_value(json_object_get(v, "fail_after")));
			snprintf(tgt, sizeof(tgt), "<= %.1f s", b);
			printf("%-52s %10.2f  %-12s %s\n", fig, t, tgt, verdict(t <= b));
			target_json(fig, t, tgt, t <= b);
			snprintf(fig, sizeof(fig), "handback, poll_interval %g (s)", pi);
			printf("%-52s %10.2f  %-12s\n", fig, h, "(measured)");
		}
		json_object_set_new(results, "failover", failover);
	} else {
		printf("\nfailover: %s not found; takeover and handback times not measured here\n",
		    failover_script);
		json_object_set_new(results, "failover", json_null());
	}
	results_write();
	phase_free(&health);
	phase_free(&co);
	phase_free(&hb);
	phase_free(&ci);
	phase_free(&lc);
	phase_free(&half);
	return finish();
}
