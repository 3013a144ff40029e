/*
 * The client's cache: what slcheck remembers about servers between runs --
 * dead marks (skip a server that did not answer, until a time) and what a
 * server said about itself (its name, that is its pool, and its backups).
 *
 * One flat text file, DIR/servers, read and replaced under an flock on
 * DIR/lock; a replacement is written to a temporary file and renamed over
 * the old one, so readers see the old or the new file, never a mix. DIR is
 * the first that can be created and written of $XDG_CACHE_HOME/sl,
 * /var/cache/sl (root), ~/.cache/sl, /var/tmp/sl-cache-UID and
 * /tmp/sl-cache-UID (those two only if private to the user); with none, no
 * cache. The file is disposable: malformed lines are skipped, and removing
 * it only loses what was learned.
 */
#ifndef SL_CACHE_H
#define SL_CACHE_H

#include <stddef.h>
#include <time.h>

#include "clientconf.h"
#include "util.h"

#define CACHE_MAX_BACKUPS 4

struct cache_server {
	char url[CLIENTCONF_URL_MAX];
	time_t dead_until;			/* 0: not marked dead */
	char name[SL_ID_MAX + 1];		/* "" if never seen */
	time_t learned;				/* when backups were read; 0: never */
	char backups[CACHE_MAX_BACKUPS][CLIENTCONF_URL_MAX];
	size_t nbackups;
};

struct cache {
	char dir[512];
	const char *dir_origin;			/* "XDG_CACHE_HOME", "root", "HOME", "tmp" */
	char path[600];
	char lockpath[600];
	struct cache_server *v;
	size_t n;
};

/* Find the cache directory and read the cache. Returns 0, or -1 with err
 * set (the cache is then empty and the caller goes on without it). */
int cache_open(struct cache *c, char *err, size_t errlen);
void cache_close(struct cache *c);

/* The entry for url, or NULL. */
const struct cache_server *cache_get(const struct cache *c, const char *url);

/* Is url marked dead at time now? Returns the seconds left, or 0. */
long cache_dead_left(const struct cache *c, const char *url, time_t now);

/* Each update locks the file, re-reads it (other processes may have
 * written), applies the change, and replaces the file. 0 or -1 + err. */
int cache_mark_dead(struct cache *c, const char *url, time_t until, char *err, size_t errlen);
int cache_mark_alive(struct cache *c, const char *url, char *err, size_t errlen);
int cache_set_name(struct cache *c, const char *url, const char *name, char *err, size_t errlen);
int cache_set_backups(struct cache *c, const char *url, const char *name,
    char backups[][CLIENTCONF_URL_MAX], size_t nbackups, time_t now, char *err, size_t errlen);

#endif
