/*
 * Fixtures that more than one unit test in test/unit builds: the license
 * set of a Primary's pool, and a state file read or written whole or the
 * test stops (exit 2, after UNIT and what went wrong on stderr). Include
 * after unit.h.
 */
#ifndef SL_TEST_FIXTURE_H
#define SL_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "license.h"
#include "state.h"
#include "util.h"

/* A licenses array of one: cad-0, count seats of "cad" for any host,
 * never expiring, 60 s timeout. */
static inline json_t *
unit_licenses(long count)
{
	struct license def;

	memset(&def, 0, sizeof(def));
	util_strlcpy(def.id, "cad-0", sizeof(def.id));
	util_strlcpy(def.product, "cad", sizeof(def.product));
	util_strlcpy(def.expires, "never", sizeof(def.expires));
	util_strlcpy(def.host, "any", sizeof(def.host));
	def.count = count;
	def.timeout = 60;
	def.expires_day = -1;
	return json_pack("[o]", license_to_json(&def));
}

static inline char *
unit_read_file(const char *path, size_t *len)
{
	char *text = util_read_file(path, len);

	if (text == NULL) {
		fprintf(stderr, UNIT ": cannot read %s\n", path);
		exit(2);
	}
	return text;
}

static inline void
unit_write_file(const char *path, const char *text, size_t len)
{
	char err[512];

	if (state_write_atomic(path, text, len, 0600, err, sizeof(err)) != 0) {
		fprintf(stderr, UNIT ": %s\n", err);
		exit(2);
	}
}

#endif
