/*
 * log.c: the daemon's log, one line per event with a level, to stderr or
 * syslog, and the escaping of client-supplied text in it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static int log_to_stderr = 1;
static int log_verbose;
static int log_to_journal;	/* stderr is systemd's journal stream */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
log_init(const char *ident, int to_stderr, int verbose)
{
	log_to_stderr = to_stderr;
	log_verbose = verbose;
	/* Under systemd, stderr goes to the journal: give each line its
	 * priority as "<N>" (sd-daemon(3)) instead of a timestamp. */
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	log_to_journal = to_stderr && js != NULL &&
	    sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap, const char *suffix)
{
	static const char *names[] = { "debug", "info", "warning", "error" };
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
	char msg[2048];
	int n;

	if (level == LOG_LVL_DEBUG && !log_verbose)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix != NULL && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", suffix);
	if (!log_to_stderr) {
		syslog(prio[level], "%s", msg);
		return;
	}
	if (log_to_journal) {
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "<%d>%s: %s\n", prio[level], names[level], msg);
		pthread_mutex_unlock(&log_lock);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ld %s: %s\n", stamp, ts.tv_nsec / 1000000,
	    names[level], msg);
	pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(fname, level, with_errno)				\
void									\
fname(const char *fmt, ...)						\
{									\
	int saved = errno;						\
	va_list ap;							\
	va_start(ap, fmt);						\
	log_emit(level, fmt, ap, with_errno ? strerror(saved) : NULL);	\
	va_end(ap);							\
	errno = saved;							\
}

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LVL_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

static char *
escape(char *dst, size_t dstlen, const char *src, int quotes)
{
	size_t o = 0;

	if (dstlen == 0)
		return dst;
	for (; src != NULL && *src != '\0' && o + 5 < dstlen; src++) {
		unsigned char c = (unsigned char)*src;
		if (c >= 0x20 && c < 0x7f && c != '\\' && (c != '"' || !quotes))
			dst[o++] = (char)c;
		else
			o += snprintf(dst + o, dstlen - o, "\\x%02x", c);
	}
	dst[o] = '\0';
	return dst;
}

char *
log_escape(char *dst, size_t dstlen, const char *src)
{
	return escape(dst, dstlen, src, 1);
}

char *
log_escape_text(char *dst, size_t dstlen, const char *src)
{
	return escape(dst, dstlen, src, 0);
}
