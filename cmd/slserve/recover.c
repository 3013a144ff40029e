/*
 * recover.c: slserve --recover. Reads the journals of a state directory
 * that a start refused (damage in the middle, a gap in the sequence), keeps
 * every record that holds, in order, marks what is lost, and sets the
 * damaged files aside, so that the next start accepts the loss knowingly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "json.h"
#include "log.h"
#include "state.h"
#include "util.h"

/* What slserve --recover keeps of the journals: their records that hold,
 * in order, with a "lost" record where sequence numbers are missing. */
struct salvage {
	char *out;			/* the repaired journal */
	size_t len, cap;
	uint64_t expected;		/* the next sequence number */
	size_t kept, valid, damaged;	/* records kept, records that hold, bad bytes */
	char lost[1024];		/* "2, 5-9" */
	int lost_ranges;
};

static int
salvage_put(struct salvage *sv, const char *p, size_t n)
{
	if (sv->len + n > sv->cap) {
		size_t ncap = sv->cap ? sv->cap : 65536;
		while (ncap < sv->len + n)
			ncap *= 2;
		char *nb = realloc(sv->out, ncap);
		if (nb == NULL)
			return -1;
		sv->out = nb;
		sv->cap = ncap;
	}
	memcpy(sv->out + sv->len, p, n);
	sv->len += n;
	return 0;
}

/* Record that seq from to seq to are lost, in the report and in the
 * journal (a record that a start reads as a loss accepted). */
static int
salvage_lost(struct salvage *sv, uint64_t from, uint64_t to)
{
	char json[96], range[64], *line;
	size_t ll, used = strlen(sv->lost);
	int n;

	if (from == to)
		snprintf(range, sizeof(range), "%llu", (unsigned long long)from);
	else
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)from,
		    (unsigned long long)to);
	if (used + strlen(range) + 8 < sizeof(sv->lost))
		snprintf(sv->lost + used, sizeof(sv->lost) - used, "%s%s",
		    sv->lost_ranges > 0 ? ", " : "", range);
	else if (used + 5 < sizeof(sv->lost) && strcmp(sv->lost + used - 3, "...") != 0)
		snprintf(sv->lost + used, sizeof(sv->lost) - used, ", ...");
	sv->lost_ranges++;
	n = snprintf(json, sizeof(json), "{\"op\":\"lost\",\"from\":%llu,\"seq\":%llu}",
	    (unsigned long long)from, (unsigned long long)to);
	if ((line = state_journal_record(json, (size_t)n, &ll)) == NULL)
		return -1;
	int rc = salvage_put(sv, line, ll);
	free(line);
	return rc;
}

/* Keep the records of path that hold. *existed: whether it is there. */
static int
salvage_file(struct salvage *sv, const char *path, int *existed, char *err, size_t errlen)
{
	size_t len, hl = strlen(STATE_JOURNAL_HEADER), off = 0, next;
	char *text = util_read_file(path, &len);
	int rc = -1;

	*existed = text != NULL;
	if (text == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (len >= hl && memcmp(text, STATE_JOURNAL_HEADER, hl) == 0)
		off = hl;
	while (len > off && text[len - 1] == '\0')
		len--;
	while (off < len) {
		if (!state_journal_record_at(text, len, off, &next)) {
			const char *nl = memchr(text + off, '\n', len - off);
			next = nl != NULL ? (size_t)(nl - text) + 1 : len;
			sv->damaged += next - off;
			off = next;
			continue;
		}
		json_t *rec = json_loadb(text + off + 9, next - off - 10, 0, NULL);
		uint64_t seq = (uint64_t)js_int(rec, "seq", 0);
		const char *op = js_str(rec, "op", "");
		uint64_t from = strcmp(op, "lost") == 0 ? (uint64_t)js_int(rec, "from", 0) : seq;
		int failed = 0;
		if (rec == NULL || seq == 0 || from == 0 || from > seq) {
			sv->damaged += next - off;
		} else if (strcmp(op, "snapshot") == 0) {
			/* Records up to seq were compacted: lost unless in the
			 * snapshot. Not kept: the "lost" record says it now. */
			sv->valid++;
			if (seq >= sv->expected) {
				failed = salvage_lost(sv, sv->expected, seq);
				sv->expected = seq + 1;
			}
		} else if (seq < sv->expected) {
			sv->valid++;	/* in the snapshot, or kept already */
		} else {
			sv->valid++;
			if (from > sv->expected)
				failed = salvage_lost(sv, sv->expected, from - 1);
			if (!failed)
				failed = salvage_put(sv, text + off, next - off);
			if (strcmp(op, "lost") != 0)
				sv->kept++;
			sv->expected = seq + 1;
		}
		json_decref(rec);
		if (failed) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		off = next;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/* Copy path aside as path.damaged-YYYYmmddTHHMMSS (-N when taken): never
 * over another file. *aside gets the name (malloc'd). */
static int
set_aside(const char *path, char **aside, char *err, size_t errlen)
{
	char stamp[32];
	size_t len;
	time_t now = time(NULL);
	struct tm tm;
	char *text = util_read_file(path, &len);
	int fd = -1;

	*aside = NULL;
	if (text == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", localtime_r(&now, &tm));
	for (int n = 1; n < 100 && fd < 0; n++) {
		free(*aside);
		if ((n == 1 ? asprintf(aside, "%s.damaged-%s", path, stamp) :
		    asprintf(aside, "%s.damaged-%s-%d", path, stamp, n)) == -1) {
			*aside = NULL;
			break;
		}
		fd = open(*aside, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0 || state_write_all(fd, text, len) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: cannot copy it aside%s%s: %s", path,
		    *aside ? " to " : "", *aside ? *aside : "", strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(*aside);
		}
		free(*aside);
		*aside = NULL;
		free(text);
		return -1;
	}
	close(fd);
	free(text);
	return 0;
}

int
journal_recover(const char *state_dir, char *report, size_t reportlen, char *err,
    size_t errlen)
{
	char *path = util_path_join(state_dir, "journal");
	char *next_path = util_path_join(state_dir, "journal.new");
	char *snap_path = util_path_join(state_dir, "snapshot.json");
	char *aside = NULL, *next_aside = NULL;
	struct salvage sv;
	uint64_t base = 0;
	int had_snapshot = 0, had_journal = 0, had_next = 0, rc = -1;

	memset(&sv, 0, sizeof(sv));
	if (path == NULL || next_path == NULL || snap_path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (access(snap_path, F_OK) == 0) {
		json_error_t jerr;
		json_t *snap = json_load_file(snap_path, 0, &jerr);
		if (snap == NULL) {
			snprintf(err, errlen, "%s:%d: %s (--recover repairs journals, not a "
			    "snapshot)", snap_path, jerr.line, jerr.text);
			goto out;
		}
		base = (uint64_t)js_int(snap, "seq", 0);
		json_decref(snap);
		had_snapshot = 1;
	}
	sv.expected = base + 1;
	if (salvage_put(&sv, STATE_JOURNAL_HEADER, strlen(STATE_JOURNAL_HEADER)) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (salvage_file(&sv, path, &had_journal, err, errlen) != 0 ||
	    salvage_file(&sv, next_path, &had_next, err, errlen) != 0)
		goto out;

	if (!had_journal && !had_next) {
		if (!had_snapshot) {
			snprintf(report, reportlen, "%s: no journal and no snapshot: nothing to "
			    "recover", state_dir);
			rc = 0;
			goto out;
		}
		if (state_write_atomic(path, sv.out, sv.len, 0600, err, errlen) != 0)
			goto out;
		snprintf(report, reportlen, "recovered %s: it was missing; lost every record "
		    "after seq %llu (how many is unknown); starting from %s at seq %llu", path,
		    (unsigned long long)base, snap_path, (unsigned long long)base);
		rc = 0;
		goto out;
	}
	if (sv.valid == 0 && sv.damaged > 0 && !had_snapshot) {
		snprintf(err, errlen, "%s: no record in it holds its checksum, and there is no "
		    "snapshot: nothing can be recovered (the files are left as they are)",
		    had_journal ? path : next_path);
		goto out;
	}
	if (sv.damaged == 0 && sv.lost_ranges == 0 && !had_next) {
		snprintf(report, reportlen, "%s: no damage and no gap found: nothing lost, "
		    "nothing changed", path);
		rc = 0;
		goto out;
	}
	if ((had_journal && set_aside(path, &aside, err, errlen) != 0) ||
	    (had_next && set_aside(next_path, &next_aside, err, errlen) != 0))
		goto out;
	if (state_write_atomic(path, sv.out, sv.len, 0600, err, errlen) != 0)
		goto out;
	if (had_next && (unlink(next_path) != 0 || state_fsync_dir(state_dir) != 0)) {
		snprintf(err, errlen, "%s: %s", next_path, strerror(errno));
		goto out;
	}
	char tail[64] = "";
	if (sv.damaged > 0)
		snprintf(tail, sizeof(tail), "; %zu damaged bytes dropped", sv.damaged);
	snprintf(report, reportlen, "recovered %s: %zu records kept, lost seq %s%s; the "
	    "damaged %s kept as %s%s%s", path, sv.kept, sv.lost_ranges ? sv.lost : "none",
	    tail, aside && next_aside ? "files are" : "file is", aside ? aside : next_aside,
	    aside && next_aside ? " and " : "", aside && next_aside ? next_aside : "");
	rc = 0;
out:
	free(sv.out);
	free(aside);
	free(next_aside);
	free(path);
	free(next_path);
	free(snap_path);
	return rc;
}
