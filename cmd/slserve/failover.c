/*
 * failover.c: this server as a backup (a poller thread per Primary it backs
 * up: polls, takeover, handback) and as a Primary (the registry of the
 * backups that poll it, what they acknowledged, taking its leases back),
 * and the failover routes. The mirror files are mirrorlog.c's, the sync
 * answers and long polls peersync.c's, the fence fence.c's.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api_fields.h"
#include "failcfg.h"
#include "failover.h"
#include "fence.h"
#include "http.h"
#include "journal.h"
#include "mirrorlog.h"
#include "peersync.h"
#include "ackwait.h"
#include "failover_int.h"
#include "witness.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "state.h"
#include "store.h"
#include "usage.h"
#include "util.h"

/* Guards every poller's refused_polls and last_error (failover_int.h). */
pthread_mutex_t poll_error_mu = PTHREAD_MUTEX_INITIALIZER;

/* Is backup b polling us: its next poll due within one poll interval (after
 * the wait of a held one)? Then synchronous_backup waits for it. */
static int
backup_watching(const struct backup_seen *b, int64_t now)
{
	return b->last_ms > 0 &&
	    now - b->last_ms <= (int64_t)(1000 * b->interval) + b->wait_ms + 250;
}

/* Has backup b been silent for more than BACKUP_LOST_POLLS of its poll
 * intervals (and the wait of a held poll)? One never seen since we
 * started counts from our start. */
static int
backup_silent(const struct backup_seen *b, int64_t now, int64_t started)
{
	int64_t from = b->last_ms > 0 ? b->last_ms : started;

	return now - from > (int64_t)(BACKUP_LOST_POLLS * 1000 * b->interval) + b->wait_ms;
}

/* Recompute what the backups hold after a poll or as time passes. */
static void
ack_refresh(struct failover *fo)
{
	int64_t now = util_mono_ms();
	int watched = 0;
	uint64_t seq = UINT64_MAX;

	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->nbackups; i++) {
		const struct backup_seen *b = &fo->backups[i];
		if (!backup_watching(b, now))
			continue;
		watched = 1;
		if (b->acked < seq)
			seq = b->acked;
	}
	pthread_mutex_unlock(&fo->mu);
	ackwait_update(watched, watched ? seq : 0, 0);
}

/* STATE_DIR/NAME */
static char *
state_path(struct server *srv, const char *name)
{
	return util_path_join(srv->cfg.state_dir, name);
}

/* ---- persistence: backups.json (Primary) and mirror-NAME.json (backup) ---- */

static void
backups_load(struct failover *fo)
{
	char *path = state_path(fo->srv, "backups.json");
	json_t *arr = path ? json_load_path(path, UTIL_STATE_MAX, NULL) : NULL, *v;
	size_t i;

	free(path);
	json_array_foreach(json_object_get(arr, "backups"), i, v) {
		const char *name = json_str(v, "name", NULL), *url = json_str(v, "url", NULL);
		if (!util_valid_id(name) || !failcfg_valid_url(url))
			continue;
		struct backup_seen *nb = realloc(fo->backups, (fo->nbackups + 1) * sizeof(*nb));
		if (nb == NULL)
			break;
		fo->backups = nb;
		struct backup_seen *b = &fo->backups[fo->nbackups++];
		memset(b, 0, sizeof(*b));
		util_strlcpy(b->name, name, sizeof(b->name));
		util_strlcpy(b->url, url, sizeof(b->url));
		b->interval = json_real_value(json_object_get(v, "interval"));
		if (!(b->interval > 0 && b->interval <= 3600))
			b->interval = 1;
		fence_note_backup(fo->srv->fence, name, url);
	}
	json_decref(arr);
}

static void
backups_save(struct failover *fo)
{
	json_t *arr = json_array();
	char err[256], *text, *path;

	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->nbackups; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:f}", "name",
		    fo->backups[i].name, "url", fo->backups[i].url, "interval",
		    fo->backups[i].interval));
	fo->backups_dirty = 0;
	pthread_mutex_unlock(&fo->mu);
	json_t *doc = json_pack("{s:o}", "backups", arr);
	text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	path = state_path(fo->srv, "backups.json");
	if (text != NULL && path != NULL &&
	    state_write_atomic(path, text, strlen(text), 0600, err, sizeof(err)) != 0)
		log_warnx("%s", err);
	free(text);
	free(path);
}

struct wanted {
	struct failover_conf *v;
	int *from_config;
	size_t n;
};

static int
wanted_load(struct server *srv, struct wanted *w, char *err, size_t errlen)
{
	struct failcfg rt;

	if (failcfg_load(srv->cfg.state_dir, &rt, err, errlen) != 0)
		return -1;
	w->n = 0;
	w->v = calloc(srv->cfg.nfailover + rt.n + 1, sizeof(*w->v));
	w->from_config = calloc(srv->cfg.nfailover + rt.n + 1, sizeof(int));
	if (w->v == NULL || w->from_config == NULL) {
		failcfg_free(&rt);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < srv->cfg.nfailover; i++) {
		if (failcfg_find(&rt, srv->cfg.failover[i].name) != NULL)
			continue;
		w->v[w->n] = srv->cfg.failover[i];
		w->from_config[w->n++] = 1;
	}
	for (size_t i = 0; i < rt.n; i++) {
		struct failover_conf *fc = &w->v[w->n];
		if (strcmp(rt.v[i].name, srv->cfg.name) == 0)
			continue;
		memset(fc, 0, sizeof(*fc));
		util_strlcpy(fc->name, rt.v[i].name, sizeof(fc->name));
		util_strlcpy(fc->url, rt.v[i].url, sizeof(fc->url));
		fc->poll_interval = rt.v[i].poll_interval;
		fc->fail_after = rt.v[i].fail_after;
		for (size_t k = 0; k < srv->cfg.nfailover; k++)
			if (strcmp(srv->cfg.failover[k].name, fc->name) == 0)
				util_strlcpy(fc->witness, srv->cfg.failover[k].witness,
				    sizeof(fc->witness));
		w->from_config[w->n++] = 0;
	}
	failcfg_free(&rt);
	return 0;
}

static void
wanted_free(struct wanted *w)
{
	free(w->v);
	free(w->from_config);
}

/* Seats of pool p that this server holds while it serves the pool
 * (hot-retry), and in *ended those that ended here and that its Primary
 * has not yet been told of (the handback tells it). */
static long
pool_serving(struct server *srv, const struct pool *p, long *ended)
{
	long seats = 0;

	*ended = 0;
	pthread_mutex_lock(&srv->store->lock);
	if (p->status == POOL_HOT_RETRY) {
		for (size_t i = 0; i < srv->store->nlics; i++)
			if (srv->store->lics[i]->pool == p)
				seats += srv->store->lics[i]->in_use;
		if (p->released != NULL)
			*ended = (long)json_array_size(p->released);
	}
	pthread_mutex_unlock(&srv->store->lock);
	return seats;
}

/* A Primary this server no longer backs up: forget its licenses and its
 * mirror, so the Licenses table stops showing them as warm. A pool served
 * here (hot-retry) that holds seats, or leases that ended here, is kept:
 * they stay until its Primary takes them back when it starts (POST
 * /v1/peer/release). DELETE /v1/admin/failover refuses to get here; a
 * reload that drops the config section does not. */
static void
pool_forget(struct server *srv, struct pool *p)
{
	long ended;

	if (pool_serving(srv, p, &ended) > 0 || ended > 0) {
		log_warnx("no longer backing up \"%s\", but serving its pool: its seats stay "
		    "here until \"%s\" takes them back", p->name, p->name);
		return;
	}
	store_pool_set_licenses(srv->store, p, NULL);
	store_mirror_full(srv->store, p, NULL);
	pthread_mutex_lock(&srv->store->lock);
	p->primary_epoch[0] = '\0';	/* backed up again: resync in full */
	p->primary_seq = 0;
	p->failed_polls = 0;
	p->last_poll_ms = 0;
	p->dirty = 0;
	p->status = POOL_WARM;	/* served with no seat left: not any more */
	pthread_mutex_unlock(&srv->store->lock);
	mirror_remove(srv, p);
	log_info("no longer backing up \"%s\"", p->name);
}

/* Make the pollers match the configuration and the runtime file. One
 * apply at a time, and none once failover_stop has run (-2). */
static int
failover_apply(struct server *srv, char *err, size_t errlen)
{
	struct failover *fo = fo_of(srv);
	struct wanted w;
	struct poller **stopped = NULL;
	size_t nstopped = 0;

	pthread_mutex_lock(&fo->apply_mu);
	if (fo->stopped) {
		pthread_mutex_unlock(&fo->apply_mu);
		snprintf(err, errlen, "server \"%s\" is shutting down", srv->cfg.name);
		return -2;
	}
	if (wanted_load(srv, &w, err, errlen) != 0) {
		pthread_mutex_unlock(&fo->apply_mu);
		return -1;
	}
	pthread_mutex_lock(&fo->mu);
	/* Stop pollers whose Primary is gone or whose settings changed. */
	for (size_t i = 0; i < fo->npollers; ) {
		struct poller *pl = fo->pollers[i];
		size_t k;
		for (k = 0; k < w.n; k++)
			if (strcmp(w.v[k].name, pl->name) == 0)
				break;
		if (k < w.n && strcmp(w.v[k].url, pl->url) == 0 &&
		    w.v[k].poll_interval == pl->interval && w.v[k].fail_after == pl->fail_after &&
		    strcmp(w.v[k].witness, pl->witness) == 0) {
			pl->from_config = w.from_config[k];
			i++;
			continue;
		}
		atomic_store(&pl->stop, 1);
		struct poller **ns = realloc(stopped, (nstopped + 1) * sizeof(*ns));
		if (ns != NULL) {
			stopped = ns;
			stopped[nstopped++] = pl;
		}
		fo->pollers[i] = fo->pollers[--fo->npollers];
	}
	pthread_cond_broadcast(&fo->cv);
	pthread_mutex_unlock(&fo->mu);
	for (size_t i = 0; i < nstopped; i++) {
		int kept = 0;
		poller_join(stopped[i]);
		for (size_t k = 0; k < w.n; k++)
			kept |= strcmp(w.v[k].name, stopped[i]->name) == 0;
		if (!kept)
			pool_forget(srv, stopped[i]->pool);
		else
			log_info("stopped polling \"%s\" (its settings changed)",
			    stopped[i]->name);
		free(stopped[i]);
	}
	free(stopped);

	/* Start the missing ones. */
	for (size_t k = 0; k < w.n; k++) {
		int have = 0;
		pthread_mutex_lock(&fo->mu);
		for (size_t i = 0; i < fo->npollers; i++)
			have |= strcmp(fo->pollers[i]->name, w.v[k].name) == 0;
		pthread_mutex_unlock(&fo->mu);
		if (have)
			continue;
		struct poller *pl = calloc(1, sizeof(*pl));
		if (pl == NULL)
			break;
		pl->srv = srv;
		util_strlcpy(pl->name, w.v[k].name, sizeof(pl->name));
		util_strlcpy(pl->url, w.v[k].url, sizeof(pl->url));
		util_strlcpy(pl->witness, w.v[k].witness, sizeof(pl->witness));
		pl->interval = w.v[k].poll_interval;
		pl->fail_after = w.v[k].fail_after;
		pl->from_config = w.from_config[k];
		pthread_mutex_lock(&srv->store->lock);
		int is_new = store_pool(srv->store, pl->name) == NULL;
		pl->pool = store_add_pool(srv->store, pl->name, pl->url);
		pthread_mutex_unlock(&srv->store->lock);
		if (pl->pool == NULL) {
			free(pl);
			break;
		}
		if (is_new && !fo->started)
			mirror_load(srv, pl->pool);
		pthread_mutex_lock(&fo->mu);
		struct poller **np = realloc(fo->pollers, (fo->npollers + 1) * sizeof(*np));
		if (np != NULL) {
			fo->pollers = np;
			fo->pollers[fo->npollers++] = pl;
		}
		pthread_mutex_unlock(&fo->mu);
		if (np == NULL) {
			free(pl);
			break;
		}
		if (fo->started)
			poller_start(pl);
		log_info("backing up \"%s\" at %s (poll every %gs, take over after %d missed%s%s)",
		    pl->name, pl->url, pl->interval, pl->fail_after,
		    pl->witness[0] ? ", witness " : "", pl->witness);
	}
	wanted_free(&w);
	pthread_mutex_unlock(&fo->apply_mu);
	return 0;
}

static void
ini_mtime(struct server *srv, struct timespec *ts)
{
	char *path = state_path(srv, FAILCFG_FILE);
	struct stat st;

	memset(ts, 0, sizeof(*ts));
	if (path != NULL && stat(path, &st) == 0)
		*ts = st.st_mtim;
	free(path);
}

int
failover_init(struct server *srv, char *err, size_t errlen)
{
	struct failover *fo = calloc(1, sizeof(*fo));

	if (fo == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fo->srv = srv;
	mirror_init();
	/* A change to our own pool is answered once our backups hold it. */
	if (srv->cfg.synchronous_backup) {
		srv->reply_wait = ackwait_wait;
		srv->reply_unwait = ackwait_unwait;
	}
	pthread_mutex_init(&fo->apply_mu, NULL);
	pthread_mutex_init(&fo->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fo->cv, &ca);
	pthread_condattr_destroy(&ca);
	srv->failover = fo;
	backups_load(fo);
	ini_mtime(srv, &fo->ini_mtime);
	return failover_apply(srv, err, errlen);
}

void
failover_start(struct server *srv)
{
	struct failover *fo = fo_of(srv);

	peersync_start(srv);
	/* An apply on an HTTP thread starts its pollers itself, or leaves
	 * them to this. */
	pthread_mutex_lock(&fo->apply_mu);
	pthread_mutex_lock(&fo->mu);
	fo->started = 1;
	for (size_t i = 0; i < fo->npollers; i++) {
		struct poller *pl = fo->pollers[i];
		/* What we promised before a restart is forgotten: take it that
		 * we promised the most (a takeover time) just now. */
		pthread_mutex_lock(&srv->store->lock);
		pl->pool->fenced_until_ms = util_mono_ms() +
		    (int64_t)(pl->interval * pl->fail_after * 1000);
		pthread_mutex_unlock(&srv->store->lock);
		/* We were serving this pool when we stopped: go on until the
		 * Primary answers and takes it back. */
		if (store_pool_has_leases(srv->store, pl->pool)) {
			pthread_mutex_lock(&srv->store->lock);
			pl->pool->status = POOL_HOT_RETRY;
			pthread_mutex_unlock(&srv->store->lock);
			log_info("pool \"%s\": serving its leases again until \"%s\" takes them back",
			    pl->name, pl->name);
		}
		poller_start(pl);
	}
	pthread_mutex_unlock(&fo->mu);
	pthread_mutex_unlock(&fo->apply_mu);
}

void
failover_stop(struct server *srv)
{
	struct failover *fo = fo_of(srv);

	if (fo == NULL)
		return;
	if (srv->journal != NULL)
		peersync_stop(srv);
	ackwait_update(0, 0, 1);
	witness_stop();
	pthread_mutex_lock(&fo->apply_mu);
	fo->stopped = 1;
	pthread_mutex_unlock(&fo->apply_mu);
	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->npollers; i++)
		atomic_store(&fo->pollers[i]->stop, 1);
	pthread_cond_broadcast(&fo->cv);
	pthread_mutex_unlock(&fo->mu);
	/* No apply changes fo->pollers any more: joined outside fo->mu,
	 * which the pollers take. */
	for (size_t i = 0; i < fo->npollers; i++)
		poller_join(fo->pollers[i]);
}

void
failover_free(struct server *srv)
{
	struct failover *fo = fo_of(srv);

	if (fo == NULL)
		return;
	for (size_t i = 0; i < fo->npollers; i++) {
		mirror_persist(srv, fo->pollers[i]->pool, 1);
		free(fo->pollers[i]);
	}
	mirror_close_all();
	if (fo->backups_dirty)
		backups_save(fo);
	free(fo->pollers);
	free(fo->backups);
	pthread_mutex_destroy(&fo->apply_mu);
	pthread_mutex_destroy(&fo->mu);
	pthread_cond_destroy(&fo->cv);
	free(fo);
	srv->failover = NULL;
}

void
failover_tick(struct server *srv)
{
	struct failover *fo = fo_of(srv);
	int64_t now = util_mono_ms();
	int watched = 0;
	struct timespec mt;

	char err[512];

	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->nbackups; i++) {
		struct backup_seen *b = &fo->backups[i];
		if (backup_watching(b, now))
			watched = 1;
		int silent = backup_silent(b, now, srv->started_mono_ms);
		if (silent == b->lost)
			continue;
		b->lost = silent;
		double age = (now - (b->last_ms > 0 ? b->last_ms : srv->started_mono_ms)) / 1000.0;
		if (silent) {
			b->lost_since = time(NULL);
			log_warnx("backup \"%s\" at %s lost: no poll for %.1fs (%d poll intervals "
			    "of %gs); pool \"%s\" has no backup", b->name, b->url, age,
			    BACKUP_LOST_POLLS, b->interval, srv->cfg.name);
		} else {
			log_info("backup \"%s\" at %s is back: it polls again; pool \"%s\" is "
			    "backed up", b->name, b->url, srv->cfg.name);
		}
	}
	int save = fo->backups_dirty;
	pthread_mutex_unlock(&fo->mu);
	ack_refresh(fo);
	pthread_mutex_lock(&srv->store->lock);
	srv->store->pools[0]->status = watched ? POOL_HOT_WARM : POOL_HOT;
	pthread_mutex_unlock(&srv->store->lock);
	if (save)
		backups_save(fo);

	/* An apply on an HTTP thread may add a pool (store_add_pool moves
	 * the array) meanwhile: read it under the store lock. A pool, once
	 * added, stays at its index until the store is freed. */
	for (size_t i = 1;; i++) {
		pthread_mutex_lock(&srv->store->lock);
		struct pool *p = i < srv->store->npools ? srv->store->pools[i] : NULL;
		int dirty = p != NULL && p->dirty;
		pthread_mutex_unlock(&srv->store->lock);
		if (p == NULL)
			break;
		if (dirty)
			mirror_persist(srv, p, 0);
	}
	ini_mtime(srv, &mt);
	pthread_mutex_lock(&fo->mu);
	int changed = mt.tv_sec != fo->ini_mtime.tv_sec || mt.tv_nsec != fo->ini_mtime.tv_nsec;
	fo->ini_mtime = mt;
	pthread_mutex_unlock(&fo->mu);
	if (changed && failover_apply(srv, err, sizeof(err)) != 0)
		log_warnx("failover settings unchanged: %s", err);
}

/* ---- Primary side: merging a backup's leases ---- */

/* Take a backup's leases back: 0 once they are on our disk, and the pool
 * ours again; -1 when some are not (no memory, storage unavailable): the
 * backup must keep the pool and hand it back again later. */
static int
merge_payload(struct server *srv, json_t *payload, const char *from)
{
	int adopted, ended, lost;
	uint64_t seq = store_merge_handback(srv->store, payload, &adopted, &ended, &lost);

	if (journal_sync_to(srv->journal, seq) != 0 || lost) {
		log_warnx("handback from \"%s\" not taken: %s; it keeps the pool and hands it "
		    "back again", from, lost ? "a lease could not be journaled (out of memory)" :
		    "the journal cannot write");
		return -1;
	}
	fence_handed_back(srv->fence, from);
	size_t n = json_array_size(json_object_get(payload, "leases"));
	if (n == 0 && adopted == 0 && ended == 0)
		return 0;
	/* The same count as the backup's "handed pool back" line, then what
	 * became of them here. */
	log_info("handback from \"%s\": %zu lease%s handed back (%d new here, the others "
	    "held here already or ended), %d ended while it served", from, n, n == 1 ? "" : "s",
	    adopted, ended);
	usage_event("handback", json_pack("{s:s, s:s, s:s, s:i, s:i}", "pool", srv->cfg.name,
	    "from", from, "by", srv->cfg.name, "adopted", adopted, "ended", ended));
	return 0;
}

void
failover_reclaim(struct server *srv)
{
	struct failover *fo = fo_of(srv);
	int64_t deadline = util_mono_ms() + srv->cfg.handback_wait_ms;
	char url[700], body[256];

	for (size_t i = 0; i < fo->nbackups; i++) {
		struct backup_seen *b = &fo->backups[i];
		int64_t left = deadline - util_mono_ms();
		if (left <= 0) {
			log_warnx("handback: no time left to ask %s; it hands back when it polls",
			    b->url);
			continue;
		}
		struct http_options ho = { left < 1000 ? left : 1000, left, srv->peer_token,
		    srv->cfg.ca, NULL };
		struct http_client *c = http_client_new(&ho);
		struct http_response resp;
		if (c == NULL)
			continue;
		snprintf(url, sizeof(url), "%s/v1/peer/release", b->url);
		snprintf(body, sizeof(body), "{\"pool\":\"%s\"}", srv->cfg.name);
		if (http_request(c, "POST", url, body, &resp) == 0 && resp.status == 200) {
			json_t *payload = json_loads(resp.body, 0, NULL);
			/* Not merged: no commit, the backup keeps the pool. */
			if (payload != NULL && merge_payload(srv, payload, b->name) == 0) {
				http_response_clear(&resp);
				snprintf(body, sizeof(body), "{\"pool\":\"%s\",\"commit\":true}",
				    srv->cfg.name);
				if (http_request(c, "POST", url, body, &resp) != 0 ||
				    resp.status != 200)
					log_warnx("handback: %s did not confirm; it will hand back "
					    "when it polls", b->url);
			}
			json_decref(payload);
		} else {
			log_warnx("handback: backup \"%s\" at %s: %s", b->name, b->url,
			    resp.status ? "error answer" : resp.error);
		}
		http_response_clear(&resp);
		http_client_free(c);
	}
}

/* ---- routes ---- */

void
api_peer_sync(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	struct failover *fo = fo_of(srv);
	const char *qs = req_query(r, "since"), *qe = req_query(r, "epoch");
	const char *qn = req_query(r, "name"), *qu = req_query(r, "url");
	const char *qi = req_query(r, "interval"), *qw = req_query(r, "wait");
	uint64_t since = qs ? strtoull(qs, NULL, 10) : 0;
	double interval = qi ? atof(qi) : 1;
	char burl[512] = "";

	(void)arg;
	if (!util_valid_id(qn) || (qu != NULL && qu[0] != '\0' && !failcfg_valid_url(qu))) {
		req_error(r, 400, "bad_request", "sync needs name=BACKUP-NAME and url=BACKUP-URL");
		return;
	}
	if (!(interval > 0 && interval <= 3600))
		interval = 1;
	/* How long we wait for a backup that stops polling (synchronous_backup)
	 * follows from its interval: it may not announce a long one. */
	if (interval > PEER_INTERVAL_MAX)
		interval = PEER_INTERVAL_MAX;
	pthread_mutex_lock(&fo->mu);
	struct backup_seen *b = NULL;
	for (size_t i = 0; i < fo->nbackups; i++)
		if (strcmp(fo->backups[i].name, qn) == 0)
			b = &fo->backups[i];
	if (b == NULL) {
		struct backup_seen *nb = realloc(fo->backups, (fo->nbackups + 1) * sizeof(*nb));
		if (nb != NULL) {
			fo->backups = nb;
			b = &fo->backups[fo->nbackups++];
			memset(b, 0, sizeof(*b));
			util_strlcpy(b->name, qn, sizeof(b->name));
			fo->backups_dirty = 1;
			char url_esc[FAILCFG_URL_MAX * 4];
			log_info("backup \"%s\" at %s polls this server", qn,
			    log_escape(url_esc, sizeof(url_esc), qu ? qu : "?"));
		}
	}
	if (b != NULL) {
		if (qu != NULL && qu[0] != '\0' && strcmp(b->url, qu) != 0) {
			util_strlcpy(b->url, qu, sizeof(b->url));
			fo->backups_dirty = 1;
		}
		b->last_ms = util_mono_ms();
		if (b->interval != interval)
			fo->backups_dirty = 1;
		b->interval = interval;
		b->wait_ms = qw != NULL && atol(qw) > 0 && srv->cfg.synchronous_backup ?
		    (atol(qw) < LONG_POLL_MAX_MS ? atol(qw) : LONG_POLL_MAX_MS) : 0;
		util_strlcpy(burl, b->url, sizeof(burl));
		/* since counts only in our epoch: else it holds nothing of ours */
		b->acked = qe != NULL && strcmp(qe, srv->epoch) == 0 ? since : 0;
	}
	pthread_mutex_unlock(&fo->mu);
	fence_note_backup(srv->fence, qn, burl);
	ack_refresh(fo);

	int full = qe == NULL || strcmp(qe, srv->epoch) != 0;
	/* Held only with synchronous_backup: without it, mirroring is
	 * asynchronous (a poll an interval), as slserve.conf(5) says. */
	long wait_ms = qw != NULL && srv->cfg.synchronous_backup ? atol(qw) : 0;
	if (wait_ms > LONG_POLL_MAX_MS)
		wait_ms = LONG_POLL_MAX_MS;
	/* A Primary that cannot write its journal cannot serve: it answers
	 * at once, 503, a failed poll for the backup, which takes over after
	 * fail_after of them (and once our fence promise has run out,
	 * fence.c); see peersync_reply. */
	if (!full && wait_ms > 0 && journal_last_seq(srv->journal) <= since &&
	    journal_storage(srv->journal, NULL) && peersync_hold(r, since, wait_ms, qn) == 0)
		return;
	peersync_reply(r, since, full, wait_ms);
}

void
api_peer_handback(struct req *r, const char *arg)
{
	json_t *o;

	(void)arg;
	if ((o = req_json(r, api_handback_fields, 0)) == NULL)
		return;
	if (strcmp(json_str(o, "pool", ""), r->srv->cfg.name) != 0) {
		req_error(r, 409, "wrong_pool", "this is server \"%s\", not \"%s\"",
		    r->srv->cfg.name, json_str(o, "pool", ""));
		json_decref(o);
		return;
	}
	if (merge_payload(r->srv, o, json_str(o, "from", "?")) != 0) {
		json_decref(o);
		req_error(r, 503, "storage_unavailable", "server \"%s\" could not record the "
		    "leases handed back; hand back again later", r->srv->cfg.name);
		return;
	}
	json_decref(o);
	r->reply.status = 200;
	r->reply.body = json_pack("{s:b}", "accepted", 1);
}

void
api_peer_release(struct req *r, const char *arg)
{
	json_t *o;

	(void)arg;
	if ((o = req_json(r, api_handback_fields, 0)) == NULL)
		return;
	struct store *s = r->srv->store;
	pthread_mutex_lock(&s->lock);
	struct pool *p = store_pool(s, json_str(o, "pool", ""));
	int own = p != NULL && p->own;
	enum pool_status status = p != NULL ? p->status : POOL_WARM;
	pthread_mutex_unlock(&s->lock);
	if (p == NULL || own) {
		req_error(r, 404, "unknown_pool", "server \"%s\" does not back up \"%s\"",
		    r->srv->cfg.name, json_str(o, "pool", ""));
	} else if (json_is_true(json_object_get(o, "commit"))) {
		/* 0 unless our prepare still holds the pool */
		uint64_t seq = store_handback_commit(s, p, HANDBACK_PULL);
		journal_sync_to(r->srv->journal, seq);
		r->reply.status = 200;
		r->reply.body = json_pack("{s:b}", "committed", 1);
	} else if (status == POOL_HOT_RETRY) {
		r->reply.status = 200;
		r->reply.body = store_handback_prepare(s, p, HANDBACK_PULL);
	} else {
		r->reply.status = 200;
		r->reply.body = json_pack("{s:s, s:s, s:[], s:[]}", "pool", p->name, "from",
		    r->srv->cfg.name, "leases", "released");
	}
	json_decref(o);
}

void
failover_health(struct server *srv, json_t *health)
{
	struct failover *fo = fo_of(srv);
	json_t *backups = json_array(), *backs = json_array();
	int64_t now = util_mono_ms();

	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->nbackups; i++) {
		struct backup_seen *b = &fo->backups[i];
		json_array_append_new(backups, json_pack("{s:s, s:s, s:o, s:s, s:o}", "name",
		    b->name, "url", b->url, "last_poll_age",
		    b->last_ms ? json_real((now - b->last_ms) / 1000.0) : json_null(),
		    "state", b->lost ? "lost" : "polling",
		    "since", b->lost ? json_integer((json_int_t)b->lost_since) : json_null()));
	}
	for (size_t i = 0; i < fo->npollers; i++) {
		json_t *o = poller_json(srv, fo->pollers[i], now);
		/* health names the Primary "pool"; the failover settings "name" */
		json_object_set(o, "pool", json_object_get(o, "name"));
		json_object_del(o, "name");
		json_array_append_new(backs, o);
	}
	pthread_mutex_unlock(&fo->mu);
	/* Each backup's promise not to take over (fence.c). */
	json_t *fences = fence_json(srv->fence), *v, *fv;
	size_t i, k;
	json_array_foreach(backups, i, v) {
		json_array_foreach(fences, k, fv) {
			if (strcmp(json_str(fv, "name", ""), json_str(v, "name", "")) != 0)
				continue;
			json_object_set(v, "fence", json_object_get(fv, "fence"));
			if (json_object_get(fv, "fence_left") != NULL)
				json_object_set(v, "fence_left", json_object_get(fv, "fence_left"));
		}
	}
	json_decref(fences);
	json_object_set_new(health, "backups", backups);
	json_object_set_new(health, "backs_up", backs);
}

const char *
failover_redundancy(struct server *srv)
{
	struct failover *fo = fo_of(srv);
	const char *r = "none";

	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->nbackups; i++)
		if (fo->backups[i].lost)
			r = "lost";
		else if (strcmp(r, "none") == 0)
			r = "ok";
	pthread_mutex_unlock(&fo->mu);
	return r;
}

void
api_failover_get(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	struct failover *fo = fo_of(srv);
	json_t *arr = json_array();
	int64_t now = util_mono_ms();

	(void)arg;
	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->npollers; i++)
		json_array_append_new(arr, poller_json(srv, fo->pollers[i], now));
	pthread_mutex_unlock(&fo->mu);
	r->reply.status = 200;
	r->reply.body = json_pack("{s:s, s:o}", "server", srv->cfg.name, "failover", arr);
}

/* The runtime file changed under our hands: apply it, answer with the result. */
static void
failover_reapply(struct req *r)
{
	struct failover *fo = fo_of(r->srv);
	struct timespec mt;
	char err[512];

	/* Each apply reads the whole file: whichever runs last, ours or the
	 * tick's, leaves the pollers as the file says. */
	ini_mtime(r->srv, &mt);
	pthread_mutex_lock(&fo->mu);
	fo->ini_mtime = mt;
	pthread_mutex_unlock(&fo->mu);
	int rc = failover_apply(r->srv, err, sizeof(err));
	if (rc != 0) {
		req_error(r, rc == -2 ? 503 : 500, rc == -2 ? "stopping" : "state", "%s", err);
		return;
	}
	api_failover_get(r, NULL);
}

/*
 * Would clearing the runtime entry NAME drop a pool this server serves?
 * Its seats would stay here with nobody to hand them back (nor the leases
 * that ended here), until the Primary's next start: refuse (409) and say
 * so. Returns 1 when refused.
 */
static int
failover_clear_refused(struct req *r, const char *name)
{
	struct server *srv = r->srv;
	struct failcfg rt;
	char err[512];
	long seats, ended;
	int runtime;

	for (size_t i = 0; i < srv->cfg.nfailover; i++)
		if (strcmp(srv->cfg.failover[i].name, name) == 0)
			return 0;	/* the config section takes over again */
	if (failcfg_load(srv->cfg.state_dir, &rt, err, sizeof(err)) != 0)
		return 0;	/* failcfg_clear says why */
	runtime = failcfg_find(&rt, name) != NULL;
	failcfg_free(&rt);
	pthread_mutex_lock(&srv->store->lock);
	struct pool *p = store_pool(srv->store, name);
	pthread_mutex_unlock(&srv->store->lock);
	if (!runtime || p == NULL || p->own)
		return 0;
	seats = pool_serving(srv, p, &ended);
	if (seats == 0 && ended == 0)
		return 0;
	if (ended > 0)
		snprintf(err, sizeof(err), ", and %ld that ended here and that \"%s\" has not "
		    "been told of", ended, name);
	else
		err[0] = '\0';
	req_error(r, 409, "serving", "this server is serving pool \"%s\" while \"%s\" is "
	    "down: it holds %ld %s of it%s; clearing would strand them here. Wait until "
	    "\"%s\" answers again and takes them back (handback; its status returns to "
	    "warm), then clear", name, name, seats, seats == 1 ? "seat" : "seats", err, name);
	return 1;
}

void
api_failover_put(struct req *r, const char *arg)
{
	struct failcfg_entry e;
	char err[512];
	json_t *o;

	(void)arg;
	if ((o = req_json(r, api_failover_fields, 0)) == NULL)
		return;
	failcfg_entry_init(&e, json_str(o, "name", ""), json_str(o, "url", ""));
	if (json_object_get(o, "poll_interval") != NULL)
		e.poll_interval = json_number_value(json_object_get(o, "poll_interval"));
	if (json_object_get(o, "fail_after") != NULL)
		e.fail_after = (int)json_integer_value(json_object_get(o, "fail_after"));
	json_decref(o);
	if (strcmp(e.name, r->srv->cfg.name) == 0) {
		req_error(r, 400, "bad_request", "server \"%s\" cannot back up itself", e.name);
		return;
	}
	if (failcfg_validate(&e, err, sizeof(err)) != 0) {
		req_error(r, 400, "bad_request", "%s", err);
		return;
	}
	if (failcfg_set(r->srv->cfg.state_dir, &e, NULL, err, sizeof(err)) != 0) {
		req_error(r, 500, "state", "%s", err);
		return;
	}
	failover_reapply(r);
}

void
api_failover_delete(struct req *r, const char *arg)
{
	char err[512];
	int rc;

	if (!util_valid_id(arg)) {
		req_error(r, 400, "bad_request", "invalid name");
		return;
	}
	if (failover_clear_refused(r, arg))
		return;
	rc = failcfg_clear(r->srv->cfg.state_dir, arg, NULL, err, sizeof(err));
	if (rc < 0) {
		req_error(r, 500, "state", "%s", err);
		return;
	}
	if (rc == 1) {
		for (size_t i = 0; i < r->srv->cfg.nfailover; i++) {
			if (strcmp(r->srv->cfg.failover[i].name, arg) == 0) {
				req_error(r, 409, "in_config", "failover \"%s\" is set in %s:%d; "
				    "remove it there", arg, r->srv->cfg.file,
				    r->srv->cfg.failover[i].line);
				return;
			}
		}
		req_error(r, 404, "not_found", "this server does not back up \"%s\"", arg);
		return;
	}
	failover_reapply(r);
}

/*
 * POST /v1/peer/fence {"pool","epoch","ttl_ms"}: a Primary asks us, its
 * backup, to promise not to take its pool over for ttl_ms (capped at our
 * own takeover time, poll_interval x fail_after) from now; see fence.c.
 * Answers {"serving":false,"ttl_ms":T}, or {"serving":true} when we serve
 * the pool already (it is then the Primary that must hold back).
 */
void
api_peer_fence(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	struct failover *fo = fo_of(srv);
	int64_t cap = -1, ttl;
	json_t *o;

	(void)arg;
	if ((o = req_json(r, api_fence_fields, 0)) == NULL)
		return;
	const char *name = json_str(o, "pool", "");
	ttl = json_int(o, "ttl_ms", 0);
	pthread_mutex_lock(&fo->mu);
	for (size_t i = 0; i < fo->npollers; i++)
		if (strcmp(fo->pollers[i]->name, name) == 0)
			cap = (int64_t)(fo->pollers[i]->interval * fo->pollers[i]->fail_after * 1000);
	pthread_mutex_unlock(&fo->mu);
	if (cap < 0) {
		req_error(r, 404, "unknown_pool", "server \"%s\" does not back up \"%s\"",
		    srv->cfg.name, name);
		json_decref(o);
		return;
	}
	if (ttl > cap)
		ttl = cap;
	pthread_mutex_lock(&srv->store->lock);
	struct pool *p = store_pool(srv->store, name);
	int serving = p == NULL || p->own || p->status == POOL_HOT_RETRY;
	/* Handing back: it serves no more unless the handback fails; the
	 * Primary asks again in a moment. */
	int handing = serving && p != NULL && p->handing;
	if (!serving && util_mono_ms() + ttl > p->fenced_until_ms)
		p->fenced_until_ms = util_mono_ms() + ttl;
	pthread_mutex_unlock(&srv->store->lock);
	r->reply.status = 200;
	r->reply.body = serving ? json_pack("{s:b, s:b, s:s}", "serving", 1, "handing", handing,
	    "server", srv->cfg.name) : json_pack("{s:b, s:I, s:s}", "serving", 0, "ttl_ms",
	    (json_int_t)ttl, "server", srv->cfg.name);
	json_decref(o);
}

void
failover_tick_fast(struct server *srv)
{
	peersync_tick(srv);
}
