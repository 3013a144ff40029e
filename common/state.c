/*
 * state.c: the state directory: its checks and lock, atomic file
 * replacement, durable renames, stale temporary files, and the journal's
 * line format (CRC-32 and JSON).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "util.h"

int
state_ensure_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(dir, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			snprintf(err, errlen, "%s: is a symbolic link; refusing to use it", dir);
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: not a directory", dir);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT || mkdir(dir, 0700) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Open dir for reading without following a symbolic link; *fdp is its fd,
 * which closedir() closes. */
static DIR *
state_open_dir(const char *dir, int *fdp, char *err, size_t errlen)
{
	DIR *d;
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	*fdp = fd;
	return d;
}

/* What state_walk_dir does to the directory dir open as fd (name NULL)
 * and to each entry name in it: 0, or -1 with err set. */
typedef int (*state_visit_fn)(int fd, const char *dir, const char *name, void *arg,
    char *err, size_t errlen);

/* Open dir without following a symbolic link and visit it, then each of
 * its entries but "." and ".."; stops at the first visit that fails. */
static int
state_walk_dir(const char *dir, state_visit_fn visit, void *arg, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = -1;

	if ((d = state_open_dir(dir, &fd, err, errlen)) == NULL)
		return -1;
	if (visit(fd, dir, NULL, arg, err, errlen) != 0)
		goto out;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (visit(fd, dir, de->d_name, arg, err, errlen) != 0)
			goto out;
	}
	if (errno != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

/* state_check_dir's visit: arg counts the modes fixed. */
static int
state_check_entry(int fd, const char *dir, const char *name, void *arg, char *err,
    size_t errlen)
{
	int *fixed = arg;
	struct stat st;

	if (name == NULL) {
		if (fstat(fd, &st) != 0) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return -1;
		}
		if ((st.st_mode & 077) != 0) {
			if (fchmod(fd, st.st_mode & 0700) != 0) {
				snprintf(err, errlen, "%s: chmod 0700: %s", dir, strerror(errno));
				return -1;
			}
			(*fixed)++;
		}
		return 0;
	}
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(err, errlen, "%s/%s: %s", dir, name, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s/%s: is a symbolic link; nothing in the state "
		    "directory is followed", dir, name);
		return -1;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
		if (fchmodat(fd, name, st.st_mode & 0600, 0) != 0) {
			snprintf(err, errlen, "%s/%s: chmod 0600: %s", dir, name, strerror(errno));
			return -1;
		}
		(*fixed)++;
	}
	return 0;
}

int
state_check_dir(const char *dir, int *fixed, char *err, size_t errlen)
{
	*fixed = 0;
	return state_walk_dir(dir, state_check_entry, fixed, err, errlen);
}

struct state_owner {
	uid_t uid;
	gid_t gid;
};

/* state_chown_dir's visit: arg is the new owner. */
static int
state_chown_entry(int fd, const char *dir, const char *name, void *arg, char *err,
    size_t errlen)
{
	const struct state_owner *o = arg;

	if (name == NULL) {
		if (fchown(fd, o->uid, o->gid) != 0) {
			snprintf(err, errlen, "%s: chown: %s", dir, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (fchownat(fd, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(err, errlen, "%s/%s: chown: %s", dir, name, strerror(errno));
		return -1;
	}
	return 0;
}

int
state_chown_dir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct state_owner o = { uid, gid };

	return state_walk_dir(dir, state_chown_entry, &o, err, errlen);
}

int
state_lock_dir(const char *dir, pid_t *holder, char *err, size_t errlen)
{
	char path[4096], buf[32];
	int fd;

	*holder = 0;
	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			*holder = (pid_t)atol(buf);
		}
		if (saved == EWOULDBLOCK)
			snprintf(err, errlen, "%s: state directory is locked by pid %ld",
			    dir, (long)*holder);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(saved));
		close(fd);
		return -1;
	}
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Write all of buf at *off (advanced as it goes), or at the file's offset
 * when off is NULL, retrying on EINTR and short writes. */
static int
state_write_at(int fd, const void *buf, size_t len, off_t *off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = off == NULL ? write(fd, p, len) : pwrite(fd, p, len, *off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		if (off != NULL)
			*off += n;
	}
	return 0;
}

int
state_write_all(int fd, const void *buf, size_t len)
{
	return state_write_at(fd, buf, len, NULL);
}

int
state_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	return state_write_at(fd, buf, len, &off);
}

int
state_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
state_write_atomic(const char *path, const void *buf, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	return state_write_atomic_check(path, buf, len, mode, NULL, NULL, err, errlen);
}

char *
state_write_tmp(const char *path, const void *buf, size_t len, mode_t mode,
    int (*check)(int fd, const char *tmp, void *arg, char *err, size_t errlen),
    void *arg, char *err, size_t errlen)
{
	char *tmp = NULL;
	int fd;

	if (asprintf(&tmp, "%s.XXXXXX", path) == -1) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return NULL;
	}
	if (fchmod(fd, mode) == -1 || state_write_all(fd, buf, len) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto failed;
	}
	if (check != NULL && check(fd, tmp, arg, err, errlen) == -1)
		goto failed;
	if (fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto failed;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto failed;
	}
	return tmp;
failed:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return NULL;
}

int
state_rename_durable(const char *from, const char *to, char *err, size_t errlen)
{
	char *dir;
	int rc = 0;

	if (rename(from, to) == -1) {
		snprintf(err, errlen, "rename %s to %s: %s", from, to, strerror(errno));
		return -1;
	}
	if ((dir = util_dirname(to)) == NULL || state_fsync_dir(dir) == -1) {
		snprintf(err, errlen, "%s: fsync: %s", dir ? dir : to, strerror(errno));
		rc = -1;
	}
	free(dir);
	return rc;
}

/* Is name what state_write_tmp makes of some path: NAME.XXXXXX? Sets
 * base (NAME) when it is. */
static int
state_tmp_name(const char *name, char *base, size_t baselen)
{
	size_t len = strlen(name);

	if (len < 8 || len - 7 >= baselen || name[len - 7] != '.')
		return 0;
	for (size_t i = len - 6; i < len; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	memcpy(base, name, len - 7);
	base[len - 7] = '\0';
	return 1;
}

int
state_remove_stale_tmp(const char *dir, int (*own)(const char *name),
    void (*removed)(const char *name, void *arg), void *arg, char *err, size_t errlen)
{
	char base[NAME_MAX + 1];
	struct dirent *de;
	struct stat st;
	int dfd, count = 0, rc = -1;
	DIR *d;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(dfd)) == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!state_tmp_name(de->d_name, base, sizeof(base)) || !own(base))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "%s/%s: %s", dir, de->d_name, strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dfd, de->d_name, 0) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "%s/%s: %s", dir, de->d_name, strerror(errno));
			goto out;
		}
		count++;
		if (removed != NULL)
			removed(de->d_name, arg);
	}
	if (errno != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (count > 0 && fsync(dfd) == -1) {
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	rc = count;
out:
	closedir(d);
	return rc;
}

int
state_write_atomic_check(const char *path, const void *buf, size_t len, mode_t mode,
    int (*check)(int fd, const char *tmp, void *arg, char *err, size_t errlen),
    void *arg, char *err, size_t errlen)
{
	char *tmp = state_write_tmp(path, buf, len, mode, check, arg, err, errlen);
	struct stat st;
	int rc;

	if (tmp == NULL)
		return -1;
	rc = state_rename_durable(tmp, path, err, errlen);
	/* Not renamed: the temporary file goes. Renamed, the directory not
	 * synced: it is the file now. */
	if (rc != 0 && lstat(tmp, &st) == 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int
state_lock_wait(const char *path, char *err, size_t errlen)
{
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "%s: flock: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

char *
state_journal_record(const char *json, size_t jsonlen, size_t *lenp)
{
	char *out = malloc(jsonlen + 11);

	if (out == NULL)
		return NULL;
	snprintf(out, 10, "%08x", util_crc32(json, jsonlen));
	out[8] = ' ';
	memcpy(out + 9, json, jsonlen);
	out[9 + jsonlen] = '\n';
	out[10 + jsonlen] = '\0';
	*lenp = jsonlen + 10;
	return out;
}

int
state_journal_record_at(const char *text, size_t len, size_t off, size_t *next)
{
	const char *nl = memchr(text + off, '\n', len - off);
	char hex[9], *hexend;

	if (nl == NULL)
		return 0;
	size_t linelen = (size_t)(nl - (text + off));
	if (linelen < 10 || text[off + 8] != ' ')
		return 0;
	memcpy(hex, text + off, 8);
	hex[8] = '\0';
	unsigned long crc = strtoul(hex, &hexend, 16);
	if (*hexend != '\0' || hex[0] == '-' || hex[0] == '+' || hex[0] == ' ')
		return 0;
	if (util_crc32(text + off + 9, linelen - 9) != (uint32_t)crc)
		return 0;
	*next = off + linelen + 1;
	return 1;
}

/* The offset of the first record whose checksum holds at or after a line
 * start following from, or 0 when there is none. */
static size_t
next_valid_record(const char *text, size_t len, size_t from)
{
	size_t off = from, next;

	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		if (nl == NULL)
			return 0;
		off = (size_t)(nl - text) + 1;
		if (off < len && state_journal_record_at(text, len, off, &next))
			return off;
	}
	return 0;
}

/* Whether a whole 512-byte sector of text between from and to is zeros:
 * room written ahead that a write never reached. A crash of the machine
 * can keep some sectors of a write that was not synced and lose others;
 * a flipped bit cannot make a sector of zeros. */
static int
has_zero_sector(const char *text, size_t from, size_t to)
{
	for (size_t s = (from + 511) & ~(size_t)511; s + 512 <= to; s += 512) {
		size_t i = 0;
		while (i < 512 && text[s + i] == '\0')
			i++;
		if (i == 512)
			return 1;
	}
	return 0;
}

int
state_journal_replay(const char *path,
    int (*fn)(const char *json, size_t len, void *arg), void *arg,
    size_t *records, size_t *cut_bytes, char *err, size_t errlen)
{
	return state_journal_replay_end(path, fn, arg, records, cut_bytes, NULL, NULL, err,
	    errlen);
}

int
state_journal_replay_end(const char *path,
    int (*fn)(const char *json, size_t len, void *arg), void *arg,
    size_t *records, size_t *cut_bytes, size_t *end, struct state_journal_fault *fault,
    char *err, size_t errlen)
{
	size_t len, hl = strlen(STATE_JOURNAL_HEADER), off, good = 0, next;
	char *text;
	int rc = -1;

	*records = 0;
	*cut_bytes = 0;
	if (end != NULL)
		*end = 0;
	if (fault != NULL)
		memset(fault, 0, sizeof(*fault));
	if ((text = util_read_file(path, &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (len < hl || memcmp(text, STATE_JOURNAL_HEADER, hl) != 0) {
		if (len < hl && memcmp(text, STATE_JOURNAL_HEADER, len) == 0) {
			/* Torn while being created: nothing was in it. */
			*cut_bytes = len;
			good = 0;
			goto cut;
		}
		snprintf(err, errlen, "%s: not an sl journal (bad version line)", path);
		goto out;
	}
	good = off = hl;
	while (off < len && state_journal_record_at(text, len, off, &next)) {
		const char *json = text + off + 9;
		size_t jl = next - off - 10;
		text[next - 1] = '\0';
		if (fault != NULL)
			fault->offset = off;
		if (fn(json, jl, arg) != 0) {
			snprintf(err, errlen, "%s: record at byte %zu cannot be applied", path, off);
			goto out;
		}
		(*records)++;
		off = next;
		good = off;
	}
	/* Zeros after the last record are room written ahead; anything else
	 * there is a torn tail, unless a record that holds follows it: then
	 * it is damage in the middle, and nothing is cut. Records after a
	 * sector the write never reached are the rest of that torn write,
	 * which no sync finished: none of them was acknowledged. */
	size_t used = len;
	while (used > good && text[used - 1] == '\0')
		used--;
	if (used > good && (next = next_valid_record(text, used, good)) != 0 &&
	    !has_zero_sector(text, good, next)) {
		if (fault != NULL) {
			fault->offset = good;
			fault->next = next;
			fault->records = *records;
		}
		snprintf(err, errlen, "%s: damaged record at byte %zu, and records that hold "
		    "follow it (at byte %zu): nothing cut", path, good, next);
		rc = -2;
		goto out;
	}
	*cut_bytes = used - good;
cut:
	if (*cut_bytes > 0 && truncate(path, (off_t)good) != 0) {
		snprintf(err, errlen, "%s: cannot cut torn tail: %s", path, strerror(errno));
		goto out;
	}
	if (end != NULL)
		*end = good;
	rc = 0;
out:
	free(text);
	return rc;
}

int
state_journal_extend(int fd, off_t *size, off_t want, int sync)
{
	static const char zeros[65536];

	while (*size < want) {
		size_t n = want - *size < (off_t)sizeof(zeros) ? (size_t)(want - *size) :
		    sizeof(zeros);
		if (state_pwrite_all(fd, zeros, n, *size) != 0)
			return -1;
		*size += (off_t)n;
	}
	return sync ? fdatasync(fd) : 0;
}

int
state_journal_use(int fd, off_t end, off_t room, int sync, off_t *size)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	*size = fstat(fd, &st) == 0 && st.st_size > end ? st.st_size : end;
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_APPEND) != 0)
		return -1;
	return state_journal_extend(fd, size, end + room, sync);
}

int
state_journal_open(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && st.st_size == 0) {
		if (state_write_all(fd, STATE_JOURNAL_HEADER, strlen(STATE_JOURNAL_HEADER)) != 0 ||
		    fsync(fd) != 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

int
state_journal_reset(const char *path, char *err, size_t errlen)
{
	if (state_write_atomic(path, STATE_JOURNAL_HEADER, strlen(STATE_JOURNAL_HEADER),
	    0600, err, errlen) != 0)
		return -1;
	return state_journal_open(path, err, errlen);
}
