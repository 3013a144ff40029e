/*
 * journal.c: the store's write-ahead log. Records are appended in memory
 * and written in batches by one committer thread (group commit, waiters
 * resumed once their record is on disk, storage faults answered), kept in
 * a ring for the backups' incremental syncs. Compaction into
 * snapshot.json is journal_compact.c's, reading it back at start
 * journal_load.c's, slserve --recover recover.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "journal.h"
#include "journal_int.h"
#include "json.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* Write the journal's records from now on to fd, whose records end at end:
 * at that offset (not appended: room is written ahead of them). */
void
journal_use_fd(struct journal *j, int fd, off_t end, off_t room, int sync)
{
	off_t hl = (off_t)strlen(STATE_JOURNAL_HEADER);

	j->wr_off = end < hl ? hl : end;
	if (state_journal_use(fd, j->wr_off, room, sync, &j->size) != 0)
		log_warn("journal: cannot write room ahead (records are appended)");
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
}

/* Make path an empty journal, written atomically, whose first record says
 * that the records up to seq are in a snapshot or in the file before it:
 * a start that finds it with no snapshot that far knows records are lost.
 * Returns its fd open to append, *end the offset after that record. */
int
journal_new_file(const char *path, uint64_t seq, off_t *end, char *err, size_t errlen)
{
	size_t hl = strlen(STATE_JOURNAL_HEADER), rl = 0;
	char json[64], *rec = NULL, *text = NULL;
	int fd = -1;

	if (seq == 0) {
		*end = (off_t)hl;
		return state_journal_reset(path, err, errlen);
	}
	int jl = snprintf(json, sizeof(json), "{\"op\":\"snapshot\",\"seq\":%llu}",
	    (unsigned long long)seq);
	if ((rec = state_journal_record(json, (size_t)jl, &rl)) == NULL ||
	    (text = malloc(hl + rl)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	memcpy(text, STATE_JOURNAL_HEADER, hl);
	memcpy(text + hl, rec, rl);
	if (state_write_atomic(path, text, hl + rl, 0600, err, errlen) != 0)
		goto out;
	if ((fd = state_journal_open(path, err, errlen)) >= 0)
		*end = (off_t)(hl + rl);
out:
	free(rec);
	free(text);
	return fd;
}

/* Resume the requests whose records are durable. Called with j->mu held;
 * the resumes (a syscall each) happen with it let go, because appenders
 * hold the store lock while they wait for j->mu. Returns how many. */
static size_t
wake_waiters(struct journal *j)
{
	size_t o = 0, n = 0;

	if (j->capready < j->nwaiters) {
		struct waiter *nr = realloc(j->ready, j->capwaiters * sizeof(*nr));
		if (nr != NULL) {
			j->ready = nr;
			j->capready = j->capwaiters;
		}
	}
	for (size_t i = 0; i < j->nwaiters; i++) {
		struct waiter *w = &j->waiters[i];
		if (w->seq > j->durable)
			j->waiters[o++] = *w;
		else if (n < j->capready)
			j->ready[n++] = *w;
		else
			w->resume(w->arg);	/* no room to defer it */
	}
	j->nwaiters = o;
	if (n > 0) {
		j->resuming = 1;
		pthread_mutex_unlock(&j->mu);
		for (size_t i = 0; i < n; i++)
			j->ready[i].resume(j->ready[i].arg);
		pthread_mutex_lock(&j->mu);
		j->resuming = 0;
	}
	pthread_cond_broadcast(&j->done);
	return n;
}

/* Answer every waiting request now: its record is not on disk and may
 * not be for a while (they see it with journal_is_durable). Called with
 * j->mu held, like wake_waiters. */
static void
fail_waiters(struct journal *j)
{
	size_t n = j->nwaiters;
	struct waiter *w = j->waiters;

	if (n == 0) {
		pthread_cond_broadcast(&j->done);
		return;
	}
	j->waiters = NULL;
	j->nwaiters = j->capwaiters = 0;
	j->resuming = 1;
	pthread_mutex_unlock(&j->mu);
	for (size_t i = 0; i < n; i++)
		w[i].resume(w[i].arg);
	pthread_mutex_lock(&j->mu);
	j->resuming = 0;
	free(w);
	pthread_cond_broadcast(&j->done);
}

/* Storage is unhealthy (why): logged once per change, not once a write;
 * for_good: the state directory is gone, which no write can mend. Called
 * with j->mu held. */
static void
storage_fail(struct journal *j, const char *why, int for_good)
{
	if (j->storage_ok || (for_good && !j->dir_lost)) {
		log_warnx("%s: storage unavailable; grants, checkins and revokes are answered "
		    "503 %s", why, for_good ? "until slserve is restarted" :
		    "until a write succeeds (retried with backoff)");
		util_strlcpy(j->storage_error, why, sizeof(j->storage_error));
		j->storage_since = time(NULL);
	}
	j->storage_ok = 0;
	if (for_good)
		j->dir_lost = 1;
	fail_waiters(j);
}

/* Group commit. A sync costs about as much for one record as for forty,
 * and the requests answered by the last sync are likely on their way back
 * with their next record: wait for them (as many as came back last time),
 * but never longer than half a sync, and not after a pause.
 *
 * And never sync sooner than min_sync_us after the last one: on a virtual
 * machine a flush costs the host far more than the sync's own time shows.
 * Thousands of flushes a second made the host stop the whole machine for
 * 5 to 10 ms every 100 ms (its CPU quota spent), which cost more latency
 * than the wait does (BENCHMARKS.md, "The host stops this machine when its
 * disk is flushed often"). */
static void
gather(struct journal *j)
{
	int64_t now = util_mono_us(), wait = j->sync_us / 2;
	struct timespec until;

	if (j->min_sync_us > 0 && !j->stopping && now < j->last_sync_us + j->min_sync_us) {
		int64_t due = j->last_sync_us + j->min_sync_us;
		struct timespec ts = { due / 1000000, (due % 1000000) * 1000 };
		pthread_mutex_unlock(&j->mu);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		pthread_mutex_lock(&j->mu);
		return;
	}

	if (now - j->last_sync_us > 4 * j->sync_us + 1000)
		j->expect = 0;
	if (j->nwaiters >= j->expect || j->stopping || wait <= 0)
		return;
	if (wait > GATHER_MAX_US)
		wait = GATHER_MAX_US;
	now += wait;
	until.tv_sec = now / 1000000;
	until.tv_nsec = (now % 1000000) * 1000;
	j->gathering = 1;
	while (j->nwaiters < j->expect && !j->stopping)
		if (pthread_cond_timedwait(&j->work, &j->mu, &until) != 0)
			break;
	j->gathering = 0;
}

static void *
committer(void *arg)
{
	struct journal *j = arg;
	char *batch = NULL;
	size_t batchcap = 0;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		/* Sleep until a request waits for a record, or the oldest
		 * record no one waits for is LAZY_SYNC_US old. */
		while (!j->stopping && (j->len == 0 || j->wanted <= j->durable)) {
			j->idle = 1;
			if (j->len == 0) {
				pthread_cond_wait(&j->work, &j->mu);
				continue;
			}
			int64_t due = j->first_us + LAZY_SYNC_US;
			if (util_mono_us() >= due)
				break;
			struct timespec until = { due / 1000000, (due % 1000000) * 1000 };
			pthread_cond_timedwait(&j->work, &j->mu, &until);
		}
		j->idle = 0;
		if (j->len == 0 && j->stopping)
			break;
		gather(j);
		/* Take the whole pending buffer: one write and one sync for
		 * every request that arrived meanwhile (group commit). */
		char *tmp = batch;
		size_t len = j->len;
		batch = j->buf;
		j->buf = tmp;
		size_t tcap = batchcap;
		batchcap = j->cap;
		j->cap = tcap;
		j->len = 0;
		uint64_t upto = j->seq;
		void (*listener)(void *) = j->listener;
		void *listener_arg = j->listener_arg;
		pthread_mutex_unlock(&j->mu);
		/* The batch goes to the backups that long-poll while it is
		 * written here: their write and sync overlap ours. */
		if (listener != NULL)
			listener(listener_arg);
		if (j->test_write_delay_ms > 0)
			usleep((useconds_t)j->test_write_delay_ms * 1000);

write:;
		int64_t t0 = util_mono_us();
		pthread_mutex_lock(&j->mu);
		int lost = j->dir_lost, was_ok = j->storage_ok;
		j->writing_since_us = t0;
		pthread_mutex_unlock(&j->mu);
		off_t end = j->wr_off + (off_t)len;
		int failed = 1, werr = ENOENT;
		/* A state directory that is gone takes no record: written into
		 * a file no start will read, it would be acknowledged and lost. */
		if (!lost) {
			/* Said once until room can be made again: on a full
			 * disk it fails for every batch. */
			if (end > j->size && state_journal_extend(j->fd, &j->size,
			    end + JOURNAL_ROOM_STEP, 0) != 0) {
				if (was_ok && !j->room_failed)
					log_warn("journal %s: cannot write room ahead", j->path);
				j->room_failed = 1;
			} else if (end > j->size) {
				j->room_failed = 0;
			}
			failed = state_pwrite_all(j->fd, batch, len, j->wr_off) != 0 ||
			    (j->do_fsync && fdatasync(j->fd) != 0);
			werr = errno;
		}
		int64_t t1 = util_mono_us();
		if (!failed) {
			if (end > j->size)
				j->size = end;
			j->wr_off = end;
		} else if (!lost && ftruncate(j->fd, j->wr_off) == 0) {
			/* Whatever part of the batch got written goes: after a
			 * crash it must not count, since its requests are told
			 * it failed. The retry writes the same bytes (and any
			 * later ones) at the same offset. */
			j->size = j->wr_off;
		}

		pthread_mutex_lock(&j->mu);
		j->writing_since_us = 0;
		if (failed) {
			/* Nothing is acknowledged that is not on disk: the
			 * waiting requests are answered 503 now, and the records
			 * are kept and written again, in order, with backoff. */
			char why[256];
			j->stats.write_errors++;
			if (lost)
				snprintf(why, sizeof(why), "%s", j->storage_error);
			else
				snprintf(why, sizeof(why), "journal %s: write%s: %s", j->path,
				    j->do_fsync ? " and sync" : "", strerror(werr));
			storage_fail(j, why, 0);
			j->backoff_ms = j->backoff_ms ? j->backoff_ms * 2 : BACKOFF_MIN_MS;
			if (j->backoff_ms > BACKOFF_MAX_MS)
				j->backoff_ms = BACKOFF_MAX_MS;
			int64_t due = util_mono_us() + j->backoff_ms * 1000;
			struct timespec until = { due / 1000000, (due % 1000000) * 1000 };
			while (!j->stopping && util_mono_us() < due)
				pthread_cond_timedwait(&j->work, &j->mu, &until);
			if (j->stopping) {
				log_warnx("journal %s: stopping with %zu bytes of records not "
				    "written (storage unavailable)", j->path, len + j->len);
				j->len = 0;
				break;
			}
			if (j->len + len + 1 > j->cap) {
				size_t ncap = j->len + len + 4096;
				char *nb = realloc(j->buf, ncap);
				if (nb != NULL) {
					j->buf = nb;
					j->cap = ncap;
				}
			}
			if (j->len + len <= j->cap) {
				memmove(j->buf + len, j->buf, j->len);
				memcpy(j->buf, batch, len);
				j->len += len;
				if (j->first_us == 0 || j->len == len)
					j->first_us = t0;
				continue;
			}
			/* No memory to put it back in front of the later records:
			 * write it again alone. Dropped, it would be acknowledged
			 * with the next batch that is written. */
			pthread_mutex_unlock(&j->mu);
			goto write;
		}
		j->backoff_ms = 0;
		if (!j->storage_ok && !j->dir_lost) {
			j->storage_ok = 1;
			log_info("journal %s: written again after %lld s; storage healthy, "
			    "requests are served", j->path,
			    (long long)(time(NULL) - j->storage_since));
			j->storage_since = time(NULL);
		}
		util_hist_add(&j->stats.write_times, (uint64_t)(t1 - t0));
		j->sync_us = j->sync_us ? (7 * j->sync_us + (t1 - t0)) / 8 : t1 - t0;
		j->last_sync_us = t1;
		j->durable = upto;
		j->stats.commits++;
		if (j->do_fsync)
			j->stats.syncs++;
		j->expect = wake_waiters(j);
		if (j->since_snapshot >= j->compact_after && !j->stopping && !j->compacting &&
		    t1 >= j->compact_not_before_us)
			compact_start(j);
	}
	pthread_mutex_unlock(&j->mu);
	free(batch);
	return NULL;
}

struct journal *
journal_open(const char *state_dir, int do_fsync, long compact_after, long min_sync_us,
    struct store *s, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	size_t records = 0;

	if (j == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&j->mu, NULL);
	util_cond_init_mono(&j->work);
	pthread_cond_init(&j->done, NULL);
	j->fd = -1;
	j->do_fsync = do_fsync;
	j->compact_after = compact_after;
	j->min_sync_us = min_sync_us;
	j->store = s;
	j->state_dir = strdup(state_dir);
	j->path = util_path_join(state_dir, "journal");
	j->snap_path = util_path_join(state_dir, "snapshot.json");
	j->next_path = util_path_join(state_dir, "journal.new");
	j->ring = calloc(RING_SIZE, sizeof(*j->ring));
	if (j->path == NULL || j->snap_path == NULL || j->next_path == NULL || j->ring == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	j->storage_ok = 1;
	j->storage_since = time(NULL);
	struct stat st;
	if ((j->lock_path = util_path_join(state_dir, "lock")) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (stat(state_dir, &st) == 0) {
		j->dir_dev = st.st_dev;
		j->dir_ino = st.st_ino;
	}
	if (stat(j->lock_path, &st) == 0) {
		j->lock_dev = st.st_dev;
		j->lock_ino = st.st_ino;
	}
	const char *fail_at = getenv("SL_TEST_FAIL_JOURNAL_ALLOC");
	if (fail_at != NULL)
		j->fail_alloc_at = strtoul(fail_at, NULL, 10);
	/* Tests: a write that takes this long, to stop the server (kill -9)
	 * after a batch went to the backups and before it is on disk here. */
	const char *delay = getenv("SL_TEST_JOURNAL_WRITE_DELAY_MS");
	if (delay != NULL)
		j->test_write_delay_ms = strtol(delay, NULL, 10);
	store_set_journal(s, j);
	if (load_snapshot(j, err, errlen) != 0)
		goto fail;
	int journal_existed = access(j->path, F_OK) == 0;
	if (!journal_existed && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", j->path, strerror(errno));
		goto fail;
	}
	/* Every start leaves a journal beside its snapshot: a snapshot alone
	 * means the records after it are gone. */
	if (!journal_existed && j->had_snapshot) {
		snprintf(err, errlen, "%s is missing beside %s (at seq %llu): the records after "
		    "seq %llu are gone; %s", j->path, j->snap_path, (unsigned long long)j->base,
		    (unsigned long long)j->base, RECOVER_HINT);
		goto fail;
	}
	size_t end = 0;
	if (journal_replay_file(j, j->path, &records, &end, err, errlen) != 0)
		goto fail;
	/* A compaction was under way: what came after it is in journal.new. */
	int next_existed = access(j->next_path, F_OK) == 0;
	if (next_existed) {
		size_t more = 0;
		if (journal_replay_file(j, j->next_path, &more, NULL, err, errlen) != 0)
			goto fail;
		records += more;
	}
	log_info("state: snapshot at seq %llu, %zu journal records replayed, last seq %llu",
	    (unsigned long long)j->base, records, (unsigned long long)j->seq);
	j->durable = j->seq;
	/* A long journal is compacted now so the next replay stays short; a
	 * short one is appended to (a snapshot of 100,000 leases takes a
	 * second to write). A new journal is made by compaction, which syncs
	 * its directory entry. */
	if (!journal_existed || next_existed || j->since_snapshot >= compact_after) {
		/* The journal first, so that no crash leaves a snapshot alone. */
		int fd = journal_existed ? -2 : state_journal_reset(j->path, err, errlen);
		if (fd == -1)
			goto fail;
		if (fd >= 0)
			close(fd);
		if (journal_compact(j, err, errlen) != 0)
			goto fail;
		/* Everything is in the snapshot now: journal.new can go. */
		if (next_existed && (unlink(j->next_path) != 0 ||
		    state_fsync_dir(j->state_dir) != 0)) {
			snprintf(err, errlen, "%s: %s", j->next_path, strerror(errno));
			goto fail;
		}
	} else {
		int fd = state_journal_open(j->path, err, errlen);
		if (fd < 0)
			goto fail;
		journal_use_fd(j, fd, (off_t)end, JOURNAL_ROOM, 1);
	}
	j->running = 1;
	if (pthread_create(&j->thread, NULL, committer, j) != 0) {
		snprintf(err, errlen, "cannot start journal thread");
		goto fail;
	}
	return j;
fail:
	store_set_journal(s, NULL);
	if (j->fd >= 0)
		close(j->fd);
	free(j->ring);
	free(j->state_dir);
	free(j->path);
	free(j->snap_path);
	free(j->next_path);
	free(j->lock_path);
	free(j);
	return NULL;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stopping = 1;
	pthread_cond_signal(&j->work);
	pthread_mutex_unlock(&j->mu);
	if (j->running)
		pthread_join(j->thread, NULL);
	if (j->compactor_joinable)
		pthread_join(j->compactor, NULL);
	if (j->fd >= 0) {
		if (fsync(j->fd) != 0)
			log_warn("journal %s: fsync", j->path);
		close(j->fd);
	}
	for (size_t i = 0; i < RING_SIZE; i++)
		free(j->ring[i]);
	void *owned[] = { j->ring, j->buf, j->waiters, j->ready, j->state_dir, j->path,
	    j->snap_path, j->next_path, j->lock_path };
	util_free_all(owned, nitems(owned));
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->work);
	pthread_cond_destroy(&j->done);
	free(j);
}

uint64_t
journal_append(struct journal *j, json_t *rec)
{
	char *json, *line;
	size_t linelen;
	uint64_t seq;

	pthread_mutex_lock(&j->mu);
	seq = j->seq + 1;
	json_object_set_new(rec, "seq", json_integer((json_int_t)seq));
	size_t jsonlen = 0;
	int fail = j->fail_alloc_at > 0 && ++j->appends == j->fail_alloc_at;
	json = fail ? NULL : js_compact(rec, 0, &jsonlen);
	line = json ? state_journal_record(json, jsonlen, &linelen) : NULL;
	if (line == NULL)
		goto nomem;
	if (j->len + linelen > j->cap) {
		size_t ncap = (j->cap ? j->cap : 65536);
		while (ncap < j->len + linelen)
			ncap *= 2;
		char *nb = realloc(j->buf, ncap);
		if (nb == NULL)
			goto nomem;
		j->buf = nb;
		j->cap = ncap;
	}
	/* Nothing can fail from here: the sequence is taken. */
	j->seq = seq;
	if (j->len == 0)
		j->first_us = util_mono_us();
	memcpy(j->buf + j->len, line, linelen);
	j->len += linelen;
	j->since_snapshot++;
	j->stats.records++;
	free(j->ring[seq % RING_SIZE]);
	j->ring[seq % RING_SIZE] = json;
	json = NULL;
	/* Wake the committer only for the first record of a batch, to
	 * start its clock: a wakeup is a context switch, and the caller
	 * holds the store lock. A waiter wakes it (journal_wait). */
	if (j->idle && j->len == linelen) {
		j->idle = 0;
		pthread_cond_signal(&j->work);
	}
	pthread_mutex_unlock(&j->mu);
	free(line);
	return seq;
nomem:
	/* The sequence is not used: the journal has no gap, and the caller
	 * undoes its change and answers 503. */
	j->stats.append_failures++;
	pthread_mutex_unlock(&j->mu);
	log_warnx("journal: out of memory; record not appended (its request fails)");
	free(json);
	free(line);
	return 0;
}

uint64_t
journal_last_seq(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint64_t s = j->seq;
	pthread_mutex_unlock(&j->mu);
	return s;
}

/* Someone waits for seq: have the committer write and sync it now. Called
 * with j->mu held. */
static void
want_sync(struct journal *j, uint64_t seq)
{
	if (seq > j->wanted)
		j->wanted = seq;
	if (j->idle || (j->gathering && j->nwaiters >= j->expect)) {
		j->idle = 0;
		pthread_cond_signal(&j->work);
	}
}

int
journal_wait(struct journal *j, uint64_t seq, void (*resume)(void *), void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&j->mu);
	if (seq > j->durable && !j->storage_ok) {
		rc = -1;
	} else if (seq > j->durable) {
		if (j->nwaiters == j->capwaiters) {
			size_t n = j->capwaiters ? j->capwaiters * 2 : 64;
			struct waiter *nw = realloc(j->waiters, n * sizeof(*nw));
			if (nw == NULL) {
				/* Fall back to waiting here. */
				want_sync(j, seq);
				while (seq > j->durable && j->storage_ok)
					pthread_cond_wait(&j->done, &j->mu);
				rc = seq > j->durable ? -1 : 0;
				goto out;
			}
			j->waiters = nw;
			j->capwaiters = n;
		}
		j->waiters[j->nwaiters++] = (struct waiter){ seq, resume, arg };
		want_sync(j, seq);
		rc = 1;
	}
out:
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int
journal_unwait(struct journal *j, void (*resume)(void *), void *arg)
{
	int found = 0;

	pthread_mutex_lock(&j->mu);
	for (size_t i = 0; i < j->nwaiters && !found; i++) {
		if (j->waiters[i].resume != resume || j->waiters[i].arg != arg)
			continue;
		j->waiters[i] = j->waiters[--j->nwaiters];	/* in no order */
		found = 1;
	}
	pthread_mutex_unlock(&j->mu);
	return found;
}

void
journal_set_listener(struct journal *j, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&j->mu);
	j->listener = fn;
	j->listener_arg = arg;
	pthread_mutex_unlock(&j->mu);
}

int
journal_is_durable(struct journal *j, uint64_t seq)
{
	pthread_mutex_lock(&j->mu);
	int yes = seq <= j->durable;
	pthread_mutex_unlock(&j->mu);
	return yes;
}

int
journal_sync_to(struct journal *j, uint64_t seq)
{
	pthread_mutex_lock(&j->mu);
	if (seq > j->durable && j->storage_ok)
		want_sync(j, seq);
	while ((seq > j->durable && j->storage_ok) || j->resuming)
		pthread_cond_wait(&j->done, &j->mu);
	int rc = seq > j->durable ? -1 : 0;
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int
journal_storage(struct journal *j, struct journal_storage *st)
{
	pthread_mutex_lock(&j->mu);
	int ok = j->storage_ok;
	if (st != NULL) {
		st->ok = ok;
		st->dir_lost = j->dir_lost;
		util_strlcpy(st->error, ok ? "" : j->storage_error, sizeof(st->error));
		st->since = j->storage_since;
	}
	pthread_mutex_unlock(&j->mu);
	return ok;
}

/* Whether path is still the file (dev, ino) it was at start. */
static int
same_file(const char *path, dev_t dev, ino_t ino, char *why, size_t whylen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return 1;	/* cannot tell; the writes will */
		snprintf(why, whylen, "%s was removed", path);
		return 0;
	}
	if (st.st_dev != dev || st.st_ino != ino) {
		snprintf(why, whylen, "%s was replaced by another file", path);
		return 0;
	}
	return 1;
}

void
journal_watch(struct journal *j, int64_t stall_ms)
{
	static int64_t last_dir_check_us;
	char why[sizeof(j->storage_error)];
	int64_t now = util_mono_us();

	pthread_mutex_lock(&j->mu);
	if (j->storage_ok && j->writing_since_us > 0 &&
	    now - j->writing_since_us > stall_ms * 1000) {
		snprintf(why, sizeof(why), "journal %s: a write and sync has taken more than "
		    "%lld ms", j->path, (long long)stall_ms);
		storage_fail(j, why, 0);
	}
	int lost = j->dir_lost;
	pthread_mutex_unlock(&j->mu);
	if (lost || now - last_dir_check_us < DIR_CHECK_US)
		return;
	last_dir_check_us = now;
	if (same_file(j->state_dir, j->dir_dev, j->dir_ino, why, sizeof(why)) &&
	    same_file(j->lock_path, j->lock_dev, j->lock_ino, why, sizeof(why)))
		return;
	size_t wl = strlen(why);
	snprintf(why + wl, sizeof(why) - wl, " while slserve ran (state directory lost)");
	pthread_mutex_lock(&j->mu);
	storage_fail(j, why, 1);
	pthread_mutex_unlock(&j->mu);
}

char *
journal_since_text(struct journal *j, uint64_t since, int appended, size_t *count,
    size_t *lenp)
{
	char *out = NULL;
	size_t len = 2, n = 0;		/* "[]" */

	pthread_mutex_lock(&j->mu);
	uint64_t upto = appended ? j->seq : j->durable;
	if (since > j->seq || j->seq - since >= RING_SIZE)
		goto out;
	/* The records are kept as the text written to the journal: copied,
	 * not parsed and dumped again (14 us a record under this lock). */
	for (uint64_t s = since + 1; s <= upto; s++) {
		const char *text = j->ring[s % RING_SIZE];
		if (text == NULL)
			goto out;
		len += strlen(text) + 1;
	}
	if ((out = malloc(len + 1)) == NULL)
		goto out;
	len = 0;
	out[len++] = '[';
	for (uint64_t s = since + 1; s <= upto; s++) {
		const char *text = j->ring[s % RING_SIZE];
		size_t tl = strlen(text);
		if (n++ > 0)
			out[len++] = ',';
		memcpy(out + len, text, tl);
		len += tl;
	}
	out[len++] = ']';
	out[len] = '\0';
out:
	pthread_mutex_unlock(&j->mu);
	*count = n;
	*lenp = len;
	return out;
}

void
journal_stats(struct journal *j, struct journal_stats *st)
{
	pthread_mutex_lock(&j->mu);
	*st = j->stats;
	pthread_mutex_unlock(&j->mu);
}
