/* The lease journal: records appended in memory under the store lock, written
 * and fdatasync'd by one committer thread in groups; compacted into a snapshot. */
#ifndef SLSERVE_JOURNAL_H
#define SLSERVE_JOURNAL_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "util.h"

struct store;
struct journal;

/* Load STATE_DIR/snapshot.json and replay STATE_DIR/journal into s, then
 * start the committer, which lets at least min_sync_us pass between the end
 * of one sync and the start of the next. */
struct journal *journal_open(const char *state_dir, int do_fsync, long compact_after,
    long min_sync_us, struct store *s, char *err, size_t errlen);
/* slserve --recover, with the state directory locked: keep the records of
 * the journals whose checksums hold, in order, with the sequence numbers
 * that are missing recorded as lost; copy the damaged files aside
 * (journal.damaged-YYYYmmddTHHMMSS) and write the journal again
 * atomically. report gets one line: what was kept and lost. Returns 0, or
 * -1 when nothing can be read or a file cannot be written (err says). */
int journal_recover(const char *state_dir, char *report, size_t reportlen, char *err,
    size_t errlen);
/* Stop the committer after a last commit. */
void journal_close(struct journal *j);

/* Append a record (an object; "seq" is set here). Call with the store lock
 * held so journal order is state order. Returns the record's sequence, or
 * 0 when memory is short: then nothing was appended, and the caller must
 * undo its change and fail the request. */
uint64_t journal_append(struct journal *j, json_t *rec);
uint64_t journal_last_seq(struct journal *j);

/* Ask to be told when seq is durable. Returns 0 if it already is, -1 if it
 * is not and storage is unhealthy (answer 503); otherwise 1, and resume(arg)
 * is called from the committer thread once it is, or once its write failed
 * (from the committer or journal_watch): journal_is_durable tells which. */
int journal_wait(struct journal *j, uint64_t seq, void (*resume)(void *), void *arg);
/* Have fn(arg) called from the committer thread, without the journal's
 * lock, whenever it takes a batch of records to write: they are appended,
 * and on their way to disk (one listener; NULL removes it). */
void journal_set_listener(struct journal *j, void (*fn)(void *), void *arg);
/* Whether seq is on disk already. */
/* Take back journal_wait(j, .., resume, arg): 1 when it still waited
 * (resume will not be called), 0 when it has been let go already. */
int journal_unwait(struct journal *j, void (*resume)(void *), void *arg);
int journal_is_durable(struct journal *j, uint64_t seq);
/* Block until seq is durable (for non-HTTP callers): 0; or -1 at once
 * while storage is unhealthy (seq is not on disk yet). */
int journal_sync_to(struct journal *j, uint64_t seq);

/* Storage health. A write or sync that fails (ENOSPC, EDQUOT, EIO...) makes
 * it unhealthy: the waiting requests are resumed at once, their records
 * kept and written again with backoff (100 ms doubling to 5 s), and the
 * first write that succeeds makes it healthy. */
struct journal_storage {
	int ok;
	int dir_lost;			/* the state directory went: for good */
	char error[256];		/* what failed, when not ok */
	time_t since;			/* when ok last changed */
};
/* Returns st->ok (st may be NULL). */
int journal_storage(struct journal *j, struct journal_storage *st);
/* From the main loop, every few hundred ms: storage is unhealthy when a
 * write and sync takes longer than stall_ms, and for good when the state
 * directory or its lock file is no longer the one opened at start (looked
 * at every 2 s). */
void journal_watch(struct journal *j, int64_t stall_ms);

/* Records since seq for a peer, as the text of a JSON array (count records,
 * len bytes): the durable ones, or (appended set) every one appended, or
 * NULL when they are no longer kept in memory and a full snapshot is
 * needed (or memory is short). */
char *journal_since_text(struct journal *j, uint64_t since, int appended, size_t *count,
    size_t *len);

/* Statistics for benchmarks and /metrics; write_times: how long each
 * batch's write and fdatasync took. */
struct journal_stats {
	uint64_t commits, records, syncs;
	uint64_t append_failures;	/* records refused for want of memory */
	uint64_t write_errors;		/* writes or syncs of a batch that failed */
	struct util_hist write_times;
};
void journal_stats(struct journal *j, struct journal_stats *st);

#endif
