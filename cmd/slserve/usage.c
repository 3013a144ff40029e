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
static pthread_mutex_t usage_lock = PTHREAD_MUTEX_INITIALIZER;
static int usage_dirty;

int
usage_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 || (usage_file = fdopen(fd, "a")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setvbuf(usage_file, NULL, _IOFBF, 1 << 16);
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
		line = json_compact(ev, 1, &len);
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
		fd = fileno(usage_file);
		usage_dirty = 0;
	}
	pthread_mutex_unlock(&usage_lock);
	/* Not under the lock: usage_event takes it with the store lock held,
	 * and a sync can take milliseconds. The file is closed only once the
	 * HTTP threads and the main loop are done. */
	if (fd >= 0 && fdatasync(fd) != 0)
		log_warn("usage log");
}

void
usage_close(void)
{
	pthread_mutex_lock(&usage_lock);
	if (usage_file != NULL)
		fclose(usage_file);
	usage_file = NULL;
	pthread_mutex_unlock(&usage_lock);
}
