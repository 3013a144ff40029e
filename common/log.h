/* Logging for the daemon: one line per event with a level, to stderr or syslog. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* to_stderr: 1 logs to stderr (slserve -d), 0 to syslog under ident. */
void log_init(const char *ident, int to_stderr, int verbose);
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only before the daemon serves: log and exit(1). */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Escape a client-supplied string for a log line (printable ASCII, \xNN otherwise).
 * Returns dst. */
char *log_escape(char *dst, size_t dstlen, const char *src);
/* The same, quotes left as they are: for a peer's own messages (a
 * Primary's error text names servers in quotes), not for client strings. */
char *log_escape_text(char *dst, size_t dstlen, const char *src);

#endif
