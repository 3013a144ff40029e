#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failcfg.h"
#include "state.h"
#include "util.h"

#define FAILCFG_LINE_MAX 4096

void
failcfg_free(struct failcfg *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->v);
	cfg->v = NULL;
	cfg->n = 0;
}

const struct failcfg_entry *
failcfg_find(const struct failcfg *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n; i++)
		if (strcmp(cfg->v[i].name, name) == 0)
			return &cfg->v[i];
	return NULL;
}

void
failcfg_entry_init(struct failcfg_entry *e, const char *name, const char *url)
{
	memset(e, 0, sizeof(*e));
	util_strlcpy(e->name, name ? name : "", sizeof(e->name));
	util_strlcpy(e->url, url ? url : "", sizeof(e->url));
	e->poll_interval = FAILCFG_POLL_DEFAULT;
	e->fail_after = FAILCFG_FAIL_DEFAULT;
}

int
failcfg_valid_url(const char *url)
{
	return util_valid_http_url(url) && strlen(url) < FAILCFG_URL_MAX;
}

int
failcfg_validate(const struct failcfg_entry *e, char *err, size_t errlen)
{
	if (!util_valid_id(e->name)) {
		util_seterr(err, errlen, "invalid name \"%s\": use 1 to %d of "
		    "A-Z a-z 0-9 . _ -", e->name, SL_ID_MAX);
		return -1;
	}
	if (!failcfg_valid_url(e->url)) {
		util_seterr(err, errlen, "%s: invalid url \"%s\": must start "
		    "with http:// or https:// and name a host", e->name, e->url);
		return -1;
	}
	if (!isfinite(e->poll_interval) || e->poll_interval < FAILCFG_POLL_MIN ||
	    e->poll_interval > FAILCFG_POLL_MAX) {
		util_seterr(err, errlen, "%s: poll_interval %g out of range "
		    "(%g to %g seconds)", e->name, e->poll_interval, FAILCFG_POLL_MIN,
		    FAILCFG_POLL_MAX);
		return -1;
	}
	if (e->fail_after < 1 || e->fail_after > FAILCFG_FAIL_MAX) {
		util_seterr(err, errlen, "%s: fail_after %d out of range (1 to %d)",
		    e->name, e->fail_after, FAILCFG_FAIL_MAX);
		return -1;
	}
	return 0;
}

static char *
failcfg_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static int
failcfg_parse_double(const char *s, double *out)
{
	char *end;
	double d;

	if (*s == '\0')
		return -1;
	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

static int
failcfg_parse_int(const char *s, int *out)
{
	char *end;
	long v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < -1000000 || v > 1000000)
		return -1;
	*out = (int)v;
	return 0;
}

static int
failcfg_append(struct failcfg *cfg, const struct failcfg_entry *e)
{
	struct failcfg_entry *nv;

	nv = realloc(cfg->v, (cfg->n + 1) * sizeof(*nv));
	if (nv == NULL)
		return -1;
	cfg->v = nv;
	cfg->v[cfg->n++] = *e;
	return 0;
}

/* Check the section that just ended (cur) and add it to cfg. */
static int
failcfg_close_section(struct failcfg *cfg, struct failcfg_entry *cur,
    int have_url, const char *fname, char *err, size_t errlen)
{
	char why[512];

	if (!have_url) {
		util_seterr(err, errlen, "%s:%d: [%s]: missing url", fname,
		    cur->line, cur->name);
		return -1;
	}
	if (failcfg_validate(cur, why, sizeof(why)) == -1) {
		util_seterr(err, errlen, "%s:%d: %s", fname, cur->line, why);
		return -1;
	}
	if (failcfg_append(cfg, cur) == -1) {
		util_seterr(err, errlen, "%s: out of memory", fname);
		return -1;
	}
	return 0;
}

int
failcfg_parse(const char *text, size_t len, const char *fname,
    struct failcfg *out, char *err, size_t errlen)
{
	struct failcfg cfg = { NULL, 0 };
	struct failcfg_entry cur;
	char line[FAILCFG_LINE_MAX];
	size_t pos = 0;
	int lineno = 0, in_section = 0, have_url = 0;
	int seen_poll = 0, seen_fail = 0;

	out->v = NULL;
	out->n = 0;
	if (memchr(text, '\0', len) != NULL) {
		const char *nul = memchr(text, '\0', len);
		const char *p;
		int l = 1;
		for (p = text; p < nul; p++)
			if (*p == '\n')
				l++;
		util_seterr(err, errlen, "%s:%d: NUL byte in file", fname, l);
		return -1;
	}
	memset(&cur, 0, sizeof(cur));
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *eq, *key, *val;

		lineno++;
		if (n >= sizeof(line)) {
			util_seterr(err, errlen, "%s:%d: line too long", fname, lineno);
			goto fail;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		s = failcfg_trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (close == NULL || *failcfg_trim(close + 1) != '\0') {
				util_seterr(err, errlen, "%s:%d: malformed section "
				    "header (expected [NAME])", fname, lineno);
				goto fail;
			}
			if (in_section && failcfg_close_section(&cfg, &cur,
			    have_url, fname, err, errlen) == -1)
				goto fail;
			*close = '\0';
			key = failcfg_trim(s + 1);
			if (!util_valid_id(key)) {
				util_seterr(err, errlen, "%s:%d: invalid section "
				    "name \"%.64s\": use 1 to %d of A-Z a-z 0-9 . _ -",
				    fname, lineno, key, SL_ID_MAX);
				goto fail;
			}
			if (failcfg_find(&cfg, key) != NULL) {
				util_seterr(err, errlen, "%s:%d: duplicate section "
				    "[%s]", fname, lineno, key);
				goto fail;
			}
			failcfg_entry_init(&cur, key, "");
			cur.line = lineno;
			in_section = 1;
			have_url = seen_poll = seen_fail = 0;
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			util_seterr(err, errlen, "%s:%d: expected KEY = VALUE or "
			    "[NAME]", fname, lineno);
			goto fail;
		}
		*eq = '\0';
		key = failcfg_trim(s);
		val = failcfg_trim(eq + 1);
		if (!in_section) {
			util_seterr(err, errlen, "%s:%d: \"%.64s\" outside a "
			    "[NAME] section", fname, lineno, key);
			goto fail;
		}
		if (strcmp(key, "url") == 0) {
			if (have_url)
				goto duplicate;
			if (!failcfg_valid_url(val)) {
				util_seterr(err, errlen, "%s:%d: invalid url "
				    "\"%.200s\": must start with http:// or https:// "
				    "and name a host", fname, lineno, val);
				goto fail;
			}
			util_strlcpy(cur.url, val, sizeof(cur.url));
			have_url = 1;
		} else if (strcmp(key, "poll_interval") == 0) {
			if (seen_poll)
				goto duplicate;
			if (failcfg_parse_double(val, &cur.poll_interval) == -1 ||
			    cur.poll_interval < FAILCFG_POLL_MIN ||
			    cur.poll_interval > FAILCFG_POLL_MAX) {
				util_seterr(err, errlen, "%s:%d: poll_interval "
				    "\"%.64s\": expected seconds, %g to %g", fname,
				    lineno, val, FAILCFG_POLL_MIN, FAILCFG_POLL_MAX);
				goto fail;
			}
			seen_poll = 1;
		} else if (strcmp(key, "fail_after") == 0) {
			if (seen_fail)
				goto duplicate;
			if (failcfg_parse_int(val, &cur.fail_after) == -1 ||
			    cur.fail_after < 1 || cur.fail_after > FAILCFG_FAIL_MAX) {
				util_seterr(err, errlen, "%s:%d: fail_after "
				    "\"%.64s\": expected an integer from 1 to %d",
				    fname, lineno, val, FAILCFG_FAIL_MAX);
				goto fail;
			}
			seen_fail = 1;
		} else {
			util_seterr(err, errlen, "%s:%d: unknown key \"%.64s\" "
			    "(expected url, poll_interval or fail_after)",
			    fname, lineno, key);
			goto fail;
		}
		continue;
duplicate:
		util_seterr(err, errlen, "%s:%d: duplicate key \"%s\" in [%s]",
		    fname, lineno, key, cur.name);
		goto fail;
	}
	if (in_section && failcfg_close_section(&cfg, &cur, have_url, fname,
	    err, errlen) == -1)
		goto fail;
	*out = cfg;
	return 0;
fail:
	failcfg_free(&cfg);
	return -1;
}

int
failcfg_load(const char *state_dir, struct failcfg *out, char *err, size_t errlen)
{
	char *path, *text;
	size_t len;
	int rc = -1;

	out->v = NULL;
	out->n = 0;
	if ((path = util_path_join(state_dir, FAILCFG_FILE)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	if ((text = util_read_file_max(path, UTIL_CONF_MAX, &len)) == NULL) {
		if (errno == ENOENT)
			rc = 0;
		else
			util_seterr(err, errlen, "%s: %s", path, util_read_strerror(errno));
		goto out;
	}
	rc = failcfg_parse(text, len, path, out, err, errlen);
out:
	free(text);
	free(path);
	return rc;
}

/* The shortest decimal form of d that reads back as d. */
static void
failcfg_format_double(char *buf, size_t size, double d)
{
	int prec;

	for (prec = 6; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
	snprintf(buf, size, "%.17g", d);
}

char *
failcfg_format(const struct failcfg *cfg)
{
	char *buf = NULL;
	size_t size = 0, i;
	FILE *f;

	if ((f = open_memstream(&buf, &size)) == NULL)
		return NULL;
	fprintf(f, "# Runtime failover settings of slserve; edit with "
	    "\"slctl failover\".\n");
	for (i = 0; i < cfg->n; i++) {
		const struct failcfg_entry *e = &cfg->v[i];
		char poll[64];

		failcfg_format_double(poll, sizeof(poll), e->poll_interval);
		fprintf(f, "\n[%s]\nurl = %s\npoll_interval = %s\n"
		    "fail_after = %d\n", e->name, e->url, poll, e->fail_after);
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Run as root (slctl), give a file we made in the state directory to the
 * directory's owner: the server may run as another user (slserve.conf
 * user), and the files are 0600. */
static int
failcfg_own_like(int fd, const char *dir)
{
	struct stat st;

	if (geteuid() != 0)
		return 0;
	if (stat(dir, &st) == -1)
		return -1;
	return fchown(fd, st.st_uid, st.st_gid);
}

/* The state_write_atomic check of a new failover.conf: owned like its
 * directory (arg). */
static int
failcfg_own_tmp(int fd, const char *tmp, void *arg, char *err, size_t errlen)
{
	if (failcfg_own_like(fd, arg) == -1) {
		util_seterr(err, errlen, "%s: chmod: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/* Apply one edit under the lock: set e when e != NULL, else clear name. */
static int
failcfg_edit(const char *state_dir, const struct failcfg_entry *e,
    const char *name, struct failcfg *result, char *err, size_t errlen)
{
	struct failcfg cfg = { NULL, 0 };
	char *lockpath = NULL, *path = NULL, *text = NULL;
	int lockfd = -1, rc = -1;
	size_t i;

	if (result != NULL) {
		result->v = NULL;
		result->n = 0;
	}
	if (e != NULL && failcfg_validate(e, err, errlen) == -1)
		return -1;
	if (e == NULL && !util_valid_id(name)) {
		util_seterr(err, errlen, "invalid name \"%s\"", name);
		return -1;
	}
	if ((lockpath = util_path_join(state_dir, FAILCFG_LOCK)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	if ((lockfd = state_lock_wait(lockpath, err, errlen)) == -1)
		goto out;
	if (failcfg_own_like(lockfd, state_dir) == -1) {
		util_seterr(err, errlen, "%s: %s", lockpath, strerror(errno));
		goto out;
	}
	if (failcfg_load(state_dir, &cfg, err, errlen) == -1)
		goto out;
	if (e != NULL) {
		struct failcfg_entry ne = *e;
		ne.line = 0;
		for (i = 0; i < cfg.n; i++)
			if (strcmp(cfg.v[i].name, e->name) == 0)
				break;
		if (i < cfg.n)
			cfg.v[i] = ne;
		else if (failcfg_append(&cfg, &ne) == -1) {
			util_seterr(err, errlen, "out of memory");
			goto out;
		}
	} else {
		for (i = 0; i < cfg.n; i++)
			if (strcmp(cfg.v[i].name, name) == 0)
				break;
		if (i == cfg.n) {
			rc = 1;
			goto done;
		}
		memmove(&cfg.v[i], &cfg.v[i + 1], (cfg.n - i - 1) * sizeof(cfg.v[0]));
		cfg.n--;
	}
	if ((text = failcfg_format(&cfg)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto out;
	}
	if ((path = util_path_join(state_dir, FAILCFG_FILE)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto out;
	}
	if (state_write_atomic_check(path, text, strlen(text), 0600, failcfg_own_tmp,
	    (void *)state_dir, err, errlen) == -1)
		goto out;
	rc = 0;
done:
	if (result != NULL) {
		*result = cfg;
		cfg.v = NULL;
		cfg.n = 0;
	}
out:
	failcfg_free(&cfg);
	free(text);
	free(path);
	if (lockfd != -1)
		close(lockfd);	/* releases the flock */
	free(lockpath);
	return rc;
}

int
failcfg_set(const char *state_dir, const struct failcfg_entry *e,
    struct failcfg *result, char *err, size_t errlen)
{
	return failcfg_edit(state_dir, e, NULL, result, err, errlen);
}

int
failcfg_clear(const char *state_dir, const char *name,
    struct failcfg *result, char *err, size_t errlen)
{
	return failcfg_edit(state_dir, NULL, name, result, err, errlen);
}
