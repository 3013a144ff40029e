/*
 * The command table slctl and slcheck share (common/cmd.c), apart from
 * either program (test/40-slctl-cli.bats runs this): lookup by exact name
 * before prefixes, the unknown and ambiguous messages in each program's
 * wording, usage forms and continuation lines, help, and operand counts.
 *
 * usage: cmd DIR (an empty directory for a scratch file).
 * Prints what is wrong and exits 1, or exits 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "util.h"

#define UNIT "cmd"
#include "unit.h"

static const struct cmd_entry cmds[] = {
	{ .name = "checkout", .min = 1, .max = 1, .too_few = "name the PRODUCT",
	  .too_many = "one PRODUCT only", .args = "[--wait SECONDS] PRODUCT" },
	{ .name = "checkin", .args = "TOKEN" },
	{ .name = "check", .args = "" },
	{ .name = "run", .min = 2, .max = -1, .too_few = "name both",
	  .args = "[-E CODE]\n      PRODUCT COMMAND\nrun --help" },
	{ .name = "status", .args = "[--json]", .help = "Show them.\n" },
};

static struct cmd_table table = {
	.prog = "prog",
	.cmds = cmds,
	.ncmds = nitems(cmds),
	.quote = '"',
	.unknown = "; valid commands:",
	.ambiguous = ", could be:",
};

static char stderr_path[4096];

/* Look name up with stderr going to a file; what it said into said. */
static const struct cmd_entry *
lookup(const char *name, char *err, size_t errlen, char *said, size_t saidlen)
{
	const struct cmd_entry *c;
	FILE *f;
	size_t n;
	int fd, saved;

	fflush(stderr);
	if ((saved = dup(2)) == -1 ||
	    (fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    dup2(fd, 2) == -1)
		abort();
	close(fd);
	c = cmd_lookup(&table, name, err, errlen);
	fflush(stderr);
	if (dup2(saved, 2) == -1)
		abort();
	close(saved);
	if ((f = fopen(stderr_path, "r")) == NULL)
		abort();
	n = fread(said, 1, saidlen - 1, f);
	said[n] = '\0';
	fclose(f);
	return c;
}

static void
test_lookup(void)
{
	char err[256], said[1024];
	const struct cmd_entry *c;

	c = lookup("check", err, sizeof(err), said, sizeof(said));
	CHECK(c == &cmds[2], "exact \"check\" is not chosen over its longer names");
	CHECK(said[0] == '\0', "an exact name said: %s", said);
	c = lookup("checko", err, sizeof(err), said, sizeof(said));
	CHECK(c == &cmds[0], "the unique prefix \"checko\" is not checkout");
	c = lookup("st", err, sizeof(err), said, sizeof(said));
	CHECK(c == &cmds[4], "the unique prefix \"st\" is not status");

	c = lookup("che", err, sizeof(err), said, sizeof(said));
	CHECK(c == NULL, "the ambiguous \"che\" found a command");
	CHECK(strcmp(err, "ambiguous command \"che\"") == 0, "ambiguous: err %s", err);
	CHECK(strcmp(said, "prog: ambiguous command \"che\", could be: checkout "
	    "checkin check\n") == 0, "ambiguous: said %s", said);

	c = lookup("frob", err, sizeof(err), said, sizeof(said));
	CHECK(c == NULL, "the unknown \"frob\" found a command");
	CHECK(strcmp(err, "unknown command \"frob\"") == 0, "unknown: err %s", err);
	CHECK(strcmp(said, "prog: unknown command \"frob\"; valid commands: "
	    "checkout checkin check run status\n") == 0, "unknown: said %s", said);

	/* "" names nothing, unless the table takes it as everyone's prefix. */
	table.quote = '\'';
	table.unknown = table.ambiguous = "; commands are:";
	c = lookup("", err, sizeof(err), said, sizeof(said));
	CHECK(c == NULL && strcmp(said, "prog: unknown command ''; commands are: "
	    "checkout checkin check run status\n") == 0, "\"\": said %s", said);
	table.empty_is_prefix = 1;
	c = lookup("", err, sizeof(err), said, sizeof(said));
	CHECK(c == NULL && strcmp(said, "prog: ambiguous command ''; commands are: "
	    "checkout checkin check run status\n") == 0,
	    "\"\" as a prefix: said %s", said);
}

/* What fn printed of entry c into a memory stream. */
static char *
printed(int help, const struct cmd_entry *c, const char *first, const char *rest)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		abort();
	if (help)
		cmd_print_help(f, &table, c);
	else
		cmd_print_usage(f, &table, c, first, rest);
	fclose(f);
	return buf;
}

static void
test_usage(void)
{
	char *s;

	s = printed(0, &cmds[0], "usage: ", "       ");
	CHECK(strcmp(s, "usage: prog checkout [--wait SECONDS] PRODUCT\n") == 0,
	    "checkout usage: %s", s);
	free(s);
	s = printed(0, &cmds[2], "  ", "  ");
	CHECK(strcmp(s, "  prog check\n") == 0, "check usage: %s", s);
	free(s);
	/* A line starting with a blank goes on; another is a form of its own. */
	s = printed(0, &cmds[3], "usage: ", "       ");
	CHECK(strcmp(s, "usage: prog run [-E CODE]\n      PRODUCT COMMAND\n"
	    "       prog run --help\n") == 0, "run usage: %s", s);
	free(s);
	s = printed(1, &cmds[4], NULL, NULL);
	CHECK(strcmp(s, "usage: prog status [--json]\n\nShow them.\n") == 0,
	    "status help: %s", s);
	free(s);
	s = printed(1, &cmds[1], NULL, NULL);
	CHECK(strcmp(s, "usage: prog checkin TOKEN\n") == 0, "checkin help: %s", s);
	free(s);
}

static void
test_operands(void)
{
	char *v[] = { "a", "b", "c" };
	char err[128];

	CHECK(cmd_operands(&cmds[0], 1, v, err, sizeof(err)) == 0, "checkout a");
	CHECK(cmd_operands(&cmds[0], 0, v, err, sizeof(err)) == -1 &&
	    strcmp(err, "name the PRODUCT") == 0, "checkout: %s", err);
	CHECK(cmd_operands(&cmds[0], 2, v, err, sizeof(err)) == -1 &&
	    strcmp(err, "one PRODUCT only") == 0, "checkout a b: %s", err);
	CHECK(cmd_operands(&cmds[2], 0, v, err, sizeof(err)) == 0, "check");
	CHECK(cmd_operands(&cmds[2], 2, v, err, sizeof(err)) == -1 &&
	    strcmp(err, "unexpected argument \"a\"") == 0, "check a b: %s", err);
	CHECK(cmd_operands(&cmds[3], 3, v, err, sizeof(err)) == 0, "run a b c");
	CHECK(cmd_operands(&cmds[3], 1, v, err, sizeof(err)) == -1 &&
	    strcmp(err, "name both") == 0, "run a: %s", err);
}

static void
test_names(void)
{
	char buf[64], small[20];

	CHECK(cmd_names(&table, "ch", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, " checkout checkin check") == 0, "names ch: %s", buf);
	CHECK(cmd_names(&table, NULL, small, sizeof(small)) == -1,
	    "all names fit in %zu bytes", sizeof(small));
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: cmd DIR\n");
		return 2;
	}
	snprintf(stderr_path, sizeof(stderr_path), "%s/stderr", argv[1]);
	test_lookup();
	test_usage();
	test_operands();
	test_names();
	return failed ? 1 : 0;
}
