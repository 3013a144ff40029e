/*
 * usage.c: the usage log, usage.log in the state directory: one JSON line
 * per grant, checkin, expiry, revoke, denial, takeover and handback, which
 * slctl report reads. Buffered, flushed every second, reopened on SIGHUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "json.h"
#include "log.h"
#include "usage.h"

static FILE *usage_file;
static char *usage_path;
static pthread_mutex_t usage_lock = PTHREAD_MUTEX_INITIALIZER;	/* locks.h */
static int usage_dirty;

static FILE *
usage_file_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f = NULL;

	if (fd < 0 || (f = fdopen(fd, "a")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	return f;
}

int
usage_open(const char *path, char *err, size_t errlen)
{
	if ((usage_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((usage_file = usage_file_open(path, err, errlen)) == NULL) {
		free(usage_path);
		usage_path = NULL;
		return -1;
	}
	return 0;
}

/* After a log rotation (SIGHUP): write what is buffered to the old file,
 * put it on disk, and go on in a new file at the configured path. If the
 * new file cannot be opened, the old one is kept. */
int
usage_reopen(char *err, size_t errlen)
{
	FILE *old, *f;

	if (usage_path == NULL) {
		snprintf(err, errlen, "the usage log is not open");
		return -1;
	}
	if ((f = usage_file_open(usage_path, err, errlen)) == NULL)
		return -1;
	pthread_mutex_lock(&usage_lock);
	old = usage_file;
	/* Written out first: when the path still names the same file (a
	 * reload without rotation), its lines stay in order. */
	if (old != NULL && fflush(old) != 0)
		log_warn("usage log before reopening");
	usage_file = f;
	usage_dirty = 0;
	pthread_mutex_unlock(&usage_lock);
	/* No one else reaches the old file now (usage_flush syncs a copy of
	 * its descriptor), so it is synced outside the lock. */
	if (old != NULL) {
		if (fdatasync(fileno(old)) != 0)
			log_warn("usage log before reopening");
		fclose(old);
	}
	return 0;
}

void
usage_event(const char *event, json_t *ev)
{
	struct timeval tv;
	char stack[2048], *line = stack;
	size_t len;

	if (ev == NULL)
		return;
	gettimeofday(&tv, NULL);
	json_object_set_new(ev, "ts", json_real((double)tv.tv_sec + tv.tv_usec / 1e6));
	json_object_set_new(ev, "event", json_string(event));
	len = json_dumpb(ev, stack, sizeof(stack) - 1, JSON_COMPACT);
	if (len >= sizeof(stack))
		line = js_compact(ev, 1, &len);
	json_decref(ev);
	if (len == 0 || line == NULL)
		return;
	line[len++] = '\n';
	pthread_mutex_lock(&usage_lock);
	if (usage_file != NULL && fwrite(line, 1, len, usage_file) != len)
		log_warn("usage log");
	usage_dirty = 1;
	pthread_mutex_unlock(&usage_lock);
	if (line != stack)
		free(line);
}

/* Write out what is buffered and put it on disk: the log is the audit
 * trail, so a crash loses at most the last second of it. */
void
usage_flush(void)
{
	int fd = -1;

	pthread_mutex_lock(&usage_lock);
	if (usage_file != NULL && usage_dirty) {
		if (fflush(usage_file) != 0)
			log_warn("usage log");
		/* A copy: usage_reopen may close the file meanwhile. */
		if ((fd = fcntl(fileno(usage_file), F_DUPFD_CLOEXEC, 0)) < 0)
			log_warn("usage log");
		usage_dirty = 0;
	}
	pthread_mutex_unlock(&usage_lock);
	/* Not under the lock: usage_event takes it with the store lock held,
	 * and a sync can take milliseconds. */
	if (fd >= 0) {
		if (fdatasync(fd) != 0)
			log_warn("usage log");
		close(fd);
	}
}

void
usage_close(void)
{
	pthread_mutex_lock(&usage_lock);
	if (usage_file != NULL)
		fclose(usage_file);
	usage_file = NULL;
	free(usage_path);
	usage_path = NULL;
	pthread_mutex_unlock(&usage_lock);
}
