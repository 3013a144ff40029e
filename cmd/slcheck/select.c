/*
 * Which server gives the seat (DESIGN §5, slcheck(1) SERVER SELECTION):
 * the Primaries in order, then the Secondaries in order. A server without a
 * free seat passes the request on. A server that does not answer (or is
 * remembered dead) has its backups asked, naming its pool, before the next
 * server is tried; a backup answering 503 not_serving with "primary" sends
 * the request back to that Primary.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "slcheck.h"

enum outcome {
	OUT_GRANTED,
	OUT_NO_SEATS,
	OUT_REFUSED,
	OUT_UNAVAILABLE,	/* no answer, or the pool is not served there */
	OUT_SERVER_ERROR,
	OUT_REDIRECT,
};

/* What each attempt gave, for the one-line message when all fail. */
struct attempts {
	char text[1536];
	int seen[OUT_REDIRECT + 1];
	int cut;
};

static void
attempts_note(struct attempts *a, const char *url, const char *pool, const char *what)
{
	size_t len = strlen(a->text);

	snprintf(a->text + len, sizeof(a->text) - len, "%s%s%s%s%s: %s",
	    len > 0 ? "; " : "", url, pool ? " [pool " : "", pool ? pool : "",
	    pool ? "]" : "", what);
}

void
checkout_request_init(struct checkout_request *req, const char *product, const char *client)
{
	memset(req, 0, sizeof(*req));
	req->product = product;
	req->client = client;
	req->pid = getpid();
	util_random_hex(req->lease, 16);
}

void
seat_free(struct seat *seat)
{
	if (seat->json != NULL)
		json_decref(seat->json);
	seat->json = NULL;
}

static json_t *
checkout_body(const struct checkout_request *req, const char *pool)
{
	char host[256] = "";
	const char *user = getenv("USER");
	json_t *o;

	if (gethostname(host, sizeof(host) - 1) == -1)
		host[0] = '\0';
	if (user == NULL || *user == '\0')
		user = getenv("LOGNAME");
	if (user == NULL || *user == '\0') {
		/* cron, systemd units, su -: the password database knows us */
		struct passwd *pw = getpwuid(getuid());
		user = pw != NULL ? pw->pw_name : NULL;
	}
	o = json_pack("{s:s, s:s, s:s, s:I}", "product", req->product, "lease", req->lease,
	    "client", req->client, "pid", (json_int_t)req->pid);
	if (o == NULL)
		return NULL;
	if (pool != NULL)
		json_object_set_new(o, "pool", json_string(pool));
	if (req->borrow > 0)
		json_object_set_new(o, "borrow", json_integer(req->borrow));
	if (req->wait > 0)
		json_object_set_new(o, "wait", json_integer(req->wait));
	if (user != NULL && *user != '\0' && strlen(user) < 256)
		json_object_set_new(o, "user", json_string(user));
	if (host[0] != '\0')
		json_object_set_new(o, "host", json_string(host));
	return o;
}

/* Ask one server for a seat, naming pool (NULL: the server's own). */
static enum outcome
try_checkout(struct slc *s, const char *url, const char *pool,
    const struct checkout_request *req, struct seat *seat, struct attempts *a,
    char *redirect)
{
	struct reply r;
	json_t *body;
	long dead;
	enum outcome out;
	char what[400];

	if ((dead = slc_dead_left(s, url)) > 0) {
		snprintf(what, sizeof(what), "not asked, did not answer lately (for %lds more)",
		    dead);
		slc_debug(s, "%s: %s", url, what);
		attempts_note(a, url, pool, what);
		return OUT_UNAVAILABLE;
	}
	if ((body = checkout_body(req, pool)) == NULL) {
		attempts_note(a, url, pool, "out of memory");
		return OUT_SERVER_ERROR;
	}
	slc_request(s, "POST", url, "/v1/checkout", body, &r);
	json_decref(body);
	a->cut |= r.cut;
	switch (r.kind) {
	case REPLY_OK: {
		const char *lease = js_str(r.json, "lease", "");
		const char *gpool = js_str(r.json, "pool", pool ? pool : r.server);
		if (!util_valid_id(lease) || !util_valid_id(gpool)) {
			snprintf(what, sizeof(what), "granted lease without a valid "
			    "\"lease\" or \"pool\"");
			out = OUT_SERVER_ERROR;
			break;
		}
		memset(seat, 0, sizeof(*seat));
		util_strlcpy(seat->token.lease, lease, sizeof(seat->token.lease));
		util_strlcpy(seat->token.pool, gpool, sizeof(seat->token.pool));
		util_strlcpy(seat->token.url, url, sizeof(seat->token.url));
		util_strlcpy(seat->license, js_str(r.json, "license", ""), sizeof(seat->license));
		util_strlcpy(seat->product, js_str(r.json, "product", req->product),
		    sizeof(seat->product));
		util_strlcpy(seat->server, js_str(r.json, "server", r.server),
		    sizeof(seat->server));
		seat->expires_in = (long)js_int(r.json, "expires_in", 0);
		seat->heartbeat_interval = (long)js_int(r.json, "heartbeat_interval", 0);
		seat->json = json_incref(r.json);
		snprintf(what, sizeof(what), "granted lease %s of license %s", lease,
		    seat->license);
		out = OUT_GRANTED;
		break;
	}
	case REPLY_ERROR:
		snprintf(what, sizeof(what), "%s", r.detail);
		/* The usage policy's max_reached and reserved are a lack of
		 * seats for this holder: another server may have one, and
		 * one may free here (--wait). */
		if (r.status == 409 && (strcmp(r.code, "no_seats") == 0 ||
		    strcmp(r.code, "max_reached") == 0 || strcmp(r.code, "reserved") == 0)) {
			out = OUT_NO_SEATS;
		} else if (r.status == 503 && strcmp(r.code, "not_serving") == 0 &&
		    clientconf_normalize_url(js_str(r.json, "primary", ""), redirect) == 0 &&
		    strcmp(redirect, url) != 0) {
			snprintf(what, sizeof(what), "not serving; the Primary %s is up",
			    redirect);
			out = OUT_REDIRECT;
		} else if (r.status == 503 || strcmp(r.code, "unknown_pool") == 0) {
			out = OUT_UNAVAILABLE;
		} else if (r.status == 403 || (r.status == 404 &&
		    strcmp(r.code, "unknown_product") == 0)) {
			out = OUT_REFUSED;
		} else {
			out = OUT_SERVER_ERROR;
		}
		break;
	case REPLY_UNREACHABLE:
		snprintf(what, sizeof(what), "no answer: %s", r.detail);
		out = OUT_UNAVAILABLE;
		break;
	default:
		snprintf(what, sizeof(what), "%s", r.detail);
		out = OUT_SERVER_ERROR;
		break;
	}
	slc_debug(s, "%s%s%s%s: %s", url, pool ? " [pool " : "", pool ? pool : "",
	    pool ? "]" : "", what);
	if (out != OUT_GRANTED)
		attempts_note(a, url, pool, what);
	a->seen[out]++;
	if (r.kind != REPLY_UNREACHABLE && clientconf_find(&s->conf, url) != NULL)
		slc_learn(s, url);
	reply_free(&r);
	return out;
}

/* Ask a backup which pool it serves for primary (its health "backs_up"). */
static int
pool_from_backup(struct slc *s, const char *backup, const char *primary, char *pool)
{
	struct reply r;
	json_t *v;
	size_t i;
	int rc = -1;

	if (slc_dead_left(s, backup) > 0)
		return -1;
	if (slc_request(s, "GET", backup, "/v1/health", NULL, &r) == -1) {
		reply_free(&r);
		return -1;
	}
	json_array_foreach(json_object_get(r.json, "backs_up"), i, v) {
		char u[CLIENTCONF_URL_MAX];
		const char *p = js_str(v, "pool", "");
		if (clientconf_normalize_url(js_str(v, "url", ""), u) == 0 &&
		    strcmp(u, primary) == 0 && util_valid_id(p)) {
			util_strlcpy(pool, p, SL_ID_MAX + 1);
			rc = 0;
			break;
		}
	}
	reply_free(&r);
	return rc;
}

/* Ask url, and its backups if it is unavailable. */
static enum outcome
try_server(struct slc *s, const char *url, const struct checkout_request *req,
    struct seat *seat, struct attempts *a)
{
	char redirect[CLIENTCONF_URL_MAX], pool[SL_ID_MAX + 1];
	slc_url_t backups[CACHE_MAX_BACKUPS + 1];
	enum outcome out;
	size_t nb;

	out = try_checkout(s, url, NULL, req, seat, a, redirect);
	if (out == OUT_REDIRECT)	/* a configured backup named as a server */
		out = try_checkout(s, redirect, NULL, req, seat, a, redirect);
	if (out != OUT_UNAVAILABLE)
		return out;
	nb = slc_backups_of(s, url, backups, nitems(backups));
	for (size_t i = 0; i < nb; i++) {
		if (slc_pool_of(s, url, pool, NULL) == -1 &&
		    pool_from_backup(s, backups[i], url, pool) == -1) {
			attempts_note(a, backups[i], NULL, "backup not asked: the pool of "
			    "its Primary is unknown (set pool in slclient.conf)");
			slc_debug(s, "%s: backup of %s not asked: pool unknown", backups[i], url);
			continue;
		}
		out = try_checkout(s, backups[i], pool, req, seat, a, redirect);
		if (out == OUT_REDIRECT)
			out = try_checkout(s, redirect, pool, req, seat, a, redirect);
		if (out == OUT_GRANTED) {
			seat->via = "backup";
			return out;
		}
	}
	return OUT_UNAVAILABLE;
}

int
select_checkout(struct slc *s, const struct checkout_request *req, struct seat *seat,
    char *why, size_t whylen, int *cut)
{
	struct attempts a;

	memset(&a, 0, sizeof(a));
	memset(seat, 0, sizeof(*seat));
	for (size_t i = 0; i < s->conf.nservers; i++) {
		const struct clientconf_server *cs = &s->conf.servers[i];
		if (try_server(s, cs->url, req, seat, &a) == OUT_GRANTED) {
			if (seat->via == NULL)
				seat->via = clientconf_role_name(cs->role);
			slc_debug(s, "%s: seat from %s (%s, pool %s)", req->product,
			    seat->token.url, seat->via, seat->token.pool);
			return SLC_EXIT_OK;
		}
	}
	if (cut != NULL)
		*cut = a.cut;
	snprintf(why, whylen, "%s", a.text);
	if (a.seen[OUT_NO_SEATS])
		return SLC_EXIT_NO_SEAT;
	if (a.seen[OUT_REFUSED])
		return SLC_EXIT_REFUSED;
	if (a.seen[OUT_SERVER_ERROR])
		return SLC_EXIT_SERVER_ERROR;
	return SLC_EXIT_UNREACHABLE;
}

static const char *
exit_reason(int rc)
{
	switch (rc) {
	case SLC_EXIT_NO_SEAT:
		return "no free seat";
	case SLC_EXIT_REFUSED:
		return "refused";
	case SLC_EXIT_SERVER_ERROR:
		return "unusable answer";
	default:
		return "no server answered";
	}
}

/*
 * Take a seat, retrying with jittered exponential backoff while servers
 * are full or unavailable, until wait seconds have passed (0: one round).
 * Reports the failure on stderr. Returns an SLC_EXIT code.
 */
int
select_checkout_wait(struct slc *s, struct checkout_request *req, double wait,
    struct seat *seat)
{
	char why[1536] = "", last_why[1536] = "";
	int64_t start = util_mono_ms(), deadline = 0;
	int64_t backoff = 500;
	int rc, last_rc = -1, cut = 0;

	if (wait > 0) {
		deadline = start + (int64_t)(wait * 1000);
		http_client_set_deadline(s->http, deadline);
	}
	for (int round = 0;; round++) {
		/* After a first round that asks every server once, a server
		 * whose policy queues checkouts holds the request until a seat
		 * frees for us or the time left is up (the others ignore it). */
		if (round > 0 && deadline > 0) {
			int64_t left = deadline - util_mono_ms();
			req->wait = left > 1500 ? (long)((left - 500) / 1000) : 0;
			http_client_set_long_poll(s->http, req->wait * 1000);
		}
		rc = select_checkout(s, req, seat, why, sizeof(why), &cut);
		req->wait = 0;
		http_client_set_long_poll(s->http, 0);
		if (rc == SLC_EXIT_OK)
			break;
		/* A round the deadline cut short says less than the one before. */
		if (cut && last_rc != -1) {
			rc = last_rc;
			memcpy(why, last_why, sizeof(why));
		}
		if (rc == SLC_EXIT_REFUSED || deadline == 0)
			break;
		int64_t left = deadline - util_mono_ms();
		if (left <= 0 || cut)
			break;
		int64_t nap = slc_jitter_ms(backoff / 2, backoff);
		if (nap > left)
			nap = left;
		slc_debug(s, "%s: %s; next try in %.1fs", req->product, exit_reason(rc),
		    (double)nap / 1000);
		last_rc = rc;
		memcpy(last_why, why, sizeof(why));
		if (slc_sleep_ms(s, nap) == -1)
			break;
		backoff = backoff * 2 > 15000 ? 15000 : backoff * 2;
	}
	http_client_set_deadline(s->http, 0);
	if (rc != SLC_EXIT_OK) {
		if (wait > 0)
			slc_warnx("%s: %s after waiting %.1fs (%s)", req->product, exit_reason(rc),
			    (double)(util_mono_ms() - start) / 1000, why);
		else
			slc_warnx("%s: %s (%s)", req->product, exit_reason(rc), why);
	}
	return rc;
}
