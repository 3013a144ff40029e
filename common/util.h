/* Small helpers shared by all three programs. */
#ifndef SL_UTIL_H
#define SL_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SL_VERSION "0.1.0"
#define SL_DEFAULT_PORT 7070
#define SL_ID_MAX 64		/* license ids, lease ids, pool and product names */

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* A monotonic clock in microseconds, and the same in milliseconds. */
int64_t util_mono_us(void);
int64_t util_mono_ms(void);

/* A duration as slctl and the status page print it: 4.5s, 45s, 4m30s,
 * 2h05m, 3d04h (negative is 0). Under ten seconds a whole number has no
 * tenths ("5s") unless tenths is set ("5.0s"). */
void util_fmt_duration(char *buf, size_t size, double seconds, int tenths);

/* pthread_cond_init with the monotonic clock, for timed waits that a
 * change of the wall clock does not stretch or cut. */
void util_cond_init_mono(pthread_cond_t *cv);

/* Let go of the array v of n elements: free it and leave it empty. */
#define util_vec_free(v, n) do {					\
	free(v);							\
	(v) = NULL;							\
	(n) = 0;							\
} while (0)

/* free() each of the n pointers in v: what a struct owns, listed once where
 * it is let go instead of a run of free() calls. */
void util_free_all(void *const *v, size_t n);

/* Copy with truncation; always NUL-terminates. Returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/* A name clients may send as an id: 1..SL_ID_MAX of [A-Za-z0-9._-]. */
int util_valid_id(const char *s);

/* The host part of an http:// or https:// URL, or NULL when url is not
 * such a URL or names no host. */
const char *util_url_host(const char *url);
/* An http:// or https:// URL that names a host and has no space, control
 * or non-ASCII byte. */
int util_valid_http_url(const char *url);
/* url without trailing slashes and with SL_DEFAULT_PORT added when its
 * host has no port (libcurl would use 80 or 443), into out. Returns -1
 * when url is not an http:// or https:// URL or out is too small. */
int util_url_with_port(const char *url, char *out, size_t outlen);

/* Lowercase hex of len random bytes into out (2*len+1 bytes). */
void util_random_hex(char *out, size_t len);

/* A latency histogram in the buckets every /metrics histogram uses:
 * upper bounds util_hist_bounds_us[i], a last bucket for the rest. Added
 * to from any thread without a lock. */
#define UTIL_HIST_BOUNDS 14
extern const uint64_t util_hist_bounds_us[UTIL_HIST_BOUNDS];
struct util_hist {
	uint64_t count[UTIL_HIST_BOUNDS + 1];
	uint64_t sum_us;
};
void util_hist_add(struct util_hist *h, uint64_t us);
/* A copy of h, read bucket by bucket. */
void util_hist_read(const struct util_hist *h, struct util_hist *copy);

/* CRC-32 (IEEE) of a buffer, used to detect torn journal records. */
uint32_t util_crc32(const void *buf, size_t len);

/* The finite number s starts with into *out, and where it ends into *rest.
 * -1 when s is NULL or empty, or starts with no number or an overflowing
 * one. */
int util_parse_number(const char *s, double *out, char **rest);

/* "90", "90s", "15m", "2h", "7d" -> seconds. -1 on error. */
long util_parse_duration(const char *s);

/* "YYYY-MM-DD" -> days since 1970-01-01 (UTC calendar). -1 on error. */
long util_parse_date(const char *s);
/* Today's date in days since 1970-01-01, in local time. */
long util_today(void);

/* Join dir and path unless path is absolute. Returns malloc'd string or NULL. */
char *util_path_join(const char *dir, const char *path);
/* Directory part of a path, malloc'd ("." when there is none). */
char *util_dirname(const char *path);

/* Read a whole file into a malloc'd NUL-terminated buffer. NULL + errno on error. */
char *util_read_file(const char *path, size_t *lenp);

/* Size limits for util_read_file_max: configuration and licenses files;
 * token, key and certificate files; state files, whose size grows with the
 * leases they hold (a mirror at 100k leases is ~20 MB), so theirs only stops
 * a runaway read. */
#define UTIL_CONF_MAX	((size_t)16 << 20)
#define UTIL_SECRET_MAX	((size_t)1 << 20)
#define UTIL_STATE_MAX	((size_t)1 << 30)

/* util_read_file for files a program trusts to be small and regular: a
 * device, FIFO or directory fails at once (errno EINVAL, never blocking on
 * a FIFO), a file of more than max bytes fails without reading past max
 * (errno EFBIG); max is below SIZE_MAX. Say why with
 * util_read_strerror(errno). */
char *util_read_file_max(const char *path, size_t max, size_t *lenp);
/* For files another library reads by name (libcurl's CA file): -1 with
 * errno as util_read_file_max's when path is not a regular file or has more
 * than max bytes; 0 otherwise, a missing file included, which the reader
 * reports itself. */
int util_check_file(const char *path, size_t max);
/* strerror(errnum), or for the calling thread's last util_read_file_max
 * or util_check_file failure "not a regular file" or "larger than MAX bytes". */
const char *util_read_strerror(int errnum);

/* Format a message into err (errlen bytes) for the caller to show; nothing
 * when err is NULL or errlen 0. */
void util_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse "host:port" or "[v6]:port" into host (size hostlen) and port.
 * Returns 0, or -1 if malformed. */
int util_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Run fn on each of n items that lie size bytes apart from base: item 0
 * (and any whose thread cannot start) on the calling thread, the others on
 * threads of their own (n at most 8); returns when all are done. */
void util_run_parallel(void *(*fn)(void *), void *base, size_t size, size_t n);

#endif
