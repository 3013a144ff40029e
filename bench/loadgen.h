/*
 * loadgen's parts and what they share: the options (loadgen.c), the load
 * engine and its raw HTTP/1.1 parser (engine.c), the control client and
 * the /metrics scraper (client.c), the slserve processes under test
 * (servers.c), readings of the machine and its processes (machine.c), the
 * runs (load.c, mirror.c, scale.c, failover.c) and the tables and
 * results.json (report.c).
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#define ID_MAX		72		/* lease ids are at most 64 characters */
#define MAX_SAMPLES	(4u << 20)	/* latency samples kept per operation */
#define MAX_CONNS	1024
#define NLICENSES	100		/* licenses p00..p99, one product each */
#define SEATS		2000		/* seats per license: room for 100k + load */
#define MIRROR_SEATS	5000		/* in licenses-m.conf: what the slices of a
					 * mirrored run hold (bench/mirror.c) */
#define LEASE_TIMEOUT	3600		/* soft leases that outlive the run */
#define MAX_SCALES	8

/* ---- options and the run's directory (loadgen.c) ---- */

extern const char *bindir;
extern const char *json_path;
extern const char *failover_script;
extern int nclients;
extern int heartbeats;
extern double phase_secs;
extern double warmup_secs;
extern long scales[MAX_SCALES];
extern int nscales;
extern int external_port;
extern double only_rate;	/* -R: only the open-loop runs, at this rate */
extern char tmpdir[256];

/* Say what went wrong on stderr, kill the servers, exit 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* dir/name (util_path_join), malloc'd; fatal when memory is short. */
char *path_in(const char *dir, const char *name);
/* Write text to path, or exit. */
void write_file(const char *path, const char *text);

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double
ns_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* ---- latency samples and lease ids (engine.c) ---- */

struct samples {
	uint64_t *v;
	size_t n, cap;
	int sorted;
};

void sample_add(struct samples *s, uint64_t ns);
/* The p-quantile (0..1) in milliseconds; -1 without samples. */
double sample_pct(struct samples *s, double p);
void sample_free(struct samples *s);

struct idlist {
	char (*v)[ID_MAX];
	size_t n, cap, cursor;
};

void idlist_add(struct idlist *l, const char *id);
void idlist_free(struct idlist *l);

/* ---- raw HTTP/1.1 (engine.c) ---- */

struct rbuf {
	char *p;
	size_t len, cap;
};

struct hresp {
	int status;
	const char *body;
	size_t blen;
	size_t total;		/* bytes of the whole response */
	int close;		/* the server closes after it */
};

void rbuf_reserve(struct rbuf *b, size_t more);
/* 1: a whole response starts buf; 0: more bytes needed; -1: not HTTP we
 * understand (slserve always sends Content-Length). */
int http_parse(const char *buf, size_t len, struct hresp *r);
int tcp_connect(int port, int nonblock);

/* ---- the load engine (engine.c) ---- */

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

void phase_init(struct phase *ph, const char *name, enum mode mode, int port);
void phase_free(struct phase *ph);
/* Add what run src measured to run dst (begun with phase_init, or zeroed:
 * it takes src's name, mode and clients). */
void phase_merge(struct phase *dst, const struct phase *src);
void run_phase(struct phase *ph);
/* Run a phase and note the CPU the server (pid, when known) spent in it. */
void run_phase_cpu(struct phase *ph, pid_t pid);
double phase_rate(const struct phase *ph, enum op op);
/* Check in every lease of ids not yet used, unmeasured. */
void checkin_all(int port, struct idlist *ids);

/* ---- control requests and /metrics (client.c) ---- */

struct bconn {
	int fd, port;
	struct rbuf in;
};

#define BCONN_INIT(port) { -1, (port), { NULL, 0, 0 } }

/* One request; the body in r stays valid until the next call on b.
 * A kept-alive connection the server has closed is retried once. */
int bhttp(struct bconn *b, const char *method, const char *path, const char *auth,
    const char *body, struct hresp *r, int timeout_ms);
void bconn_close(struct bconn *b);
/* Close b and free its buffer. */
void bconn_free(struct bconn *b);
/* GET path and decode the JSON answer; NULL unless 200. */
json_t *get_json(int port, const char *path, const char *auth, int timeout_ms);
/* Seats in use of a server's own licenses (role primary), from /v1/licenses. */
long seats_in_use(int port);
/* Seats in use on a server of its licenses in role ("primary", "backup"),
 * of pool only unless it is NULL, from /v1/licenses. */
long seats_in_role(int port, const char *role, const char *pool);
/* Whether member key of o is the string want. */
int member_is(json_t *o, const char *key, const char *want);

/* The server's own request latency histogram (GET /metrics): from a
 * request's headers to its answer, so what the server itself took, not
 * the time a request waited for the generator or the scheduler. */
#define NHIST 24

struct hist {
	int n;
	double le[NHIST];	/* bucket bounds, seconds (the last is +Inf) */
	double count[NHIST];	/* cumulative */
};

/* The server's histograms of request times and of journal writes (each
 * with its fdatasync), from one scrape of /metrics. */
enum { HIST_REQUESTS, HIST_WRITES, NHISTS };

int server_hist(int port, struct hist h[NHISTS]);
/* From two scrapes: the bound (ms) of the first bucket holding the
 * p-quantile of the requests between them, and the share above over_ms
 * (a bucket bound). -1 when unknown. */
double hist_quantile(const struct hist *a, const struct hist *b, double p, double over_ms,
    double *share_over);
double hist_total(const struct hist *h);

/* ---- the servers under test (servers.c) ---- */

struct slsrv {
	char name[32];
	char dir[512];		/* its files */
	char conf[600];
	char log[600];
	int port;
	pid_t pid;
};

extern char admin_token[80];
extern char peer_token[80];

/* The licenses and tokens every server of the run shares, in tmpdir. */
void write_licenses(void);
/* A server's directory and configuration: benchA's licenses.conf, others'
 * licenses-b.conf; _with: the licenses file in tmpdir named. */
void srv_init(struct slsrv *s, const char *name, const char *tag, const char *extra);
void srv_init_with(struct slsrv *s, const char *name, const char *tag, const char *licenses,
    const char *extra);
/* Start slserve and wait (bounded) until /v1/health answers 200.
 * Returns the milliseconds from fork to the first 200. */
double srv_start(struct slsrv *s);
/* SIGTERM and wait (bounded); returns the milliseconds it took. */
double srv_stop(struct slsrv *s);
/* The journal records the last start of a server replayed, from its log. */
long replayed_records(const struct slsrv *s);
/* SIGKILL every server still running (at exit, on a signal, in fatal). */
void kill_children(void);

/* ---- the machine and its processes (machine.c) ---- */

void sleep_ms(double msec);
/* VmRSS and VmHWM of a process, in KiB. */
void proc_mem(pid_t pid, long *rss, long *hwm);
/* User + system CPU time of a process, in milliseconds. */
double proc_cpu_ms(pid_t pid);
void proc_sched(pid_t pid, double *run_ns, double *wait_ns);
void machine_cpu(double *busy, double *all);
void machine_info(json_t *o);
double loadavg(void);
/* What one small append and fdatasync cost on the state directory's disk. */
void disk_probe(double *p50, double *p99);

void stall_probe_start(void);
int stall_probe_count(void);
int stall_probe_realtime(void);

struct stall_sum { size_t n; double total_ms, longest_ms, over_share; };

struct stall_sum stall_sum(uint64_t from, uint64_t to, double bound_ms);
size_t slow_near_stalls(const struct samples *due, const struct samples *lat, double bound_ms,
    double before, double after, size_t *nslow);
double cpu_stall_ms(uint64_t from, uint64_t to);

/* ---- the runs ---- */

/* load.c: the load phases against one server. */
struct load_result {
	struct phase health, co, hb, ci, lc, half, halfh;
	struct hist h0[NHISTS], h1[NHISTS];	/* the server's, around half */
	int have_hist;
	double peak;		/* checkouts a second the half-load run halves */
	long rss;		/* the server's VmRSS after the runs, KiB */
};

void run_load(struct load_result *l);
void load_free(struct load_result *l);

/* scale.c: at 1k, 10k, 100k leases. */
#define NINC 6
extern const long inc_sizes[NINC];

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
	double backup_lic_p99;	/* GET /v1/licenses on the warm backup */
	long replayed;		/* journal records the restart replayed */
	double restart_cpu_ms;	/* CPU the restarted server had used when it answered */
	double primary_cpu_busy;
};

extern struct scale_result sres[MAX_SCALES];

void run_scale(long leases, struct scale_result *res);

/* mirror.c: a mirrored checkout (issue 15); its N-client runs in slices,
 * taken in turns. */
#define MIRROR_TURNS	5
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
	double busy_cpu[2], all_cpu[2];	/* its parts, summed over the slices */
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

extern struct mirror_result mres;
extern int mirror_ran;

void run_mirror(void);

/* policy.c: the checkout rate with a usage policy of ten rules (issue 19). */
#define POLICY_ROUNDS 3
struct policy_result {
	double rate[2];		/* checkouts/s summed over the rounds: without, with */
	double p50[2];		/* of the last round */
	int live;		/* the rules refused a checkout they should (403) */
	int ran;
};
extern struct policy_result pres;
void run_policy(void);

/* failover.c: the failover timing script's results, or NULL without it. */
json_t *run_failover_script(void);

/* ---- report (report.c) ---- */

extern json_t *results;

/* The results object every run adds to; load_before is the load average. */
void results_new(double load_before);
void report_load(struct load_result *l, double disk50, double disk99, double load_before);
void report_mirror(void);
void report_policy(void);
void report_scale(void);
void report_failover(json_t *failover);
/* The summary line and results.json. */
void results_write(void);

#endif
