/*
 * poller.c: a backup's poller, one thread per Primary it backs up: polls
 * (GET /v1/peer/sync, long-polled), the mirror kept up to date through
 * mirrorlog.c, takeover once the Primary has failed fail_after polls (and
 * the witness and the fence agree), handback once it answers again.
 * failover.c starts and stops them.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "failcfg.h"
#include "failover.h"
#include "failover_int.h"
#include "fence.h"
#include "http.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "mirrorlog.h"
#include "server.h"
#include "store.h"
#include "util.h"

/* ---- the poller (backup side) ---- */

static void
poller_sleep(struct poller *pl, int64_t until_ms)
{
	struct failover *fo = fo_of(pl->srv);

	pthread_mutex_lock(&fo->mu);
	while (!pl->stop) {
		int64_t left = until_ms - util_mono_ms();
		if (left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&fo->cv, &fo->mu, &ts);
	}
	pthread_mutex_unlock(&fo->mu);
}

/* Push the pool's leases to the Primary; on success stop serving them. */
static void
poller_handback(struct poller *pl)
{
	struct server *srv = pl->srv;
	struct http_response resp;
	char url[700];

	json_t *payload = store_handback_prepare(srv->store, pl->pool, HANDBACK_PUSH);
	char *body = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	snprintf(url, sizeof(url), "%s/v1/peer/handback", pl->url);
	int rc = body ? http_request(pl->http, "POST", url, body, &resp) : -1;
	free(body);
	if (rc == 0 && resp.status == 200) {
		uint64_t seq = store_handback_commit(srv->store, pl->pool, HANDBACK_PUSH);
		journal_sync_to(srv->journal, seq);
		mirror_save(srv, pl->pool);
	} else {
		char why[512];
		log_warnx("handback of pool \"%s\" to %s failed: %s", pl->name, pl->url,
		    log_escape_text(why, sizeof(why), rc == 0 ? resp.body : resp.error));
		/* Only our push: a release the Primary asked for meanwhile
		 * holds the pool until it commits. */
		store_handback_cancel(srv->store, pl->pool, HANDBACK_PUSH);
	}
	http_response_clear(&resp);
}

/* Does the witness also fail to reach the Primary? Without a witness: yes. */
static int
witness_agrees(struct poller *pl)
{
	struct http_response resp;
	char *url = NULL, *esc;
	int agrees = 1;

	if (pl->witness[0] == '\0')
		return 1;
	/* The Primary's URL escaped may be three times as long: made to size. */
	esc = curl_easy_escape(NULL, pl->url, 0);
	if (esc == NULL || asprintf(&url, "%s/v1/peer/probe?url=%s", pl->witness, esc) == -1)
		url = NULL;
	curl_free(esc);
	memset(&resp, 0, sizeof(resp));
	if (url != NULL && http_request(pl->http, "GET", url, NULL, &resp) == 0 &&
	    resp.status == 200) {
		json_t *o = json_loads(resp.body, 0, NULL);
		agrees = !json_is_true(json_object_get(o, "reachable"));
		json_decref(o);
	} else {
		/* The witness is unreachable too: we may be the one cut off. */
		agrees = 0;
	}
	http_response_clear(&resp);
	free(url);
	if (!agrees && !pl->witness_said) {
		log_info("pool \"%s\": witness %s does not confirm that %s is down; not taking over",
		    pl->name, pl->witness, pl->url);
		pl->witness_said = 1;
	}
	return agrees;
}

/* A poll that takes longer than the interval counts as missed, unless
 * part of the answer came (see poller_once). */
static long
poll_timeout_ms(double interval)
{
	long t = (long)(interval * 1000);

	return t < 500 ? 500 : (t > 5000 ? 5000 : t);
}

/* The Primary answered a poll as it should. */
static void
poll_good(struct poller *pl)
{
	if (store_pool_polled(pl->srv->store, pl->pool, POLL_GOOD) >= pl->fail_after)
		log_info("poll of \"%s\" at %s works again", pl->name, pl->url);
	pl->witness_said = 0;
	pl->refused = 0;
	pthread_mutex_lock(&poll_error_mu);
	pl->refused_polls = 0;
	pl->last_error[0] = '\0';
	pthread_mutex_unlock(&poll_error_mu);
}

static void
poll_good_cb(void *arg)
{
	poll_good(arg);
}

static void
poll_not_good(void *arg)
{
	(void)arg;
}

/*
 * A Primary whose journal cannot write answers 503 (a failed poll), with
 * the records it appended since our sequence: among them the releases of
 * grants whose write failed, which it sent us as it wrote them and whose
 * requests it answered 503. Take them in while warm, so that a takeover
 * does not hold those seats; the poll still counts as failed.
 */
static void
poll_failing_records(struct poller *pl, const struct http_response *resp, int *base)
{
	struct pool_view v;
	json_t *o;

	if (resp->body == NULL || (o = js_loadb(resp->body, resp->len, NULL)) == NULL)
		return;
	store_pool_view(pl->srv->store, pl->pool, &v);
	int warm = v.status == POOL_WARM && v.handing == 0;
	char epoch[40];
	mirror_durable(pl->pool, epoch, sizeof(epoch));
	if (warm && strcmp(js_str(o, "error", ""), "storage_unavailable") == 0 &&
	    strcmp(js_str(o, "name", ""), pl->name) == 0 &&
	    strcmp(js_str(o, "epoch", ""), epoch) == 0 &&
	    !json_is_true(json_object_get(o, "full")) &&
	    json_is_array(json_object_get(o, "records")))
		mirror_apply(pl->srv, pl->pool, o, NULL, 0, base, pl->lic_gen, sizeof(pl->lic_gen),
		    poll_not_good, NULL);
	json_decref(o);
}

/* Keep why the last poll failed, for /v1/health; refused: the Primary is
 * up and said no (it counts as failed there, never towards a takeover). */
static void
poll_failed(struct poller *pl, int refused, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
poll_failed(struct poller *pl, int refused, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&poll_error_mu);
	if (refused)
		pl->refused_polls++;
	va_start(ap, fmt);
	vsnprintf(pl->last_error, sizeof(pl->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&poll_error_mu);
}

/*
 * A sync answer decoded. Its records (or a full copy's leases), where the
 * fast decoder takes them (js_fast_valid) and they are on one line, are
 * left as text: *raw, which goes into the mirror and its journal as it came
 * (mirror_apply), and the rest is decoded with [] in their place. Decoding
 * them was a sixth of a busy backup's CPU, and half of it was growing the
 * heap for what the mirror kept (a full copy: 20 MB decoded at 100,000
 * leases). Else the whole answer is decoded, *raw NULL.
 *
 * A Primary sends them last (reply_splice in peersync.c): they are taken to
 * run from the first "records": (or "leases":) to the answer's last ']',
 * which holds when that text is one array (js_fast_valid), and only then. A
 * key of that name nested before them would start text with more brackets
 * closed than opened.
 */
static json_t *
sync_answer(const struct http_response *resp, const char **raw, size_t *rawlen)
{
	static const char *const keys[] = { "\"records\":", "\"leases\":" };
	const char *b = resp->body, *k = NULL;
	size_t off = 0, end = resp->len;
	json_t *o = NULL;

	*raw = NULL;
	*rawlen = 0;
	for (size_t i = 0; i < 2 && k == NULL; i++)
		if ((k = memmem(b, resp->len, keys[i], strlen(keys[i]))) != NULL)
			off = (size_t)(k - b) + strlen(keys[i]);
	while (end > 0 && js_ws(b[end - 1]))
		end--;
	if (end > 0 && b[end - 1] == '}')
		end--;
	while (end > 0 && js_ws(b[end - 1]))
		end--;
	if (k != NULL && off < end && b[off] == '[' && b[end - 1] == ']' &&
	    memchr(b + off, '\n', end - off) == NULL && js_fast_valid(b + off, end - off)) {
		size_t tail = resp->len - end;
		char *env = malloc(off + 2 + tail);
		if (env != NULL) {
			memcpy(env, b, off);
			memcpy(env + off, "[]", 2);
			memcpy(env + off + 2, b + end, tail);
			o = js_loadb(env, off + 2 + tail, NULL);
			free(env);
		}
		/* Leases only in a full copy, records only in the others. */
		if (o != NULL && json_is_true(json_object_get(o, "full")) == (k[1] == 'l')) {
			*raw = b + off;
			*rawlen = end - off;
			return o;
		}
		json_decref(o);
	}
	return js_loadb(b, resp->len, NULL);
}

/* One poll of the Primary. Returns 1 when it brought news (records or a
 * full copy), so the next poll soon confirms that we hold them. */
static int
poller_once(struct poller *pl)
{
	struct server *srv = pl->srv;
	struct pool *p = pl->pool;
	struct http_response resp;
	struct pool_view v;
	char *url = NULL, *esc_url;
	json_t *o = NULL;
	int news = 0, base = 0;

	store_pool_view(srv->store, p, &v);
	int unsaved = v.dirty;
	enum pool_status status = v.status;
	/* since=SEQ tells a Primary that waits for us that we hold its journal
	 * up to SEQ: it must be on our disk first. A warm pool's polls are
	 * saved as they come (mirror_apply); this is a handback, or a save
	 * that failed. */
	if (unsaved && status == POOL_WARM)
		mirror_persist(srv, p, 1);
	char epoch[40];
	uint64_t since = mirror_durable(p, epoch, sizeof(epoch));

	esc_url = curl_easy_escape(NULL, srv->cfg.url, 0);
	/* Long poll: the Primary holds the request until it has news, for at
	 * most half our poll timeout, so that a held poll is never a missed
	 * one. */
	/* Made to size: our URL escaped may be three times as long. */
	if (esc_url == NULL || asprintf(&url, "%s/v1/peer/sync?since=%llu&epoch=%s&name=%s&url=%s"
	    "&interval=%g&wait=%ld&lic=%s", pl->url, (unsigned long long)since,
	    epoch[0] ? epoch : "none", srv->cfg.name, esc_url, pl->interval,
	    (pl->slow_ms ? pl->slow_ms : poll_timeout_ms(pl->interval)) / 2,
	    pl->lic_gen[0] ? pl->lic_gen : "none") == -1)
		url = NULL;
	pl->long_poll = 0;
	curl_free(esc_url);
	memset(&resp, 0, sizeof(resp));
	int rc = url != NULL ? http_request(pl->http, "GET", url, NULL, &resp) : -1;
	if (url == NULL)
		snprintf(resp.error, sizeof(resp.error), "out of memory");
	free(url);
	if (rc != 0 && resp.timed_out && resp.partial) {
		/* The Primary answers, only slowly (a full copy of many
		 * leases): not a missed poll. Give the next one more time. */
		long normal = poll_timeout_ms(pl->interval);
		pl->slow_ms = pl->slow_ms ? pl->slow_ms * 2 : 4 * normal;
		if (pl->slow_ms > 60000)
			pl->slow_ms = 60000;
		http_client_set_timeout(pl->http, pl->slow_ms);
		log_info("\"%s\" at %s answers slowly (%.1fs and not done); next poll may take "
		    "%.0fs", pl->name, pl->url, resp.seconds, pl->slow_ms / 1000.0);
		goto out;
	}
	if (rc == 0 && pl->slow_ms > 0) {
		pl->slow_ms = 0;
		http_client_set_timeout(pl->http, poll_timeout_ms(pl->interval));
	}
	const char *raw = NULL;
	size_t rawlen = 0;
	if (rc == 0 && resp.status == 200 && resp.body != NULL)
		o = sync_answer(&resp, &raw, &rawlen);
	else if (rc == 0 && resp.status == 503)
		poll_failing_records(pl, &resp, &base);
	if ((rc == 0 && resp.status >= 400 && resp.status < 500) || resp.tls_rejected) {
		/* The Primary is up and refuses us (a wrong peer token, most
		 * likely), or answers with a certificate our ca does not
		 * verify: that is no reason to serve its seats a second time. */
		store_pool_polled(srv->store, p, POLL_REFUSED);
		int say = pl->refused++ % 60 == 0;
		if (resp.tls_rejected) {
			char why[300];
			log_escape(why, sizeof(why), resp.error);
			poll_failed(pl, 1, "refused: certificate not verified (%s)", resp.error);
			if (say)
				log_warnx("\"%s\" at %s answers with a certificate we cannot "
				    "verify (%s); it is up, so this server will not take over: "
				    "check ca", pl->name, pl->url, why);
		} else {
			char why[200];
			json_t *e = json_loads(resp.body ? resp.body : "", 0, NULL);
			poll_failed(pl, 1, "refused: HTTP %ld: %.200s", resp.status,
			    js_str(e, "message", ""));
			log_escape_text(why, sizeof(why), js_str(e, "message", ""));
			json_decref(e);
			if (say)
				log_warnx("\"%s\" at %s refuses our polls (HTTP %ld: %s); it is "
				    "up, so this server will not take over: check "
				    "peer_token_file on both", pl->name, pl->url, resp.status, why);
		}
		goto out;
	}
	if (o == NULL || !util_valid_id(js_str(o, "name", NULL))) {
		int failed = store_pool_polled(srv->store, p, POLL_FAILED);
		poll_failed(pl, 0, "%s", rc != 0 ? resp.error : resp.status != 200 ?
		    "server error status" : "not a sync answer");
		if (failed == 1 || failed == pl->fail_after)
			log_warnx("poll of \"%s\" at %s failed (%d/%d): %s", pl->name, pl->url,
			    failed, pl->fail_after, rc != 0 ? resp.error :
			    resp.status != 200 ? "server error status" : "not a sync answer");
		if (failed >= pl->fail_after && status == POOL_WARM && witness_agrees(pl)) {
			uint64_t seq = store_takeover(srv->store, p);
			store_pool_view(srv->store, p, &v);
			int taken = v.status == POOL_HOT_RETRY;
			int64_t fenced = v.fenced_until_ms - util_mono_ms();
			if (taken) {
				journal_sync_to(srv->journal, seq);
				mirror_save(srv, p);
			} else if (failed == pl->fail_after) {
				log_info("pool \"%s\": not taking over for %.1fs more: the "
				    "Primary may grant until then (fence)", pl->name,
				    fenced > 0 ? fenced / 1000.0 : 0.0);
			}
		} else if (failed >= pl->fail_after) {
			/* The Primary that asked for a release went silent before
			 * it committed: serve its pool again. */
			store_handback_cancel(srv->store, p, HANDBACK_PULL);
		}
		goto out;
	}
	if (strcmp(js_str(o, "name", ""), pl->name) != 0) {
		log_warnx("%s answers as \"%s\", not \"%s\": check failover \"%s\" url", pl->url,
		    js_str(o, "name", ""), pl->name, pl->name);
		store_pool_polled(srv->store, p, POLL_FAILED);
		poll_failed(pl, 0, "answers as \"%.100s\"", js_str(o, "name", ""));
		goto out;
	}
	if (status == POOL_HOT_RETRY) {
		char epoch_esc[160];
		log_info("\"%s\" at %s answers again (epoch %s); handing its pool back",
		    pl->name, pl->url, log_escape(epoch_esc, sizeof(epoch_esc),
		    js_str(o, "epoch", "?")));
		poller_handback(pl);
		poll_good(pl);
	} else {
		pl->synchronous = json_is_true(json_object_get(o, "synchronous"));
		pl->long_poll = js_int(o, "long_poll", 0) > 0;
		news = mirror_apply(srv, p, o, raw, rawlen, &base, pl->lic_gen,
		    sizeof(pl->lic_gen), poll_good_cb, pl);
	}
out:
	json_decref(o);
	http_response_clear(&resp);
	if (base)
		mirror_persist(srv, p, 1);
	return news;
}

static void *
poller_main(void *arg)
{
	struct poller *pl = arg;

	/* The poller this one replaces polls no more once joined. */
	if (pl->predecessor != NULL) {
		poller_finish(pl->srv, pl->predecessor);
		pl->predecessor = NULL;
	}
	while (!atomic_load(&pl->stop)) {
		int64_t start = util_mono_ms();
		/* After news, poll again soon: the Primary may hold checkouts
		 * until we confirm them (synchronous_backup). */
		int news = poller_once(pl);
		/* A Primary that holds our polls (long poll) waited for us:
		 * ask again at once. */
		int64_t wait = pl->long_poll ? 0 : news && pl->synchronous ? 10 :
		    (int64_t)(pl->interval * 1000);
		poller_sleep(pl, start + wait);
	}
	atomic_store(&pl->exited, 1);
	return NULL;
}

static struct http_client *
peer_client(struct server *srv, double interval)
{
	struct http_options ho;
	long t = (long)(interval * 1000);

	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout_ms = t < 1000 ? (t > 100 ? t : 100) : 1000;
	ho.timeout_ms = poll_timeout_ms(interval);
	ho.token = srv->peer_token;
	ho.cacert = srv->cfg.ca;
	return http_client_new(&ho);
}

int
poller_start(struct poller *pl)
{
	pl->http = peer_client(pl->srv, pl->interval);
	if (pl->http == NULL || pthread_create(&pl->thread, NULL, poller_main, pl) != 0) {
		log_warnx("cannot start the poller for \"%s\"", pl->name);
		http_client_free(pl->http);
		pl->http = NULL;
		return -1;
	}
	pl->started = 1;
	return 0;
}

void
poller_join(struct poller *pl)
{
	if (pl->http != NULL) {
		pthread_join(pl->thread, NULL);
		http_client_free(pl->http);
		pl->http = NULL;
	}
}

/* The wanted set of Primaries: config sections, overridden by runtime entries. */
/* How polling one Primary goes, for the views and for poller_json.
 * Called with fo->mu held. */
void
poller_view(struct server *srv, struct poller *pl, int64_t now, struct primary_view *v)
{
	struct pool_view pv;
	json_t *utf8;

	util_strlcpy(v->pool, pl->name, sizeof(v->pool));
	util_strlcpy(v->url, pl->url, sizeof(v->url));
	pthread_mutex_lock(&poll_error_mu);
	v->refused_polls = pl->refused_polls;
	util_strlcpy(v->last_error, pl->last_error, sizeof(v->last_error));
	pthread_mutex_unlock(&poll_error_mu);
	/* From the Primary's answer: it may not be UTF-8, which jansson,
	 * and so /v1/health, would refuse */
	if ((utf8 = json_string(v->last_error)) == NULL)
		util_strlcpy(v->last_error, "(not UTF-8)", sizeof(v->last_error));
	json_decref(utf8);
	store_pool_view(srv->store, pl->pool, &pv);
	v->status = pv.status;
	v->polled = pv.last_poll_ms != 0;
	v->last_poll_age = (now - pv.last_poll_ms) / 1000.0;
	/* failed_polls counts refused polls too; only the others lead to a
	 * takeover (fail_after). */
	v->failed_polls = pv.failed_polls + v->refused_polls;
}

/* One Primary this server backs up: its settings and how polling goes.
 * Called with fo->mu held. */
json_t *
poller_json(struct server *srv, struct poller *pl, int64_t now)
{
	struct primary_view v;

	poller_view(srv, pl, now, &v);
	return json_pack("{s:s, s:s, s:f, s:i, s:s, s:s, s:s, s:o, s:i, s:i, s:o}",
	    "name", pl->name, "url", pl->url, "poll_interval", pl->interval,
	    "fail_after", pl->fail_after, "witness", pl->witness,
	    "source", pl->from_config ? "config" : "runtime",
	    "status", pool_status_str(v.status),
	    "last_poll_age", v.polled ? json_real(v.last_poll_age) : json_null(),
	    "failed_polls", v.failed_polls, "refused_polls", v.refused_polls,
	    "last_error", v.last_error[0] == '\0' ? json_null() : json_string(v.last_error));
}
