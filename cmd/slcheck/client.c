/* Talking to servers: one request with its answer decoded, dead marks,
 * what servers said about themselves, and lease tokens. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "json.h"
#include "slcheck.h"

/* How long what a server said about its backups is trusted before it is
 * asked again (GET /v1/health after an answer). */
#define SLC_LEARN_INTERVAL 600

char slc_first_error[1024];
int slc_json_printed;

int
slc_print_json(json_t *o)
{
	slc_json_printed = 1;
	if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == -1)
		return -1;
	putchar('\n');
	return 0;
}

void
slc_warnx(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "slcheck: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (slc_first_error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(slc_first_error, sizeof(slc_first_error), fmt, ap);
		va_end(ap);
	}
}

void
slc_debug(struct slc *s, const char *fmt, ...)
{
	va_list ap;

	if (s == NULL || !s->verbose)
		return;
	fprintf(stderr, "slcheck: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

int
slc_flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "slcheck: write error on standard output: %s\n",
		    strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

/* "2", "0.5", "1.5s": seconds, or -1. Also "2m", "1h", "1d" when whole. */
double
slc_parse_seconds(const char *text)
{
	char *end;
	double v;

	if (util_parse_number(text, &v, &end) == -1 || v < 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		return v;
	long d = util_parse_duration(text);
	return d < 0 ? -1 : (double)d;
}

int64_t
slc_jitter_ms(int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)randombytes_uniform((uint32_t)(hi - lo + 1));
}

/* Sleep, unless a signal asks us to stop. Returns -1 if stopped. */
int
slc_sleep_ms(struct slc *s, int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	if (s->stop != NULL && *s->stop)
		return -1;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
		if (s->stop != NULL && *s->stop)
			return -1;
	}
	return 0;
}

void
reply_free(struct reply *r)
{
	json_decref(r->json);	/* NULL-safe */
	r->json = NULL;
}

long
slc_dead_left(struct slc *s, const char *url)
{
	if (!s->have_cache || s->conf.dead_ttl == 0)
		return 0;
	return cache_dead_left(&s->cache, url, time(NULL));
}

static void
slc_cache_warn(struct slc *s, const char *err)
{
	static int warned;

	if (!warned++)
		slc_warnx("%s", err);
	(void)s;
}

/*
 * One request to base+path. Transport failures come back as
 * REPLY_UNREACHABLE; a server that let the request time out is marked dead
 * for dead_ttl seconds, one that answers is unmarked and its name noted.
 */
int
slc_request(struct slc *s, const char *method, const char *base, const char *path,
    json_t *body, struct reply *r)
{
	struct http_response resp;
	char url[CLIENTCONF_URL_MAX + 256], err[512];
	char *text = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", base, path);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		r->kind = REPLY_BAD;
		snprintf(r->detail, sizeof(r->detail), "out of memory");
		return -1;
	}
	rc = http_request(s->http, method, url, text, &resp);
	free(text);
	r->seconds = resp.seconds;
	util_strlcpy(r->server, resp.server, sizeof(r->server));
	util_strlcpy(r->epoch, resp.epoch, sizeof(r->epoch));
	if (rc == -1) {
		r->kind = REPLY_UNREACHABLE;
		r->timed_out = resp.timed_out;
		r->cut = resp.timed_out && strcmp(resp.error, "deadline reached") == 0;
		snprintf(r->detail, sizeof(r->detail), "%s", resp.error);
		http_response_clear(&resp);
		/* Only a server that had its full time is remembered as dead:
		 * one refusing connections costs nothing to try again. */
		if (resp.timed_out && s->have_cache && s->conf.dead_ttl > 0 &&
		    resp.seconds >= 0.9 * s->conf.connect_timeout &&
		    cache_mark_dead(&s->cache, base, time(NULL) + s->conf.dead_ttl,
		    err, sizeof(err)) == -1)
			slc_cache_warn(s, err);
		return -1;
	}
	r->status = resp.status;
	if (resp.len > 0) {
		json_error_t jerr;
		r->json = json_loadb(resp.body, resp.len, 0, &jerr);
		if (r->json != NULL && !json_is_object(r->json)) {
			json_decref(r->json);
			r->json = NULL;
		}
	}
	http_response_clear(&resp);
	if (s->have_cache) {
		if (cache_mark_alive(&s->cache, base, err, sizeof(err)) == -1 ||
		    (r->server[0] != '\0' &&
		    cache_set_name(&s->cache, base, r->server, err, sizeof(err)) == -1))
			slc_cache_warn(s, err);
	}
	if (r->status >= 200 && r->status < 300) {
		if (r->json == NULL) {
			r->kind = REPLY_BAD;
			snprintf(r->detail, sizeof(r->detail), "HTTP %ld without a JSON object",
			    r->status);
			return -1;
		}
		r->kind = REPLY_OK;
		snprintf(r->detail, sizeof(r->detail), "HTTP %ld", r->status);
		return 0;
	}
	r->kind = REPLY_ERROR;
	util_strlcpy(r->code, js_str(r->json, "error", ""), sizeof(r->code));
	if (!util_valid_id(r->code))
		r->code[0] = '\0';
	{
		char msg[200];
		const char *m = js_str(r->json, "message", "");
		/* The server's words go to a terminal: keep them printable. */
		size_t k = 0;
		for (; *m != '\0' && k < sizeof(msg) - 1; m++)
			msg[k++] = (*m >= 0x20 && *m < 0x7f) ? *m : '?';
		msg[k] = '\0';
		if (r->code[0] != '\0')
			snprintf(r->detail, sizeof(r->detail), "%s%s%s", r->code,
			    msg[0] ? ": " : "", msg);
		else
			snprintf(r->detail, sizeof(r->detail), "HTTP %ld", r->status);
	}
	return -1;
}

/* After server url answered: ask it about its backups if that is not known
 * or is old, and remember the answer. */
void
slc_learn(struct slc *s, const char *url)
{
	const struct cache_server *e;
	char backups[CACHE_MAX_BACKUPS][CLIENTCONF_URL_MAX];
	char err[512];
	struct reply r;
	json_t *list, *b;
	size_t n = 0, i;

	if (!s->have_cache)
		return;
	e = cache_get(&s->cache, url);
	if (e != NULL && e->learned != 0 && time(NULL) - e->learned < SLC_LEARN_INTERVAL &&
	    e->learned <= time(NULL))
		return;
	if (slc_request(s, "GET", url, "/v1/health", NULL, &r) == -1) {
		reply_free(&r);
		return;
	}
	list = json_object_get(r.json, "backups");
	json_array_foreach(list, i, b) {
		const char *bu = js_str(b, "url", "");
		if (n < CACHE_MAX_BACKUPS && clientconf_normalize_url(bu, backups[n]) == 0 &&
		    strcmp(backups[n], url) != 0)
			n++;
	}
	if (cache_set_backups(&s->cache, url, js_str(r.json, "name", ""), backups, n,
	    time(NULL), err, sizeof(err)) == -1)
		slc_cache_warn(s, err);
	else
		slc_debug(s, "%s: learned name %s and %zu backup(s)", url,
		    js_str(r.json, "name", "?"), n);
	reply_free(&r);
}

/* The pool (server name) of url: configured, else learned. */
int
slc_pool_of(struct slc *s, const char *url, char pool[SL_ID_MAX + 1], const char **origin)
{
	const struct clientconf_server *cs = clientconf_find(&s->conf, url);
	const struct cache_server *e;

	if (cs != NULL && cs->pool[0] != '\0') {
		if (origin != NULL)
			*origin = cs->pool_origin;
		util_strlcpy(pool, cs->pool, SL_ID_MAX + 1);
		return 0;
	}
	if (s->have_cache && (e = cache_get(&s->cache, url)) != NULL && e->name[0] != '\0') {
		if (origin != NULL)
			*origin = "learned";
		util_strlcpy(pool, e->name, SL_ID_MAX + 1);
		return 0;
	}
	return -1;
}

/* The backups of url: the configured one first, then learned ones. */
size_t
slc_backups_of(struct slc *s, const char *url, slc_url_t *out, size_t max)
{
	const struct clientconf_server *cs = clientconf_find(&s->conf, url);
	const struct cache_server *e;
	size_t n = 0;

	if (cs != NULL && cs->backup[0] != '\0' && n < max)
		util_strlcpy(out[n++], cs->backup, sizeof(out[0]));
	if (s->have_cache && (e = cache_get(&s->cache, url)) != NULL) {
		for (size_t i = 0; i < e->nbackups && n < max; i++) {
			int dup = 0;
			for (size_t k = 0; k < n; k++)
				dup |= strcmp(out[k], e->backups[i]) == 0;
			if (!dup)
				util_strlcpy(out[n++], e->backups[i], sizeof(out[0]));
		}
	}
	return n;
}

/* The URL of the server whose pool is named pool, if known. */
int
slc_url_of_pool(struct slc *s, const char *pool, slc_url_t url)
{
	char p[SL_ID_MAX + 1];

	for (size_t i = 0; i < s->conf.nservers; i++) {
		if (slc_pool_of(s, s->conf.servers[i].url, p, NULL) == 0 && strcmp(p, pool) == 0) {
			util_strlcpy(url, s->conf.servers[i].url, sizeof(slc_url_t));
			return 0;
		}
	}
	if (s->have_cache) {
		for (size_t i = 0; i < s->cache.n; i++) {
			if (strcmp(s->cache.v[i].name, pool) == 0) {
				util_strlcpy(url, s->cache.v[i].url, sizeof(slc_url_t));
				return 0;
			}
		}
	}
	return -1;
}

/* LEASE:POOL@URL: split at the first '@', then at the first ':'. */
int
token_parse(const char *text, struct token *t)
{
	const char *at = strchr(text, '@'), *colon;
	char lease[SL_ID_MAX + 2], pool[SL_ID_MAX + 2];
	size_t n;

	memset(t, 0, sizeof(*t));
	if (at == NULL || (colon = memchr(text, ':', (size_t)(at - text))) == NULL)
		return -1;
	if ((n = (size_t)(colon - text)) >= sizeof(lease))
		return -1;
	memcpy(lease, text, n);
	lease[n] = '\0';
	if ((n = (size_t)(at - colon - 1)) >= sizeof(pool))
		return -1;
	memcpy(pool, colon + 1, n);
	pool[n] = '\0';
	if (!util_valid_id(lease) || !util_valid_id(pool) ||
	    clientconf_normalize_url(at + 1, t->url) == -1)
		return -1;
	util_strlcpy(t->lease, lease, sizeof(t->lease));
	util_strlcpy(t->pool, pool, sizeof(t->pool));
	return 0;
}

void
token_format(const struct token *t, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s:%s@%s", t->lease, t->pool, t->url);
}
