/*
 * util.c: small helpers shared by the three programs: clocks, bounded
 * file reads, ids, URLs, numbers and durations in words.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

int64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
util_mono_ms(void)
{
	return util_mono_us() / 1000;
}

void
util_fmt_duration(char *buf, size_t size, double seconds, int tenths)
{
	long s;

	if (seconds < 0)
		seconds = 0;
	if (seconds < 10 && (tenths || seconds != (long)seconds)) {
		snprintf(buf, size, "%.1fs", seconds);
		return;
	}
	s = (long)(seconds + 0.5);
	if (s < 60)
		snprintf(buf, size, "%lds", s);
	else if (s < 3600)
		snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%ldh%02ldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

void
util_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

void
util_free_all(void *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

size_t
util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

int
util_valid_id(const char *s)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return 0;
		if (n >= SL_ID_MAX)
			return 0;
	}
	return 1;
}

const char *
util_url_host(const char *url)
{
	const char *host;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return NULL;
	if (*host == '\0' || *host == '/')
		return NULL;
	return host;
}

int
util_valid_http_url(const char *url)
{
	size_t i;

	if (util_url_host(url) == NULL)
		return 0;
	for (i = 0; url[i] != '\0'; i++)
		if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
			return 0;
	return 1;
}

int
util_url_with_port(const char *url, char *out, size_t outlen)
{
	const char *host = util_url_host(url), *end, *colon, *bracket;
	size_t len = strlen(url);
	int n;

	if (host == NULL)
		return -1;
	while (len > 0 && url[len - 1] == '/')
		len--;
	end = memchr(host, '/', len - (size_t)(host - url));
	if (end == NULL)
		end = url + len;
	/* The port is after the last colon, after "]" for an IPv6 address. */
	colon = memrchr(host, ':', (size_t)(end - host));
	bracket = host[0] == '[' ? memchr(host, ']', (size_t)(end - host)) : NULL;
	if (colon != NULL && (host[0] != '[' || (bracket != NULL && colon > bracket)))
		n = snprintf(out, outlen, "%.*s", (int)len, url);
	else
		n = snprintf(out, outlen, "%.*s:%d%.*s", (int)(end - url), url,
		    SL_DEFAULT_PORT, (int)(url + len - end), end);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Random bytes are drawn from the kernel a pool at a time: one getrandom
 * call per checkout was one of the server's nine system calls for it. The
 * pool is per thread; bytes handed out are wiped from it, and a child
 * after fork starts with an empty pool so that it never repeats its
 * parent's ids. */
#define RANDOM_POOL 1024

static __thread unsigned char random_pool[RANDOM_POOL];
static __thread size_t random_left;
static pthread_once_t random_once = PTHREAD_ONCE_INIT;

static void
random_forget(void)
{
	sodium_memzero(random_pool, sizeof(random_pool));
	random_left = 0;
}

static void
random_atfork(void)
{
	pthread_atfork(NULL, NULL, random_forget);
}

void
util_random_hex(char *out, size_t len)
{
	if (len > 64)
		len = 64;
	pthread_once(&random_once, random_atfork);
	if (random_left < len) {
		randombytes_buf(random_pool, sizeof(random_pool));
		random_left = sizeof(random_pool);
	}
	unsigned char *p = random_pool + sizeof(random_pool) - random_left;
	sodium_bin2hex(out, 2 * len + 1, p, len);
	sodium_memzero(p, len);
	random_left -= len;
}

/* CRC-32 (as zlib's crc32), eight bytes a step ("slicing by 8"): every
 * journal line is summed when written and read, and the byte-at-a-time
 * loop was a twentieth of a busy backup's CPU. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (uint32_t i = 0; i < 256; i++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
			    crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t
util_crc32(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t crc = 0xffffffffu;

	pthread_once(&crc_once, crc_init);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t a, b;
		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		a ^= crc;
		crc = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
		    crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^
		    crc_table[3][b & 0xff] ^ crc_table[2][(b >> 8) & 0xff] ^
		    crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
	}
#endif
	while (len-- > 0)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

int
util_parse_number(const char *s, double *out, char **rest)
{
	double d;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	d = strtod(s, rest);
	if (errno != 0 || *rest == s || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

long
util_parse_duration(const char *s)
{
	char *end;
	long v, mult = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		case 'w': mult = 7 * 86400; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > 100L * 365 * 86400 / mult)
		return -1;
	return v * mult;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long
days_from_civil(long y, long m, long d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

long
util_parse_date(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d, n = 0;

	if (s == NULL || strlen(s) != 10 ||
	    sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10)
		return -1;
	if (!isdigit((unsigned char)s[0]) || s[4] != '-' || s[7] != '-')
		return -1;
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	return days_from_civil(y, m, d);
}

long
util_today(void)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Collapse "." and "dir/.." segments of an absolute path, in place. */
static void
path_clean(char *p)
{
	char *out = p, *seg = p;

	if (*p != '/')
		return;
	while (*seg != '\0') {
		while (*seg == '/')
			seg++;
		if (*seg == '\0')
			break;
		size_t n = strcspn(seg, "/");
		if (n == 1 && seg[0] == '.') {
			/* skip */
		} else if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, seg, n);
			out += n;
		}
		seg += n;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

char *
util_path_join(const char *dir, const char *path)
{
	char *out;

	if (path == NULL)
		return NULL;
	if (path[0] == '/' || dir == NULL || dir[0] == '\0')
		out = strdup(path);
	else if (asprintf(&out, "%s/%s", dir, path) < 0)
		return NULL;
	if (out != NULL)
		path_clean(out);
	return out;
}

char *
util_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

char *
util_read_file(const char *path, size_t *lenp)
{
	/* Any size: the journal, snapshots and the usage log of years. */
	return util_read_file_max(path, SIZE_MAX / 4, lenp);
}

/* Why this thread's last util_read_file_max failed, for the errno it set. */
static __thread int read_errnum;
static __thread char read_why[64];

/* Fail with EINVAL (not a regular file) or EFBIG (more than max bytes). */
static void
read_fail(int errnum, size_t max)
{
	read_errnum = errnum;
	if (errnum == EFBIG)
		snprintf(read_why, sizeof(read_why), "larger than %zu bytes", max);
	else
		snprintf(read_why, sizeof(read_why), "not a regular file");
	errno = errnum;
}

char *
util_read_file_max(const char *path, size_t max, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	int saved;

	read_errnum = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		read_fail(EINVAL, 0);
		goto fail;
	}
	if ((uintmax_t)st.st_size > max) {
		read_fail(EFBIG, max);
		goto fail;
	}
	/* One byte more than the size, to see a file that grew; never past max. */
	cap = (size_t)st.st_size + 2;
	for (;;) {
		if (buf == NULL || len + 1 >= cap) {
			size_t ncap = buf == NULL ? cap : cap * 2;
			char *nbuf;

			if (ncap > max + 2)
				ncap = max + 2;
			if ((nbuf = realloc(buf, ncap)) == NULL)
				goto fail;
			buf = nbuf;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			read_fail(EFBIG, max);
			goto fail;
		}
	}
	buf[len] = '\0';
	close(fd);
	if (lenp != NULL)
		*lenp = len;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

int
util_check_file(const char *path, size_t max)
{
	struct stat st;

	read_errnum = 0;
	if (stat(path, &st) == -1)
		return 0;
	if (!S_ISREG(st.st_mode)) {
		read_fail(EINVAL, 0);
		return -1;
	}
	if ((uintmax_t)st.st_size > max) {
		read_fail(EFBIG, max);
		return -1;
	}
	return 0;
}

const char *
util_read_strerror(int errnum)
{
	if (read_errnum != 0 && errnum == read_errnum)
		return read_why;
	return strerror(errnum);
}

void
util_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
util_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon;
	size_t n;
	char *end;
	long p;

	if (s == NULL || *s == '\0')
		return -1;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		n = (size_t)(close - s - 1);
		if (n == 0 || n >= hostlen)
			return -1;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s)
			return -1;
		n = (size_t)(colon - s);
		if (n >= hostlen || memchr(s, ':', n) != NULL)
			return -1;
		memcpy(host, s, n);
		host[n] = '\0';
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

void
util_run_parallel(void *(*fn)(void *), void *base, size_t size, size_t n)
{
	pthread_t threads[8];
	int started[8] = { 0 };

	if (n > 8)
		n = 8;
	for (size_t i = 1; i < n; i++)
		started[i] = pthread_create(&threads[i], NULL, fn, (char *)base + i * size) == 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || !started[i])
			fn((char *)base + i * size);
		else
			pthread_join(threads[i], NULL);
	}
}

/* A checkout waits for its journal record to be fsynced, so the range that
 * matters is 0.1 ms to a few hundred ms. */
const uint64_t util_hist_bounds_us[UTIL_HIST_BOUNDS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000
};

void
util_hist_add(struct util_hist *h, uint64_t us)
{
	size_t b = 0;

	while (b < UTIL_HIST_BOUNDS && us > util_hist_bounds_us[b])
		b++;
	__atomic_fetch_add(&h->count[b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_us, us, __ATOMIC_RELAXED);
}

void
util_hist_read(const struct util_hist *h, struct util_hist *copy)
{
	for (size_t b = 0; b <= UTIL_HIST_BOUNDS; b++)
		copy->count[b] = __atomic_load_n(&h->count[b], __ATOMIC_RELAXED);
	copy->sum_us = __atomic_load_n(&h->sum_us, __ATOMIC_RELAXED);
}
