/*
 * Fencing, Primary side: this server grants seats of its own pool only
 * while no backup can have taken the pool over.
 *
 * A backup takes over once its polls have failed fail_after times AND the
 * promise it last made us has run out. The promise is asked for by us, not
 * read from its polls: each round we POST /v1/peer/fence {"pool","epoch",
 * "ttl_ms"} to every backup we know, and a warm backup promises not to
 * take over for ttl_ms from when the request reached it (capped at its own
 * poll_interval x fail_after, the takeover time it would have had anyway).
 * Our authority runs from when we SENT the request: the backup's promise
 * started later, so it outlasts ours whatever the request's delay, and
 * FENCE_MARGIN covers the rate of two monotonic clocks. A backup's poll
 * cannot serve as the renewal: a poll that waited in our socket while we
 * were stopped would renew from the moment we read it, long after the
 * backup gave up on it.
 *
 * Each backup is in one of these states:
 *   HELD     it promised; we may grant until `until`
 *   SERVING  it serves our pool (it took over): we grant nothing until it
 *            hands the pool back (it does when its next poll reaches us)
 *   ABSENT   two attempts in a row, the second started after the first
 *            ended, got no answer (or a refusal: it does not back us up):
 *            it is down, so it cannot take over; or cut off from us, the
 *            partition that slserve(8) FAILOVER bounds and a witness closes
 *   UNKNOWN  not asked yet, or its promise ran out: we ask before granting
 *
 * A checkout of our pool is granted only when every backup is HELD (and
 * in time) or ABSENT; the check is made when the request arrives and again
 * when the answer goes out, after the grant reached our disk and mirrors:
 * a Primary stopped (SIGSTOP, a paused VM) between the two answers 503 and
 * releases the seat it had made. When the check finds a promise run out,
 * it asks the backups at once and waits up to FENCE_CONFIRM_MS for the
 * answer, so a slow renewal on a loaded machine costs time, not a refusal.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fence.h"
#include "http.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "util.h"

#define FENCE_ASK_MS 60000		/* what we ask for; backups cap it */
#define FENCE_CONFIRM_MS 1500		/* a check waits this long for a round */
#define FENCE_PERIOD_MIN_MS 50
#define FENCE_PERIOD_MAX_MS 1000
#define FENCE_PERIOD_IDLE_MS 250	/* before any backup has answered */
#define FENCE_ABSENT_ASK_MS 5000	/* how often a backup taken for down is asked */

enum fence_state { FENCE_UNKNOWN, FENCE_HELD, FENCE_SERVING, FENCE_ABSENT };

struct fence_backup {
	char name[SL_ID_MAX + 1];
	char url[512];
	enum fence_state state;
	int64_t until_ms;		/* HELD: our authority ends here */
	int64_t ttl_ms;			/* what it last granted */
	int64_t next_ask_ms;		/* ABSENT: not asked again before this */
};

struct fence {
	struct server *srv;
	pthread_mutex_t mu;		/* a leaf: locks.h */
	pthread_cond_t cv;		/* wakes the thread: a round is wanted */
	pthread_cond_t done_cv;		/* a round ended */
	struct fence_backup *v;
	size_t n;
	uint64_t started, ended;	/* rounds */
	int wanted;			/* a check asked for a round now */
	int stop;
	int running;
	pthread_t thread;
	struct http_client *http;
};

static const char *
state_str(enum fence_state s)
{
	switch (s) {
	case FENCE_UNKNOWN: return "unknown";
	case FENCE_HELD: return "held";
	case FENCE_SERVING: return "serving";
	case FENCE_ABSENT: return "absent";
	}
	return "?";
}

/* What our authority loses to the rate of two clocks: a tenth, 50 ms at least. */
static int64_t
fence_margin(int64_t ttl)
{
	return ttl / 10 > 50 ? ttl / 10 : 50;
}

static void fence_check_reply(struct req *r);

struct fence *
fence_new(struct server *srv)
{
	struct fence *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->srv = srv;
	pthread_mutex_init(&f->mu, NULL);
	util_cond_init_mono(&f->cv);
	util_cond_init_mono(&f->done_cv);
	srv->reply_check = fence_check_reply;
	return f;
}

void
fence_note_backup(struct fence *f, const char *name, const char *url)
{
	struct fence_backup *b = NULL;

	if (f == NULL || name == NULL || url == NULL || url[0] == '\0')
		return;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			b = &f->v[i];
	if (b == NULL) {
		struct fence_backup *nv = realloc(f->v, (f->n + 1) * sizeof(*nv));
		if (nv != NULL) {
			f->v = nv;
			b = &f->v[f->n++];
			memset(b, 0, sizeof(*b));
			util_strlcpy(b->name, name, sizeof(b->name));
			b->state = FENCE_UNKNOWN;
			f->wanted = 1;
			pthread_cond_signal(&f->cv);
		}
	}
	if (b != NULL && strcmp(b->url, url) != 0) {
		util_strlcpy(b->url, url, sizeof(b->url));
		b->state = FENCE_UNKNOWN;
		f->wanted = 1;
		pthread_cond_signal(&f->cv);
	} else if (b != NULL && b->state == FENCE_ABSENT && b->next_ask_ms != 0) {
		/* It polls again: ask it now, not in five seconds. */
		b->next_ask_ms = 0;
		f->wanted = 1;
		pthread_cond_signal(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

void
fence_handed_back(struct fence *f, const char *name)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->v[i].name, name) == 0 && f->v[i].state == FENCE_SERVING) {
			/* It is warm again once it commits: ask. */
			f->v[i].state = FENCE_UNKNOWN;
			f->wanted = 1;
			pthread_cond_signal(&f->cv);
		}
	}
	pthread_mutex_unlock(&f->mu);
}

/* The one attempt to renew b's promise (a copy: asked without f->mu). */
static enum fence_state
fence_ask(struct fence *f, struct fence_backup *b, int64_t *until, int64_t *ttl)
{
	struct server *srv = f->srv;
	struct http_response resp;
	char url[700], body[256];
	enum fence_state st = FENCE_ABSENT;

	snprintf(url, sizeof(url), "%s/v1/peer/fence", b->url);
	snprintf(body, sizeof(body), "{\"pool\":\"%s\",\"epoch\":\"%s\",\"ttl_ms\":%d}",
	    srv->cfg.name, srv->epoch, FENCE_ASK_MS);
	int64_t sent = util_mono_ms();
	int rc = http_request(f->http, "POST", url, body, &resp);
	if (rc == 0 && resp.status == 200) {
		json_t *o = json_loads(resp.body ? resp.body : "", 0, NULL);
		if (json_is_true(json_object_get(o, "handing"))) {
			st = FENCE_UNKNOWN;	/* handing our pool back: ask again */
		} else if (json_is_true(json_object_get(o, "serving"))) {
			st = FENCE_SERVING;
		} else if (json_is_integer(json_object_get(o, "ttl_ms")) &&
		    js_int(o, "ttl_ms", 0) > 0) {
			*ttl = js_int(o, "ttl_ms", 0);
			*until = sent + *ttl - fence_margin(*ttl);
			st = FENCE_HELD;
		}
		json_decref(o);
	} else if (rc == 0 && resp.status >= 500) {
		st = FENCE_UNKNOWN;	/* up, but cannot say (stopping): ask again */
	}
	http_response_clear(&resp);
	return st;
}

/* One round: ask every backup; one that does not answer is asked once more. */
static void
fence_round(struct fence *f)
{
	pthread_mutex_lock(&f->mu);
	size_t n = f->n;
	struct fence_backup *copy = n ? malloc(n * sizeof(*copy)) : NULL;
	if (copy != NULL)
		memcpy(copy, f->v, n * sizeof(*copy));
	f->started++;
	pthread_mutex_unlock(&f->mu);
	/* Storage unhealthy: no backup is asked, so the promises run out and
	 * a backup may take our pool over (it counts our 503 sync answers). */
	if (copy == NULL || (f->srv->journal != NULL && !journal_storage(f->srv->journal, NULL)))
		n = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t until = 0, ttl = 0;
		/* One taken for down, whose answer changes nothing to what we
		 * may do, is asked now and then, so that a backup gone for good
		 * (or hanging) does not hold up the others' renewals. */
		if (copy[i].state == FENCE_ABSENT && util_mono_ms() < copy[i].next_ask_ms)
			continue;
		enum fence_state st = fence_ask(f, &copy[i], &until, &ttl);
		if (st == FENCE_ABSENT || st == FENCE_UNKNOWN)
			st = fence_ask(f, &copy[i], &until, &ttl);
		pthread_mutex_lock(&f->mu);
		for (size_t k = 0; k < f->n; k++) {
			struct fence_backup *b = &f->v[k];
			if (strcmp(b->name, copy[i].name) != 0 || strcmp(b->url, copy[i].url) != 0)
				continue;
			if (st != b->state && (st == FENCE_SERVING || st == FENCE_ABSENT ||
			    b->state == FENCE_SERVING || b->state == FENCE_ABSENT))
				log_info("fence: backup \"%s\" at %s: %s (was %s)%s", b->name,
				    b->url, state_str(st), state_str(b->state),
				    st == FENCE_SERVING ? "; this server grants no seat until "
				    "it hands the pool back" : st == FENCE_ABSENT ? "; it cannot "
				    "be asked, so it is taken to be down" : "");
			b->state = st;
			b->next_ask_ms = st == FENCE_ABSENT ? util_mono_ms() + FENCE_ABSENT_ASK_MS : 0;
			if (st == FENCE_HELD) {
				b->until_ms = until;
				b->ttl_ms = ttl;
			}
		}
		pthread_mutex_unlock(&f->mu);
	}
	free(copy);
	pthread_mutex_lock(&f->mu);
	f->ended = f->started;
	pthread_cond_broadcast(&f->done_cv);
	pthread_mutex_unlock(&f->mu);
}

/* How long to wait before the next round: a third of the shortest grant. */
static int64_t
fence_period(struct fence *f)
{
	int64_t p = 0;

	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].state == FENCE_UNKNOWN)
			return FENCE_PERIOD_MIN_MS;	/* it could not say: soon */
		if (f->v[i].state == FENCE_HELD && (p == 0 || f->v[i].ttl_ms / 3 < p))
			p = f->v[i].ttl_ms / 3;
	}
	if (p == 0)
		p = FENCE_PERIOD_IDLE_MS;
	return p < FENCE_PERIOD_MIN_MS ? FENCE_PERIOD_MIN_MS :
	    p > FENCE_PERIOD_MAX_MS ? FENCE_PERIOD_MAX_MS : p;
}

static void
timespec_at(struct timespec *ts, int64_t ms_from_now)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms_from_now / 1000;
	ts->tv_nsec += (ms_from_now % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *
fence_main(void *arg)
{
	struct fence *f = arg;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		int due = f->wanted;
		if (!due) {
			struct timespec ts;
			timespec_at(&ts, fence_period(f));
			due = pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT ||
			    f->wanted;
		}
		if (f->stop)
			break;
		if (!due || f->n == 0) {
			f->wanted = 0;
			continue;
		}
		f->wanted = 0;
		pthread_mutex_unlock(&f->mu);
		fence_round(f);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int
fence_start(struct fence *f)
{
	struct http_options ho;

	if (f == NULL)
		return 0;
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout_ms = 500;
	ho.timeout_ms = 1000;
	ho.token = f->srv->peer_token;
	ho.cacert = f->srv->cfg.ca;
	if ((f->http = http_client_new(&ho)) == NULL)
		return -1;
	/* The first round before serving: grants need it. */
	fence_round(f);
	if (pthread_create(&f->thread, NULL, fence_main, f) != 0) {
		http_client_free(f->http);
		f->http = NULL;
		return -1;
	}
	f->running = 1;
	return 0;
}

void
fence_free(struct fence *f)
{
	if (f == NULL)
		return;
	if (f->running) {
		pthread_mutex_lock(&f->mu);
		f->stop = 1;
		pthread_cond_broadcast(&f->cv);
		pthread_cond_broadcast(&f->done_cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
	}
	http_client_free(f->http);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	pthread_cond_destroy(&f->done_cv);
	free(f->v);
	free(f);
}

/* With f->mu held: may we grant now? If not, *who is the backup in the way
 * and *serving whether it serves our pool. */
static int
fence_clear(struct fence *f, int64_t now, const struct fence_backup **who)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct fence_backup *b = &f->v[i];
		if (b->state == FENCE_ABSENT || (b->state == FENCE_HELD && now < b->until_ms))
			continue;
		*who = b;
		return 0;
	}
	return 1;
}

int
fence_may_grant(struct fence *f, char *why, size_t len)
{
	const struct fence_backup *who = NULL;
	int ok;

	if (f == NULL)
		return 1;
	pthread_mutex_lock(&f->mu);
	ok = fence_clear(f, util_mono_ms(), &who);
	if (!ok && f->running && who->state != FENCE_SERVING) {
		/* A promise ran out, or was never had: confirm now, with a
		 * round that starts after this moment. */
		uint64_t want = f->started + 1;
		struct timespec ts;
		timespec_at(&ts, FENCE_CONFIRM_MS);
		f->wanted = 1;
		pthread_cond_signal(&f->cv);
		while (!f->stop && f->ended < want)
			if (pthread_cond_timedwait(&f->done_cv, &f->mu, &ts) == ETIMEDOUT)
				break;
		ok = fence_clear(f, util_mono_ms(), &who);
	}
	if (!ok)
		snprintf(why, len, who->state == FENCE_SERVING ?
		    "backup \"%s\" at %s serves this server's pool (it took over); this "
		    "server grants again once it has handed the pool back" :
		    "backup \"%s\" at %s has not confirmed that it has not taken over "
		    "this server's pool; no seat is granted until it does", who->name, who->url);
	pthread_mutex_unlock(&f->mu);
	return ok;
}

json_t *
fence_json(struct fence *f)
{
	json_t *arr = json_array();
	int64_t now = util_mono_ms();

	if (f == NULL)
		return arr;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n; i++) {
		const struct fence_backup *b = &f->v[i];
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", b->name, "url", b->url,
		    "fence", state_str(b->state));
		if (b->state == FENCE_HELD)
			json_object_set_new(o, "fence_left", json_real(
			    (b->until_ms > now ? b->until_ms - now : 0) / 1000.0));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&f->mu);
	return arr;
}

/*
 * A new seat of our own pool is answered only while no backup can have
 * taken the pool over: checked again now (srv->reply_check), after the
 * grant reached our disk and our backups, since this server may have stood
 * still (SIGSTOP, a paused VM) since the request came in. If not, the seat
 * is released, durably, and the client told 503: nothing it was not told
 * of stays held.
 */
static void
fence_check_reply(struct req *r)
{
	char why[512];
	const char *id;

	if (r->reply.status != 201 || fence_may_grant(r->srv->fence, why, sizeof(why)))
		return;
	id = js_str(r->reply.body, "lease", "");
	uint64_t seq = store_release_unanswered(r->srv->store, id);
	if (seq > 0)
		journal_sync_to(r->srv->journal, seq);
	log_warnx("checkout of lease %s not answered: %s", id, why);
	req_error(r, 503, "not_serving", "%s", why);
}
