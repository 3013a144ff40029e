/*
 * journal_load.c: a start reads the state back: snapshot.json (its leases
 * made on one thread a core), then journal.new and journal, record by
 * record; damage in the middle or a gap in the sequence stops the start
 * with what to do (slserve --recover).
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


static int
replay_one(const char *json, size_t len, void *arg)
{
	struct journal *j = arg;
	json_error_t jerr;
	json_t *rec = json_loadb(json, len, 0, &jerr);
	int rc = -1;

	if (rec == NULL)
		return -1;
	uint64_t seq = (uint64_t)js_int(rec, "seq", 0);
	const char *op = js_str(rec, "op", "");
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
	uint64_t from = strcmp(op, "lost") == 0 ? (uint64_t)js_int(rec, "from", 0) : seq;
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
int
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
	j->base = j->seq = (uint64_t)js_int(snap, "seq", 0);
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

/* Replay one journal file into j; damage in its middle or a gap in the
 * sequence stops the start (err says where and what to do). */
int
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
