#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api_fields.h"
#include "failcfg.h"
#include "failover.h"
#include "fence.h"
#include "http.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "state.h"
#include "store.h"
#include "usage.h"
#include "util.h"

/* One Primary this server backs up, polled by its own thread. */
struct poller {
	struct server *srv;
	struct pool *pool;
	char name[SL_ID_MAX + 1];
	char url[512];
	char witness[512];
	char lic_gen[64];	/* of the Primary's licenses we hold ("": none) */
	double interval;
	int fail_after;
	int from_config;
	int witness_said;	/* its refusal was logged since the last good poll */
	long slow_ms;		/* > 0: the Primary answered slowly; poll timeout */
	int refused;		/* polls refused (4xx) in a row: logged every 60th */
	int synchronous;	/* the Primary waits for us (synchronous_backup) */
	int long_poll;		/* the Primary held our last poll: poll again now */
	/* With poll_error_mu: the poller writes them, health reads them. */
	int refused_polls;	/* polls the Primary refused since the last good one */
	char last_error[256];	/* why the last poll failed ("": it did not) */
	atomic_int stop;		/* set under fo->mu; the poller reads it unlocked */
	pthread_t thread;
	struct http_client *http;
};

/* A backup that polls this server. */
struct backup_seen {
	char name[SL_ID_MAX + 1];
	char url[512];
	int64_t last_ms;	/* monotonic; 0: not since we started */
	double interval;
	long wait_ms;		/* how long we may hold its polls (long poll) */
	uint64_t acked;		/* our journal up to here is in its mirror */
	int lost;		/* silent for BACKUP_LOST_POLLS intervals (failover_tick) */
	time_t lost_since;	/* wall clock: when it was found lost */
};

/* A backup that has not polled for this many of its poll intervals (since
 * its last poll, or since we started) no longer backs us up. */
#define BACKUP_LOST_POLLS 3

/*
 * apply_mu, mu and mirror_mu nest in this order: apply_mu, then mu or
 * mirror_mu (never both at once), then the store's lock.
 * failover_apply runs on the main loop's tick (failover.ini changed) and
 * on HTTP threads (PUT and DELETE /v1/admin/failover): apply_mu makes it
 * one at a time, so that a Primary never gets two pollers.
 */
struct failover {
	struct server *srv;
	pthread_mutex_t apply_mu;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct poller **pollers;
	size_t npollers;
	struct backup_seen *backups;
	size_t nbackups;
	int backups_dirty;
	struct timespec ini_mtime;	/* with mu */
	int started;			/* with apply_mu: failover_start ran */
	int stopped;			/* with apply_mu: failover_stop ran */
};

/* Guards every poller's refused_polls and last_error; taken alone, or
 * last under fo->mu. */
static pthread_mutex_t poll_error_mu = PTHREAD_MUTEX_INITIALIZER;

static struct failover *fo_of(struct server *srv) { return srv->failover; }
static void full_leases_expire(void);
static void long_poll_batch(void *arg);
static void long_poll_stop(struct server *srv);

/*
 * synchronous_backup: answers to checkouts that wait until the backups
 * polling this server have the grant. A backup's poll since=SEQ (in our
 * epoch) says that it holds our journal up to SEQ in its saved mirror.
 * Kept apart from struct failover, which failover_stop frees while the
 * journal's committer may still ask to wait.
 */
struct ack_waiter {
	uint64_t seq;
	void (*resume)(void *);
	void *arg;
};
static pthread_mutex_t ack_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ack_waiter *ack_waiters;
static size_t ack_nwaiters, ack_capwaiters;
static int ack_watched;		/* some backup polls us */
static uint64_t ack_seq;	/* what every backup that polls us holds */
static int ack_stopped;

int
failover_wait_backup(struct server *srv, uint64_t seq, void (*resume)(void *), void *arg)
{
	int wait = 0;

	if (!srv->cfg.synchronous_backup)
		return 0;
	pthread_mutex_lock(&ack_mu);
	if (!ack_stopped && ack_watched && ack_seq < seq) {
		if (ack_nwaiters == ack_capwaiters) {
			size_t n = ack_capwaiters ? ack_capwaiters * 2 : 64;
			struct ack_waiter *w = realloc(ack_waiters, n * sizeof(*w));
			if (w != NULL) {
				ack_waiters = w;
				ack_capwaiters = n;
			}
		}
		if (ack_nwaiters < ack_capwaiters) {
			ack_waiters[ack_nwaiters++] = (struct ack_waiter){ seq, resume, arg };
			wait = 1;
		}
	}
	pthread_mutex_unlock(&ack_mu);
	return wait;
}

/* Set what the backups hold and answer the checkouts that waited for it
 * (all of them when no backup polls, or at shutdown). */
static void
ack_update(int watched, uint64_t seq, int stop)
{
	struct ack_waiter *go = NULL;
	size_t ngo = 0, keep = 0;

	pthread_mutex_lock(&ack_mu);
	ack_watched = watched;
	ack_seq = seq;
	if (stop)
		ack_stopped = 1;
	if (ack_nwaiters > 0 && (go = malloc(ack_nwaiters * sizeof(*go))) == NULL)
		stop = 1;	/* cannot sort them out: let them all go below */
	for (size_t i = 0; i < ack_nwaiters; i++) {
		struct ack_waiter *w = &ack_waiters[i];
		if (ack_stopped || !watched || w->seq <= seq) {
			if (go != NULL)
				go[ngo++] = *w;
			else
				w->resume(w->arg);
		} else {
			ack_waiters[keep++] = *w;
		}
	}
	ack_nwaiters = keep;
	pthread_mutex_unlock(&ack_mu);
	for (size_t i = 0; i < ngo; i++)
		go[i].resume(go[i].arg);
	free(go);
}

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
	ack_update(watched, watched ? seq : 0, 0);
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

/*
 * A backup's mirror of a Primary on disk: mirror-NAME.json, the base (the
 * pool's whole state as store_pool_state gives it, plus a random "gen"),
 * and mirror-NAME.journal, what changed since, one line per change in the
 * journal format of common/state.c (a CRC per line; a torn tail is cut):
 *
 *   {"base":"GEN"}                          first: the base it extends
 *   {"seq":N,"epoch":"E","records":[...]}   an incremental poll's records
 *   {"released":["ID",...]}                 leases ended here while serving
 *
 * An incremental poll's records are appended and fdatasynced before the
 * next poll tells the Primary that we hold them (since=SEQ, what
 * synchronous_backup waits for): a save costs what changed, not the whole
 * mirror (20 MB at 100,000 leases). The base is written again, and the
 * journal started over, on a full sync, a change of the Primary's licenses,
 * a takeover or handback, a failed append, and once the journal outgrows
 * half the base (and MIRROR_LOG_MIN): over time the bytes written stay
 * proportional to the changes. A journal whose first line names another
 * base (we stopped between writing the base and starting the journal over)
 * is older than the base, which holds all of it, and is ignored.
 *
 * A journal outgrown while warm is not answered by writing the base on the
 * poller's thread (a second at 100,000 leases, while the Primary's
 * checkouts wait for our next poll): the poller copies the state in
 * memory, starts mirror-NAME.journal.new, whose first line is
 * {"base":"NEW","after":"OLD"}, appends to it from then on, and a thread
 * writes base NEW beside it. Once that is on disk, journal.new replaces the
 * journal. Until then, a start reads the old base, its journal and
 * journal.new after it; after, base NEW and journal.new.
 */
#define MIRROR_LOG_MIN (1 << 20)

struct mirror_log {
	const struct pool *pool;
	int fd;			/* the journal, to append to; -1: write a base first */
	char gen[33];		/* of the base on disk */
	size_t base_bytes, log_bytes;
	size_t released;	/* entries of pool->released on disk */
	char epoch[40];		/* the Primary's epoch and sequence on disk: */
	uint64_t seq;		/*   all that a poll may acknowledge */
	uint64_t compacting;	/* a new base being written (its job's id), fd is
				 * journal.new; 0: none */
};

/* The poller and the main loop both save: one at a time. */
static pthread_mutex_t mirror_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mirror_log *mirror_logs;
static size_t nmirror_logs;
/* Bases being written by a thread of their own; mirror_close_all waits. */
static pthread_cond_t mirror_cv = PTHREAD_COND_INITIALIZER;
static int mirror_compactions;
static uint64_t mirror_compact_ids;
/* MIRROR_LOG_MIN; tests set a small one (SL_TEST_MIRROR_LOG_MIN) to see
 * the journal start over, in the background, after a few records. */
static size_t mirror_log_min = MIRROR_LOG_MIN;

/* The pool's journal state; NULL when out of memory. With mirror_mu held. */
static struct mirror_log *
mirror_log_of(const struct pool *p)
{
	struct mirror_log *m;

	for (size_t i = 0; i < nmirror_logs; i++)
		if (mirror_logs[i].pool == p)
			return &mirror_logs[i];
	if ((m = realloc(mirror_logs, (nmirror_logs + 1) * sizeof(*m))) == NULL)
		return NULL;
	mirror_logs = m;
	m = &mirror_logs[nmirror_logs++];
	memset(m, 0, sizeof(*m));
	m->pool = p;
	m->fd = -1;
	return m;
}

static void
mirror_log_close(struct mirror_log *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

/* STATE_DIR/mirror-POOL.EXT */
static char *
mirror_path(struct server *srv, const char *pool, const char *ext)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "mirror-%s.%s", pool, ext);
	return util_path_join(srv->cfg.state_dir, buf);
}

/* A journal.new that a base now on disk holds (or that we forget). */
static void
mirror_new_remove(struct server *srv, const char *pool)
{
	char *npath = mirror_path(srv, pool, "journal.new");

	if (npath != NULL && unlink(npath) != 0 && errno != ENOENT)
		log_warn("%s", npath);
	free(npath);
}

struct mirror_compact {
	struct server *srv;
	uint64_t id;
	char pool[SL_ID_MAX + 1];
	char gen[33];
	json_t *st;
};

static struct mirror_log *
mirror_log_compacting(uint64_t id)
{
	for (size_t i = 0; i < nmirror_logs; i++)
		if (mirror_logs[i].compacting == id)
			return &mirror_logs[i];
	return NULL;
}

/* Write the base of a compaction, then let journal.new replace the
 * journal, unless the mirror was saved or removed meanwhile. */
static void *
mirror_compactor(void *arg)
{
	struct mirror_compact *c = arg;
	struct server *srv = c->srv;
	char err[512], *tmp = NULL;
	char *path = mirror_path(srv, c->pool, "json");
	char *lpath = mirror_path(srv, c->pool, "journal");
	char *npath = mirror_path(srv, c->pool, "journal.new");
	char *text;
	size_t tl = 0;

	/* Behind the poller and the requests, as the journal's compaction. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
		log_debug("mirror of %s: setpriority: %s", c->pool, strerror(errno));
	text = json_dumps(c->st, JSON_COMPACT);
	store_pool_state_free(srv->store, c->st);
	if (text == NULL || path == NULL || lpath == NULL || npath == NULL)
		snprintf(err, sizeof(err), "out of memory");
	else
		tmp = state_write_tmp(path, text, tl = strlen(text), 0600, NULL, NULL, err,
		    sizeof(err));
	free(text);

	pthread_mutex_lock(&mirror_mu);
	struct mirror_log *m = mirror_log_compacting(c->id);
	if (m == NULL) {
		/* saved as a whole, or removed, meanwhile */
	} else if (tmp == NULL || state_rename_durable(tmp, path, err, sizeof(err)) != 0) {
		/* journal.new stays, after the journal, until the whole
		 * mirror is saved: nothing more is appended before. */
		log_warnx("mirror of %s: %s (the whole mirror is saved again)", c->pool, err);
		mirror_log_close(m);
		m->compacting = 0;
		pthread_mutex_lock(&srv->store->lock);
		((struct pool *)m->pool)->dirty = 1;
		pthread_mutex_unlock(&srv->store->lock);
	} else {
		/* Base NEW is on disk: journal.new is its journal. Should this
		 * rename not be made, a start finds journal.new naming base NEW. */
		free(tmp);
		tmp = NULL;
		if (state_rename_durable(npath, lpath, err, sizeof(err)) != 0)
			log_warnx("mirror of %s: %s", c->pool, err);
		util_strlcpy(m->gen, c->gen, sizeof(m->gen));
		m->base_bytes = tl;
		m->compacting = 0;
	}
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	mirror_compactions--;
	pthread_cond_broadcast(&mirror_cv);
	pthread_mutex_unlock(&mirror_mu);
	free(path);
	free(lpath);
	free(npath);
	free(c);
	return NULL;
}

/* The journal has outgrown its bound: copy the state, start journal.new and
 * have a thread write the base. With mirror_mu held; 0: m->fd is
 * journal.new now. */
static int
mirror_compact_start(struct server *srv, struct pool *p, struct mirror_log *m)
{
	struct mirror_compact *c = calloc(1, sizeof(*c));
	char err[256], line[128], *npath = mirror_path(srv, p->name, "journal.new");
	char *rec = NULL;
	size_t rl = 0;
	int fd = -1, ll;
	pthread_t t;
	pthread_attr_t attr;

	if (c == NULL || npath == NULL)
		goto failed;
	c->srv = srv;
	util_strlcpy(c->pool, p->name, sizeof(c->pool));
	util_random_hex(c->gen, 16);
	ll = snprintf(line, sizeof(line), "{\"base\":\"%s\",\"after\":\"%s\"}", c->gen,
	    m->gen);
	if ((rec = state_journal_record(line, (size_t)ll, &rl)) == NULL ||
	    (fd = state_journal_reset(npath, err, sizeof(err))) < 0 ||
	    state_write_all(fd, rec, rl) != 0 || (srv->cfg.fsync && fdatasync(fd) != 0)) {
		if (fd >= 0)
			log_warn("%s", npath);
		else if (rec != NULL)
			log_warnx("%s", err);
		goto failed;
	}
	if ((c->st = store_pool_state(srv->store, p)) == NULL)
		goto failed;
	json_object_set_new(c->st, "gen", json_string(c->gen));
	c->id = ++mirror_compact_ids;
	if (pthread_attr_init(&attr) != 0)
		goto failed;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int started = pthread_create(&t, &attr, mirror_compactor, c) == 0;
	pthread_attr_destroy(&attr);
	if (!started)
		goto failed;
	/* The thread waits for mirror_mu, held here, before it looks. */
	mirror_log_close(m);
	m->fd = fd;
	m->log_bytes = strlen(STATE_JOURNAL_HEADER) + rl;
	m->compacting = c->id;
	mirror_compactions++;
	free(rec);
	free(npath);
	return 0;
failed:
	if (fd >= 0) {
		close(fd);
		unlink(npath);
	}
	if (c != NULL)
		store_pool_state_free(srv->store, c->st);
	free(c);
	free(rec);
	free(npath);
	return -1;
}

/* Write the pool's whole state as a new base and start its journal over.
 * With mirror_mu held; m may be NULL (out of memory). */
static void
mirror_save_base(struct server *srv, struct pool *p, struct mirror_log *m)
{
	struct mirror_log none = { .fd = -1 };
	char err[256], gen[33], line[64];
	char *path = mirror_path(srv, p->name, "json");
	char *lpath = mirror_path(srv, p->name, "journal");
	size_t hl = strlen(STATE_JOURNAL_HEADER), rl = 0, tl = 0;

	if (m == NULL)
		m = &none;
	/* Whatever happens below, the journal open now extends a base that
	 * no longer holds what memory does: nothing more goes into it. A base
	 * being written meanwhile is older than this one: it is not used
	 * (journal.new goes once this base is on disk). */
	mirror_log_close(m);
	m->compacting = 0;
	util_random_hex(gen, 16);
	json_t *st = store_pool_state(srv->store, p);
	json_object_set_new(st, "gen", json_string(gen));
	char *text = json_dumps(st, JSON_COMPACT);
	int ll = snprintf(line, sizeof(line), "{\"base\":\"%s\"}", gen);
	char *rec = state_journal_record(line, (size_t)ll, &rl);
	char *log = rec != NULL ? malloc(hl + rl) : NULL;

	if (text != NULL)
		tl = strlen(text);
	if (log != NULL) {
		memcpy(log, STATE_JOURNAL_HEADER, hl);
		memcpy(log + hl, rec, rl);
	}
	if (text == NULL || path == NULL || lpath == NULL || log == NULL) {
		log_warnx("mirror of %s: out of memory; not saved", p->name);
		goto failed;
	}
	if (state_write_atomic(path, text, tl, 0600, err, sizeof(err)) != 0) {
		log_warnx("mirror of %s: %s", p->name, err);
		goto failed;
	}
	/* The base is on disk: it is what a poll may acknowledge now. */
	mirror_new_remove(srv, p->name);
	util_strlcpy(m->gen, gen, sizeof(m->gen));
	util_strlcpy(m->epoch, json_str(st, "epoch", ""), sizeof(m->epoch));
	m->seq = (uint64_t)json_int(st, "seq", 0);
	m->released = json_array_size(json_object_get(st, "released"));
	m->base_bytes = tl;
	m->log_bytes = hl + rl;
	if (state_write_atomic(lpath, log, hl + rl, 0600, err, sizeof(err)) != 0 ||
	    (m->fd = state_journal_open(lpath, err, sizeof(err))) < 0)
		log_warnx("mirror journal of %s: %s (the next change rewrites the whole mirror)",
		    p->name, err);
	goto out;
failed:
	/* try again at the next tick */
	pthread_mutex_lock(&srv->store->lock);
	p->dirty = 1;
	pthread_mutex_unlock(&srv->store->lock);
out:
	store_pool_state_free(srv->store, st);
	free(text);
	free(rec);
	free(log);
	free(path);
	free(lpath);
}

/* Append one line to the pool's journal and make it durable. With
 * mirror_mu held. -1: not appended (no journal, it has grown past its
 * bound, or writing failed): the caller writes a base instead. */
static int
mirror_append(struct server *srv, struct mirror_log *m, json_t *line, const char *pool)
{
	size_t len = 0, limit;
	char *text, *rec;
	int rc = -1;

	if (m == NULL || m->fd < 0)
		return -1;
	limit = m->base_bytes / 2 > mirror_log_min ? m->base_bytes / 2 : mirror_log_min;
	text = json_dumps(line, JSON_COMPACT);
	rec = text != NULL ? state_journal_record(text, strlen(text), &len) : NULL;
	/* Outgrown: a new base in the background, this line in journal.new
	 * (m->pool is the pool whose lock-free copy is made under the store
	 * lock; the caller holds mirror_mu). */
	if (rec != NULL && m->log_bytes + len > limit && m->compacting == 0)
		mirror_compact_start(srv, (struct pool *)m->pool, m);
	if (rec != NULL && (m->log_bytes + len <= limit || m->compacting != 0)) {
		if (state_write_all(m->fd, rec, len) == 0 &&
		    (!srv->cfg.fsync || fdatasync(m->fd) == 0)) {
			m->log_bytes += len;
			rc = 0;
		} else {
			/* A line may be half written: no more after it. */
			log_warn("mirror journal of %s: write (the whole mirror is saved "
			    "instead)", pool);
			mirror_log_close(m);
		}
	}
	free(rec);
	free(text);
	return rc;
}

/* The whole mirror, as a new base: on a full sync, a takeover, a handback. */
static void
mirror_save(struct server *srv, struct pool *p)
{
	pthread_mutex_lock(&mirror_mu);
	mirror_save_base(srv, p, mirror_log_of(p));
	pthread_mutex_unlock(&mirror_mu);
}

/*
 * Save what changed in the pool since it was last saved (p->dirty): the
 * leases ended here while serving it as one journal line, anything else
 * (a full sync, a change of licenses, a handback, a failed save) as a new
 * base. With wait unset (the main
 * loop's tick), give up when a save is under way: the next tick comes.
 */
static void
mirror_persist(struct server *srv, struct pool *p, int wait)
{
	json_t *ids = NULL;
	size_t n = 0;

	if (wait)
		pthread_mutex_lock(&mirror_mu);
	else if (pthread_mutex_trylock(&mirror_mu) != 0)
		return;
	struct mirror_log *m = mirror_log_of(p);
	pthread_mutex_lock(&srv->store->lock);
	int dirty = p->dirty;
	if (p->released != NULL)
		n = json_array_size(p->released);
	/* While serving, only p->released changes (lease_end, revoke), and
	 * only at its end. */
	if (dirty && !(dirty & 2) && m != NULL && m->fd >= 0 && p->status == POOL_HOT_RETRY &&
	    n > m->released) {
		ids = json_array();
		for (size_t i = m->released; i < n; i++)
			json_array_append_new(ids, json_string(json_string_value(
			    json_array_get(p->released, i))));
		p->dirty = 0;
	}
	pthread_mutex_unlock(&srv->store->lock);
	if (ids != NULL) {
		json_t *line = json_pack("{s:o}", "released", ids);
		if (mirror_append(srv, m, line, p->name) == 0)
			m->released = n;
		else
			mirror_save_base(srv, p, m);
		json_decref(line);
	} else if (dirty) {
		mirror_save_base(srv, p, m);
	}
	pthread_mutex_unlock(&mirror_mu);
}

static void poll_good(struct poller *pl);

/* Take in a good sync answer while warm, and have it on disk before the
 * next poll acknowledges it: its records appended to the journal, or
 * *base set when the whole mirror must be saved (the caller does, once
 * it has freed the answer: a full copy is 20 MB at 100,000 leases, and
 * the saved text as much again). Returns 1 when it brought news. */
static int
mirror_apply(struct poller *pl, json_t *o, int *base)
{
	struct server *srv = pl->srv;
	struct pool *p = pl->pool;
	int full = json_is_true(json_object_get(o, "full"));
	const char *epoch = json_str(o, "epoch", "");
	uint64_t seq = (uint64_t)json_int(o, "seq", 0);
	int news;

	pthread_mutex_lock(&mirror_mu);
	/* Absent: unchanged since the generation our poll named. */
	if (json_is_array(json_object_get(o, "licenses"))) {
		store_pool_set_licenses(srv->store, p, json_object_get(o, "licenses"));
		util_strlcpy(pl->lic_gen, json_str(o, "licenses_gen", ""), sizeof(pl->lic_gen));
	}
	pthread_mutex_lock(&srv->store->lock);
	/* Set by a change of the licenses, or by a save that failed: neither
	 * is in the records. */
	*base = full || p->dirty;
	pthread_mutex_unlock(&srv->store->lock);
	if (full)
		store_mirror_full(srv->store, p, json_object_get(o, "leases"));
	else
		store_mirror_records(srv->store, p, json_object_get(o, "records"));
	pthread_mutex_lock(&srv->store->lock);
	util_strlcpy(p->primary_epoch, epoch, sizeof(p->primary_epoch));
	news = p->primary_seq != seq || full;
	p->primary_seq = seq;
	pthread_mutex_unlock(&srv->store->lock);
	/* In memory: the poll is good. On disk next (a second for a full
	 * copy of 100,000 leases). */
	poll_good(pl);

	struct mirror_log *m = mirror_log_of(p);
	if (!*base && m != NULL && m->seq == seq && strcmp(m->epoch, epoch) == 0) {
		/* nothing new */
	} else if (!*base && m != NULL && m->fd >= 0 && strcmp(m->epoch, epoch) == 0) {
		json_t *line = json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)seq,
		    "epoch", epoch, "records", json_object_get(o, "records"));
		*base = line == NULL || mirror_append(srv, m, line, p->name) != 0;
		if (!*base)
			m->seq = seq;
		json_decref(line);
	} else {
		*base = 1;
	}
	/* Only the poller changes a warm pool: what the records changed is
	 * on disk now, or the whole mirror is to be saved (p->dirty also
	 * tells the main loop's tick, should it come first). */
	pthread_mutex_lock(&srv->store->lock);
	p->dirty = *base;
	pthread_mutex_unlock(&srv->store->lock);
	pthread_mutex_unlock(&mirror_mu);
	return news;
}

/* What a poll may acknowledge: the Primary's epoch and sequence of the
 * mirror on disk. */
static uint64_t
mirror_durable(const struct pool *p, char *epoch, size_t len)
{
	uint64_t seq = 0;

	epoch[0] = '\0';
	pthread_mutex_lock(&mirror_mu);
	struct mirror_log *m = mirror_log_of(p);
	if (m != NULL) {
		util_strlcpy(epoch, m->epoch, len);
		seq = m->seq;
	}
	pthread_mutex_unlock(&mirror_mu);
	return seq;
}

struct mirror_replay {
	struct server *srv;
	struct pool *p;
	const char *gen;
	const char *after;	/* journal.new: may continue the journal of this base */
	size_t n;
	int stale;		/* the journal extends an older base */
};

static int
mirror_replay_line(const char *text, size_t len, void *arg)
{
	struct mirror_replay *rp = arg;
	struct store *s = rp->srv->store;
	struct pool *p = rp->p;
	json_t *o = json_loadb(text, len, 0, NULL), *v;
	size_t i;
	int rc = 0;

	if (!json_is_object(o)) {
		rc = -1;
	} else if (rp->n == 0) {
		if (strcmp(json_str(o, "base", ""), rp->gen) != 0 && (rp->after == NULL ||
		    strcmp(json_str(o, "after", ""), rp->after) != 0)) {
			rp->stale = 1;
			rc = 1;
		}
	} else if (json_is_array(json_object_get(o, "released"))) {
		pthread_mutex_lock(&s->lock);
		if (p->released == NULL)
			p->released = json_array();
		json_array_foreach(json_object_get(o, "released"), i, v)
			if (json_is_string(v))
				json_array_append_new(p->released,
				    json_string(json_string_value(v)));
		pthread_mutex_unlock(&s->lock);
	} else if (json_is_integer(json_object_get(o, "seq"))) {
		store_mirror_records(s, p, json_object_get(o, "records"));
		pthread_mutex_lock(&s->lock);
		util_strlcpy(p->primary_epoch, json_str(o, "epoch", ""), sizeof(p->primary_epoch));
		p->primary_seq = (uint64_t)json_int(o, "seq", 0);
		pthread_mutex_unlock(&s->lock);
	} else {
		rc = -1;
	}
	rp->n++;
	json_decref(o);
	return rc;
}

static size_t
file_size(const char *path)
{
	struct stat st;

	return path != NULL && stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* At start, a journal.new beside the base: read it when it extends the
 * base (after == NULL) or continues the journal just read (after: that
 * journal's base). Returns 1 when read; sets *full when it is torn. */
static int
mirror_load_new(const char *npath, const struct mirror_replay *from, const char *after,
    int *full)
{
	struct mirror_replay rp = *from;
	char err[512];
	size_t nrec = 0, cut = 0;

	rp.after = after;
	rp.n = 0;
	rp.stale = 0;
	if (state_journal_replay(npath, mirror_replay_line, &rp, &nrec, &cut, err,
	    sizeof(err)) != 0 && !rp.stale) {
		log_warnx("%s (ignored after %zu records; a full sync follows)", err, nrec);
		*full = 1;
		return 0;
	}
	if (rp.stale) {
		log_info("%s: older than the mirror, which holds it; ignored", npath);
		return 0;
	}
	if (cut > 0 || nrec == 0) {
		log_warnx("%s: torn or corrupt tail of %zu bytes cut after %zu records (a full "
		    "sync follows)", npath, cut, nrec);
		*full = 1;
	}
	return 1;
}

/* At start: the base, then its journal (and journal.new, see above). A
 * journal cut short or unreadable leaves what it held up to there (served
 * should the Primary stay down) and asks the Primary for a full copy. */
static void
mirror_load(struct server *srv, struct pool *p)
{
	char *path = mirror_path(srv, p->name, "json");
	char *lpath = mirror_path(srv, p->name, "journal");
	char *npath = mirror_path(srv, p->name, "journal.new");
	json_error_t jerr;
	json_t *st = path ? json_load_path(path, UTIL_STATE_MAX, &jerr) : NULL;
	char err[512];
	size_t nrec = 0, cut = 0;
	int full = 0, chained = 0, has_new = npath != NULL && access(npath, F_OK) == 0;

	pthread_mutex_lock(&mirror_mu);
	struct mirror_log *m = mirror_log_of(p);
	if (st == NULL) {
		if (path != NULL && access(path, F_OK) == 0)
			log_warnx("%s:%d: %s (mirror ignored; a full sync follows)", path,
			    jerr.line, jerr.text);
		else if (lpath != NULL && access(lpath, F_OK) == 0)
			log_warnx("%s: no mirror-%s.json that it extends (ignored; a full sync "
			    "follows)", lpath, p->name);
		goto out;
	}
	store_pool_restore(srv->store, p, st);
	struct mirror_replay rp = { srv, p, json_str(st, "gen", ""), NULL, 0, 0 };
	if (rp.gen[0] == '\0') {
		/* written before mirror journals: it holds everything */
	} else if (lpath == NULL) {
		full = 1;
	} else if (access(lpath, F_OK) != 0) {
		log_warnx("%s: missing; %s alone may be behind (a full sync follows)", lpath,
		    path);
		full = 1;
	} else if (state_journal_replay(lpath, mirror_replay_line, &rp, &nrec, &cut, err,
	    sizeof(err)) != 0 && !rp.stale) {
		log_warnx("%s (mirror journal ignored after %zu records; a full sync follows)",
		    err, nrec);
		full = 1;
	} else if (rp.stale) {
		log_info("%s: older than %s, which holds it; ignored", lpath, path);
		/* a base written in the background, its journal not renamed */
		if (has_new)
			chained = mirror_load_new(npath, &rp, NULL, &full);
	} else if (cut > 0 || nrec == 0) {
		log_warnx("%s: torn or corrupt tail of %zu bytes cut after %zu records (a full "
		    "sync follows)", lpath, cut, nrec);
		full = 1;
	} else if (has_new) {
		/* stopped while a base was written in the background */
		chained = mirror_load_new(npath, &rp, rp.gen, &full);
	}
	if (rp.gen[0] != '\0' && lpath != NULL && !full && !chained && !rp.stale && m != NULL &&
	    (m->fd = state_journal_open(lpath, err, sizeof(err))) < 0)
		log_warnx("%s (the next change rewrites the whole mirror)", err);
	pthread_mutex_lock(&srv->store->lock);
	if (full) {
		p->primary_epoch[0] = '\0';
		p->primary_seq = 0;
	}
	/* memory holds what the disk does; read from journal.new, in a new
	 * base next */
	p->dirty = chained;
	if (m != NULL) {
		util_strlcpy(m->gen, rp.gen, sizeof(m->gen));
		util_strlcpy(m->epoch, p->primary_epoch, sizeof(m->epoch));
		m->seq = p->primary_seq;
		m->released = p->released != NULL ? json_array_size(p->released) : 0;
		m->base_bytes = file_size(path);
		m->log_bytes = file_size(lpath);
		if (full)
			mirror_log_close(m);
	}
	pthread_mutex_unlock(&srv->store->lock);
out:
	pthread_mutex_unlock(&mirror_mu);
	json_decref(st);
	free(path);
	free(lpath);
	free(npath);
}

/* A Primary no longer backed up: its mirror goes, on disk too. */
static void
mirror_remove(struct server *srv, struct pool *p)
{
	char *path;

	pthread_mutex_lock(&mirror_mu);
	struct mirror_log *m = mirror_log_of(p);
	if (m != NULL) {
		mirror_log_close(m);
		m->gen[0] = m->epoch[0] = '\0';
		m->seq = 0;
		m->released = m->base_bytes = m->log_bytes = 0;
		m->compacting = 0;	/* its thread finds it gone */
	}
	mirror_new_remove(srv, p->name);
	for (int i = 0; i < 2; i++) {
		if ((path = mirror_path(srv, p->name, i ? "journal" : "json")) != NULL &&
		    unlink(path) != 0 && errno != ENOENT)
			log_warn("%s", path);
		free(path);
	}
	pthread_mutex_unlock(&mirror_mu);
}

/* At stop: save what is not on disk yet, and close the journals. */
static void
mirror_close_all(void)
{
	pthread_mutex_lock(&mirror_mu);
	while (mirror_compactions > 0)
		pthread_cond_wait(&mirror_cv, &mirror_mu);
	for (size_t i = 0; i < nmirror_logs; i++)
		mirror_log_close(&mirror_logs[i]);
	free(mirror_logs);
	mirror_logs = NULL;
	nmirror_logs = 0;
	pthread_mutex_unlock(&mirror_mu);
}

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
		    log_escape(why, sizeof(why), rc == 0 ? resp.body : resp.error));
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
	char url[1200];
	char *esc;
	int agrees = 1;

	if (pl->witness[0] == '\0')
		return 1;
	esc = curl_easy_escape(NULL, pl->url, 0);
	snprintf(url, sizeof(url), "%s/v1/peer/probe?url=%s", pl->witness, esc ? esc : "");
	curl_free(esc);
	if (http_request(pl->http, "GET", url, NULL, &resp) == 0 && resp.status == 200) {
		json_t *o = json_loads(resp.body, 0, NULL);
		agrees = !json_is_true(json_object_get(o, "reachable"));
		json_decref(o);
	} else {
		/* The witness is unreachable too: we may be the one cut off. */
		agrees = 0;
	}
	http_response_clear(&resp);
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
	struct pool *p = pl->pool;

	pthread_mutex_lock(&pl->srv->store->lock);
	if (p->failed_polls >= pl->fail_after)
		log_info("poll of \"%s\" at %s works again", pl->name, pl->url);
	p->failed_polls = 0;
	p->last_poll_ms = util_mono_ms();
	pthread_mutex_unlock(&pl->srv->store->lock);
	pl->witness_said = 0;
	pl->refused = 0;
	pthread_mutex_lock(&poll_error_mu);
	pl->refused_polls = 0;
	pl->last_error[0] = '\0';
	pthread_mutex_unlock(&poll_error_mu);
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

/* One poll of the Primary. Returns 1 when it brought news (records or a
 * full copy), so the next poll soon confirms that we hold them. */
static int
poller_once(struct poller *pl)
{
	struct server *srv = pl->srv;
	struct pool *p = pl->pool;
	struct http_response resp;
	char url[1600], *esc_url;
	json_t *o = NULL;
	int news = 0, base = 0;

	pthread_mutex_lock(&srv->store->lock);
	int unsaved = p->dirty;
	enum pool_status status = p->status;
	pthread_mutex_unlock(&srv->store->lock);
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
	snprintf(url, sizeof(url), "%s/v1/peer/sync?since=%llu&epoch=%s&name=%s&url=%s&interval=%g"
	    "&wait=%ld&lic=%s", pl->url, (unsigned long long)since, epoch[0] ? epoch : "none",
	    srv->cfg.name, esc_url ? esc_url : "", pl->interval,
	    (pl->slow_ms ? pl->slow_ms : poll_timeout_ms(pl->interval)) / 2,
	    pl->lic_gen[0] ? pl->lic_gen : "none");
	pl->long_poll = 0;
	curl_free(esc_url);
	int rc = http_request(pl->http, "GET", url, NULL, &resp);
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
	if (rc == 0 && resp.status == 200)
		o = json_loads(resp.body, 0, NULL);
	if ((rc == 0 && resp.status >= 400 && resp.status < 500) || resp.tls_rejected) {
		/* The Primary is up and refuses us (a wrong peer token, most
		 * likely), or answers with a certificate our ca does not
		 * verify: that is no reason to serve its seats a second time. */
		pthread_mutex_lock(&srv->store->lock);
		p->failed_polls = 0;
		pthread_mutex_unlock(&srv->store->lock);
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
			    json_str(e, "message", ""));
			log_escape(why, sizeof(why), json_str(e, "message", ""));
			json_decref(e);
			if (say)
				log_warnx("\"%s\" at %s refuses our polls (HTTP %ld: %s); it is "
				    "up, so this server will not take over: check "
				    "peer_token_file on both", pl->name, pl->url, resp.status, why);
		}
		goto out;
	}
	if (o == NULL || !util_valid_id(json_str(o, "name", NULL))) {
		pthread_mutex_lock(&srv->store->lock);
		int failed = ++p->failed_polls;
		pthread_mutex_unlock(&srv->store->lock);
		poll_failed(pl, 0, "%s", rc != 0 ? resp.error : resp.status != 200 ?
		    "server error status" : "not a sync answer");
		if (failed == 1 || failed == pl->fail_after)
			log_warnx("poll of \"%s\" at %s failed (%d/%d): %s", pl->name, pl->url,
			    failed, pl->fail_after, rc != 0 ? resp.error :
			    resp.status != 200 ? "server error status" : "not a sync answer");
		if (failed >= pl->fail_after && status == POOL_WARM && witness_agrees(pl)) {
			uint64_t seq = store_takeover(srv->store, p);
			pthread_mutex_lock(&srv->store->lock);
			int taken = p->status == POOL_HOT_RETRY;
			int64_t fenced = p->fenced_until_ms - util_mono_ms();
			pthread_mutex_unlock(&srv->store->lock);
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
	if (strcmp(json_str(o, "name", ""), pl->name) != 0) {
		log_warnx("%s answers as \"%s\", not \"%s\": check failover \"%s\" url", pl->url,
		    json_str(o, "name", ""), pl->name, pl->name);
		pthread_mutex_lock(&srv->store->lock);
		p->failed_polls++;
		pthread_mutex_unlock(&srv->store->lock);
		poll_failed(pl, 0, "answers as \"%.100s\"", json_str(o, "name", ""));
		goto out;
	}
	if (status == POOL_HOT_RETRY) {
		char epoch_esc[160];
		log_info("\"%s\" at %s answers again (epoch %s); handing its pool back",
		    pl->name, pl->url, log_escape(epoch_esc, sizeof(epoch_esc),
		    json_str(o, "epoch", "?")));
		poller_handback(pl);
		poll_good(pl);
	} else {
		pl->synchronous = json_is_true(json_object_get(o, "synchronous"));
		pl->long_poll = json_int(o, "long_poll", 0) > 0;
		news = mirror_apply(pl, o, &base);
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

static void
poller_start(struct poller *pl)
{
	pl->http = peer_client(pl->srv, pl->interval);
	if (pl->http == NULL || pthread_create(&pl->thread, NULL, poller_main, pl) != 0) {
		log_warnx("cannot start the poller for \"%s\"", pl->name);
		http_client_free(pl->http);
		pl->http = NULL;
	}
}

static void
poller_join(struct poller *pl)
{
	if (pl->http != NULL) {
		pthread_join(pl->thread, NULL);
		http_client_free(pl->http);
		pl->http = NULL;
	}
}

/* The wanted set of Primaries: config sections, overridden by runtime entries. */
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
	const char *min = getenv("SL_TEST_MIRROR_LOG_MIN");
	if (min != NULL && atol(min) > 0)
		mirror_log_min = (size_t)atol(min);
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

	journal_set_listener(srv->journal, long_poll_batch, srv);
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
		journal_set_listener(srv->journal, NULL, NULL);
	long_poll_stop(srv);
	ack_update(0, 0, 1);
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

	full_leases_expire();
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

static void
merge_payload(struct server *srv, json_t *payload, const char *from)
{
	int adopted, ended;
	uint64_t seq = store_merge_handback(srv->store, payload, &adopted, &ended);

	journal_sync_to(srv->journal, seq);
	fence_handed_back(srv->fence, from);
	if (adopted == 0 && ended == 0)
		return;
	log_info("handback from \"%s\": %d leases taken back, %d ended while it served",
	    from, adopted, ended);
	usage_event("handback", json_pack("{s:s, s:s, s:s, s:i, s:i}", "pool", srv->cfg.name,
	    "from", from, "by", srv->cfg.name, "adopted", adopted, "ended", ended));
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
			if (payload != NULL) {
				merge_payload(srv, payload, b->name);
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

/*
 * The leases of the last full sync, kept a few seconds while our journal
 * has not moved. At 100,000 leases one takes most of a second to make, and
 * a backup whose poll timed out asks again at its next poll: each retry made
 * another 20 MB while the abandoned one was still being made and sent, and a
 * Primary too slow for the backup's timeout never caught up (under
 * AddressSanitizer its HTTP threads were busy for 20 s). One is made at a
 * time; a request that finds nothing changed since the last one gets a copy.
 */
#define FULL_KEEP_MS 5000
#define LONG_POLL_MAX_MS 5000		/* longest a sync is held */
#define PEER_INTERVAL_MAX 5.0		/* longest poll interval a backup may announce */
static pthread_mutex_t full_mu = PTHREAD_MUTEX_INITIALIZER;
static char *full_text;
static size_t full_len;
static uint64_t full_seq;
static int64_t full_made_ms;

/* A copy of our own leases as JSON text, durable up to *seqp (set here). */
static char *
full_leases(struct server *srv, uint64_t *seqp, size_t *lenp)
{
	char *copy = NULL;

	pthread_mutex_lock(&full_mu);
	uint64_t seq = journal_last_seq(srv->journal);
	if (full_text == NULL || full_seq != seq ||
	    util_mono_ms() - full_made_ms > FULL_KEEP_MS) {
		free(full_text);
		/* A backup must only mirror seats that survive our crash: a
		 * full copy holds what is on disk up to seq. */
		full_seq = seq;
		journal_sync_to(srv->journal, full_seq);
		full_text = store_own_leases_text(srv->store, full_seq, &full_len);
		full_made_ms = util_mono_ms();
	}
	if (full_text != NULL && (copy = malloc(full_len + 1)) != NULL) {
		memcpy(copy, full_text, full_len + 1);
		*seqp = full_seq;
		*lenp = full_len;
	}
	pthread_mutex_unlock(&full_mu);
	return copy;
}

/* Let the last full sync's leases go once no retry can use them. */
static void
full_leases_expire(void)
{
	pthread_mutex_lock(&full_mu);
	if (full_text != NULL && util_mono_ms() - full_made_ms > FULL_KEEP_MS) {
		free(full_text);
		full_text = NULL;
	}
	pthread_mutex_unlock(&full_mu);
}

/* Send r->reply.body with one more member whose value is JSON text made
 * already: a peer's leases or records, tens of megabytes at 100,000 leases,
 * need not become a tree to be sent. Frees value. */
static void
reply_splice(struct req *r, const char *key, char *value, size_t vlen)
{
	char *head = json_dumps(r->reply.body, JSON_COMPACT);
	size_t hl = head != NULL ? strlen(head) : 0, n;
	char *out = hl >= 2 ? malloc(hl + strlen(key) + vlen + 8) : NULL;

	if (out == NULL) {
		free(head);
		free(value);
		req_error(r, 503, "out_of_memory", "server out of memory");
		return;
	}
	n = hl - 1;		/* head without its closing brace */
	memcpy(out, head, n);
	n += (size_t)sprintf(out + n, ",\"%s\":", key);
	memcpy(out + n, value, vlen);
	n += vlen;
	memcpy(out + n, "}\n", 3);
	free(head);
	free(value);
	json_decref(r->reply.body);
	r->reply.body = NULL;
	r->raw = out;
	r->rawlen = n + 2;
	r->content_type = "application/json";
}

/*
 * The answer to a sync: the durable records since `since` (or, when full is
 * set or they are no longer kept, every lease), in our epoch. wait_ms > 0:
 * the backup long-polls; the answer tells it so ("long_poll"), and it asks
 * again at once.
 */
static void
peer_sync_reply(struct req *r, uint64_t since, int full, long wait_ms)
{
	struct server *srv = r->srv;
	char *records = NULL;
	size_t nrecords = 0, len = 0;
	uint64_t seq = journal_last_seq(srv->journal);

	/* A backup that long-polls gets records as they are appended: it
	 * writes and syncs them while we do, and a checkout waits for both.
	 * Should we crash before ours is on disk, it holds a grant no client
	 * was told of, the holder's retry takes it there (see store_claim), or
	 * it ends with its timeout, like any unanswered grant. */
	if (!full && (records = journal_since_text(srv->journal, since, wait_ms > 0, &nrecords,
	    &len)) == NULL)
		full = 1;
	/* Later records follow incrementally (a full copy holds only durable
	 * ones). */
	if (full && (records = full_leases(srv, &seq, &len)) == NULL) {
		req_error(r, 503, "out_of_memory", "server out of memory");
		return;
	}
	/* Our licenses go along only when the backup lacks them: they were
	 * half of what an empty poll cost both sides (100 licenses, 12 KB). */
	char gen[64];
	const char *have = req_query(r, "lic");
	snprintf(gen, sizeof(gen), "%s-%llu", srv->epoch,
	    (unsigned long long)store_licenses_gen(srv->store));
	r->reply.status = 200;
	r->reply.body = json_pack("{s:s, s:s, s:I, s:b, s:s}", "name", srv->cfg.name,
	    "epoch", srv->epoch, "seq", (json_int_t)(full ? seq : since + nrecords),
	    "full", full, "licenses_gen", gen);
	if (full || have == NULL || strcmp(have, gen) != 0)
		json_object_set_new(r->reply.body, "licenses", store_own_licenses(srv->store));
	if (srv->cfg.synchronous_backup)
		json_object_set_new(r->reply.body, "synchronous", json_true());
	if (wait_ms > 0)
		json_object_set_new(r->reply.body, "long_poll", json_integer(wait_ms));
	reply_splice(r, full ? "leases" : "records", records, len);
}

/*
 * Long polls: a backup's sync that finds nothing new is held, without a
 * thread, until the journal's committer takes a record after its `since`
 * to write it (it tells us: long_poll_batch) or its wait runs out (the
 * main loop: failover_tick_fast). So a grant reaches the backups while it
 * is written to our disk, and with synchronous_backup the checkout is
 * answered once it is on our disk and the backup's next poll, sent as soon
 * as it has saved the records, says it holds them: a round trip and the
 * backup's own sync, overlapping ours, not a poll interval. Kept apart from struct failover, like the ack waiters: held
 * requests are let go at stop (long_poll_stop) before it is freed.
 */
struct long_poll {
	struct req *r;
	uint64_t since;
	int64_t deadline_ms;
	long wait_ms;
	char backup[SL_ID_MAX + 1];
};
static pthread_mutex_t lp_mu = PTHREAD_MUTEX_INITIALIZER;
static struct long_poll **lps;
static size_t nlps, caplps;
static int lp_stopped;

/* The answer to a held sync, once let go. */
static void
long_poll_resume(struct req *r)
{
	struct long_poll *lp = r->ctx;
	struct server *srv = r->srv;

	r->ctx = NULL;
	if (srv->draining)
		req_error(r, 503, "stopping", "server \"%s\" is shutting down", srv->cfg.name);
	else
		peer_sync_reply(r, lp->since, 0, lp->wait_ms);
	free(lp);
}

/* Let go of the held syncs that have news, whose wait ran out, or (all)
 * every one. */
static void
long_poll_wake(struct server *srv, int all)
{
	int64_t now = util_mono_ms();
	size_t o = 0;

	pthread_mutex_lock(&lp_mu);
	for (size_t i = 0; i < nlps; i++) {
		struct long_poll *lp = lps[i];
		if (all || now >= lp->deadline_ms || journal_last_seq(srv->journal) > lp->since)
			req_wake(lp->r);	/* lp is the request's now */
		else
			lps[o++] = lp;
	}
	nlps = o;
	pthread_mutex_unlock(&lp_mu);
}

/* The journal's listener: the committer took records to write. */
static void
long_poll_batch(void *arg)
{
	long_poll_wake(arg, 0);
}

/* Hold the sync r. 0: held; -1: answer now. */
static int
long_poll_hold(struct req *r, uint64_t since, long wait_ms, const char *backup)
{
	struct long_poll *lp = calloc(1, sizeof(*lp));

	if (lp == NULL)
		return -1;
	lp->r = r;
	lp->since = since;
	lp->wait_ms = wait_ms;
	lp->deadline_ms = util_mono_ms() + wait_ms;
	util_strlcpy(lp->backup, backup, sizeof(lp->backup));
	pthread_mutex_lock(&lp_mu);
	if (!lp_stopped && nlps == caplps) {
		size_t n = caplps ? caplps * 2 : 8;
		struct long_poll **nv = realloc(lps, n * sizeof(*nv));
		if (nv != NULL) {
			lps = nv;
			caplps = n;
		}
	}
	if (lp_stopped || nlps == caplps) {
		pthread_mutex_unlock(&lp_mu);
		free(lp);
		return -1;
	}
	r->ctx = lp;
	r->on_resume = long_poll_resume;
	req_hold(r);
	lps[nlps++] = lp;
	pthread_mutex_unlock(&lp_mu);
	/* A commit between our look and the hold told nobody: look again. */
	long_poll_wake(r->srv, 0);
	return 0;
}

void
failover_tick_fast(struct server *srv)
{
	long_poll_wake(srv, 0);
}

/* At stop: answer every held sync, and hold no more. */
static void
long_poll_stop(struct server *srv)
{
	pthread_mutex_lock(&lp_mu);
	lp_stopped = 1;
	pthread_mutex_unlock(&lp_mu);
	long_poll_wake(srv, 1);
	pthread_mutex_lock(&lp_mu);
	free(lps);
	lps = NULL;
	nlps = caplps = 0;
	pthread_mutex_unlock(&lp_mu);
}

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
	/* A Primary that cannot write its journal cannot serve: a failed
	 * poll for the backup, which takes over after fail_after of them
	 * (and once our fence promise has run out, fence.c). */
	if (!journal_storage(srv->journal, NULL)) {
		req_storage_unavailable(r);
		return;
	}
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
	if (!full && wait_ms > 0 && journal_last_seq(srv->journal) <= since &&
	    long_poll_hold(r, since, wait_ms, qn) == 0)
		return;
	peer_sync_reply(r, since, full, wait_ms);
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
	merge_payload(r->srv, o, json_str(o, "from", "?"));
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

/* One Primary this server backs up: its settings and how polling goes.
 * Called with fo->mu held. */
static json_t *
poller_json(struct server *srv, struct poller *pl, int64_t now)
{
	json_t *o;

	pthread_mutex_lock(&poll_error_mu);
	int refused = pl->refused_polls;
	/* From the Primary's answer: it may not be UTF-8 */
	json_t *last_error = pl->last_error[0] == '\0' ? json_null() :
	    json_string(pl->last_error);
	if (last_error == NULL)
		last_error = json_string("(not UTF-8)");
	pthread_mutex_unlock(&poll_error_mu);
	pthread_mutex_lock(&srv->store->lock);
	/* failed_polls counts refused polls too; only the others lead to a
	 * takeover (fail_after). */
	o = json_pack("{s:s, s:s, s:f, s:i, s:s, s:s, s:s, s:o, s:i, s:i, s:o}",
	    "name", pl->name, "url", pl->url, "poll_interval", pl->interval,
	    "fail_after", pl->fail_after, "witness", pl->witness,
	    "source", pl->from_config ? "config" : "runtime",
	    "status", pool_status_str(pl->pool->status),
	    "last_poll_age", pl->pool->last_poll_ms ?
	    json_real((now - pl->pool->last_poll_ms) / 1000.0) : json_null(),
	    "failed_polls", pl->pool->failed_polls + refused, "refused_polls", refused,
	    "last_error", last_error);
	pthread_mutex_unlock(&srv->store->lock);
	return o;
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

/* A witness answers whether it can reach a server (any slserve can be one). */
void api_peer_probe(struct req *r, const char *arg);

void
api_peer_probe(struct req *r, const char *arg)
{
	const char *target = req_query(r, "url");
	struct http_response resp;
	char url[700];

	(void)arg;
	if (!failcfg_valid_url(target)) {
		req_error(r, 400, "bad_request", "probe needs url=http://HOST:PORT");
		return;
	}
	struct http_options ho = { 500, 1000, NULL, r->srv->cfg.ca, NULL };
	struct http_client *c = http_client_new(&ho);
	if (c == NULL) {
		req_error(r, 503, "out_of_memory", "out of memory");
		return;
	}
	snprintf(url, sizeof(url), "%s/v1/health", target);
	int ok = http_request(c, "GET", url, NULL, &resp) == 0 && resp.status == 200;
	http_response_clear(&resp);
	http_client_free(c);
	r->reply.status = 200;
	r->reply.body = json_pack("{s:s, s:b}", "url", target, "reachable", ok);
}
