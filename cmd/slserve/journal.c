/*
 * journal.c: the store's write-ahead log. Records are appended in memory
 * and written in batches by one committer thread (group commit, waiters
 * resumed once their record is on disk, storage faults answered), kept in
 * a ring for the backups' incremental syncs, and compacted into
 * snapshot.json by a thread of its own. Replayed at start (with the
 * snapshot). slserve --recover is recover.c's.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "json.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define RING_SIZE 65536		/* records kept for incremental peer sync */
#define GATHER_MAX_US 1000	/* longest wait for a group to gather */
/* Records no request waits for (a checkin, an expiry) are written and
 * synced at most this long after they were appended, or with the next
 * record a request does wait for: a sync costs about 100 us of CPU here,
 * and syncing each of them as it comes used a third of the server's CPU
 * under a load of checkins. */
#define LAZY_SYNC_US 10000
/* Zeros written ahead of the records (state_journal_extend): a record then
 * fills room already there, and its fdatasync writes no metadata. A start
 * writes a megabyte and syncs it; while serving, the room grows by a small
 * step whose zeros reach the disk with the batch that needed them, so no
 * batch waits for a megabyte to be written. */
#define JOURNAL_ROOM ((off_t)1 << 20)
#define JOURNAL_ROOM_STEP ((off_t)128 << 10)
/* A compaction copies the leases this many at a time under the store lock
 * (about 0.2 ms at 100,000 leases), pausing between slices so that the
 * requests waiting for the lock get it first. */
#define IMAGE_SLICE 512
/* A failed write is tried again after 100 ms, then twice as long each
 * time, up to 5 s. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* How often journal_watch looks at the state directory. */
#define DIR_CHECK_US (2 * 1000000)
#define IMAGE_PAUSE_NS 50000

struct waiter {
	uint64_t seq;
	void (*resume)(void *);
	void *arg;
};

struct journal {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* committer: something to write */
	pthread_cond_t done;		/* blocking waiters: durable_seq moved */
	pthread_t thread;
	int running, stopping;

	char *state_dir, *path, *snap_path;
	char *next_path;		/* journal.new: records after a snapshot being made */
	int fd;
	off_t wr_off;			/* where the next record goes */
	off_t size;			/* the file's size: records, then zeros */
	int do_fsync;
	long compact_after;
	long min_sync_us;		/* least time from one sync to the next */
	struct store *store;

	char *buf;			/* records appended, not yet written */
	size_t len, cap;
	int64_t first_us;		/* when buf's oldest record was appended */
	/* Group commit: the committer waits for work (idle), or for up to
	 * expect waiters to gather before a sync (gathering). */
	int idle, gathering;
	size_t expect;			/* requests answered by the last sync */
	uint64_t wanted;		/* the highest sequence someone waits for */
	int64_t sync_us;		/* what a write and sync take, smoothed */
	int64_t last_sync_us;		/* when the last one ended */
	uint64_t seq;			/* last appended */
	uint64_t durable;		/* last durable */
	uint64_t base;			/* sequence of the current snapshot */
	long since_snapshot;		/* records in the journal file */

	struct waiter *waiters;
	size_t nwaiters, capwaiters;
	struct waiter *ready;		/* durable, being resumed by the committer */
	void (*listener)(void *);	/* told of every batch (journal_set_listener) */
	void *listener_arg;
	long test_write_delay_ms;	/* SL_TEST_JOURNAL_WRITE_DELAY_MS */
	size_t capready;
	int resuming;

	char **ring;			/* last RING_SIZE records' JSON, by seq */
	struct journal_stats stats;

	/* Compaction in the background (compact_start / compactor). */
	int rotated;			/* the committer writes to next_path */
	int compacting;			/* the compactor thread runs */
	int compactor_joinable;
	pthread_t compactor;
	struct store_image *img;	/* its input: the state at img_seq */
	uint64_t img_seq;
	int64_t compact_not_before_us;	/* after a failure */

	/* Start: what replay found, for its messages. */
	int had_snapshot;
	const char *replaying;		/* the file being replayed */
	struct state_journal_fault fault;
	char why[512];			/* why replay stopped, when it did */

	/* Storage health (journal_storage). A failed write or sync makes it
	 * unhealthy until a write succeeds again; a state directory removed
	 * or replaced (journal_watch) makes it unhealthy for good. */
	int storage_ok, dir_lost;
	char storage_error[256];
	time_t storage_since;
	int64_t backoff_ms;		/* before the next try of a failed write */
	int room_failed;		/* room ahead could not be written (said once) */
	int64_t writing_since_us;	/* a write or sync under way since, or 0 */
	dev_t dir_dev, lock_dev;	/* the state directory and its lock file */
	ino_t dir_ino, lock_ino;
	char *lock_path;

	/* SL_TEST_FAIL_JOURNAL_ALLOC=N: the Nth append fails as if memory
	 * were short (tests of the 503 it must give). */
	unsigned long fail_alloc_at, appends;
};

#define RECOVER_HINT "run \"slserve --recover\" to keep what holds and accept the loss " \
	"(slserve(8), Recovery)"

static int
replay_one(const char *json, size_t len, void *arg)
{
	struct journal *j = arg;
	json_error_t jerr;
	json_t *rec = json_loadb(json, len, 0, &jerr);
	int rc = -1;

	if (rec == NULL)
		return -1;
	uint64_t seq = (uint64_t)json_int(rec, "seq", 0);
	const char *op = json_str(rec, "op", "");
	if (seq == 0)
		goto out;
	if (strcmp(op, "snapshot") == 0) {
		/* A journal made by a compaction: the records up to seq are
		 * in a snapshot, or in the journal replayed before this one. */
		if (seq > j->seq) {
			char at[64] = "is missing";
			if (j->had_snapshot)
				snprintf(at, sizeof(at), "is at seq %llu", (unsigned long long)j->base);
			snprintf(j->why, sizeof(j->why), "%s: byte %zu: the records up to seq %llu "
			    "were compacted into a snapshot, but %s %s: seq %llu-%llu are "
			    "missing; %s", j->replaying, j->fault.offset, (unsigned long long)seq,
			    j->snap_path, at, (unsigned long long)j->seq + 1,
			    (unsigned long long)seq, RECOVER_HINT);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (seq <= j->base) {	/* already in the snapshot */
		rc = 0;
		goto out;
	}
	/* A loss accepted by slserve --recover: seq "from" to seq. */
	uint64_t from = strcmp(op, "lost") == 0 ? (uint64_t)json_int(rec, "from", 0) : seq;
	if (from == 0 || from > j->seq + 1 || seq <= j->seq) {
		if (seq <= j->seq)
			snprintf(j->why, sizeof(j->why), "%s: byte %zu: record seq %llu after seq "
			    "%llu: out of order; %s", j->replaying, j->fault.offset,
			    (unsigned long long)seq, (unsigned long long)j->seq, RECOVER_HINT);
		else if (j->seq == j->base && !j->had_snapshot)
			snprintf(j->why, sizeof(j->why), "%s: byte %zu: the first record is seq "
			    "%llu, and %s is missing: seq %llu-%llu are in no file (compacted "
			    "into the missing snapshot?); %s", j->replaying, j->fault.offset,
			    (unsigned long long)from, j->snap_path, (unsigned long long)j->seq + 1,
			    (unsigned long long)from - 1, RECOVER_HINT);
		else
			snprintf(j->why, sizeof(j->why), "%s: byte %zu: record seq %llu follows "
			    "seq %llu%s: seq %llu-%llu are missing; %s", j->replaying,
			    j->fault.offset, (unsigned long long)from, (unsigned long long)j->seq,
			    j->seq == j->base ? " (the snapshot's)" : "",
			    (unsigned long long)j->seq + 1, (unsigned long long)from - 1,
			    RECOVER_HINT);
		goto out;
	}
	if (strcmp(op, "lost") != 0) {
		if (store_apply_record(j->store, rec) != 0)
			goto out;
		j->since_snapshot++;
	}
	j->seq = seq;
	rc = 0;
out:
	json_decref(rec);
	return rc;
}

#define SNAP_BATCH 256	/* snapshot leases linked under one hold of the lock */

/* One run of a snapshot's lease records, parsed and applied by a thread. */
struct snap_part {
	struct store *store;
	const char *text;
	size_t pos, end;	/* end: where the next part starts, or the text's end */
	int rc;			/* 0, -1: bad JSON at pos, -2: a lease not applied */
	json_error_t jerr;
};

/* Parse and apply comma-separated lease records from pos until end or a
 * closing bracket; pos is left at the end or at the bracket. */
static void *
snap_part_apply(void *arg)
{
	struct snap_part *sp = arg;
	const char *t = sp->text;

	json_t *batch[SNAP_BATCH];
	size_t n = 0;

	for (;;) {
		int more = sp->pos < sp->end && t[sp->pos] != ']';
		json_t *rec = NULL;
		if (more && (rec = json_loadb(t + sp->pos, sp->end - sp->pos,
		    JSON_DISABLE_EOF_CHECK, &sp->jerr)) == NULL)
			sp->rc = -1;
		if (rec != NULL)
			batch[n++] = rec;
		/* Linked in batches: the threads share the store's lock. */
		if (n > 0 && (n == SNAP_BATCH || rec == NULL)) {
			if (store_apply_leases(sp->store, batch, n) != 0 && sp->rc == 0)
				sp->rc = -2;
			while (n > 0)
				json_decref(batch[--n]);
		}
		if (rec == NULL || sp->rc != 0)
			break;
		sp->pos += (size_t)sp->jerr.position;
		while (sp->pos < sp->end && (t[sp->pos] == ' ' || t[sp->pos] == '\n'))
			sp->pos++;
		if (sp->pos < sp->end && t[sp->pos] == ',')
			sp->pos++;
	}
	return NULL;
}

/* Apply the snapshot lease by lease: parsed as one tree it costs 1.5 KB
 * of memory per lease and as much time in malloc as in parsing. Parsing is
 * most of a restart, so large snapshots are split between threads, one a
 * core: records are flat objects written with "id" first, so a record
 * starts wherever '},{"id":"' is found (inside a string those quotes would
 * be escaped). Snapshots are written as {"leases":[...],"bans":[...],
 * "version":1,"seq":N} (store_image_text); another shape is parsed whole. */
static int
load_snapshot(struct journal *j, char *err, size_t errlen)
{
	static const char head[] = "{\"leases\":[", mark[] = "},{\"id\":\"";
	struct snap_part parts[4];
	json_error_t jerr;
	json_t *snap = NULL;
	size_t len, pos = sizeof(head) - 1, nparts = 1;
	char *text = util_read_file(j->snap_path, &len);
	int rc = -1;

	if (text == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", j->snap_path, strerror(errno));
		return -1;
	}
	j->had_snapshot = 1;
	memset(&jerr, 0, sizeof(jerr));
	if (len > pos && memcmp(text, head, pos) == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		size_t want = len < (1 << 20) ? 1 : ncpu < 1 ? 1 : ncpu > 4 ? 4 : (size_t)ncpu;
		memset(parts, 0, sizeof(parts));
		parts[0].pos = pos;
		for (size_t i = 1; i < want; i++) {
			const char *from = text + pos + (len - pos) * i / want;
			const char *m = memmem(from, len - (size_t)(from - text), mark,
			    sizeof(mark) - 1);
			if (m == NULL || (size_t)(m - text) + 2 <= parts[nparts - 1].pos)
				break;
			parts[nparts++].pos = (size_t)(m - text) + 2;
		}
		for (size_t i = 0; i < nparts; i++) {
			parts[i].store = j->store;
			parts[i].text = text;
			parts[i].end = i + 1 < nparts ? parts[i + 1].pos : len;
		}
		util_run_parallel(snap_part_apply, parts, sizeof(parts[0]), nparts);
		for (size_t i = 0; i < nparts; i++) {
			if (parts[i].rc == -1) {
				pos = parts[i].pos;
				jerr = parts[i].jerr;
				goto bad;
			}
			if (parts[i].rc == -2) {
				snprintf(err, errlen, "%s: cannot apply a lease", j->snap_path);
				goto out;
			}
			/* Each part ends where the next begins, the last at ']'. */
			if (parts[i].pos != parts[i].end && i + 1 < nparts) {
				pos = parts[i].pos;
				goto bad;
			}
		}
		/* What follows the array is ',"bans":[...],...}': make it an
		 * object of its own. */
		pos = parts[nparts - 1].pos;
		memset(&jerr, 0, sizeof(jerr));
		snprintf(jerr.text, sizeof(jerr.text), "expected ] and \"bans\"");
		if (pos + 1 >= len || text[pos] != ']' || text[pos + 1] != ',')
			goto bad;
		pos++;
		text[pos] = '{';
		snap = json_loadb(text + pos, len - pos, 0, &jerr);
	} else {
		pos = 0;
		snap = json_loadb(text, len, 0, &jerr);
	}
	if (snap == NULL)
		goto bad;
	j->base = j->seq = (uint64_t)json_int(snap, "seq", 0);
	if (store_apply_snapshot(j->store, snap) != 0) {
		snprintf(err, errlen, "%s: cannot apply snapshot", j->snap_path);
		goto out;
	}
	rc = 0;
	goto out;
bad:
	snprintf(err, errlen, "%s: byte %zu: %s", j->snap_path, pos + (size_t)jerr.position,
	    jerr.text[0] ? jerr.text : "not a snapshot");
out:
	json_decref(snap);
	free(text);
	return rc;
}

/* Write the journal's records from now on to fd, whose records end at end:
 * at that offset (not appended: room is written ahead of them). */
static void
journal_use_fd(struct journal *j, int fd, off_t end, off_t room, int sync)
{
	off_t hl = (off_t)strlen(STATE_JOURNAL_HEADER);
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_APPEND) != 0)
		log_warn("journal: fcntl");
	j->size = fstat(fd, &st) == 0 ? st.st_size : end;
	j->wr_off = end < hl ? hl : end;
	if (j->size < j->wr_off)
		j->size = j->wr_off;
	if (state_journal_extend(fd, &j->size, j->wr_off + room, sync) != 0)
		log_warn("journal: cannot write room ahead (records are appended)");
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
}

/* Make path an empty journal, written atomically, whose first record says
 * that the records up to seq are in a snapshot or in the file before it:
 * a start that finds it with no snapshot that far knows records are lost.
 * Returns its fd open to append, *end the offset after that record. */
static int
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

/* Start a memory copy of the state as of the last record appended; *seqp
 * gets that record's sequence. The leases are copied after, by
 * store_image_more, into room it makes then (not by the committer). The
 * store lock first, as appenders take it. NULL when memory is short. */
static struct store_image *
journal_image(struct journal *j, uint64_t *seqp)
{
	struct store_image *img = store_image_new();

	if (img == NULL)
		return NULL;
	pthread_mutex_lock(&j->store->lock);
	pthread_mutex_lock(&j->mu);
	int rc = store_image_take(j->store, img);
	*seqp = j->seq;
	pthread_mutex_unlock(&j->mu);
	pthread_mutex_unlock(&j->store->lock);
	if (rc != 0) {
		store_image_free(img);
		return NULL;
	}
	return img;
}

/* Copy the leases into an image from journal_image, a slice at a time
 * while requests are served (sliced), else at once. -1: out of memory. */
static int
journal_image_fill(struct journal *j, struct store_image *img, int sliced)
{
	const struct timespec pause = { 0, IMAGE_PAUSE_NS };
	int rc;

	while ((rc = store_image_more(j->store, img, sliced ? IMAGE_SLICE : 0)) == 1)
		nanosleep(&pause, NULL);
	return rc;
}

/* Write img (freed here) as the snapshot at seq. */
static int
snapshot_write(struct journal *j, struct store_image *img, uint64_t seq, int parallel,
    char *err, size_t errlen)
{
	size_t len;
	char *text = store_image_text(img, seq, &len, parallel);
	int rc;

	if (text == NULL) {
		snprintf(err, errlen, "snapshot: out of memory");
		return -1;
	}
	rc = state_write_atomic(j->snap_path, text, len, 0600, err, errlen);
	free(text);
	return rc;
}

/* Write the whole state as a snapshot and start an empty journal, at open
 * (while serving, compact_start does it beside the requests). */
static int
journal_compact(struct journal *j, char *err, size_t errlen)
{
	uint64_t seq;
	struct store_image *img = journal_image(j, &seq);
	int fd;

	if (img == NULL || journal_image_fill(j, img, 0) != 0) {
		if (img != NULL)
			store_image_free(img);
		snprintf(err, errlen, "snapshot: out of memory");
		return -1;
	}
	if (snapshot_write(j, img, seq, 1, err, errlen) != 0)
		return -1;
	off_t end;
	if ((fd = journal_new_file(j->path, seq, &end, err, errlen)) < 0)
		return -1;
	journal_use_fd(j, fd, end, JOURNAL_ROOM, 1);
	pthread_mutex_lock(&j->mu);
	j->base = seq;
	j->since_snapshot = (long)(j->seq - seq);
	pthread_mutex_unlock(&j->mu);
	log_debug("journal compacted into snapshot at seq %llu", (unsigned long long)seq);
	return 0;
}

static int64_t mono_us(void);

/*
 * Compaction while the server serves. Writing a snapshot of 100,000 leases
 * takes about a second; done by the committer, it held every checkout for
 * that second. Instead the committer starts an image of the state at seq
 * (the bans; store_image_take) and moves its writes to journal.new, and a
 * thread of its own copies the leases a slice at a time (everything they
 * miss or copy early is in journal.new), writes the snapshot and then
 * renames journal.new over the journal. A start
 * replays the journal and then journal.new, skipping records the snapshot
 * holds, so a crash at any step loses nothing: before the snapshot's
 * rename the old snapshot and both journals hold everything; after it the
 * new snapshot and journal.new do.
 */
static void *
compactor(void *arg)
{
	struct journal *j = arg;
	struct store_image *img = j->img;
	char err[512];
	int rc = -1;

	/* Not urgent: one thread, at a lower priority than the threads that
	 * answer requests (on Linux a nice value is a thread's own). */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
		log_debug("journal compaction: setpriority: %s", strerror(errno));
	j->img = NULL;		/* snapshot_write frees it */
	if (journal_image_fill(j, img, 1) != 0) {
		store_image_free(img);
		snprintf(err, sizeof(err), "snapshot: out of memory");
	} else if (snapshot_write(j, img, j->img_seq, 0, err, sizeof(err)) == 0) {
		if (rename(j->next_path, j->path) != 0)
			snprintf(err, sizeof(err), "rename %s to %s: %s", j->next_path, j->path,
			    strerror(errno));
		else if (state_fsync_dir(j->state_dir) != 0)
			snprintf(err, sizeof(err), "%s: fsync: %s", j->state_dir, strerror(errno));
		else
			rc = 0;
	}
	pthread_mutex_lock(&j->mu);
	if (rc == 0) {
		j->base = j->img_seq;
		j->since_snapshot = (long)(j->seq - j->img_seq);
		j->rotated = 0;
	} else {
		/* Both journals stay; the next try writes a newer snapshot. */
		j->compact_not_before_us = mono_us() + 10 * 1000000;
	}
	j->compacting = 0;
	pthread_mutex_unlock(&j->mu);
	if (rc == 0)
		log_debug("journal compacted into snapshot at seq %llu",
		    (unsigned long long)j->img_seq);
	else
		log_warnx("journal compaction: %s (tried again in 10 s)", err);
	return NULL;
}

/* Start a compaction, from the committer, with j->mu held and everything
 * written so far on disk. Returns with j->mu held. */
static void
compact_start(struct journal *j)
{
	char err[512];
	int fd;

	if (j->compactor_joinable) {
		pthread_join(j->compactor, NULL);
		j->compactor_joinable = 0;
	}
	pthread_mutex_unlock(&j->mu);
	uint64_t seq;
	struct store_image *img = journal_image(j, &seq);
	if (img == NULL) {
		log_warnx("journal compaction: out of memory");
		goto later;
	}
	/* Records after the ones on disk go to journal.new, unless a failed
	 * compaction left the committer writing there already. */
	if (!j->rotated) {
		off_t end;
		if ((fd = journal_new_file(j->next_path, j->durable, &end, err,
		    sizeof(err))) < 0) {
			log_warnx("journal compaction: %s", err);
			store_image_free(img);
			goto later;
		}
		journal_use_fd(j, fd, end, JOURNAL_ROOM_STEP, 0);
		j->rotated = 1;
	}
	pthread_mutex_lock(&j->mu);
	j->img = img;
	j->img_seq = seq;
	j->compacting = 1;
	if (pthread_create(&j->compactor, NULL, compactor, j) != 0) {
		j->img = NULL;
		j->compacting = 0;
		store_image_free(img);
		log_warnx("journal compaction: cannot start a thread");
		j->compact_not_before_us = mono_us() + 10 * 1000000;
		return;
	}
	j->compactor_joinable = 1;
	return;
later:
	pthread_mutex_lock(&j->mu);
	j->compact_not_before_us = mono_us() + 10 * 1000000;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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
	int64_t now = mono_us(), wait = j->sync_us / 2;
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
			if (mono_us() >= due)
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
		int64_t t0 = mono_us();
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
		int64_t t1 = mono_us();
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
			int64_t due = mono_us() + j->backoff_ms * 1000;
			struct timespec until = { due / 1000000, (due % 1000000) * 1000 };
			while (!j->stopping && mono_us() < due)
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

/* Replay one journal file into j; damage in its middle or a gap in the
 * sequence stops the start (err says where and what to do). */
static int
journal_replay_file(struct journal *j, const char *path, size_t *records, size_t *end,
    char *err, size_t errlen)
{
	size_t cut = 0;
	int rc;

	j->replaying = path;
	j->why[0] = '\0';
	rc = state_journal_replay_end(path, replay_one, j, records, &cut, end, &j->fault, err,
	    errlen);
	if (rc == -2) {
		snprintf(err, errlen, "%s: byte %zu: damaged record after seq %llu (seq %llu "
		    "expected), and records that hold follow it (from byte %zu): nothing was "
		    "cut; %s", path, j->fault.offset, (unsigned long long)j->seq,
		    (unsigned long long)j->seq + 1, j->fault.next, RECOVER_HINT);
		return -1;
	}
	if (rc != 0) {
		if (j->why[0] != '\0')
			util_strlcpy(err, j->why, errlen);
		return -1;
	}
	if (cut > 0)
		log_warnx("%s: cut %zu bytes of a torn or corrupt record at the end", path, cut);
	return 0;
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
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->work, &ca);
	pthread_condattr_destroy(&ca);
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
	s->journal = j;
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
	s->journal = NULL;
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
	free(j->ring);
	free(j->buf);
	free(j->waiters);
	free(j->ready);
	free(j->state_dir);
	free(j->path);
	free(j->snap_path);
	free(j->next_path);
	free(j->lock_path);
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
	json = fail ? NULL : json_compact(rec, 0, &jsonlen);
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
		j->first_us = mono_us();
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
	int64_t now = mono_us();

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
