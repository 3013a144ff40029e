/*
 * The command table of slctl and slcheck: one entry a command, looked up by
 * name or unique prefix, with its usage forms, its help and the operands it
 * takes. The dispatcher of each program sets up what an entry's flags ask
 * for and calls its handler.
 */
#ifndef SL_CMD_H
#define SL_CMD_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

struct cmd_entry {
	const char *name;
	/*
	 * The arguments, as in the man page SYNOPSIS. A later line that starts
	 * with a blank goes on with the form above it; any other later line
	 * is a form of its own, printed after the program's name.
	 */
	const char *args;
	int min, max;			/* operands; max -1: any number */
	const char *too_few;		/* what to say with fewer than min */
	const char *too_many;		/* with more than max; NULL: the first
					 * one is an unexpected argument */
	int flags;			/* what the program's dispatcher sets up */
	const char *shortopts;		/* the command's options, as getopt_long */
	const struct option *longopts;	/* takes them; NULL: none */
	/* Runs the command on the program's context, or NULL for a
	 * subcommand that its command runs itself. */
	int (*handler)(void *ctx, int argc, char **argv);
	const char *help;		/* said after the usage by --help, or NULL */
};

struct cmd_table {
	const char *prog;
	const struct cmd_entry *cmds;
	size_t ncmds;
	char quote;			/* around a name the user gave */
	const char *unknown;		/* after the unknown name, before the list */
	const char *ambiguous;		/* after an ambiguous name, before the list */
	int empty_is_prefix;		/* "" is a prefix of every name */
};

const struct cmd_entry *cmd_find(const struct cmd_table *t, const char *name);
const struct cmd_entry *cmd_lookup(const struct cmd_table *t, const char *name,
    char *err, size_t errlen);
int cmd_names(const struct cmd_table *t, const char *prefix, char *buf,
    size_t size);
void cmd_print_usage(FILE *f, const struct cmd_table *t, const struct cmd_entry *c,
    const char *first, const char *rest);
void cmd_print_help(FILE *f, const struct cmd_table *t, const struct cmd_entry *c);
int cmd_operands(const struct cmd_entry *c, int n, char *const *v, char *err,
    size_t errlen);

#endif
