/* Inside the journal: what journal.c, journal_load.c and journal_compact.c
 * share. struct journal's fields are guarded by j->mu unless noted. */
#ifndef SLSERVE_JOURNAL_INT_H
#define SLSERVE_JOURNAL_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "journal.h"
#include "state.h"
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
	pthread_mutex_t mu;		/* after the store's lock: locks.h */
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

void compact_start(struct journal *j);
int journal_compact(struct journal *j, char *err, size_t errlen);
int journal_new_file(const char *path, uint64_t seq, off_t *end, char *err, size_t errlen);
int journal_replay_file(struct journal *j, const char *path, size_t *records, size_t *end,
    char *err, size_t errlen);
void journal_use_fd(struct journal *j, int fd, off_t end, off_t room, int sync);
int load_snapshot(struct journal *j, char *err, size_t errlen);
#define RECOVER_HINT "run \"slserve --recover\" to keep what holds and accept the loss " \
	"(slserve(8), Recovery)"

#endif
