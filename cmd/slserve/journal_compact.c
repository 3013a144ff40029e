/*
 * journal_compact.c: compaction. Once compact_after records were written
 * since the last snapshot, a thread (at nice 10) writes snapshot.json from
 * a memory copy of the store while the committer goes on in journal.new;
 * then journal.new becomes the journal.
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
#include "journal_int.h"
#include "json.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* Start a memory copy of the state as of the last record appended; *seqp
 * gets that record's sequence. The leases are copied after, by
 * store_image_more, into room it makes then (not by the committer). NULL
 * when memory is short. */
static struct store_image *
journal_image(struct journal *j, uint64_t *seqp)
{
	struct store_image *img = store_image_new();

	if (img == NULL)
		return NULL;
	int rc = store_image_start(j->store, img, seqp);
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
int
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
		j->compact_not_before_us = util_mono_us() + 10 * 1000000;
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
void
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
		j->compact_not_before_us = util_mono_us() + 10 * 1000000;
		return;
	}
	j->compactor_joinable = 1;
	return;
later:
	pthread_mutex_lock(&j->mu);
	j->compact_not_before_us = util_mono_us() + 10 * 1000000;
}
