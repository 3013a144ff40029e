/* Locked state directories, atomic file replacement, and the journal file format. */
#ifndef SL_STATE_H
#define SL_STATE_H

#include <stddef.h>
#include <sys/types.h>

/* Take the exclusive lock on DIR/lock (non-blocking) and write our pid into it.
 * Returns the lock fd, or -1: *holder is the pid holding it (0 if unknown)
 * and err says why. */
int state_lock_dir(const char *dir, pid_t *holder, char *err, size_t errlen);

/* Open (creating, mode 0600, not following a symbolic link) the lock file
 * path and wait for its exclusive flock. Returns the fd, whose close
 * releases the lock, or -1 and err. */
int state_lock_wait(const char *path, char *err, size_t errlen);

/* Create dir (mode 0700) if missing; refuse a symlink. */
int state_ensure_dir(const char *dir, char *err, size_t errlen);

/* Check a state directory at start: refuse it when an entry is a symbolic
 * link (nothing in it is followed), and take group and other permissions
 * away from it (0700) and from its files (0600); *fixed counts those. */
int state_check_dir(const char *dir, int *fixed, char *err, size_t errlen);

/* Give dir and everything directly in it to uid:gid (symbolic links are
 * not followed). */
int state_chown_dir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen);

/* Replace path with buf atomically: a new temporary file beside it (path.XXXXXX,
 * given mode), fsync, rename, fsync dir. */
int state_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
    char *err, size_t errlen);
/* The same, and before the fsync and rename check(fd, tmp, arg, err, errlen)
 * may change the temporary file (its owner) or refuse it by returning -1. */
int state_write_atomic_check(const char *path, const void *buf, size_t len, mode_t mode,
    int (*check)(int fd, const char *tmp, void *arg, char *err, size_t errlen),
    void *arg, char *err, size_t errlen);
/* The first half of it: the temporary file written and synced; its name
 * (to free), or NULL with err set. */
char *state_write_tmp(const char *path, const void *buf, size_t len, mode_t mode,
    int (*check)(int fd, const char *tmp, void *arg, char *err, size_t errlen),
    void *arg, char *err, size_t errlen);
/* The second: rename from to to, and fsync to's directory. */
int state_rename_durable(const char *from, const char *to, char *err, size_t errlen);
/* Remove the temporary files a crash left in dir: regular files named
 * NAME.XXXXXX (six letters or digits, as state_write_tmp makes them) where
 * own(NAME) says NAME is one of the caller's files. removed(name, arg) is
 * told of each; the directory is synced after. Returns how many were
 * removed, or -1 with err. The caller must hold what keeps other writers of
 * those files out (the state directory's lock, failover.ini's lock). */
int state_remove_stale_tmp(const char *dir, int (*own)(const char *name),
    void (*removed)(const char *name, void *arg), void *arg, char *err, size_t errlen);
int state_fsync_dir(const char *dir);

/* Journal files: a version line "sl-journal 1", then one record per line:
 * "CRC32HEX JSON\n" where the CRC covers the JSON text. A journal may end
 * in zero bytes: room written ahead (state_journal_extend), not records. */
#define STATE_JOURNAL_HEADER "sl-journal 1\n"

/* Format one record line into a malloc'd buffer (length in *lenp). */
char *state_journal_record(const char *json, size_t jsonlen, size_t *lenp);

/* Whether a record whose checksum holds starts at byte off of a journal's
 * text; *next gets the offset after its newline. */
int state_journal_record_at(const char *text, size_t len, size_t off, size_t *next);

/* Damage in the middle of a journal: a record that does not hold (its
 * checksum or its form) with a record that does after it. */
struct state_journal_fault {
	size_t offset;		/* the damaged record's first byte */
	size_t next;		/* the first record that holds after it */
	size_t records;		/* records replayed before it */
};

/* Read a journal: call fn for each intact record in order. A torn tail
 * (bytes after the last intact record with no intact record after them,
 * or with a whole sector of zeros, which no write reached, before the
 * next intact record) is cut from the file (truncate) and reported in
 * *cut_bytes; zero bytes
 * after the last record are room written ahead, not a tail to cut.
 * *end (when not NULL) gets the offset after the last record (0 when the
 * file is missing or torn while being made). While fn runs,
 * fault->offset (when fault is not NULL) is the offset of its record.
 * Returns 0; -1 when the file cannot be read, has a wrong header or fn
 * fails; -2 when it is damaged in the middle (*fault says where; the
 * file is left as it is). */
int state_journal_replay(const char *path,
    int (*fn)(const char *json, size_t len, void *arg), void *arg,
    size_t *records, size_t *cut_bytes, char *err, size_t errlen);
int state_journal_replay_end(const char *path,
    int (*fn)(const char *json, size_t len, void *arg), void *arg,
    size_t *records, size_t *cut_bytes, size_t *end, struct state_journal_fault *fault,
    char *err, size_t errlen);
/* Make the journal on fd at least want bytes long by writing zeros after
 * its *size bytes (then fdatasync, with sync): records written later into
 * that room change no metadata, so their fdatasync writes the data alone
 * (a third less CPU and time a sync on ext4 here). Without sync, the next
 * fdatasync of the file puts the room on disk with the records written
 * into it. Updates *size. 0 or -1 (errno). */
int state_journal_extend(int fd, off_t *size, off_t want, int sync);

/* Write a journal's records from now on at offset end of fd, into room
 * written ahead, not appended: clears O_APPEND, sets *size to the file's
 * size (at least end) and writes zeros up to end + room (state_journal_extend).
 * 0, or -1 (errno) when that failed: records go at end all the same. */
int state_journal_use(int fd, off_t end, off_t room, int sync, off_t *size);

/* Open (creating with a header if missing) a journal for appending. */
int state_journal_open(const char *path, char *err, size_t errlen);
/* Start a fresh, empty journal at path (atomically); returns its fd. */
int state_journal_reset(const char *path, char *err, size_t errlen);

/* write(2) all of buf, retrying on EINTR and short writes. */
int state_write_all(int fd, const void *buf, size_t len);
/* pwrite(2) all of buf at off, the same way. */
int state_pwrite_all(int fd, const void *buf, size_t len, off_t off);

#endif
