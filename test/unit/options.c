/*
 * The options table (common/options.c), from which slserve.conf and
 * failover.ini are parsed, against what it promises (test/10-server-config.bats
 * runs this): slserve.conf(5) documents every option with the table's range
 * and default; failover.ini takes the table's defaults, accepts its bounds
 * and refuses what lies beyond them; the table fits failcfg's key set.
 *
 * usage: options MANPAGE (man/slserve.conf.5).
 * Prints what is wrong and exits 1, or exits 0.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failcfg.h"
#include "options.h"
#include "util.h"

static int failed;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "options: " __VA_ARGS__);		\
		fputc('\n', stderr);					\
		failed = 1;						\
	}								\
} while (0)

/* The page's text, cut into lines. */
static char *page, **lines;
static size_t nlines;

static void
read_page(const char *path)
{
	if ((page = util_read_file(path, NULL)) == NULL) {
		fprintf(stderr, "options: %s: cannot read\n", path);
		exit(1);
	}
	for (char *p = strtok(page, "\n"); p != NULL; p = strtok(NULL, "\n")) {
		char **more = realloc(lines, (nlines + 1) * sizeof(*lines));
		if (more == NULL) {
			fprintf(stderr, "options: out of memory\n");
			exit(1);
		}
		lines = more;
		lines[nlines++] = p;
	}
}

/* Whether line (an mdoc request) names word right after macro ("Cm"). */
static int
names(const char *line, const char *macro, const char *word)
{
	size_t mlen = strlen(macro), wlen = strlen(word);

	for (const char *p = strstr(line, macro); p != NULL; p = strstr(p + 1, macro)) {
		const char *w = p + mlen;
		if ((p == line || p[-1] == ' ' || p[-1] == '.') && *w == ' ' &&
		    strncmp(w + 1, word, wlen) == 0 && (w[1 + wlen] == ' ' || w[1 + wlen] == '\0'))
			return 1;
	}
	return 0;
}

/* The first .It line from line from on that names word after macro; -1. */
static long
find_item(size_t from, const char *macro, const char *word)
{
	for (size_t i = from; i < nlines; i++)
		if (strncmp(lines[i], ".It ", 4) == 0 && names(lines[i], macro, word))
			return (long)i;
	return -1;
}

/*
 * The text of the item at line at, up to the next item of its list (or
 * the list's end): lowercase, mdoc's two-letter macros dropped from the
 * request lines, spaces squeezed. "1024 to 16777216; default 65536."
 */
static void
item_text(size_t at, char *buf, size_t len)
{
	size_t used = 0;
	int depth = 0;

	buf[0] = '\0';
	for (size_t i = at; i < nlines; i++) {
		const char *l = lines[i];
		if (i > at && depth == 0 && (strncmp(l, ".It", 3) == 0 ||
		    strncmp(l, ".El", 3) == 0 || strncmp(l, ".Sh", 3) == 0))
			break;
		if (strncmp(l, ".Bl", 3) == 0)
			depth++;
		else if (strncmp(l, ".El", 3) == 0)
			depth--;
		char copy[1024];
		util_strlcpy(copy, l[0] == '.' ? l + 1 : l, sizeof(copy));
		for (char *w = strtok(copy, " "); w != NULL; w = strtok(NULL, " ")) {
			if (l[0] == '.' && strlen(w) == 2 && isupper((unsigned char)w[0]) &&
			    islower((unsigned char)w[1]))
				continue;	/* Cm, No, Ar, Pq, Ql, Pa... */
			for (char *c = w; *c != '\0'; c++)
				*c = (char)tolower((unsigned char)*c);
			used += (size_t)snprintf(buf + used, len - used, "%s ", w);
			if (used >= len)
				return;
		}
	}
}

/* Every option has an item in the page that states its range and default
 * as the table has them. */
static void
check_page(void)
{
	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		char text[16384], want[160], min[32], max[32], dflt[64];
		size_t from = 0;

		if (o->section != NULL) {
			long s = find_item(0, "Ic", o->section);
			CHECK(s >= 0, "%s: no item for its section %s", o->name, o->section);
			if (s < 0)
				continue;
			from = (size_t)s;
		}
		long at = find_item(from, o->type == OPTION_SECTION ? "Ic" : "Cm", o->name);
		CHECK(at >= 0, "%s: not documented in the page", o->name);
		if (at < 0)
			continue;
		item_text((size_t)at, text, sizeof(text));
		if (o->type == OPTION_INT || o->type == OPTION_FLOAT) {
			option_format(o, o->min, min, sizeof(min));
			if (o->flags & OPTION_OWN_RANGE)
				;	/* "0 (no limit) to max_connections" */
			else if (isfinite(o->max)) {
				option_format(o, o->max, max, sizeof(max));
				snprintf(want, sizeof(want), "%s to %s", min, max);
				if (strstr(text, want) == NULL && o->min == 0)
					snprintf(want, sizeof(want), "at most %s", max);
				CHECK(strstr(text, want) != NULL, "%s: the page does not say "
				    "\"%s\" (range %s to %s)", o->name, want, min, max);
			} else if (o->min == 0) {
				CHECK(strstr(text, "0 or more") != NULL ||
				    strstr(text, "0 (no limit) or more") != NULL,
				    "%s: the page does not say \"0 or more\"", o->name);
			} else {
				snprintf(want, sizeof(want), "at least %s", min);
				CHECK(strstr(text, want) != NULL, "%s: the page does not say "
				    "\"%s\"", o->name, want);
			}
		}
		if (o->flags & OPTION_NODEFAULT)
			continue;
		if (o->type == OPTION_INT || o->type == OPTION_FLOAT)
			option_format(o, o->number, dflt, sizeof(dflt));
		else if (o->type == OPTION_BOOL)
			util_strlcpy(dflt, o->number != 0 ? "true" : "false", sizeof(dflt));
		else if (o->type == OPTION_STRING && o->string[0] != '\0')
			util_strlcpy(dflt, o->string, sizeof(dflt));
		else
			continue;	/* empty: each page item says what that means */
		snprintf(want, sizeof(want), "default %s", dflt);
		for (char *c = want; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		const char *hit = strstr(text, want);
		size_t n = strlen(want);
		CHECK(hit != NULL && (hit[n] == ' ' || hit[n] == ',' || hit[n] == '.'),
		    "%s: the page does not say \"%s\"", o->name, want);
	}
}

/* The table's shape: one row per name in each section, sections defined,
 * a failover.ini key set that fits failcfg's 64 bits, key fields of the
 * right size for their type. */
static void
check_table(void)
{
	CHECK(noption_defs < 64, "%zu rows: failcfg keeps a section's keys in 64 bits",
	    noption_defs);
	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		CHECK(option_find(o->section, o->name) == o, "%s: defined twice", o->name);
		if (o->section != NULL) {
			const struct option_def *s = option_find(NULL, o->section);
			CHECK(s != NULL && s->type == OPTION_SECTION, "%s: no section %s",
			    o->name, o->section);
		}
		if ((o->type == OPTION_INT || o->type == OPTION_FLOAT) &&
		    !(o->flags & OPTION_NODEFAULT))
			CHECK(option_in_range(o, o->number), "%s: default out of its range",
			    o->name);
		if (!(o->flags & OPTION_INI))
			continue;
		CHECK(o->section != NULL && strcmp(o->section, "failover") == 0,
		    "%s: a failover.ini key outside the failover section", o->name);
		CHECK(o->entry_offset + o->entry_size <= sizeof(struct failcfg_entry),
		    "%s: field outside struct failcfg_entry", o->name);
		if (o->type == OPTION_INT)
			CHECK(o->entry_size == sizeof(int), "%s: field is not an int", o->name);
		else if (o->type == OPTION_FLOAT)
			CHECK(o->entry_size == sizeof(double), "%s: field is not a double",
			    o->name);
		else
			CHECK(o->type == OPTION_STRING && o->entry_size > 1,
			    "%s: field is not a string", o->name);
	}
}

/* failcfg_parse of one section with key = value; its result. */
static int
parse_one(const char *key, const char *value, struct failcfg_entry *e, char *err,
    size_t errlen)
{
	char text[512];
	struct failcfg cfg;

	snprintf(text, sizeof(text), "[p]\nurl = http://127.0.0.1:7071\n%s = %s\n", key, value);
	if (failcfg_parse(text, strlen(text), "failover.ini", &cfg, err, errlen) != 0)
		return -1;
	*e = cfg.v[0];
	failcfg_free(&cfg);
	return 0;
}

/* failover.ini: defaults from the table, both bounds accepted, a step
 * beyond either refused naming the key, and the file written back reads
 * the same. */
static void
check_failover_ini(void)
{
	struct failcfg_entry e;
	char err[512], text[64];

	failcfg_entry_init(&e, "p", "http://127.0.0.1:7071");
	CHECK(e.poll_interval == FAILCFG_POLL_DEFAULT && e.fail_after == FAILCFG_FAIL_DEFAULT,
	    "entry_init: %g, %d", e.poll_interval, e.fail_after);
	CHECK(FAILCFG_POLL_DEFAULT == 1 && FAILCFG_FAIL_DEFAULT == 3 && FAILCFG_POLL_MAX == 3600 &&
	    FAILCFG_FAIL_MAX == 100, "the defaults and bounds slctl shows changed");
	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		if (!(o->flags & OPTION_INI) || o->type == OPTION_STRING)
			continue;
		double step = o->type == OPTION_INT ? 1 : (o->min > 0 ? o->min / 10 : 0.001);
		double bounds[] = { o->min, o->max }, beyond[] = { o->min - step, o->max + 1 };
		for (int b = 0; b < 2; b++) {
			struct failcfg_entry got;
			option_format(o, bounds[b], text, sizeof(text));
			CHECK(parse_one(o->name, text, &got, err, sizeof(err)) == 0,
			    "%s = %s refused: %s", o->name, text, err);
			option_format(o, beyond[b], text, sizeof(text));
			err[0] = '\0';
			CHECK(parse_one(o->name, text, &got, err, sizeof(err)) == -1 &&
			    strstr(err, o->name) != NULL, "%s = %s: %s", o->name, text,
			    err[0] ? err : "accepted");
		}
	}
	struct failcfg cfg = { &e, 1 }, back = { NULL, 0 };
	e.poll_interval = 0.25;
	e.fail_after = 7;
	char *file = failcfg_format(&cfg);
	CHECK(file != NULL && failcfg_parse(file, strlen(file), "failover.ini", &back, err,
	    sizeof(err)) == 0 && back.n == 1 && back.v[0].poll_interval == 0.25 &&
	    back.v[0].fail_after == 7 && strcmp(back.v[0].url, e.url) == 0,
	    "format then parse: %s", file ? err : "out of memory");
	failcfg_free(&back);
	free(file);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: options MANPAGE\n");
		return 2;
	}
	read_page(argv[1]);
	check_table();
	check_page();
	check_failover_ini();
	free(lines);
	free(page);
	return failed;
}
