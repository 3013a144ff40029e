/* Runtime failover settings: STATE_DIR/failover.ini, shared by slserve and slctl. */
#ifndef SL_FAILCFG_H
#define SL_FAILCFG_H

#include <stddef.h>

#include "options.h"
#include "util.h"

#define FAILCFG_FILE		"failover.ini"
#define FAILCFG_LOCK		"failover.ini.lock"
#define FAILCFG_URL_MAX		512

/* The option of the options table that is failover.ini key key, or NULL. */
const struct option_def *failcfg_option(const char *key);

/* Defaults and bounds for the callers that check settings before an edit
 * (slctl failover set), from the options table. */
#define FAILCFG_POLL_DEFAULT	(failcfg_option("poll_interval")->number)
#define FAILCFG_POLL_MAX	(failcfg_option("poll_interval")->max)
#define FAILCFG_FAIL_DEFAULT	((int)failcfg_option("fail_after")->number)
#define FAILCFG_FAIL_MAX	((int)failcfg_option("fail_after")->max)

/*
 * The file is a flat INI file, one section per Primary this server backs up:
 *
 *	[lic0]
 *	url = http://127.0.0.1:7071
 *	poll_interval = 1
 *	fail_after = 3
 *
 * Blank lines and lines starting with '#' or ';' are ignored. Section names
 * are 1..64 of [A-Za-z0-9._-]; the keys, their ranges and defaults are
 * the options of the options table marked OPTION_INI: url is required
 * (http:// or https://); poll_interval is seconds (fractions allowed, 0.05
 * to 3600, default 1); fail_after is 1..100 (default 3).
 */
struct failcfg_entry {
	char name[SL_ID_MAX + 1];
	char url[FAILCFG_URL_MAX];
	double poll_interval;
	int fail_after;
	int line;			/* line of the section header, 0 if not from a file */
};

struct failcfg {
	struct failcfg_entry *v;
	size_t n;
};

/* Parse text (len bytes) read from file fname. On error returns -1 with
 * "FNAME:LINE: message" in err and out left empty. */
int failcfg_parse(const char *text, size_t len, const char *fname,
    struct failcfg *out, char *err, size_t errlen);

/* Load STATE_DIR/failover.ini; a missing file is an empty set. */
int failcfg_load(const char *state_dir, struct failcfg *out, char *err, size_t errlen);

void failcfg_free(struct failcfg *cfg);
const struct failcfg_entry *failcfg_find(const struct failcfg *cfg, const char *name);

/* Fill e with the defaults for name and url (not validated). */
void failcfg_entry_init(struct failcfg_entry *e, const char *name, const char *url);

/* Check one entry's fields. Returns 0, or -1 with the reason in err. */
int failcfg_validate(const struct failcfg_entry *e, char *err, size_t errlen);
int failcfg_valid_url(const char *url);

/* The file's text for cfg; malloc'd, NULL on allocation failure. */
char *failcfg_format(const struct failcfg *cfg);

/*
 * Edit STATE_DIR/failover.ini: take an exclusive flock on
 * STATE_DIR/failover.ini.lock, re-read the file, add or replace e (set) or
 * remove name (clear), write a temporary file, fsync it, rename it over the
 * old one and fsync the directory.
 * failcfg_set returns 0 or -1. failcfg_clear returns 0 when the entry was
 * removed, 1 when there was none (the file is not touched), -1 on error.
 * After a successful call, *result (if not NULL) holds the new settings.
 */
int failcfg_set(const char *state_dir, const struct failcfg_entry *e,
    struct failcfg *result, char *err, size_t errlen);
int failcfg_clear(const char *state_dir, const char *name,
    struct failcfg *result, char *err, size_t errlen);

#endif
