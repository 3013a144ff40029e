/* GET /metrics: the server's state in the Prometheus text format (0.0.4),
 * from the typed views of the store, the queue and failover, and the
 * request latency histogram that httpd.c feeds. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "failover.h"
#include "journal.h"
#include "queue.h"
#include "server.h"
#include "store.h"
#include "util.h"

/* The route labels, by enum route_id: what each names is in slserve(8). */
static const char *const route_names[ROUTE_COUNT] = {
	[ROUTE_OTHER] = "other", [ROUTE_HEALTH] = "health",
	[ROUTE_LICENSES] = "licenses", [ROUTE_CHECKOUT] = "checkout",
	[ROUTE_HEARTBEAT] = "heartbeat", [ROUTE_CHECKIN] = "checkin",
	[ROUTE_LEASES] = "leases", [ROUTE_REVOKE] = "revoke",
	[ROUTE_RELOAD] = "reload", [ROUTE_USAGE] = "usage",
	[ROUTE_FAILOVER] = "failover", [ROUTE_PEER_SYNC] = "peer_sync",
	[ROUTE_PEER_HANDBACK] = "peer_handback", [ROUTE_PEER_RELEASE] = "peer_release",
	[ROUTE_PEER_FENCE] = "peer_fence", [ROUTE_PEER_PROBE] = "peer_probe",
	[ROUTE_METRICS] = "metrics", [ROUTE_STATUS_PAGE] = "status_page",
};

/* The statuses slserve answers with; any other counts as code="other". */
static const unsigned codes[] = {
	200, 201, 400, 401, 403, 404, 405, 409, 410, 413, 414, 422, 429, 431, 500, 501, 503,
};
#define CODE_OTHER nitems(codes)

/* Every request's time, from its arrival to the end of its answer, by
 * route and status: at most ROUTE_COUNT x 18 series, only those seen shown. */
static struct util_hist request_latency[ROUTE_COUNT][sizeof(codes) / sizeof(codes[0]) + 1];

void
metrics_request_done(int64_t start_us, enum route_id route, unsigned status)
{
	size_t c = 0;

	while (c < CODE_OTHER && codes[c] != status)
		c++;
	if ((unsigned)route >= ROUTE_COUNT)
		route = ROUTE_OTHER;
	util_hist_add(&request_latency[route][c], (uint64_t)(util_mono_us() - start_us));
}

/* A label value: backslash, double quote and newline escaped. */
static void
put_label(FILE *f, const char *name, const char *value)
{
	fprintf(f, "%s=\"", name);
	for (const char *p = value ? value : ""; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
put_header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The end of a sample: the age of a last poll in seconds as Prometheus
 * reads them; never (polled 0) is +Inf, so that an alert on "older than N
 * seconds" fires for a peer never heard from. */
static void
put_age(FILE *f, int polled, double age)
{
	if (polled)
		fprintf(f, "} %.3f\n", age);
	else
		fputs("} +Inf\n", f);
}

/* The end of a license's last valid day (local time), or -1 for "never". */
static double
expiry_time(const char *expires)
{
	struct tm tm;
	int y, m, d;

	if (util_parse_date(expires) < 0 || sscanf(expires, "%d-%d-%d", &y, &m, &d) != 3)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d + 1;
	tm.tm_isdst = -1;
	return (double)mktime(&tm);
}

/* The start of a sample of metric name for license l, up to its labels. */
static void
put_license_sample(FILE *f, const char *name, const void *l)
{
	const struct lic_view *v = l;

	fputs(name, f);
	put_label(f, "{license", v->id);
	put_label(f, ",product", v->product);
	put_label(f, ",pool", v->pool);
}

/* The samples of a status gauge for object o: after the labels that
 * start(f, name, o) writes, 1 for its status, 0 for each other one. */
static void
put_status_samples(FILE *f, const char *name, enum pool_status status,
    void (*start)(FILE *, const char *, const void *), const void *o)
{
	for (enum pool_status st = 0; st < POOL_STATUSES; st++) {
		start(f, name, o);
		put_label(f, ",status", pool_status_str(st));
		fprintf(f, "} %d\n", st == status);
	}
}

/*
 * The metrics that are one number of each license of /v1/licenses. The
 * seat gauges carry the role of the pool here ("primary", or "backup" for
 * a mirrored copy), so that summing over a Primary and its warm backup
 * counts each seat once (role="primary"); a negative number (unlimited) is
 * no sample at all.
 */
static const struct {
	const char *name, *type, *help;
	size_t field;		/* of a long in struct lic_view */
	int with_role;
} license_numbers[] = {
	{ "sl_license_seats_in_use", "gauge", "Seats of the license in use, by role "
	    "(primary: its own pool; backup: mirrored from its Primary).",
	    offsetof(struct lic_view, in_use), 1 },
	{ "sl_license_seats_max", "gauge", "Seats of the license, by role; "
	    "absent when unlimited.", offsetof(struct lic_view, count), 1 },
	{ "sl_license_denials_total", "counter",
	    "Checkouts refused since start because of this license (DENIALS in slctl "
	    "status): it expired, is bound to another host, barred the client, or was its "
	    "product's only full license.", offsetof(struct lic_view, fails), 0 },
	{ "sl_license_queued", "gauge",
	    "Checkouts waiting in the queue for the license's product.",
	    offsetof(struct lic_view, queued), 0 },
};

static const char *
role(const struct lic_view *l)
{
	return l->own ? "primary" : "backup";
}

static void
put_licenses(FILE *f, const struct lic_view *lics, size_t n)
{
	const struct lic_view *l;
	size_t k;

	put_header(f, "sl_license_info", "gauge",
	    "A license of this server (always 1): role, server that serves it, expiry.");
	for (l = lics; l < lics + n; l++) {
		put_license_sample(f, "sl_license_info", l);
		put_label(f, ",role", role(l));
		put_label(f, ",served_by", l->served_by);
		put_label(f, ",expires", l->expires);
		fputs("} 1\n", f);
	}
	for (k = 0; k < nitems(license_numbers); k++) {
		put_header(f, license_numbers[k].name, license_numbers[k].type,
		    license_numbers[k].help);
		for (l = lics; l < lics + n; l++) {
			long v = *(const long *)(const void *)((const char *)l +
			    license_numbers[k].field);
			if (v < 0)
				continue;
			put_license_sample(f, license_numbers[k].name, l);
			if (license_numbers[k].with_role)
				put_label(f, ",role", role(l));
			fprintf(f, "} %ld\n", v);
		}
	}
	put_header(f, "sl_license_status", "gauge",
	    "Status of the license: 1 for its current status, 0 for the others.");
	for (l = lics; l < lics + n; l++)
		put_status_samples(f, "sl_license_status", l->status, put_license_sample, l);
	put_header(f, "sl_license_expiry_timestamp_seconds", "gauge",
	    "When the license stops granting seats (end of its expiry day); "
	    "absent when it never expires.");
	for (l = lics; l < lics + n; l++) {
		double t = expiry_time(l->expires);
		if (t < 0)
			continue;
		put_license_sample(f, "sl_license_expiry_timestamp_seconds", l);
		fprintf(f, "} %.0f\n", t);
	}
}

/* One counter: its HELP and TYPE, then its sample. */
static void
put_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	put_header(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void
put_counters(FILE *f, struct store *s)
{
	uint64_t v[5];
	static const char *const names[][2] = {
		{ "sl_grants_total", "Seats granted since start." },
		{ "sl_checkins_total", "Seats checked in since start." },
		{ "sl_expiries_total", "Soft seats reclaimed for lack of heartbeats since start." },
		{ "sl_revokes_total", "Seats revoked or removed by an administrator since start." },
		{ "sl_denials_total", "Checkouts refused since start." },
	};

	static const char *const reasons[] = { "excluded", "max_reached", "reserved" };
	struct store_counters c;

	store_counters(s, &c);
	v[0] = c.grants;
	v[1] = c.checkins;
	v[2] = c.expiries;
	v[3] = c.revokes;
	v[4] = c.denials;
	for (size_t i = 0; i < nitems(v); i++)
		put_counter(f, names[i][0], names[i][1], v[i]);
	put_header(f, "sl_policy_denials_total", "counter",
	    "Checkouts the usage policy (options file) refused since start, by reason.");
	for (size_t i = 0; i < nitems(reasons); i++)
		fprintf(f, "sl_policy_denials_total{reason=\"%s\"} %llu\n", reasons[i],
		    (unsigned long long)c.policy_denials[i]);
}

/* Refused checkouts of each product, once each, by pool and reason. */
static void
put_product_denials(FILE *f, struct store *s)
{
	size_t n;
	struct product_denials *d = store_product_denials(s, &n);

	put_header(f, "sl_product_denials_total", "counter",
	    "Checkouts of the product refused since start, each once, by pool and reason "
	    "(unknown products count in sl_denials_total only).");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < DENY_REASONS; k++) {
			if (d[i].n[k] == 0)
				continue;
			fputs("sl_product_denials_total", f);
			put_label(f, "{pool", d[i].pool);
			put_label(f, ",product", d[i].product);
			put_label(f, ",reason", deny_reason_names[k]);
			fprintf(f, "} %llu\n", (unsigned long long)d[i].n[k]);
		}
	free(d);
}

/* The samples of one histogram series from a copy c; labels is "" or
 * the series' labels followed by a comma ("route=\"x\",code=\"200\","). */
static void
put_histogram_series(FILE *f, const char *name, const char *labels, const struct util_hist *c)
{
	uint64_t cumulative = 0;
	size_t n = strlen(labels);

	for (size_t b = 0; b <= UTIL_HIST_BOUNDS; b++) {
		cumulative += c->count[b];
		if (b < UTIL_HIST_BOUNDS)
			fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels,
			    util_hist_bounds_us[b] / 1e6, (unsigned long long)cumulative);
		else
			fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
			    (unsigned long long)cumulative);
	}
	/* the labels without their trailing comma, in braces, if any */
	if (n > 0) {
		fprintf(f, "%s_sum{%.*s} %.6f\n", name, (int)(n - 1), labels, c->sum_us / 1e6);
		fprintf(f, "%s_count{%.*s} %llu\n", name, (int)(n - 1), labels,
		    (unsigned long long)cumulative);
	} else {
		fprintf(f, "%s_sum %.6f\n", name, c->sum_us / 1e6);
		fprintf(f, "%s_count %llu\n", name, (unsigned long long)cumulative);
	}
}

static void
put_histogram(FILE *f, const char *name, const char *help, const struct util_hist *h)
{
	struct util_hist c;

	util_hist_read(h, &c);
	put_header(f, name, "histogram", help);
	put_histogram_series(f, name, "", &c);
}

/* Request durations by route and status code: the series seen so far. */
static void
put_request_durations(FILE *f)
{
	static const char name[] = "sl_http_request_duration_seconds";

	put_header(f, name, "histogram", "Time from a request's arrival to the end of its "
	    "answer, by route and HTTP status code.");
	for (size_t rt = 0; rt < ROUTE_COUNT; rt++)
		for (size_t c = 0; c <= CODE_OTHER; c++) {
			struct util_hist copy;
			uint64_t total = 0;
			char labels[96], code[16];

			util_hist_read(&request_latency[rt][c], &copy);
			for (size_t b = 0; b <= UTIL_HIST_BOUNDS; b++)
				total += copy.count[b];
			if (total == 0)
				continue;
			if (c < CODE_OTHER)
				snprintf(code, sizeof(code), "%u", codes[c]);
			else
				snprintf(code, sizeof(code), "other");
			snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%s\",",
			    route_names[rt], code);
			put_histogram_series(f, name, labels, &copy);
		}
}

/* The journal: records appended, the writes and syncs that put them on
 * disk (records per sync is how well group commit gathers), and how long
 * each took: every checkout waits for one. */
static void
put_journal(FILE *f, struct journal *j)
{
	struct journal_stats st;

	journal_stats(j, &st);
	put_counter(f, "sl_journal_records_total", "Journal records appended since start.",
	    st.records);
	put_counter(f, "sl_journal_writes_total",
	    "Journal writes since start, each one batch of records (group commit).", st.commits);
	put_counter(f, "sl_journal_syncs_total",
	    "Journal fdatasync calls since start (0 with fsync = false).", st.syncs);
	put_histogram(f, "sl_journal_write_duration_seconds",
	    "Time the journal took to write a batch and fdatasync it.", &st.write_times);
	put_counter(f, "sl_journal_write_errors_total",
	    "Journal writes or syncs that failed since start (each is retried).",
	    st.write_errors);
	put_header(f, "sl_storage_healthy", "gauge", "1 while the journal can write; 0 while "
	    "it cannot, and grants, checkins and revokes are answered 503.");
	fprintf(f, "sl_storage_healthy %d\n", journal_storage(j, NULL));
}

/* The start of a sample of name for Primary p this server backs up. */
static void
put_primary_sample(FILE *f, const char *name, const struct primary_view *p)
{
	fputs(name, f);
	put_label(f, "{primary", p->pool);
}

/* The same with the Primary's URL, which its status carries. */
static void
put_primary_url_sample(FILE *f, const char *name, const void *p)
{
	put_primary_sample(f, name, p);
	put_label(f, ",url", ((const struct primary_view *)p)->url);
}

/* The start of a sample of name for backup b of this server. */
static void
put_backup_sample(FILE *f, const char *name, const struct backup_view *b)
{
	fputs(name, f);
	put_label(f, "{backup", b->name);
	put_label(f, ",url", b->url);
}

/* The failover gauges, in their order on the page: of each Primary this
 * server backs up (up to FAILED_POLLS), then of each backup that polls it. */
enum failover_gauge { STATUS, POLL_AGE, FAILED_POLLS, BACKUP_UP, BACKUP_POLL_AGE };
static const struct {
	const char *name, *help;
	enum failover_gauge what;
} failover_gauges[] = {
	{ "sl_failover_status", "Each Primary this server backs up: 1 for the status of "
	    "its pool here (warm: mirroring, hot-retry: serving it), 0 for the others.",
	    STATUS },
	{ "sl_failover_last_poll_age_seconds", "Seconds since the last good poll of each "
	    "Primary this server backs up (+Inf: none yet).", POLL_AGE },
	{ "sl_failover_failed_polls",
	    "Consecutive failed polls of each Primary this server backs up.", FAILED_POLLS },
	{ "sl_backup_up", "1 while each backup of this server polls it, 0 once it is lost "
	    "(silent for more than three of its poll intervals).", BACKUP_UP },
	{ "sl_backup_last_poll_age_seconds", "Seconds since each backup of this server "
	    "last polled it (+Inf: not since this server started).", BACKUP_POLL_AGE },
};

/* The samples of gauge what for Primary p. */
static void
put_primary_gauge(FILE *f, const char *name, enum failover_gauge what,
    const struct primary_view *p)
{
	if (what == STATUS) {
		put_status_samples(f, name, p->status, put_primary_url_sample, p);
		return;
	}
	put_primary_sample(f, name, p);
	if (what == POLL_AGE)
		put_age(f, p->polled, p->last_poll_age);
	else
		fprintf(f, "} %d\n", p->failed_polls);
}

/* The sample of gauge what for backup b. */
static void
put_backup_gauge(FILE *f, const char *name, enum failover_gauge what,
    const struct backup_view *b)
{
	put_backup_sample(f, name, b);
	if (what == BACKUP_POLL_AGE)
		put_age(f, b->polled, b->last_poll_age);
	else
		fprintf(f, "} %d\n", !b->lost);
}

static void
put_failover(FILE *f, struct server *srv)
{
	struct failover_view fv;
	size_t i;

	failover_view(srv, &fv);
	for (size_t k = 0; k < nitems(failover_gauges); k++) {
		const char *name = failover_gauges[k].name;
		enum failover_gauge what = failover_gauges[k].what;

		put_header(f, name, "gauge", failover_gauges[k].help);
		for (i = 0; what <= FAILED_POLLS && i < fv.nprimaries; i++)
			put_primary_gauge(f, name, what, &fv.primaries[i]);
		for (i = 0; what >= BACKUP_UP && i < fv.nbackups; i++)
			put_backup_gauge(f, name, what, &fv.backups[i]);
	}
	failover_view_free(&fv);
}

void
api_metrics(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	FILE *f;

	(void)arg;
	if ((f = req_text_open(r)) == NULL)
		return;
	/* The epoch changes at every start, as the start time does: it is a
	 * label of that sample, not of build_info, whose series stays one
	 * for as long as the version does. */
	put_header(f, "sl_build_info", "gauge", "Version and name of this slserve (always 1).");
	fputs("sl_build_info", f);
	put_label(f, "{version", SL_VERSION);
	put_label(f, ",server", srv->cfg.name);
	fputs("} 1\n", f);
	put_header(f, "sl_start_time_seconds", "gauge",
	    "When this slserve started (unix time), with the epoch of this start.");
	fputs("sl_start_time_seconds", f);
	put_label(f, "{epoch", srv->epoch);
	fprintf(f, "} %lld\n", (long long)srv->started);

	size_t nlics;
	struct lic_view *lics = store_lic_views(srv->store, &nlics);
	queue_count_views(lics, nlics);
	put_licenses(f, lics, nlics);
	free(lics);
	put_counters(f, srv->store);
	put_product_denials(f, srv->store);
	put_header(f, "sl_queued_checkouts", "gauge",
	    "Checkouts waiting in this server's queue for a seat (all products).");
	fprintf(f, "sl_queued_checkouts %ld\n", queue_length());
	put_journal(f, srv->journal);
	put_failover(f, srv);
	put_request_durations(f);
	req_text_close(r, f, "text/plain; version=0.0.4; charset=utf-8");
}
