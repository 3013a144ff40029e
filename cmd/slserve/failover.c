/*
 * failover.c: this server as a backup (a poller thread per Primary it backs
 * up: polls, takeover, handback) and as a Primary (the registry of the
 * backups that poll it, what they acknowledged), and the failover routes.
 * The mirror files are mirrorlog.c's, the sync answers and long polls
 * peersync.c's, the fence fence.c's, taking a pool back handback.c's.
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

/* Guards every poller's refused_polls and last_error (failover_int.h);
 * lock order: locks.h. */
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

/* A backup named name added to fo's, all else zero; NULL when there is no
 * memory. With fo->mu held, or before the server serves. */
static struct backup_seen *
backup_add(struct failover *fo, const char *name)
{
	struct backup_seen *nb = realloc(fo->backups, (fo->nbackups + 1) * sizeof(*nb));

	if (nb == NULL)
		return NULL;
	fo->backups = nb;
	struct backup_seen *b = &fo->backups[fo->nbackups++];
	memset(b, 0, sizeof(*b));
	util_strlcpy(b->name, name, sizeof(b->name));
	return b;
}

static void
backups_load(struct failover *fo)
{
	char *path = state_path(fo->srv, "backups.json");
	json_t *arr = path ? js_load_path(path, UTIL_STATE_MAX, NULL) : NULL, *v;
	size_t i;

	free(path);
	json_array_foreach(json_object_get(arr, "backups"), i, v) {
		const char *name = js_str(v, "name", NULL), *url = js_str(v, "url", NULL);
		if (!util_valid_id(name) || !failcfg_valid_url(url))
			continue;
		struct backup_seen *b = backup_add(fo, name);
		if (b == NULL)
			break;
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

/* A Primary this server no longer backs up: forget its licenses and its
 * mirror, so the Licenses table stops showing them as warm. A pool served
 * here (hot-retry) that holds seats, or leases that ended here, is kept:
 * they stay until its Primary takes them back when it starts (POST
 * /v1/peer/release). DELETE /v1/admin/failover refuses to get here; a
 * reload that drops the config section does not. */
static void
pool_forget(struct server *srv, struct pool *p)
{
	const char *name = store_pool_name(p);
	long ended;

	if (store_pool_serving(srv->store, p, &ended) > 0 || ended > 0) {
		log_warnx("no longer backing up \"%s\", but serving its pool: its seats stay "
		    "here until \"%s\" takes them back", name, name);
		return;
	}
	store_pool_set_licenses(srv->store, p, NULL);
	store_mirror_full(srv->store, p, NULL, NULL, 0);
	store_pool_reset(srv->store, p);
	mirror_remove(srv, p);
	log_info("no longer backing up \"%s\"", name);
}

/*
 * A PUT or DELETE /v1/admin/failover whose apply stopped pollers for good:
 * answered once their pools are forgotten (poller_finish), without an
 * HTTP thread waiting for that. left counts them, and the handler itself
 * until it has held the request; with fo->mu.
 */
struct apply_wait {
	struct req *r;
	size_t left;
	int rc;
	char err[512];
};

/* A stopped poller, to be joined: with fo->mu held. 0, or -1 when out of
 * memory (then the caller joins it). */
static int
retire_locked(struct failover *fo, struct poller *pl)
{
	struct poller **nr = realloc(fo->retiring, (fo->nretiring + 1) * sizeof(*nr));

	if (nr == NULL)
		return -1;
	fo->retiring = nr;
	fo->retiring[fo->nretiring++] = pl;
	return 0;
}

/* The stopped poller of Primary name, which a new poller of it claims (it
 * joins it before polling); NULL if none. With fo->mu held. */
static struct poller *
retiring_claim(struct failover *fo, const char *name)
{
	for (size_t i = 0; i < fo->nretiring; i++) {
		struct poller *pl = fo->retiring[i];
		if (strcmp(pl->name, name) == 0) {
			fo->retiring[i] = fo->retiring[--fo->nretiring];
			return pl;
		}
	}
	return NULL;
}

/* Start pl; when it cannot start, the poller it was to replace is joined
 * by failover_tick instead. With fo->mu held when locked. */
static void
poller_launch(struct failover *fo, struct poller *pl, int locked)
{
	if (poller_start(pl) == 0 || pl->predecessor == NULL)
		return;
	if (!locked)
		pthread_mutex_lock(&fo->mu);
	if (retire_locked(fo, pl->predecessor) == 0)
		pl->predecessor = NULL;
	if (!locked)
		pthread_mutex_unlock(&fo->mu);
}

void
poller_finish(struct server *srv, struct poller *pl)
{
	struct failover *fo = fo_of(srv);
	struct apply_wait *aw = pl->waiter;
	int wake = 0;

	poller_join(pl);
	/* Its thread joined what it replaced; one that never ran did not. */
	if (pl->predecessor != NULL)
		poller_finish(srv, pl->predecessor);
	if (pl->forget)
		pool_forget(srv, pl->pool);
	if (aw != NULL) {
		pthread_mutex_lock(&fo->mu);
		wake = --aw->left == 0;
		pthread_mutex_unlock(&fo->mu);
	}
	if (wake)
		req_wake(aw->r);
	free(pl);
}

/* Has a stopped poller's thread returned (or, one never started, that of
 * the poller it replaced)? With apply_mu held. */
static int
poller_done(struct poller *pl)
{
	if (pl->started)
		return atomic_load(&pl->exited);
	return pl->predecessor == NULL || poller_done(pl->predecessor);
}

/* From the main loop's tick: be done with the stopped pollers that no new
 * poller claimed, once their threads have returned. Under apply_mu, so
 * that no poller of the same Primary starts while its pool is forgotten. */
static void
pollers_reap(struct server *srv)
{
	struct failover *fo = fo_of(srv);
	struct poller **done = NULL;
	size_t ndone = 0;

	pthread_mutex_lock(&fo->apply_mu);
	pthread_mutex_lock(&fo->mu);
	if (fo->nretiring > 0 && (done = malloc(fo->nretiring * sizeof(*done))) != NULL) {
		for (size_t i = 0; i < fo->nretiring; ) {
			if (poller_done(fo->retiring[i])) {
				done[ndone++] = fo->retiring[i];
				fo->retiring[i] = fo->retiring[--fo->nretiring];
			} else {
				i++;
			}
		}
	}
	pthread_mutex_unlock(&fo->mu);
	for (size_t i = 0; i < ndone; i++)
		poller_finish(srv, done[i]);
	pthread_mutex_unlock(&fo->apply_mu);
	free(done);
}

/*
 * Make the pollers match the configuration and the runtime file. One
 * apply at a time, and none once failover_stop has run (-2). A poller
 * stopped for good whose pool is yet to be forgotten adds to aw->left
 * (aw may be NULL: nobody waits).
 */
static int
failover_apply(struct server *srv, struct apply_wait *aw, char *err, size_t errlen)
{
	struct failover *fo = fo_of(srv);
	struct wanted w;
	struct poller **unjoined = NULL;
	size_t nunjoined = 0;

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
		/* Its Primary gone: its pool is forgotten once it is joined.
		 * Else the new poller of the Primary joins it (below). */
		pl->forget = k == w.n;
		if (pl->forget && aw != NULL) {
			pl->waiter = aw;
			aw->left++;
		}
		if (!pl->forget)
			log_info("stopped polling \"%s\" (its settings changed)", pl->name);
		if (retire_locked(fo, pl) != 0) {
			/* Out of memory: joined here, as a last resort. */
			struct poller **nu = realloc(unjoined, (nunjoined + 1) * sizeof(*nu));
			if (nu != NULL) {
				unjoined = nu;
				unjoined[nunjoined++] = pl;
			}
		}
		fo->pollers[i] = fo->pollers[--fo->npollers];
	}
	pthread_cond_broadcast(&fo->cv);
	pthread_mutex_unlock(&fo->mu);
	for (size_t i = 0; i < nunjoined; i++)
		poller_finish(srv, unjoined[i]);
	free(unjoined);

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
		int is_new;
		pl->pool = store_pool_add(srv->store, pl->name, pl->url, &is_new);
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
			/* The Primary's stopped poller, if any: this one joins it
			 * before its first poll. */
			pl->predecessor = retiring_claim(fo, pl->name);
		}
		pthread_mutex_unlock(&fo->mu);
		if (np == NULL) {
			free(pl);
			break;
		}
		if (fo->started)
			poller_launch(fo, pl, 0);
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
	util_cond_init_mono(&fo->cv);
	srv->failover = fo;
	backups_load(fo);
	ini_mtime(srv, &fo->ini_mtime);
	return failover_apply(srv, NULL, err, errlen);
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
		store_pool_fenced_until(srv->store, pl->pool, util_mono_ms() +
		    (int64_t)(pl->interval * pl->fail_after * 1000));
		/* We were serving this pool when we stopped: go on until the
		 * Primary answers and takes it back. */
		if (store_pool_has_leases(srv->store, pl->pool)) {
			store_pool_set_status(srv->store, pl->pool, POOL_HOT_RETRY);
			log_info("pool \"%s\": serving its leases again until \"%s\" takes them back",
			    pl->name, pl->name);
		}
		poller_launch(fo, pl, 1);
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
	 * which the pollers take. Each joins the poller it replaced; one
	 * never started (stopped before failover_start) has not. */
	for (size_t i = 0; i < fo->npollers; i++) {
		struct poller *pl = fo->pollers[i];
		poller_join(pl);
		if (pl->predecessor != NULL) {
			poller_finish(srv, pl->predecessor);
			pl->predecessor = NULL;
		}
	}
	/* Then the stopped ones no poller claimed, which failover_tick has
	 * not joined yet; a request waiting for one is answered before the
	 * HTTP daemon stops. */
	pthread_mutex_lock(&fo->mu);
	struct poller **retiring = fo->retiring;
	size_t nretiring = fo->nretiring;
	fo->retiring = NULL;
	fo->nretiring = 0;
	pthread_mutex_unlock(&fo->mu);
	for (size_t i = 0; i < nretiring; i++)
		poller_finish(srv, retiring[i]);
	free(retiring);
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
	void *owned[] = { fo->pollers, fo->retiring, fo->backups };
	util_free_all(owned, nitems(owned));
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
	store_own_pool_watched(srv->store, watched);
	if (save)
		backups_save(fo);

	/* An apply on an HTTP thread may add a pool meanwhile: one at a
	 * time, by index (a pool keeps its index until the store is freed). */
	struct pool *p;
	int dirty;
	for (size_t i = 0; (p = store_mirror_pool(srv->store, i, &dirty)) != NULL; i++)
		if (dirty)
			mirror_persist(srv, p, 0);
	pollers_reap(srv);
	ini_mtime(srv, &mt);
	pthread_mutex_lock(&fo->mu);
	int changed = mt.tv_sec != fo->ini_mtime.tv_sec || mt.tv_nsec != fo->ini_mtime.tv_nsec;
	fo->ini_mtime = mt;
	pthread_mutex_unlock(&fo->mu);
	if (changed && failover_apply(srv, NULL, err, sizeof(err)) != 0)
		log_warnx("failover settings unchanged: %s", err);
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
	if (b == NULL && (b = backup_add(fo, qn)) != NULL) {
		fo->backups_dirty = 1;
		char url_esc[FAILCFG_URL_MAX * 4];
		log_info("backup \"%s\" at %s polls this server", qn,
		    log_escape(url_esc, sizeof(url_esc), qu ? qu : "?"));
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

/* The answer to a PUT or DELETE once applied. */
static void
failover_applied(struct req *r, int rc, const char *err)
{
	if (rc != 0) {
		req_error(r, rc == -2 ? 503 : 500, rc == -2 ? "stopping" : "state", "%s", err);
		return;
	}
	api_failover_get(r, NULL);
}

static void
failover_applied_resume(struct req *r)
{
	struct apply_wait *aw = r->ctx;

	r->ctx = NULL;
	failover_applied(r, aw->rc, aw->err);
	free(aw);
}

/*
 * The runtime file changed under our hands: apply it, answer with the
 * result. A Primary no longer backed up is forgotten (its mirror removed)
 * before the answer, once its poller has stopped: the request is held
 * until then (poller_finish), and the thread goes on.
 */
static void
failover_reapply(struct req *r)
{
	struct failover *fo = fo_of(r->srv);
	struct apply_wait *aw = calloc(1, sizeof(*aw));
	struct timespec mt;
	char err[512];

	/* Each apply reads the whole file: whichever runs last, ours or the
	 * tick's, leaves the pollers as the file says. */
	ini_mtime(r->srv, &mt);
	pthread_mutex_lock(&fo->mu);
	fo->ini_mtime = mt;
	pthread_mutex_unlock(&fo->mu);
	if (aw == NULL) {
		/* No memory to wait with: answered at once. */
		int rc = failover_apply(r->srv, NULL, err, sizeof(err));
		failover_applied(r, rc, err);
		return;
	}
	aw->r = r;
	aw->left = 1;		/* ours, until the request is held if it must be */
	aw->rc = failover_apply(r->srv, aw, aw->err, sizeof(aw->err));
	pthread_mutex_lock(&fo->mu);
	int wait = aw->left > 1;
	if (wait) {
		r->ctx = aw;
		r->on_resume = failover_applied_resume;
		req_hold(r);
	}
	aw->left--;
	pthread_mutex_unlock(&fo->mu);
	if (!wait) {
		failover_applied(r, aw->rc, aw->err);
		free(aw);
	}
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
	int own;
	struct pool *p = store_pool_find(srv->store, name, &own, NULL);
	if (!runtime || p == NULL || own)
		return 0;
	seats = store_pool_serving(srv->store, p, &ended);
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
	failcfg_entry_init(&e, js_str(o, "name", ""), js_str(o, "url", ""));
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
	const char *name = js_str(o, "pool", "");
	ttl = js_int(o, "ttl_ms", 0);
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
	int handing;
	int serving = store_pool_fence(srv->store, name, ttl, &handing);
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
