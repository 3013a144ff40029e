/*
 * cache.c: the client's cache of what slcheck learnt about servers between
 * runs (dead marks, names, backups), in a locked file under
 * $XDG_CACHE_HOME or a fallback directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "util.h"

#define CACHE_MAGIC "sl-client-cache 1"
#define CACHE_MAX_ENTRIES 256
#define CACHE_LOCK_WAIT_MS 500

/* mkdir -p, new directories private to the user. */
static int
cache_mkdirs(const char *dir, char *err, size_t errlen)
{
	char buf[512];

	util_strlcpy(buf, dir, sizeof(buf));
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST) {
			util_seterr(err, errlen, "cache: %s: %s", buf, strerror(errno));
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

/*
 * Is dir (created if need be) a directory this user can keep the cache in?
 * A directory in a place all users share (/var/tmp, /tmp) must also be
 * this user's own, not a symbolic link, and closed to the others, or
 * another user could read or plant what we rely on.
 */
static int
cache_dir_usable(const char *dir, int shared)
{
	char scratch[64];
	struct stat st;

	if (cache_mkdirs(dir, scratch, sizeof(scratch)) == -1 || lstat(dir, &st) == -1 ||
	    !S_ISDIR(st.st_mode))
		return 0;
	if (shared && (st.st_uid != geteuid() || (st.st_mode & 077) != 0))
		return 0;
	return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
}

/* Make the directory fmt names c's cache when it fits and is usable;
 * origin says where it came from. 1 if it did. */
static int
cache_try_dir(struct cache *c, const char *origin, int shared, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
cache_try_dir(struct cache *c, const char *origin, int shared, const char *fmt, ...)
{
	char dir[sizeof(c->dir)];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(dir, sizeof(dir), fmt, ap);
	va_end(ap);
	if (len <= 0 || (size_t)len >= sizeof(dir) || !cache_dir_usable(dir, shared))
		return 0;
	util_strlcpy(c->dir, dir, sizeof(c->dir));
	c->dir_origin = origin;
	snprintf(c->path, sizeof(c->path), "%s/servers", c->dir);
	snprintf(c->lockpath, sizeof(c->lockpath), "%s/lock", c->dir);
	return 1;
}

/*
 * The first usable of: $XDG_CACHE_HOME/sl, /var/cache/sl for root,
 * ~/.cache/sl, /var/tmp/sl-cache-UID, /tmp/sl-cache-UID. A user without a
 * home (nobody, from cron) gets a private directory in /var/tmp; with none
 * usable, -1 and the caller goes on without a cache, saying nothing.
 */
static int
cache_find_dir(struct cache *c, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (xdg != NULL && xdg[0] == '/' && cache_try_dir(c, "XDG_CACHE_HOME", 0, "%s/sl", xdg))
		return 0;
	if (geteuid() == 0 && cache_try_dir(c, "root", 0, "/var/cache/sl"))
		return 0;
	if (home == NULL || home[0] != '/') {
		struct passwd *pw = getpwuid(geteuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home != NULL && home[0] == '/' && cache_try_dir(c, "HOME", 0, "%s/.cache/sl", home))
		return 0;
	if (cache_try_dir(c, "tmp", 1, "/var/tmp/sl-cache-%lu", (unsigned long)geteuid()) ||
	    cache_try_dir(c, "tmp", 1, "/tmp/sl-cache-%lu", (unsigned long)geteuid()))
		return 0;
	util_seterr(err, errlen, "cache: no writable directory");
	return -1;
}

/* Lock DIR/lock; a holder that does not let go within a short while makes
 * the caller go on without the cache rather than wait. */
static int
cache_lock(const struct cache *c, int how, char *err, size_t errlen)
{
	int fd = open(c->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int64_t give_up = util_mono_ms() + CACHE_LOCK_WAIT_MS;

	if (fd == -1) {
		util_seterr(err, errlen, "cache: %s: %s", c->lockpath, strerror(errno));
		return -1;
	}
	while (flock(fd, how | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			util_seterr(err, errlen, "cache: lock %s: %s", c->lockpath,
			    strerror(errno));
			close(fd);
			return -1;
		}
		if (util_mono_ms() >= give_up) {
			util_seterr(err, errlen, "cache: %s: held by another process",
			    c->lockpath);
			close(fd);
			return -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return fd;
}

static void
cache_unlock(int fd)
{
	if (fd != -1) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

static struct cache_server *
cache_entry(struct cache *c, const char *url)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].url, url) == 0)
			return &c->v[i];
	return NULL;
}

static struct cache_server *
cache_add(struct cache *c, const char *url)
{
	struct cache_server *e;

	if (c->n == CACHE_MAX_ENTRIES)
		return NULL;
	if ((e = realloc(c->v, (c->n + 1) * sizeof(*e))) == NULL)
		return NULL;
	c->v = e;
	e = &c->v[c->n++];
	memset(e, 0, sizeof(*e));
	util_strlcpy(e->url, url, sizeof(e->url));
	return e;
}

/* One line: URL DEAD_UNTIL NAME|- LEARNED BACKUP,BACKUP|- */
static void
cache_parse_line(struct cache *c, char *line)
{
	char *f[5], *save = NULL, *b, *bsave = NULL;
	char url[CLIENTCONF_URL_MAX];
	struct cache_server *e;
	size_t n = 0;

	for (char *t = strtok_r(line, " \t\n", &save); t != NULL && n < nitems(f);
	    t = strtok_r(NULL, " \t\n", &save))
		f[n++] = t;
	if (n != nitems(f) || clientconf_normalize_url(f[0], url) == -1)
		return;
	if (cache_entry(c, url) != NULL || (e = cache_add(c, url)) == NULL)
		return;
	e->dead_until = (time_t)strtoll(f[1], NULL, 10);
	if (util_valid_id(f[2]))
		util_strlcpy(e->name, f[2], sizeof(e->name));
	e->learned = (time_t)strtoll(f[3], NULL, 10);
	if (strcmp(f[4], "-") == 0)
		return;
	for (b = strtok_r(f[4], ",", &bsave); b != NULL && e->nbackups < CACHE_MAX_BACKUPS;
	    b = strtok_r(NULL, ",", &bsave))
		if (clientconf_normalize_url(b, e->backups[e->nbackups]) == 0)
			e->nbackups++;
}

static int
cache_read(struct cache *c, char *err, size_t errlen)
{
	char line[2048];
	FILE *fp;

	util_vec_free(c->v, c->n);
	if (util_check_file(c->path, UTIL_CONF_MAX) == -1) {
		util_seterr(err, errlen, "cache: %s: %s", c->path, util_read_strerror(errno));
		return -1;
	}
	if ((fp = fopen(c->path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		util_seterr(err, errlen, "cache: %s: %s", c->path, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), fp) != NULL &&
	    strncmp(line, CACHE_MAGIC, strlen(CACHE_MAGIC)) == 0) {
		while (fgets(line, sizeof(line), fp) != NULL)
			cache_parse_line(c, line);
	}
	fclose(fp);
	return 0;
}

static int
cache_write(struct cache *c, char *err, size_t errlen)
{
	char tmp[700];
	time_t now = time(NULL);
	FILE *fp;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", c->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		util_seterr(err, errlen, "cache: %s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	fprintf(fp, "%s\n", CACHE_MAGIC);
	for (size_t i = 0; i < c->n; i++) {
		const struct cache_server *e = &c->v[i];
		if (e->dead_until <= now && e->name[0] == '\0' && e->learned == 0)
			continue;	/* nothing worth keeping */
		fprintf(fp, "%s %lld %s %lld ", e->url, (long long)e->dead_until,
		    e->name[0] != '\0' ? e->name : "-", (long long)e->learned);
		for (size_t b = 0; b < e->nbackups; b++)
			fprintf(fp, "%s%s", b > 0 ? "," : "", e->backups[b]);
		fprintf(fp, "%s\n", e->nbackups == 0 ? "-" : "");
	}
	if (fflush(fp) == EOF || ferror(fp)) {
		util_seterr(err, errlen, "cache: %s: %s", tmp, strerror(errno));
		fclose(fp);
		unlink(tmp);
		return -1;
	}
	if (fclose(fp) == EOF || rename(tmp, c->path) == -1) {
		util_seterr(err, errlen, "cache: %s: %s", c->path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
cache_open(struct cache *c, char *err, size_t errlen)
{
	int fd, rc;

	memset(c, 0, sizeof(*c));
	if (cache_find_dir(c, err, errlen) == -1)
		return -1;
	if (access(c->path, F_OK) == -1 && errno == ENOENT)
		return 0;	/* nothing cached yet; created on first update */
	if ((fd = cache_lock(c, LOCK_SH, err, errlen)) == -1)
		return -1;
	rc = cache_read(c, err, errlen);
	cache_unlock(fd);
	return rc;
}

void
cache_close(struct cache *c)
{
	util_vec_free(c->v, c->n);
}

const struct cache_server *
cache_get(const struct cache *c, const char *url)
{
	return cache_entry((struct cache *)c, url);
}

long
cache_dead_left(const struct cache *c, const char *url, time_t now)
{
	const struct cache_server *e = cache_get(c, url);

	if (e == NULL || e->dead_until <= now)
		return 0;
	return (long)(e->dead_until - now);
}

enum cache_op { CACHE_DEAD, CACHE_ALIVE, CACHE_NAME, CACHE_BACKUPS };

struct cache_change {
	enum cache_op op;
	time_t time;
	const char *name;
	char (*backups)[CLIENTCONF_URL_MAX];
	size_t nbackups;
};

/* Lock, re-read, apply one change to url's entry, write, unlock. */
static int
cache_update(struct cache *c, const char *url, const struct cache_change *ch,
    char *err, size_t errlen)
{
	struct cache_server *e;
	int fd, rc = -1;

	if (c->dir[0] == '\0') {
		util_seterr(err, errlen, "cache: not open");
		return -1;
	}
	if (cache_mkdirs(c->dir, err, errlen) == -1)
		return -1;
	if ((fd = cache_lock(c, LOCK_EX, err, errlen)) == -1)
		return -1;
	if (cache_read(c, err, errlen) == -1)
		goto out;
	if ((e = cache_entry(c, url)) == NULL && (e = cache_add(c, url)) == NULL) {
		util_seterr(err, errlen, "cache: too many servers");
		goto out;
	}
	switch (ch->op) {
	case CACHE_DEAD:
		e->dead_until = ch->time;
		break;
	case CACHE_ALIVE:
		e->dead_until = 0;
		break;
	case CACHE_NAME:
		util_strlcpy(e->name, ch->name, sizeof(e->name));
		break;
	case CACHE_BACKUPS:
		if (ch->name != NULL)
			util_strlcpy(e->name, ch->name, sizeof(e->name));
		e->learned = ch->time;
		e->nbackups = 0;
		for (size_t i = 0; i < ch->nbackups && i < CACHE_MAX_BACKUPS; i++)
			util_strlcpy(e->backups[e->nbackups++], ch->backups[i],
			    sizeof(e->backups[0]));
		break;
	}
	rc = cache_write(c, err, errlen);
out:
	cache_unlock(fd);
	return rc;
}

int
cache_mark_dead(struct cache *c, const char *url, time_t until, char *err, size_t errlen)
{
	struct cache_change ch = { .op = CACHE_DEAD, .time = until };

	return cache_update(c, url, &ch, err, errlen);
}

int
cache_mark_alive(struct cache *c, const char *url, char *err, size_t errlen)
{
	struct cache_change ch = { .op = CACHE_ALIVE };
	const struct cache_server *e = cache_get(c, url);

	if (e == NULL || e->dead_until == 0)
		return 0;	/* nothing to change */
	return cache_update(c, url, &ch, err, errlen);
}

int
cache_set_name(struct cache *c, const char *url, const char *name, char *err, size_t errlen)
{
	struct cache_change ch = { .op = CACHE_NAME, .name = name };
	const struct cache_server *e = cache_get(c, url);

	if (!util_valid_id(name) || (e != NULL && strcmp(e->name, name) == 0))
		return 0;
	return cache_update(c, url, &ch, err, errlen);
}

int
cache_set_backups(struct cache *c, const char *url, const char *name,
    char backups[][CLIENTCONF_URL_MAX], size_t nbackups, time_t now, char *err, size_t errlen)
{
	struct cache_change ch = {
		.op = CACHE_BACKUPS, .time = now, .backups = backups, .nbackups = nbackups,
		.name = util_valid_id(name) ? name : NULL,
	};

	return cache_update(c, url, &ch, err, errlen);
}
