/*
 * The command table of slctl and slcheck: finding a command by name or
 * unique prefix (and saying why none was found), printing its usage and
 * help, and checking the number of its operands.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

/* The entry named name exactly, or NULL. */
const struct cmd_entry *
cmd_find(const struct cmd_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncmds; i++)
		if (strcmp(t->cmds[i].name, name) == 0)
			return &t->cmds[i];
	return NULL;
}

static int
is_prefix(const struct cmd_table *t, const char *prefix, const char *name)
{
	size_t len = strlen(prefix);

	if (len == 0 && !t->empty_is_prefix)
		return 0;
	return strncmp(name, prefix, len) == 0;
}

/*
 * The names of the commands that prefix begins, or of all if prefix is
 * NULL, into buf, each after a space. Returns -1 when they do not fit.
 */
int
cmd_names(const struct cmd_table *t, const char *prefix, char *buf, size_t size)
{
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < t->ncmds; i++) {
		if (prefix != NULL && !is_prefix(t, prefix, t->cmds[i].name))
			continue;
		n = snprintf(buf + off, size - off, " %s", t->cmds[i].name);
		if (n < 0 || (size_t)n >= size - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/*
 * The command named name or by a unique prefix of its name. Else says on
 * stderr that name is unknown (listing every command) or ambiguous (listing
 * the candidates), puts the same in err without the list, and returns NULL.
 */
const struct cmd_entry *
cmd_lookup(const struct cmd_table *t, const char *name, char *err, size_t errlen)
{
	const struct cmd_entry *found;
	char names[1024];
	size_t i, n = 0;

	if ((found = cmd_find(t, name)) != NULL)
		return found;
	for (i = 0; i < t->ncmds; i++)
		if (is_prefix(t, name, t->cmds[i].name)) {
			found = &t->cmds[i];
			n++;
		}
	if (n == 1)
		return found;
	snprintf(err, errlen, "%s command %c%s%c", n > 1 ? "ambiguous" :
	    "unknown", t->quote, name, t->quote);
	cmd_names(t, n > 1 ? name : NULL, names, sizeof(names));
	fflush(stdout);
	fprintf(stderr, "%s: %s%s%s\n", t->prog, err, n > 1 ? t->ambiguous :
	    t->unknown, names);
	return NULL;
}

/* One line of a usage text: up to its newline or its end. */
static int
line_length(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl != NULL ? (int)(nl - s) : (int)strlen(s);
}

/*
 * The usage forms of c, the first after first, each other one after rest;
 * lines that go on with a form are printed as they stand.
 */
void
cmd_print_usage(FILE *f, const struct cmd_table *t, const struct cmd_entry *c,
    const char *first, const char *rest)
{
	const char *u = c->args, *nl;

	fprintf(f, "%s%s %s%s%.*s\n", first, t->prog, c->name, *u ? " " : "",
	    line_length(u), u);
	while ((nl = strchr(u, '\n')) != NULL) {
		u = nl + 1;
		if (*u == ' ')
			fprintf(f, "%.*s\n", line_length(u), u);
		else
			fprintf(f, "%s%s %.*s\n", rest, t->prog, line_length(u), u);
	}
}

/* What COMMAND --help says: the usage, then the help text if there is one. */
void
cmd_print_help(FILE *f, const struct cmd_table *t, const struct cmd_entry *c)
{
	cmd_print_usage(f, t, c, "usage: ", "       ");
	if (c->help != NULL) {
		fputc('\n', f);
		fputs(c->help, f);
	}
}

/*
 * Do the n operands v suit c? If not, returns -1 with the complaint in err:
 * its too_few or too_many, or that the first operand past max is unexpected.
 */
int
cmd_operands(const struct cmd_entry *c, int n, char *const *v, char *err,
    size_t errlen)
{
	if (n < c->min) {
		snprintf(err, errlen, "%s", c->too_few);
		return -1;
	}
	if (c->max >= 0 && n > c->max) {
		if (c->too_many != NULL)
			snprintf(err, errlen, "%s", c->too_many);
		else
			snprintf(err, errlen, "unexpected argument \"%s\"", v[c->max]);
		return -1;
	}
	return 0;
}
