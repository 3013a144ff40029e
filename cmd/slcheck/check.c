/*
 * check: a monitoring plugin (Monitoring Plugins guidelines). Asks every
 * configured server, and the backups of those that do not answer, for
 * their licenses; prints one line "SL STATE - ... | perfdata" and exits
 * 0 OK, 1 WARNING, 2 CRITICAL or 3 UNKNOWN, within -t seconds.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "slcheck.h"

enum { STATE_OK, STATE_WARNING, STATE_CRITICAL, STATE_UNKNOWN };
static const char *const state_names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

/* A threshold in the Monitoring Plugins range syntax, [@]START:END, where
 * START may be "~" (minus infinity), END may be empty (infinity), and a
 * bare number N means 0:N. A number ending in "%" is a share of the
 * product's seats. The alert fires outside the range (inside with "@"). */
struct range {
	int set;
	int inside;
	double lo, hi;
	int lo_pct, hi_pct;
};

struct product {
	char name[SL_ID_MAX + 1];
	long in_use;
	long max;		/* of the servable licenses; -1: unlimited */
	int licenses;		/* licenses of the product seen */
	int servable;		/* of which can grant seats */
};

struct check {
	struct slc *s;
	struct range warn, crit;
	const char *only;	/* -p */
	long expiry_warn;	/* days; -1: off */
	struct product products[128];
	size_t nproducts;
	int state;
	char problems[2048];
	int answered;
	int64_t deadline;	/* everything ends by then (-t) */
	int planned;		/* requests that may still be made */
};

static int
range_number(const char *s, double *v, int *pct)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (end == s || errno != 0 || !isfinite(*v))
		return -1;
	*pct = *end == '%';
	if (*pct)
		end++;
	return *end == '\0' ? 0 : -1;
}

static int
range_parse(const char *text, struct range *r)
{
	char buf[128], *colon, *left, *right;

	memset(r, 0, sizeof(*r));
	if (strlen(text) >= sizeof(buf) || *text == '\0')
		return -1;
	util_strlcpy(buf, text, sizeof(buf));
	left = buf;
	if (*left == '@') {
		r->inside = 1;
		left++;
	}
	if ((colon = strchr(left, ':')) == NULL) {
		r->lo = 0;
		if (range_number(left, &r->hi, &r->hi_pct) == -1)
			return -1;
	} else {
		*colon = '\0';
		right = colon + 1;
		if (strcmp(left, "~") == 0)
			r->lo = -INFINITY;
		else if (*left == '\0')
			r->lo = 0;
		else if (range_number(left, &r->lo, &r->lo_pct) == -1)
			return -1;
		if (*right == '\0')
			r->hi = INFINITY;
		else if (range_number(right, &r->hi, &r->hi_pct) == -1)
			return -1;
	}
	if (r->lo_pct == r->hi_pct && r->lo > r->hi)
		return -1;
	r->set = 1;
	return 0;
}

/* Resolve percentages against max seats; -1 if they cannot be (unlimited). */
static int
range_resolve(const struct range *r, long max, double *lo, double *hi)
{
	if ((r->lo_pct || r->hi_pct) && max < 0)
		return -1;
	*lo = r->lo_pct ? r->lo * (double)max / 100 : r->lo;
	*hi = r->hi_pct ? r->hi * (double)max / 100 : r->hi;
	return 0;
}

static int
range_alert(const struct range *r, long max, double value)
{
	double lo, hi;

	if (!r->set || range_resolve(r, max, &lo, &hi) == -1)
		return 0;
	if (r->inside)
		return value >= lo && value <= hi;
	return value < lo || value > hi;
}

static void
range_perfdata(const struct range *r, long max, char *out, size_t outlen)
{
	double lo, hi;

	out[0] = '\0';
	if (!r->set || range_resolve(r, max, &lo, &hi) == -1)
		return;
	if (!r->inside && lo == 0 && !isinf(hi))
		snprintf(out, outlen, "%g", hi);
	else if (isinf(hi))
		snprintf(out, outlen, "%s%g:", r->inside ? "@" : "", lo);
	else if (isinf(lo))
		snprintf(out, outlen, "%s~:%g", r->inside ? "@" : "", hi);
	else
		snprintf(out, outlen, "%s%g:%g", r->inside ? "@" : "", lo, hi);
}

static void
check_problem(struct check *c, int state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
check_problem(struct check *c, int state, const char *fmt, ...)
{
	size_t len = strlen(c->problems);
	va_list ap;

	if (state > c->state)
		c->state = state;
	if (len > 0 && len < sizeof(c->problems) - 2) {
		strcpy(c->problems + len, ", ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(c->problems + len, sizeof(c->problems) - len, fmt, ap);
	va_end(ap);
}

static struct product *
check_product(struct check *c, const char *name)
{
	for (size_t i = 0; i < c->nproducts; i++)
		if (strcmp(c->products[i].name, name) == 0)
			return &c->products[i];
	if (c->nproducts == nitems(c->products))
		return NULL;
	struct product *p = &c->products[c->nproducts++];
	util_strlcpy(p->name, name, sizeof(p->name));
	return p;
}

/* Count a license entry of /v1/licenses into its product. */
static void
check_count(struct check *c, json_t *lic, const char *where)
{
	const char *product = js_str(lic, "product", "");
	const char *expires = js_str(lic, "expires", "never");
	long max = (long)js_int(lic, "max", -1);
	struct product *p;

	if (!util_valid_id(product) || (c->only != NULL && strcmp(product, c->only) != 0))
		return;
	if ((p = check_product(c, product)) == NULL)
		return;
	p->in_use += (long)js_int(lic, "in_use", 0);
	p->licenses++;
	/* An expired license, or one bound to another host, grants nothing:
	 * its seats are no capacity. */
	if (json_is_false(json_object_get(lic, "servable"))) {
		const char *why = js_str(lic, "why", "");
		if (strcmp(why, "expired") == 0)
			check_problem(c, STATE_WARNING, "license %s on %s expired %s, not served",
			    js_str(lic, "id", "?"), where, expires);
		else if (strcmp(why, "wrong_host") == 0)
			check_problem(c, STATE_WARNING, "license %s on %s bound to host %s, not "
			    "served", js_str(lic, "id", "?"), where, js_str(lic, "host", "?"));
		else
			check_problem(c, STATE_WARNING, "license %s on %s not served (%s)",
			    js_str(lic, "id", "?"), where, why);
		return;
	}
	p->servable++;
	if (max < 0 || p->max < 0)
		p->max = -1;
	else
		p->max += max;
	if (c->expiry_warn >= 0 && strcmp(expires, "never") != 0) {
		long day = util_parse_date(expires), left = day - util_today();
		const char *id = js_str(lic, "id", "?");
		if (day < 0)
			return;
		if (left < 0)
			check_problem(c, STATE_WARNING, "license %s on %s expired %s", id, where,
			    expires);
		else if (left < c->expiry_warn)
			check_problem(c, STATE_WARNING, "license %s on %s expires %s (%ld days)",
			    id, where, expires, left);
	}
}

/* What a server's answer says of its failover: a backup of it that went
 * silent, or a Primary it backs up that refuses its polls. */
static void
check_redundancy(struct check *c, json_t *answer)
{
	const char *server = js_str(answer, "server", "?");
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(answer, "backups"), i, v) {
		json_t *age = json_object_get(v, "last_poll_age");
		if (strcmp(js_str(v, "state", ""), "lost") != 0)
			continue;
		if (json_is_number(age))
			check_problem(c, STATE_WARNING, "backup %s of %s lost (last poll %.0fs ago)",
			    js_str(v, "name", "?"), server, json_number_value(age));
		else
			check_problem(c, STATE_WARNING, "backup %s of %s lost (no poll since %s "
			    "started)", js_str(v, "name", "?"), server, server);
	}
	json_array_foreach(json_object_get(answer, "backs_up"), i, v) {
		if (js_int(v, "refused_polls", 0) <= 0)
			continue;
		check_problem(c, STATE_WARNING, "backup %s: %s refuses its polls (%s)", server,
		    js_str(v, "pool", "?"), js_str(v, "last_error", "refused"));
	}
}

/* GET /v1/licenses from url, within a fair share of the time left, so one
 * server that accepts and never answers cannot starve the others. */
static int
check_fetch(struct check *c, const char *url, struct reply *r)
{
	int64_t now = util_mono_ms();
	int share = c->planned > 1 ? c->planned : 1;

	http_client_set_deadline(c->s->http, now + (c->deadline - now) / share);
	if (c->planned > 1)
		c->planned--;
	if (slc_request(c->s, "GET", url, "/v1/licenses", NULL, r) == -1) {
		slc_debug(c->s, "%s: %s", url, r->detail);
		return -1;
	}
	if (!json_is_array(json_object_get(r->json, "licenses"))) {
		snprintf(r->detail, sizeof(r->detail), "no \"licenses\" in the answer");
		return -1;
	}
	c->answered++;
	return 0;
}

/* A Primary or Secondary did not answer: which of its backups serves its
 * pool (status hot-retry)? Counts those licenses; returns 1 if one does. */
static int
check_backups(struct check *c, const char *url)
{
	slc_url_t backups[CACHE_MAX_BACKUPS + 1];
	char known[SL_ID_MAX + 1];
	const char *pool = slc_pool_of(c->s, url, known, NULL) == 0 ? known : NULL;
	size_t nb = slc_backups_of(c->s, url, backups, nitems(backups));

	for (size_t i = 0; i < nb; i++) {
		struct reply r;
		json_t *lic;
		size_t k;
		int serving = 0;

		if (check_fetch(c, backups[i], &r) == -1) {
			reply_free(&r);
			continue;
		}
		json_array_foreach(json_object_get(r.json, "licenses"), k, lic) {
			const char *lp = js_str(lic, "pool", "");
			if (strcmp(js_str(lic, "role", ""), "backup") != 0 ||
			    strcmp(js_str(lic, "status", ""), "hot-retry") != 0 ||
			    (pool != NULL && strcmp(lp, pool) != 0))
				continue;
			serving = 1;
			check_count(c, lic, backups[i]);
		}
		reply_free(&r);
		if (serving) {
			check_problem(c, STATE_WARNING, "backup %s serving", backups[i]);
			return 1;
		}
	}
	return 0;
}

/* The last resort if something still blocks past -t: one line, UNKNOWN. */
static void
check_alarm(int sig)
{
	static const char msg[] = "SL UNKNOWN - plugin timed out\n";

	(void)sig;
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(STATE_UNKNOWN);
}

int
cmd_check(void *ctx, int argc, char **argv)
{
	struct slc *s = ctx;
	const struct slc_opts *o = &s->opts;
	struct check c;
	double timeout = 10;
	char perf[4096] = "", usage[2048] = "";
	int primaries_up = 0, rc;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.expiry_warn = -1;
	for (int i = 0; i < o->n; i++) {
		const char *arg = o->v[i].arg;
		char *end;
		switch (o->v[i].ch) {
		case 'w':
		case 'c':
			if (range_parse(arg, o->v[i].ch == 'w' ? &c.warn : &c.crit) == -1)
				return slc_usage_error(argv[0], "-%c: \"%s\" is not a range "
				    "([@]START:END, numbers or percentages)", o->v[i].ch, arg);
			break;
		case 'p':
			if (!util_valid_id(arg))
				return slc_usage_error(argv[0], "-p: \"%s\" is not a product name",
				    arg);
			c.only = arg;
			break;
		case 't':
			if ((timeout = slc_parse_seconds(arg)) < 1 || timeout > 3600)
				return slc_usage_error(argv[0], "-t: \"%s\": give 1 to 3600 seconds",
				    arg);
			break;
		case OPT_EXPIRY_WARN:
			c.expiry_warn = strtol(arg, &end, 10);
			if (*arg == '\0' || *end != '\0' || c.expiry_warn < 0 || c.expiry_warn > 36500)
				return slc_usage_error(argv[0], "--expiry-warn: \"%s\" is not a "
				    "number of days", arg);
			break;
		}
	}
	if ((rc = slc_operands(argv[0], argc - 1, argv + 1)) != 0)
		return rc;

	/* Every request ends before the deadline; alarm() is the backstop. */
	signal(SIGALRM, check_alarm);
	alarm((unsigned int)ceil(timeout));
	c.deadline = util_mono_ms() + (int64_t)(timeout * 1000) - 250;
	for (size_t i = 0; i < s->conf.nservers; i++) {
		slc_url_t backups[CACHE_MAX_BACKUPS + 1];
		c.planned += 1 + (int)slc_backups_of(s, s->conf.servers[i].url, backups,
		    nitems(backups));
	}

	for (size_t i = 0; i < s->conf.nservers; i++) {
		const struct clientconf_server *cs = &s->conf.servers[i];
		struct reply r;
		json_t *lic;
		size_t k;

		if (check_fetch(&c, cs->url, &r) == -1) {
			char what[700];
			snprintf(what, sizeof(what), "%s %s not answering (%s)",
			    clientconf_role_name(cs->role), cs->url, r.detail);
			reply_free(&r);
			check_problem(&c, STATE_WARNING, "%s", what);
			check_backups(&c, cs->url);
			continue;
		}
		{
			slc_url_t backups[CACHE_MAX_BACKUPS + 1];
			c.planned -= (int)slc_backups_of(s, cs->url, backups, nitems(backups));
			if (c.planned < 1)
				c.planned = 1;
		}
		if (cs->role == CLIENTCONF_PRIMARY)
			primaries_up++;
		/* A server that cannot write its journal grants nothing (it
		 * answers 503): its seats are not served, whatever the counts. */
		json_t *storage = json_object_get(r.json, "storage");
		if (json_is_false(json_object_get(storage, "ok")))
			check_problem(&c, STATE_CRITICAL, "%s storage unavailable (%s)", cs->url,
			    js_str(storage, "error", "unknown error"));
		check_redundancy(&c, r.json);
		json_array_foreach(json_object_get(r.json, "licenses"), k, lic) {
			/* A backup's mirror of another pool is counted where it is
			 * served: at its Primary, or above when that is down. */
			if (strcmp(js_str(lic, "role", "primary"), "backup") == 0)
				continue;
			check_count(&c, lic, cs->url);
		}
		reply_free(&r);
		slc_learn(s, cs->url);
	}
	if (c.answered == 0) {
		char all[sizeof(c.problems)];
		c.state = STATE_CRITICAL;
		util_strlcpy(all, c.problems, sizeof(all));
		snprintf(c.problems, sizeof(c.problems), "no license server answers: %.1900s", all);
	} else if (primaries_up == 0) {
		check_problem(&c, STATE_WARNING, "no Primary answers");
	}
	if (c.answered > 0 && c.only != NULL && c.nproducts == 0)
		check_problem(&c, STATE_CRITICAL, "product %s is not served by any server "
		    "that answers", c.only);

	for (size_t i = 0; i < c.nproducts; i++) {
		const struct product *p = &c.products[i];
		char w[64], cr[64], max[32] = "";
		size_t len;

		if (p->licenses > 0 && p->servable == 0)
			check_problem(&c, STATE_CRITICAL, "%s has no servable license", p->name);
		if (range_alert(&c.crit, p->max, (double)p->in_use))
			check_problem(&c, STATE_CRITICAL, "%s %ld in use", p->name, p->in_use);
		else if (range_alert(&c.warn, p->max, (double)p->in_use))
			check_problem(&c, STATE_WARNING, "%s %ld in use", p->name, p->in_use);
		range_perfdata(&c.warn, p->max, w, sizeof(w));
		range_perfdata(&c.crit, p->max, cr, sizeof(cr));
		if (p->max >= 0)
			snprintf(max, sizeof(max), "%ld", p->max);
		len = strlen(perf);
		snprintf(perf + len, sizeof(perf) - len, "%s'%s'=%ld;%s;%s;0;%s",
		    len ? " " : "", p->name, p->in_use, w, cr, max);
		len = strlen(usage);
		snprintf(usage + len, sizeof(usage) - len, "%s%s %ld/%s", len ? ", " : "",
		    p->name, p->in_use, p->max >= 0 ? max : "unlimited");
	}
	alarm(0);
	http_client_set_deadline(s->http, 0);

	printf("SL %s - ", state_names[c.state]);
	if (c.problems[0] != '\0')
		printf("%s%s", c.problems, usage[0] ? "; " : "");
	printf("%s", usage[0] ? usage : (c.problems[0] ? "" : "no licenses"));
	if (perf[0] != '\0')
		printf(" | %s", perf);
	printf("\n");
	return c.state;
}
