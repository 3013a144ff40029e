/*
 * STATE_DIR/failover.ini, the failover settings changed at run time: its
 * parser, its writer and the locked edit slserve and slctl share. Its keys
 * are the options of slserve.conf's failover sections marked OPTION_INI in
 * the options table (options.c), which gives their types, ranges and
 * defaults and where struct failcfg_entry keeps them.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failcfg.h"
#include "state.h"
#include "util.h"

#define FAILCFG_LINE_MAX 4096

const struct option_def *
failcfg_option(const char *key)
{
	const struct option_def *o = option_find("failover", key);

	return o != NULL && (o->flags & OPTION_INI) ? o : NULL;
}

static void *
failcfg_field(struct failcfg_entry *e, const struct option_def *o)
{
	return (char *)e + o->entry_offset;
}

/* The value of a number key of e. */
static double
failcfg_number(const struct failcfg_entry *e, const struct option_def *o)
{
	const void *field = (const char *)e + o->entry_offset;

	return o->type == OPTION_INT ? *(const int *)field : *(const double *)field;
}

static void
failcfg_set_number(struct failcfg_entry *e, const struct option_def *o, double v)
{
	if (o->type == OPTION_INT)
		*(int *)failcfg_field(e, o) = (int)v;
	else
		*(double *)failcfg_field(e, o) = v;
}

void
failcfg_free(struct failcfg *cfg)
{
	if (cfg == NULL)
		return;
	util_vec_free(cfg->v, cfg->n);
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
	for (size_t i = 0; i < noption_defs; i++)
		if ((option_defs[i].flags & OPTION_INI) && option_defs[i].type != OPTION_STRING)
			failcfg_set_number(e, &option_defs[i], option_defs[i].number);
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
	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		char value[64], range[96];

		if (!(o->flags & OPTION_INI) || o->type == OPTION_STRING ||
		    option_in_range(o, failcfg_number(e, o)))
			continue;
		option_format(o, failcfg_number(e, o), value, sizeof(value));
		option_range(o, 1, range, sizeof(range));
		util_seterr(err, errlen, "%s: %s %s out of range (%s)", e->name, o->name,
		    value, range);
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

/* Set key o of cur from its text s, a number within o's range, or say
 * why not (as "LINE: ..." after fname). */
static int
failcfg_parse_number(struct failcfg_entry *cur, const struct option_def *o, const char *s,
    const char *fname, int lineno, char *err, size_t errlen)
{
	char *end = NULL, range[96];
	double v = NAN;

	errno = 0;
	if (*s != '\0')
		v = o->type == OPTION_INT ? (double)strtol(s, &end, 10) : strtod(s, &end);
	if (*s != '\0' && errno == 0 && *end == '\0' && option_in_range(o, v)) {
		failcfg_set_number(cur, o, v);
		return 0;
	}
	option_range(o, 0, range, sizeof(range));
	if (o->type == OPTION_INT)
		util_seterr(err, errlen, "%s:%d: %s \"%.64s\": expected an integer from %s",
		    fname, lineno, o->name, s, range);
	else
		util_seterr(err, errlen, "%s:%d: %s \"%.64s\": expected %s, %s", fname, lineno,
		    o->name, s, o->unit ? o->unit : "a number", range);
	return -1;
}

/* Set key o of cur from its text val, or say why not. */
static int
failcfg_parse_value(struct failcfg_entry *cur, const struct option_def *o, const char *val,
    const char *fname, int lineno, char *err, size_t errlen)
{
	if (o->type != OPTION_STRING)
		return failcfg_parse_number(cur, o, val, fname, lineno, err, errlen);
	/* The one string key, url, is a URL. */
	if (!failcfg_valid_url(val)) {
		util_seterr(err, errlen, "%s:%d: invalid %s \"%.200s\": must start with "
		    "http:// or https:// and name a host", fname, lineno, o->name, val);
		return -1;
	}
	util_strlcpy(failcfg_field(cur, o), val, o->entry_size);
	return 0;
}

/* "url, poll_interval or fail_after": the keys of a section. */
static void
failcfg_keys(char *buf, size_t len)
{
	size_t n = 0, at = 0;

	for (size_t i = 0; i < noption_defs; i++)
		if (option_defs[i].flags & OPTION_INI)
			n++;
	buf[0] = '\0';
	for (size_t i = 0, k = 0; i < noption_defs && at < len; i++) {
		if (!(option_defs[i].flags & OPTION_INI))
			continue;
		k++;
		at += (size_t)snprintf(buf + at, len - at, "%s%s", k == 1 ? "" : k == n ?
		    " or " : ", ", option_defs[i].name);
	}
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

/* Bit of option o in a set of the keys a section has set: the options
 * table has fewer than 64 rows (test/unit/options.c checks). */
static uint64_t
failcfg_key_bit(const struct option_def *o)
{
	return (uint64_t)1 << (o - option_defs);
}

/* Check the section that just ended (cur, whose keys seen were set) and
 * add it to cfg. */
static int
failcfg_close_section(struct failcfg *cfg, struct failcfg_entry *cur,
    uint64_t seen, const char *fname, char *err, size_t errlen)
{
	char why[512];

	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		if ((o->flags & OPTION_INI) && (o->flags & OPTION_NODEFAULT) &&
		    !(seen & failcfg_key_bit(o))) {
			util_seterr(err, errlen, "%s:%d: [%s]: missing %s", fname,
			    cur->line, cur->name, o->name);
			return -1;
		}
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
	int lineno = 0, in_section = 0;
	uint64_t seen = 0;

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
		const struct option_def *o;
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
			    seen, fname, err, errlen) == -1)
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
			seen = 0;
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
		if ((o = failcfg_option(key)) == NULL) {
			char keys[256];
			failcfg_keys(keys, sizeof(keys));
			util_seterr(err, errlen, "%s:%d: unknown key \"%.64s\" "
			    "(expected %s)", fname, lineno, key, keys);
			goto fail;
		}
		if (seen & failcfg_key_bit(o)) {
			util_seterr(err, errlen, "%s:%d: duplicate key \"%s\" in [%s]",
			    fname, lineno, key, cur.name);
			goto fail;
		}
		if (failcfg_parse_value(&cur, o, val, fname, lineno, err, errlen) == -1)
			goto fail;
		seen |= failcfg_key_bit(o);
	}
	if (in_section && failcfg_close_section(&cfg, &cur, seen, fname,
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

		fprintf(f, "\n[%s]\n", e->name);
		for (size_t k = 0; k < noption_defs; k++) {
			const struct option_def *o = &option_defs[k];
			char value[64];

			if (!(o->flags & OPTION_INI))
				continue;
			if (o->type == OPTION_STRING)
				fprintf(f, "%s = %s\n", o->name,
				    (const char *)e + o->entry_offset);
			else if (o->type == OPTION_INT)
				fprintf(f, "%s = %d\n", o->name, (int)failcfg_number(e, o));
			else {
				failcfg_format_double(value, sizeof(value),
				    failcfg_number(e, o));
				fprintf(f, "%s = %s\n", o->name, value);
			}
		}
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
