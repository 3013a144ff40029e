/*
 * slctl report: usage figures from a server's usage log (one JSON object per
 * line: grant, checkin, expire, revoke, deny, takeover, handback), or from
 * the logs of several servers merged in time order: a lease that one server
 * granted and another ended (a takeover, a handback) counts once.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slctl.h"
#include "util.h"

enum report_by { BY_LICENSE, BY_USER, BY_HOST };

struct tally {				/* one user (or license) inside a row */
	char *name;
	double seat_seconds;
	long checkouts;
};

struct row {
	char *key;			/* license id, user or host */
	char *pool;			/* BY_LICENSE only: the license's pool */
	char *product;			/* BY_LICENSE only */
	long max;			/* BY_LICENSE: last known max, -2 unknown */
	long peak;
	long checkouts;
	long denials;
	struct {			/* denials by the server's error code */
		char code[32];
		long n;
	} reasons[16];
	size_t nreasons;
	double seat_seconds;
	long open;			/* leases open now (own tracking) */
	long in_use;			/* BY_LICENSE: last in_use the server logged */
	int have_in_use;
	struct tally *top;
	size_t ntop;
};

struct open_lease {
	char *id;
	char *pool;			/* lease ids are unique within a pool */
	char *key;			/* the row it counts for */
	char *key_pool;
	char *sub;			/* the tally inside the row */
	double start;
};

struct report {
	enum report_by by;
	double since;			/* -INFINITY when not given */
	double until;
	struct row *rows;
	size_t nrows;
	struct open_lease *leases;
	size_t nleases;
	long bad_lines;
	int merged;			/* from several servers: show the pool */
};

/* base, an array of n elements of size bytes, with one more, zeroed, at
 * its end; NULL when there is no memory (base is left as it was). */
static void *
grow_zeroed(void *base, size_t n, size_t size)
{
	char *nv;

	if ((nv = realloc(base, (n + 1) * size)) != NULL)
		memset(nv + n * size, 0, size);
	return nv;
}

/* The row of key; by license, of key in pool (two servers' licenses may
 * share an id). pool is NULL for the other reports. */
static struct row *
row_get(struct report *rp, const char *key, const char *pool)
{
	struct row *nv;
	size_t i;

	for (i = 0; i < rp->nrows; i++)
		if (strcmp(rp->rows[i].key, key) == 0 && (pool == NULL ||
		    strcmp(rp->rows[i].pool, pool) == 0))
			return &rp->rows[i];
	if ((nv = grow_zeroed(rp->rows, rp->nrows, sizeof(*nv))) == NULL)
		return NULL;
	rp->rows = nv;
	if ((nv[rp->nrows].key = strdup(key)) == NULL)
		return NULL;
	if (pool != NULL && (nv[rp->nrows].pool = strdup(pool)) == NULL) {
		free(nv[rp->nrows].key);
		return NULL;
	}
	nv[rp->nrows].max = -2;
	return &rp->rows[rp->nrows++];
}

static struct tally *
tally_get(struct row *r, const char *name)
{
	struct tally *nv;
	size_t i;

	for (i = 0; i < r->ntop; i++)
		if (strcmp(r->top[i].name, name) == 0)
			return &r->top[i];
	if ((nv = grow_zeroed(r->top, r->ntop, sizeof(*nv))) == NULL)
		return NULL;
	r->top = nv;
	if ((nv[r->ntop].name = strdup(name)) == NULL)
		return NULL;
	return &r->top[r->ntop++];
}

/* Seconds of [a, b] inside the report's window. */
static double
overlap(const struct report *rp, double a, double b)
{
	if (a < rp->since)
		a = rp->since;
	if (b > rp->until)
		b = rp->until;
	return b > a ? b - a : 0;
}

static void
close_lease(struct report *rp, size_t i, double ts)
{
	struct open_lease *l = &rp->leases[i];
	struct row *r = row_get(rp, l->key, l->key_pool);
	double s = overlap(rp, l->start, ts);

	if (r != NULL) {
		struct tally *t = tally_get(r, l->sub);
		r->seat_seconds += s;
		if (t != NULL)
			t->seat_seconds += s;
		if (r->open > 0)
			r->open--;
	}
	free(l->id);
	free(l->pool);
	free(l->key);
	free(l->key_pool);
	free(l->sub);
	rp->leases[i] = rp->leases[--rp->nleases];
}

static int
lease_is(const struct open_lease *l, const char *id, const char *pool)
{
	return strcmp(l->id, id) == 0 && strcmp(l->pool, pool) == 0;
}

static const char *
field(json_t *ev, const char *key)
{
	const char *s = ctl_json_str(ev, key, NULL);

	return s != NULL && *s != '\0' ? s : "-";
}

static void
report_event(struct report *rp, json_t *ev)
{
	const char *event = ctl_json_str(ev, "event", NULL);
	json_t *tsv = json_object_get(ev, "ts");
	const char *lease = ctl_json_str(ev, "lease", NULL);
	const char *license = field(ev, "license");
	const char *user = field(ev, "user"), *host = field(ev, "host");
	const char *pool = field(ev, "pool");
	const char *key, *sub, *key_pool = NULL;
	int in_window;
	double ts;
	struct row *r;
	size_t i;

	if (event == NULL || !json_is_number(tsv)) {
		rp->bad_lines++;
		return;
	}
	ts = json_number_value(tsv);
	if (ts >= rp->until)
		return;
	in_window = ts >= rp->since;
	switch (rp->by) {
	case BY_LICENSE:
		key = license;
		key_pool = pool;
		sub = user;
		break;
	case BY_USER:
		key = user;
		sub = license;
		break;
	default:
		key = host;
		sub = user;
		break;
	}
	/* A takeover or handback of a whole pool: no seat, no user, no host. */
	if (strcmp(event, "deny") != 0 && (lease == NULL ||
	    (rp->by == BY_LICENSE && strcmp(license, "-") == 0)))
		return;
	if ((r = row_get(rp, key, key_pool)) == NULL)
		return;
	if (rp->by == BY_LICENSE) {
		json_t *iu = json_object_get(ev, "in_use");
		json_t *mx = json_object_get(ev, "max");
		const char *product = ctl_json_str(ev, "product", NULL);

		if (product != NULL && r->product == NULL)
			r->product = strdup(product);
		if (json_is_integer(mx))
			r->max = (long)json_integer_value(mx);
		if (json_is_integer(iu)) {
			r->in_use = (long)json_integer_value(iu);
			r->have_in_use = 1;
			if (in_window && r->in_use > r->peak)
				r->peak = r->in_use;
		}
	}
	if (strcmp(event, "grant") == 0 && lease != NULL) {
		struct open_lease *nv;

		for (i = 0; i < rp->nleases; i++)
			if (lease_is(&rp->leases[i], lease, pool))
				return;	/* a retried checkout, here or on its peer */
		nv = realloc(rp->leases, (rp->nleases + 1) * sizeof(*nv));
		if (nv == NULL)
			return;
		rp->leases = nv;
		nv[rp->nleases].id = strdup(lease);
		nv[rp->nleases].pool = strdup(pool);
		nv[rp->nleases].key = strdup(key);
		nv[rp->nleases].key_pool = key_pool ? strdup(key_pool) : NULL;
		nv[rp->nleases].sub = strdup(sub);
		nv[rp->nleases].start = ts;
		rp->nleases++;
		r->open++;
		if (in_window) {
			struct tally *t = tally_get(r, sub);
			r->checkouts++;
			if (t != NULL)
				t->checkouts++;
			if (rp->by != BY_LICENSE || !r->have_in_use)
				if (r->open > r->peak)
					r->peak = r->open;
		}
	} else if ((strcmp(event, "checkin") == 0 || strcmp(event, "expire") == 0 ||
	    strcmp(event, "revoke") == 0 || strcmp(event, "handback") == 0) &&
	    lease != NULL) {
		for (i = 0; i < rp->nleases; i++)
			if (lease_is(&rp->leases[i], lease, pool)) {
				close_lease(rp, i, ts);
				break;
			}
	} else if (strcmp(event, "deny") == 0 && in_window) {
		const char *code = ctl_json_str(ev, "error", "-");
		r->denials++;
		for (i = 0; i < r->nreasons && strcmp(r->reasons[i].code, code) != 0; i++)
			;
		if (i == r->nreasons && r->nreasons < nitems(r->reasons))
			snprintf(r->reasons[r->nreasons++].code, sizeof(r->reasons[0].code),
			    "%s", code);
		if (i < r->nreasons)
			r->reasons[i].n++;
	}
}

/* Leases open when the window starts count for the peak. */
static void
report_window_start(struct report *rp)
{
	size_t i;

	for (i = 0; i < rp->nrows; i++) {
		struct row *r = &rp->rows[i];
		long now = rp->by == BY_LICENSE && r->have_in_use ? r->in_use : r->open;
		if (now > r->peak)
			r->peak = now;
	}
}

/* One server's usage log, read an event at a time. */
struct source {
	const char *text;
	size_t len, pos;
	json_t *head;			/* the next event, or NULL at the end */
	double head_ts;
};

/* Move to the next event of src: a JSON object with a numeric "ts" (any
 * other line counts as malformed). */
static void
source_next(struct report *rp, struct source *src)
{
	src->head = NULL;
	while (src->pos < src->len) {
		const char *line = src->text + src->pos;
		const char *nl = memchr(line, '\n', src->len - src->pos);
		size_t n = nl ? (size_t)(nl - line) : src->len - src->pos;
		json_t *ev, *tsv;

		src->pos += n + (nl ? 1 : 0);
		if (n == 0)
			continue;
		ev = json_loadb(line, n, 0, NULL);
		tsv = json_object_get(ev, "ts");
		if (!json_is_object(ev) || !json_is_number(tsv)) {
			rp->bad_lines++;
			json_decref(ev);
			continue;
		}
		src->head = ev;
		src->head_ts = json_number_value(tsv);
		return;
	}
}

/* Feed the events of every source in time order: each log as it is
 * written, the logs merged by "ts" (the earlier source first on a tie). */
static void
report_feed(struct report *rp, struct source *srcs, size_t nsrcs)
{
	int started = rp->since == -INFINITY;
	size_t i;

	for (i = 0; i < nsrcs; i++)
		source_next(rp, &srcs[i]);
	for (;;) {
		struct source *next = NULL;

		for (i = 0; i < nsrcs; i++)
			if (srcs[i].head != NULL &&
			    (next == NULL || srcs[i].head_ts < next->head_ts))
				next = &srcs[i];
		if (next == NULL)
			break;
		if (!started && next->head_ts >= rp->since) {
			report_window_start(rp);
			started = 1;
		}
		report_event(rp, next->head);
		json_decref(next->head);
		source_next(rp, next);
	}
	if (!started)
		report_window_start(rp);
	/* Leases still open count until the end of the window (or now). */
	if (rp->nleases > 0) {
		struct timespec ts;
		double now;

		clock_gettime(CLOCK_REALTIME, &ts);
		now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
		while (rp->nleases > 0)
			close_lease(rp, rp->nleases - 1, rp->until < now ? rp->until : now);
	}
}

static int
tally_cmp(const void *a, const void *b)
{
	const struct tally *x = a, *y = b;

	if (x->seat_seconds != y->seat_seconds)
		return x->seat_seconds < y->seat_seconds ? 1 : -1;
	if (x->checkouts != y->checkouts)
		return x->checkouts < y->checkouts ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0 || x->pool == NULL || y->pool == NULL)
		return c;
	return strcmp(x->pool, y->pool);
}

static const char *const by_names[] = { "license", "user", "host" };

static void
top_text(char *buf, size_t size, const struct row *r, size_t ntop)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < r->ntop && i < ntop; i++) {
		if (strcmp(r->top[i].name, "-") == 0)
			continue;
		if (fmt_list_add(buf, size, &off, " ", "%s(%.2f)", r->top[i].name,
		    r->top[i].seat_seconds / 3600) == -1)
			break;
	}
	fmt_list_end(buf, size);
}

static void
csv_field(FILE *f, const char *s, int last)
{
	if (strpbrk(s, ",\"\n\r") != NULL) {
		fputc('"', f);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else
		fputs(s, f);
	fputc(last ? '\n' : ',', f);
}

static void
fmt_max(char *buf, size_t size, long max)
{
	if (max == -1)
		snprintf(buf, size, "unlimited");
	else if (max < -1)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%ld", max);
}

static json_t *
date_json(double t)
{
	return isfinite(t) ? json_real(t) : json_null();
}

static int
report_print(struct report *rp, int format, size_t ntop)
{
	const char *subname = rp->by == BY_USER ? "license" : "user";
	size_t i, j;

	for (i = 0; i < rp->nrows; i++)
		if (rp->rows[i].ntop > 1)
			qsort(rp->rows[i].top, rp->rows[i].ntop,
			    sizeof(struct tally), tally_cmp);
	if (rp->nrows > 1)
		qsort(rp->rows, rp->nrows, sizeof(*rp->rows), row_cmp);
	if (format == 'j') {
		json_t *o, *rows = json_array();
		char topkey[32];

		snprintf(topkey, sizeof(topkey), "top_%ss", subname);
		for (i = 0; i < rp->nrows; i++) {
			struct row *r = &rp->rows[i];
			json_t *row = json_object(), *top = json_array();

			/* "-" in the table: not known (a refused unknown product) */
			json_object_set_new(row, by_names[rp->by], strcmp(r->key, "-") == 0 ?
			    json_null() : json_string(r->key));
			if (rp->by == BY_LICENSE) {
				json_object_set_new(row, "pool", json_string(r->pool));
				json_object_set_new(row, "product", r->product ?
				    json_string(r->product) : json_null());
				json_object_set_new(row, "max", r->max >= -1 ?
				    json_integer(r->max) : json_null());
			}
			json_object_set_new(row, "peak", json_integer(r->peak));
			json_object_set_new(row, "checkouts", json_integer(r->checkouts));
			json_object_set_new(row, "denials", json_integer(r->denials));
			json_t *why = json_object();
			for (j = 0; j < r->nreasons; j++)
				json_object_set_new(why, r->reasons[j].code,
				    json_integer(r->reasons[j].n));
			json_object_set_new(row, "denials_by_reason", why);
			json_object_set_new(row, "seat_seconds", json_real(r->seat_seconds));
			json_object_set_new(row, "seat_hours",
			    json_real(r->seat_seconds / 3600));
			for (j = 0; j < r->ntop && j < ntop; j++) {
				if (strcmp(r->top[j].name, "-") == 0)
					continue;
				json_array_append_new(top, json_pack("{s:s, s:f, s:f, s:I}",
				    subname, r->top[j].name, "seat_seconds",
				    r->top[j].seat_seconds, "seat_hours",
				    r->top[j].seat_seconds / 3600, "checkouts",
				    (json_int_t)r->top[j].checkouts));
			}
			json_object_set_new(row, topkey, top);
			json_array_append_new(rows, row);
		}
		o = json_pack("{s:o, s:o, s:s, s:o}", "since", date_json(rp->since),
		    "until", date_json(rp->until), "by", by_names[rp->by], "rows", rows);
		ctl_print_json(o);
		json_decref(o);
		return 0;
	}
	if (format == 'c') {
		if (rp->by == BY_LICENSE)
			printf("license,%sproduct,peak,max,checkouts,denials,seat_hours,"
			    "top_users\n", rp->merged ? "pool," : "");
		else
			printf("%s,peak,checkouts,denials,seat_hours,top_%ss\n",
			    by_names[rp->by], subname);
		for (i = 0; i < rp->nrows; i++) {
			struct row *r = &rp->rows[i];
			char num[64], top[1024];

			csv_field(stdout, strcmp(r->key, "-") ? r->key : "", 0);
			if (rp->by == BY_LICENSE) {
				if (rp->merged)
					csv_field(stdout, r->pool, 0);
				csv_field(stdout, r->product ? r->product : "", 0);
			}
			printf("%ld,", r->peak);
			/* max as in --json and /v1/licenses: -1 is unlimited,
			 * empty unknown; a number column stays numbers */
			if (rp->by == BY_LICENSE) {
				if (r->max >= -1)
					snprintf(num, sizeof(num), "%ld", r->max);
				else
					num[0] = '\0';
				csv_field(stdout, num, 0);
			}
			printf("%ld,%ld,%.4f,", r->checkouts, r->denials,
			    r->seat_seconds / 3600);
			top_text(top, sizeof(top), r, ntop);
			csv_field(stdout, strcmp(top, "-") ? top : "", 1);
		}
		return 0;
	}
	{
		static const char *const lic_hdr[] = { "LICENSE", "PRODUCT", "PEAK",
		    "MAX", "CHECKOUTS", "DENIALS", "SEAT-HOURS", "TOP USERS" };
		static const char *const merged_hdr[] = { "LICENSE", "POOL", "PRODUCT",
		    "PEAK", "MAX", "CHECKOUTS", "DENIALS", "SEAT-HOURS", "TOP USERS" };
		const char *hdr[6];
		char keyhdr[16], tophdr[32];
		struct table *t;
		size_t k, first = 1, last = 5;

		if (rp->by == BY_LICENSE && rp->merged) {
			t = table_new(nitems(merged_hdr), merged_hdr);
			first = 3;
			last = 8;
		} else if (rp->by == BY_LICENSE) {
			t = table_new(nitems(lic_hdr), lic_hdr);
			first = 2;
			last = 7;
		}
		else {
			snprintf(keyhdr, sizeof(keyhdr), "%s", rp->by == BY_USER ?
			    "USER" : "HOST");
			snprintf(tophdr, sizeof(tophdr), "TOP %s", rp->by == BY_USER ?
			    "LICENSES" : "USERS");
			hdr[0] = keyhdr;
			hdr[1] = "PEAK";
			hdr[2] = "CHECKOUTS";
			hdr[3] = "DENIALS";
			hdr[4] = "SEAT-HOURS";
			hdr[5] = tophdr;
			t = table_new(6, hdr);
		}
		if (t == NULL)
			return EXIT_OP;
		for (k = first; k < last; k++)
			table_right(t, k);
		for (i = 0; i < rp->nrows; i++) {
			struct row *r = &rp->rows[i];
			char peak[32], max[32], co[32], dn[32], sh[32], top[1024];
			const char *cells[9];
			size_t n = 0;

			snprintf(peak, sizeof(peak), "%ld", r->peak);
			fmt_max(max, sizeof(max), r->max);
			snprintf(co, sizeof(co), "%ld", r->checkouts);
			snprintf(dn, sizeof(dn), "%ld", r->denials);
			snprintf(sh, sizeof(sh), "%.2f", r->seat_seconds / 3600);
			top_text(top, sizeof(top), r, ntop);
			cells[n++] = r->key;
			if (rp->by == BY_LICENSE && rp->merged)
				cells[n++] = r->pool;
			if (rp->by == BY_LICENSE)
				cells[n++] = r->product ? r->product : "-";
			cells[n++] = peak;
			if (rp->by == BY_LICENSE)
				cells[n++] = max;
			cells[n++] = co;
			cells[n++] = dn;
			cells[n++] = sh;
			cells[n++] = top;
			table_add(t, cells);
		}
		table_print(t, stdout);
		table_free(t);
	}
	return 0;
}

/* YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local time), @UNIXTIME, now, or a
 * duration back from now. */
static int
parse_date(const char *s, double *out)
{
	struct tm tm;
	const char *end;
	char *e;
	long d;

	if (strcmp(s, "now") == 0) {
		*out = (double)time(NULL);
		return 0;
	}
	if (s[0] == '@') {
		errno = 0;
		*out = strtod(s + 1, &e);
		return errno == 0 && e != s + 1 && *e == '\0' && isfinite(*out) ? 0 : -1;
	}
	if (isdigit((unsigned char)s[0]) && strlen(s) >= 10 && s[4] == '-') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
		if (end == NULL)
			return -1;
		if (*end == 'T' || *end == ' ') {
			const char *e2 = strptime(end + 1, "%H:%M:%S", &tm);
			if (e2 == NULL)
				e2 = strptime(end + 1, "%H:%M", &tm);
			if (e2 == NULL)
				return -1;
			end = e2;
		}
		if (*end != '\0')
			return -1;
		tm.tm_isdst = -1;
		*out = (double)mktime(&tm);
		return 0;
	}
	if ((d = util_parse_duration(s)) < 0)
		return -1;
	*out = (double)time(NULL) - (double)d;
	return 0;
}

static void
report_free(struct report *rp)
{
	size_t i, j;

	for (i = 0; i < rp->nrows; i++) {
		for (j = 0; j < rp->rows[i].ntop; j++)
			free(rp->rows[i].top[j].name);
		free(rp->rows[i].top);
		free(rp->rows[i].key);
		free(rp->rows[i].pool);
		free(rp->rows[i].product);
	}
	free(rp->rows);
	for (i = 0; i < rp->nleases; i++) {
		free(rp->leases[i].id);
		free(rp->leases[i].pool);
		free(rp->leases[i].key);
		free(rp->leases[i].key_pool);
		free(rp->leases[i].sub);
	}
	free(rp->leases);
}

int
cmd_report(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	struct report rp;
	struct source srcs[16];
	char *texts[16] = { NULL }, *path = NULL;
	size_t nsrcs = 0, ntop = 3;
	int ch, format = ctl->json ? 'j' : 't', rc = 0;
	long n;
	char *end;

	memset(&rp, 0, sizeof(rp));
	memset(srcs, 0, sizeof(srcs));
	rp.since = -INFINITY;
	rp.until = INFINITY;		/* now, and whatever the log holds */
	while ((ch = ctl_getopt(ctl, argc, argv, NULL)) != -1) {
		switch (ch) {
		case 'j':
		case 'C':
			if (format != 't' && format != (ch == 'j' ? 'j' : 'c'))
				return ctl_usage_error("report", "--json and --csv "
				    "exclude each other");
			format = ch == 'j' ? 'j' : 'c';
			break;
		case 's':
		case 'u':
			if (parse_date(optarg, ch == 's' ? &rp.since : &rp.until) == -1)
				return ctl_usage_error("report", "--%s %s: expected "
				    "YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS], @UNIXTIME, now or "
				    "a duration such as 7d", ch == 's' ? "since" : "until",
				    optarg);
			break;
		case 'b':
			if (strcmp(optarg, "license") == 0)
				rp.by = BY_LICENSE;
			else if (strcmp(optarg, "user") == 0)
				rp.by = BY_USER;
			else if (strcmp(optarg, "host") == 0)
				rp.by = BY_HOST;
			else
				return ctl_usage_error("report", "--by %s: expected "
				    "license, user or host", optarg);
			break;
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *optarg == '\0' || *end != '\0' || n < 0 ||
			    n > 1000)
				return ctl_usage_error("report", "--top %s: expected "
				    "0 to 1000", optarg);
			ntop = (size_t)n;
			break;
		default:
			return ctl_command_usage("report");
		}
	}
	if ((rc = ctl_operands("report", argc - optind, argv + optind)) != 0)
		return rc;
	if (rp.since >= rp.until)
		return ctl_usage_error("report", "--since must come before --until");

	if (ctl->state_dir != NULL && !ctl->servers_given) {
		if ((path = util_path_join(ctl->state_dir, "usage.log")) == NULL)
			return EXIT_OP;
		if ((texts[0] = util_read_file(path, &srcs[0].len)) == NULL) {
			if (errno != ENOENT) {
				ctl_warnx("%s: %s", path, strerror(errno));
				free(path);
				return EXIT_CONFIG;
			}
			srcs[0].len = 0;	/* no usage yet */
		}
		srcs[0].text = texts[0] ? texts[0] : "";
		nsrcs = 1;
	} else {
		char q[128];

		/* Several servers only when named (-s, SL_SERVERS): a pair. */
		if ((ctl->nservers == 0 || !ctl->servers_given) &&
		    (rc = ctl_need_one_server(ctl, "report")) != 0)
			return rc;
		if (ctl->nservers > nitems(srcs))
			return ctl_usage_error("report", "at most %zu servers",
			    nitems(srcs));
		/* The whole log up to --until: leases open at --since count. */
		if (isfinite(rp.until))
			snprintf(q, sizeof(q), "/v1/admin/usage?until=%.0f",
			    ceil(rp.until));
		else
			snprintf(q, sizeof(q), "/v1/admin/usage");
		http_client_free(ctl->http);
		ctl->http = NULL;
		if (ctl->timeout_ms < 60000)
			ctl->timeout_ms = 60000;
		for (nsrcs = 0; nsrcs < ctl->nservers; nsrcs++) {
			struct ctl_server *srv = &ctl->servers[nsrcs];
			struct ctl_reply r;

			if (ctl_call(ctl, srv, "GET", q, NULL, &r) == -1 || r.status != 200) {
				rc = ctl_fail(ctl, srv, &r, "usage");
				ctl_reply_clear(&r);
				goto out;
			}
			texts[nsrcs] = r.body;
			r.body = NULL;
			ctl_reply_clear(&r);
			srcs[nsrcs].text = texts[nsrcs] ? texts[nsrcs] : "";
			srcs[nsrcs].len = strlen(srcs[nsrcs].text);
		}
		rp.merged = nsrcs > 1;
	}
	report_feed(&rp, srcs, nsrcs);
	rc = report_print(&rp, format, ntop);
	if (rp.bad_lines > 0)
		ctl_warnx("report: %ld malformed usage log lines skipped",
		    rp.bad_lines);
out:
	for (size_t i = 0; i < nitems(texts); i++)
		free(texts[i]);
	report_free(&rp);
	free(path);
	return rc;
}
