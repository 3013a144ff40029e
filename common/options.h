/*
 * The options of slserve.conf and of failover.ini, in one table: name,
 * section, type, range and default of each. config.c makes slserve.conf's
 * libconfuse option lists and range checks from it; failcfg.c looks up
 * failover.ini's keys in it (the options marked OPTION_INI), and takes
 * their ranges and defaults from it. slserve.conf(5) documents each one;
 * test/unit/options.c holds the page to the table.
 */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include <stddef.h>

enum option_type {
	OPTION_STRING,
	OPTION_LIST,		/* a list of strings */
	OPTION_INT,
	OPTION_FLOAT,
	OPTION_BOOL,
	OPTION_SECTION,		/* holds the options whose section is its name */
};

#define OPTION_NODEFAULT	0x01	/* unset until the file sets it */
#define OPTION_MULTI		0x02	/* a section with a title, one per title */
#define OPTION_INI		0x04	/* also a key of failover.ini's sections */
#define OPTION_OWN_RANGE	0x08	/* its bound is another option: config.c
					 * checks it where it reads it */

struct option_def {
	const char *section;	/* NULL: the top level */
	const char *name;
	enum option_type type;
	int flags;
	double min, max;	/* a number's range; max INFINITY: none */
	double number;		/* the default of a number; of a boolean, 0 or 1 */
	const char *string;	/* the default of a string or a list */
	const char *unit;	/* what a number counts ("seconds"), or NULL */
	/* OPTION_INI: where struct failcfg_entry keeps the value (an int, a
	 * double or a char array of entry_size bytes). */
	size_t entry_offset, entry_size;
};

extern const struct option_def option_defs[];
extern const size_t noption_defs;

/* The option name of section (NULL: the top level), or NULL. */
const struct option_def *option_find(const char *section, const char *name);
/* Whether v is within o's range (NaN never is). */
int option_in_range(const struct option_def *o, double v);
/* v as a value of o is written: an integer or the shortest %g. */
void option_format(const struct option_def *o, double v, char *buf, size_t len);
/* o's range for a message: "1 to 100", with the unit: "0.05 to 3600 seconds". */
void option_range(const struct option_def *o, int with_unit, char *buf, size_t len);

#endif
