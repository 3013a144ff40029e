/*
 * mirrorlog.c: a backup's mirror of each Primary it backs up, on disk
 * (mirror-NAME.json, mirror-NAME.journal, mirror-NAME.journal.new): saved
 * as polls bring changes, started over in the background, read at start.
 * The poller (poller.c) calls it; it keeps its own lock (mirror_mu; lock
 * order: locks.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pthread.h>

#include "json.h"
#include "log.h"
#include "mirrorlog.h"
#include "server.h"
#include "state.h"
#include "store.h"
#include "util.h"

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
 * four times the larger of the base and the mirror now (mirror_log_bound;
 * MIRROR_LOG_MIN at least): over time the bytes written stay proportional
 * to the changes (a byte of base for four appended; at half the base it
 * was two for one, and writing them took a quarter of a busy backup's
 * CPU), and a start reads at most five times that. A mirror that only
 * grows is never written again: its journal holds no record a base would
 * drop. A journal
 * whose first line names another base (we stopped between writing the base
 * and starting the journal over) is older than the base, which holds all of
 * it, and is ignored.
 *
 * Records are written into room written ahead of them (zeros, MIRROR_LOG_ROOM
 * at a time, which a start reads as room, as it does in the server's own
 * journal): their fdatasync changes no metadata, and costs a third less.
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
#define MIRROR_LOG_RATIO 4
/* Room written ahead of the records (mirror_log_use). */
#define MIRROR_LOG_ROOM ((off_t)128 << 10)

struct mirror_log {
	const struct pool *pool;
	int fd;			/* the journal, to append to; -1: write a base first */
	off_t wr_off;		/* where its records end: the next is written there */
	off_t size;		/* of the file: room written ahead of wr_off */
	int room_failed;	/* writing room failed: said once until it works */
	char gen[33];		/* of the base on disk */
	size_t base_bytes, log_bytes;
	size_t base_leases;	/* leases in the base on disk */
	size_t rec_bytes, recs;	/* records appended to this journal, and their
				 * bytes (the size of a lease, about) */
	size_t live_bytes;	/* the mirror in memory, about (mirror_log_bound) */
	size_t released;	/* entries of pool->released on disk */
	char epoch[40];		/* the Primary's epoch and sequence on disk: */
	uint64_t seq;		/*   all that a poll may acknowledge */
	uint64_t compacting;	/* a new base being written (its job's id), fd is
				 * journal.new; 0: none */
};

/* The poller and the main loop both save: one at a time (lock order:
 * locks.h). */
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

void
mirror_init(void)
{
	const char *min = getenv("SL_TEST_MIRROR_LOG_MIN");

	if (min != NULL && atol(min) > 0)
		mirror_log_min = (size_t)atol(min);
}

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

/* Room ahead in m's journal could be written (rc 0) or not: a failure (a
 * full disk) is said once until room can be written again. */
static void
mirror_log_room(struct mirror_log *m, int rc)
{
	if (rc == 0) {
		m->room_failed = 0;
	} else if (!m->room_failed) {
		log_warn("mirror journal of %s: cannot write room ahead",
		    m->pool != NULL ? store_pool_name(m->pool) : "?");
		m->room_failed = 1;
	}
}

/* Append to fd from now on, whose records end at end: written at that
 * offset into room written ahead (zeros, which a start reads as room, as
 * the server's own journal does), so that a record's fdatasync changes no
 * metadata (the file's size): it writes the data alone. The room is synced
 * with the next record. With mirror_mu held; m->fd was closed. */
static void
mirror_log_use(struct mirror_log *m, int fd, off_t end)
{
	m->fd = fd;
	m->wr_off = end;
	m->recs = m->rec_bytes = 0;
	mirror_log_room(m, state_journal_use(fd, end, MIRROR_LOG_ROOM, 0, &m->size));
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
	size_t leases;		/* in st */
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
	text = store_pool_state_text(c->st, &tl);
	store_pool_state_free(srv->store, c->st);
	if (text == NULL || path == NULL || lpath == NULL || npath == NULL)
		snprintf(err, sizeof(err), "out of memory");
	else
		tmp = state_write_tmp(path, text, tl, 0600, NULL, NULL, err, sizeof(err));
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
		store_pool_set_dirty(srv->store, (struct pool *)m->pool, 1);
	} else {
		/* Base NEW is on disk: journal.new is its journal. Should this
		 * rename not be made, a start finds journal.new naming base NEW. */
		free(tmp);
		tmp = NULL;
		if (state_rename_durable(npath, lpath, err, sizeof(err)) != 0)
			log_warnx("mirror of %s: %s", c->pool, err);
		util_strlcpy(m->gen, c->gen, sizeof(m->gen));
		m->base_bytes = tl;
		m->base_leases = c->leases;
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
	char err[256], line[128], *npath = mirror_path(srv, store_pool_name(p), "journal.new");
	char *rec = NULL;
	size_t rl = 0;
	int fd = -1, ll;
	pthread_t t;
	pthread_attr_t attr;

	if (c == NULL || npath == NULL)
		goto failed;
	c->srv = srv;
	util_strlcpy(c->pool, store_pool_name(p), sizeof(c->pool));
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
	c->leases = json_object_size(json_object_get(c->st, "mirror"));
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
	mirror_log_use(m, fd, (off_t)(strlen(STATE_JOURNAL_HEADER) + rl));
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
	const char *name = store_pool_name(p);
	char err[256], gen[33], line[64];
	char *path = mirror_path(srv, name, "json");
	char *lpath = mirror_path(srv, name, "journal");
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
	char *text = store_pool_state_text(st, &tl);
	int ll = snprintf(line, sizeof(line), "{\"base\":\"%s\"}", gen);
	char *rec = state_journal_record(line, (size_t)ll, &rl);
	char *log = rec != NULL ? malloc(hl + rl) : NULL;

	if (log != NULL) {
		memcpy(log, STATE_JOURNAL_HEADER, hl);
		memcpy(log + hl, rec, rl);
	}
	if (text == NULL || path == NULL || lpath == NULL || log == NULL) {
		log_warnx("mirror of %s: out of memory; not saved", name);
		goto failed;
	}
	if (state_write_atomic(path, text, tl, 0600, err, sizeof(err)) != 0) {
		log_warnx("mirror of %s: %s", name, err);
		goto failed;
	}
	/* The base is on disk: it is what a poll may acknowledge now. */
	mirror_new_remove(srv, name);
	util_strlcpy(m->gen, gen, sizeof(m->gen));
	util_strlcpy(m->epoch, js_str(st, "epoch", ""), sizeof(m->epoch));
	m->seq = (uint64_t)js_int(st, "seq", 0);
	m->released = json_array_size(json_object_get(st, "released"));
	m->base_bytes = tl;
	m->base_leases = json_object_size(json_object_get(st, "mirror"));
	m->log_bytes = hl + rl;
	int fd = -1;
	if (state_write_atomic(lpath, log, hl + rl, 0600, err, sizeof(err)) != 0 ||
	    (fd = state_journal_open(lpath, err, sizeof(err))) < 0)
		log_warnx("mirror journal of %s: %s (the next change rewrites the whole mirror)",
		    name, err);
	else
		mirror_log_use(m, fd, (off_t)(hl + rl));
	goto out;
failed:
	/* try again at the next tick */
	store_pool_set_dirty(srv->store, p, 1);
out:
	store_pool_state_free(srv->store, st);
	free(text);
	free(rec);
	free(log);
	free(path);
	free(lpath);
}

/*
 * How far the journal may grow before a new base starts it over: RATIO
 * times the larger of the base and the mirror now (MIRROR_LOG_MIN at
 * least). Records that add leases do not outgrow it, however many: a base
 * would hold all of them again, and writing it gains nothing; those that
 * replace or end leases do. Either way the base written is at most a
 * quarter of the journal it replaces, and a start reads at most five
 * times the mirror it restores.
 */
static size_t
mirror_log_bound(const struct mirror_log *m)
{
	size_t size = m->base_bytes > m->live_bytes ? m->base_bytes : m->live_bytes;

	return size * MIRROR_LOG_RATIO > mirror_log_min ? size * MIRROR_LOG_RATIO : mirror_log_min;
}

/* The mirror holds leases now: its size, about, at the bytes a lease took
 * in the records appended (or in the base, before any). */
static void
mirror_log_live(struct mirror_log *m, size_t leases)
{
	size_t each = m->recs > 0 ? m->rec_bytes / m->recs :
	    m->base_leases > 0 ? m->base_bytes / m->base_leases : 0;

	m->live_bytes = leases * each;
}

/* Append one line, text (tl bytes, no newline), to the pool's journal and
 * make it durable. With mirror_mu held. -1: not appended (no journal, it
 * has grown past its bound, or writing failed): the caller writes a base
 * instead. */
static int
mirror_append_text(struct server *srv, struct mirror_log *m, const char *text, size_t tl,
    const char *pool)
{
	size_t len = 0, limit;
	char *rec;
	int rc = -1;

	if (m == NULL || m->fd < 0 || text == NULL)
		return -1;
	limit = mirror_log_bound(m);
	rec = state_journal_record(text, tl, &len);
	/* Outgrown: a new base in the background, this line in journal.new
	 * (m->pool is the pool whose lock-free copy is made under the store
	 * lock; the caller holds mirror_mu). */
	if (rec != NULL && m->log_bytes + len > limit && m->compacting == 0)
		mirror_compact_start(srv, (struct pool *)m->pool, m);
	if (rec != NULL && (m->log_bytes + len <= limit || m->compacting != 0)) {
		off_t end = m->wr_off + (off_t)len;
		if (end > m->size)
			mirror_log_room(m, state_journal_extend(m->fd, &m->size,
			    end + MIRROR_LOG_ROOM, 0));
		if (state_pwrite_all(m->fd, rec, len, m->wr_off) == 0 &&
		    (!srv->cfg.fsync || fdatasync(m->fd) == 0)) {
			m->wr_off = end;
			if (m->size < end)
				m->size = end;
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
	return rc;
}

/* mirror_append_text of line, dumped. */
static int
mirror_append(struct server *srv, struct mirror_log *m, json_t *line, const char *pool)
{
	char *text = json_dumps(line, JSON_COMPACT);
	int rc = mirror_append_text(srv, m, text, text != NULL ? strlen(text) : 0, pool);

	free(text);
	return rc;
}

/*
 * An incremental poll's line: {"seq":N,"epoch":"E","records":[...]}, with
 * the records as the Primary's answer had them (raw, rawlen bytes, on one
 * line), not dumped again: that was a tenth of a busy backup's CPU. Dumped
 * from the answer o when it came decoded (raw NULL). nrecs: how many.
 * -1: not appended.
 */
static int
mirror_append_records(struct server *srv, struct mirror_log *m, json_t *o, uint64_t seq,
    const char *epoch, const char *raw, size_t rawlen, size_t nrecs, const char *pool)
{
	size_t before = m->log_bytes;
	int rc;

	if (raw != NULL) {
		char head[128];
		if (rawlen < 2 || raw[0] != '[' || raw[rawlen - 1] != ']' ||
		    !util_valid_id(epoch) || memchr(raw, '\n', rawlen) != NULL)
			return -1;
		int hl = snprintf(head, sizeof(head), "{\"seq\":%llu,\"epoch\":\"%s\",\"records\":",
		    (unsigned long long)seq, epoch);
		char *text = malloc((size_t)hl + rawlen + 2);
		if (text == NULL)
			return -1;
		memcpy(text, head, (size_t)hl);
		memcpy(text + hl, raw, rawlen);
		text[(size_t)hl + rawlen] = '}';
		rc = mirror_append_text(srv, m, text, (size_t)hl + rawlen + 1, pool);
		free(text);
	} else {
		json_t *line = json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)seq, "epoch",
		    epoch, "records", json_object_get(o, "records"));
		rc = line != NULL ? mirror_append(srv, m, line, pool) : -1;
		json_decref(line);
	}
	/* In the same journal (not one a compaction just started). */
	if (rc == 0 && m->log_bytes > before) {
		m->recs += nrecs;
		m->rec_bytes += m->log_bytes - before;
	}
	return rc;
}

/* The whole mirror, as a new base: on a full sync, a takeover, a handback. */
void
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
void
mirror_persist(struct server *srv, struct pool *p, int wait)
{
	json_t *ids;
	size_t n;
	int dirty;

	if (wait)
		pthread_mutex_lock(&mirror_mu);
	else if (pthread_mutex_trylock(&mirror_mu) != 0)
		return;
	struct mirror_log *m = mirror_log_of(p);
	/* Only the leases released since the journal's last line, when
	 * nothing else changed: one line for them. */
	ids = store_pool_take_released(srv->store, p, m != NULL && m->fd >= 0,
	    m != NULL ? m->released : 0, &dirty, &n);
	if (ids != NULL) {
		json_t *line = json_pack("{s:o}", "released", ids);
		if (mirror_append(srv, m, line, store_pool_name(p)) == 0)
			m->released = n;
		else
			mirror_save_base(srv, p, m);
		json_decref(line);
	} else if (dirty) {
		mirror_save_base(srv, p, m);
	}
	pthread_mutex_unlock(&mirror_mu);
}

/* Take in a good sync answer while warm, and have it on disk before the
 * next poll acknowledges it: its records appended to the journal, or
 * *base set when the whole mirror must be saved (the caller does, once
 * it has freed the answer: a full copy is 20 MB at 100,000 leases, and
 * the saved text as much again). raw: the text of its records (or of a full
 * copy's leases) as it came, on one line, which js_fast_valid took (o's
 * "records" or "leases" is not read then); NULL: o holds them decoded.
 * Returns 1 when it brought news. */
int
mirror_apply(struct server *srv, struct pool *p, json_t *o, const char *raw, size_t rawlen,
    int *base, char *lic_gen, size_t lic_gen_len, void (*good)(void *), void *arg)
{
	int full = json_is_true(json_object_get(o, "full"));
	const char *epoch = js_str(o, "epoch", "");
	uint64_t seq = (uint64_t)js_int(o, "seq", 0);
	size_t leases = 0, nrecs = 0;
	int news;

	pthread_mutex_lock(&mirror_mu);
	/* Absent: unchanged since the generation our poll named. */
	if (json_is_array(json_object_get(o, "licenses"))) {
		store_pool_set_licenses(srv->store, p, json_object_get(o, "licenses"));
		util_strlcpy(lic_gen, js_str(o, "licenses_gen", ""), lic_gen_len);
	}
	/* Set by a change of the licenses, or by a save that failed: neither
	 * is in the records. */
	*base = full || store_pool_dirty(srv->store, p);
	if (full)
		store_mirror_full(srv->store, p, json_object_get(o, "leases"), raw, rawlen);
	else
		leases = store_mirror_records(srv->store, p, json_object_get(o, "records"), raw,
		    rawlen, &nrecs);
	news = store_pool_synced(srv->store, p, epoch, seq) || full;
	/* In memory: the poll is good. On disk next (a second for a full
	 * copy of 100,000 leases). */
	good(arg);

	struct mirror_log *m = mirror_log_of(p);
	if (!*base && m != NULL && m->seq == seq && strcmp(m->epoch, epoch) == 0) {
		/* nothing new */
	} else if (!*base && m != NULL && m->fd >= 0 && strcmp(m->epoch, epoch) == 0) {
		mirror_log_live(m, leases);
		*base = mirror_append_records(srv, m, o, seq, epoch, raw, rawlen, nrecs,
		    store_pool_name(p)) != 0;
		if (!*base)
			m->seq = seq;
	} else {
		*base = 1;
	}
	/* Only the poller changes a warm pool: what the records changed is
	 * on disk now, or the whole mirror is to be saved (p->dirty also
	 * tells the main loop's tick, should it come first). */
	store_pool_set_dirty(srv->store, p, *base);
	pthread_mutex_unlock(&mirror_mu);
	return news;
}

/* What a poll may acknowledge: the Primary's epoch and sequence of the
 * mirror on disk. */
uint64_t
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
	json_t *o = js_loadb(text, len, NULL);
	size_t nrecs;
	int rc = 0;

	if (!json_is_object(o)) {
		rc = -1;
	} else if (rp->n == 0) {
		if (strcmp(js_str(o, "base", ""), rp->gen) != 0 && (rp->after == NULL ||
		    strcmp(js_str(o, "after", ""), rp->after) != 0)) {
			rp->stale = 1;
			rc = 1;
		}
	} else if (json_is_array(json_object_get(o, "released"))) {
		store_pool_add_released(s, p, json_object_get(o, "released"));
	} else if (json_is_integer(json_object_get(o, "seq"))) {
		store_mirror_records(s, p, json_object_get(o, "records"), NULL, 0, &nrecs);
		store_pool_synced(s, p, js_str(o, "epoch", ""), (uint64_t)js_int(o, "seq", 0));
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
void
mirror_load(struct server *srv, struct pool *p)
{
	const char *name = store_pool_name(p);
	char *path = mirror_path(srv, name, "json");
	char *lpath = mirror_path(srv, name, "journal");
	char *npath = mirror_path(srv, name, "journal.new");
	struct pool_sync sync;
	json_error_t jerr;
	json_t *st = path ? js_load_path(path, UTIL_STATE_MAX, &jerr) : NULL;
	char err[512];
	size_t nrec = 0, cut = 0, end = 0;
	int full = 0, chained = 0, has_new = npath != NULL && access(npath, F_OK) == 0;

	pthread_mutex_lock(&mirror_mu);
	struct mirror_log *m = mirror_log_of(p);
	if (st == NULL) {
		if (path != NULL && access(path, F_OK) == 0)
			log_warnx("%s:%d: %s (mirror ignored; a full sync follows)", path,
			    jerr.line, jerr.text);
		else if (lpath != NULL && access(lpath, F_OK) == 0)
			log_warnx("%s: no mirror-%s.json that it extends (ignored; a full sync "
			    "follows)", lpath, name);
		goto out;
	}
	store_pool_restore(srv->store, p, st);
	struct mirror_replay rp = { srv, p, js_str(st, "gen", ""), NULL, 0, 0 };
	if (rp.gen[0] == '\0') {
		/* written before mirror journals: it holds everything */
	} else if (lpath == NULL) {
		full = 1;
	} else if (access(lpath, F_OK) != 0) {
		log_warnx("%s: missing; %s alone may be behind (a full sync follows)", lpath,
		    path);
		full = 1;
	} else if (state_journal_replay_end(lpath, mirror_replay_line, &rp, &nrec, &cut, &end,
	    NULL, err, sizeof(err)) != 0 && !rp.stale) {
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
	if (rp.gen[0] != '\0' && lpath != NULL && !full && !chained && !rp.stale && m != NULL) {
		int fd = state_journal_open(lpath, err, sizeof(err));
		if (fd < 0)
			log_warnx("%s (the next change rewrites the whole mirror)", err);
		else
			mirror_log_use(m, fd, (off_t)end);
	}
	/* memory holds what the disk does; read from journal.new, in a new
	 * base next */
	store_pool_loaded(srv->store, p, full, chained, &sync);
	if (m != NULL) {
		util_strlcpy(m->gen, rp.gen, sizeof(m->gen));
		util_strlcpy(m->epoch, sync.epoch, sizeof(m->epoch));
		m->seq = sync.seq;
		m->released = sync.released;
		m->base_bytes = file_size(path);
		m->base_leases = json_object_size(json_object_get(st, "mirror"));
		m->log_bytes = m->fd >= 0 ? (size_t)m->wr_off : file_size(lpath);
		if (full)
			mirror_log_close(m);
	}
out:
	pthread_mutex_unlock(&mirror_mu);
	json_decref(st);
	free(path);
	free(lpath);
	free(npath);
}

/* A Primary no longer backed up: its mirror goes, on disk too. */
void
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
		m->base_leases = m->live_bytes = 0;
		m->compacting = 0;	/* its thread finds it gone */
	}
	mirror_new_remove(srv, store_pool_name(p));
	for (int i = 0; i < 2; i++) {
		if ((path = mirror_path(srv, store_pool_name(p), i ? "journal" : "json")) != NULL &&
		    unlink(path) != 0 && errno != ENOENT)
			log_warn("%s", path);
		free(path);
	}
	pthread_mutex_unlock(&mirror_mu);
}

/* At stop: save what is not on disk yet, and close the journals. */
void
mirror_close_all(void)
{
	pthread_mutex_lock(&mirror_mu);
	while (mirror_compactions > 0)
		pthread_cond_wait(&mirror_cv, &mirror_mu);
	for (size_t i = 0; i < nmirror_logs; i++)
		mirror_log_close(&mirror_logs[i]);
	util_vec_free(mirror_logs, nmirror_logs);
	pthread_mutex_unlock(&mirror_mu);
}
