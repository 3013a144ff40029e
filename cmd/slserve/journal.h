/* The lease journal: records appended in memory under the store lock, written
 * and fdatasync'd by one committer thread in groups; compacted into a snapshot. */
#ifndef SLSERVE_JOURNAL_H
#define SLSERVE_JOURNAL_H

#include <stdint.h>
#include <stddef.h>

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

/* Ask to be told when seq is durable. Returns 0 if it already is; otherwise
 * 1, and resume(arg) is called from the committer thread once it is. */
int journal_wait(struct journal *j, uint64_t seq, void (*resume)(void *), void *arg);
/* Have fn(arg) called from the committer thread, without the journal's
 * lock, after every commit that made records durable (one listener; NULL
 * removes it). */
void journal_set_listener(struct journal *j, void (*fn)(void *), void *arg);
/* Whether seq is on disk already. */
int journal_is_durable(struct journal *j, uint64_t seq);
/* Block until seq is durable (for non-HTTP callers). */
void journal_sync_to(struct journal *j, uint64_t seq);

/* Durable records since seq for a peer, as the text of a JSON array
 * (count records, len bytes), or NULL when they are no longer kept in
 * memory and a full snapshot is needed (or memory is short). */
char *journal_since_text(struct journal *j, uint64_t since, size_t *count, size_t *len);

/* Statistics for benchmarks and /metrics; write_times: how long each
 * batch's write and fdatasync took. */
struct journal_stats {
	uint64_t commits, records, syncs;
	uint64_t append_failures;	/* records refused for want of memory */
	struct util_hist write_times;
};
void journal_stats(struct journal *j, struct journal_stats *st);

#endif
