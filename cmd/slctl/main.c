/*
 * slctl: the admin console of sl. Global options, the command table and the
 * dispatcher that gives each command what its flags ask for.
 */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "slctl.h"
#include "util.h"

const char *ctl_progname = "slctl";

/* The options of each command, which it reads with ctl_getopt. */
#define OPTION_JSON	{ "json", no_argument, NULL, 'j' }
#define OPTION_END	{ NULL, 0, NULL, 0 }
static const struct option json_options[] = { OPTION_JSON, OPTION_END };
static const struct option status_options[] = {
	OPTION_JSON,
	{ "watch", required_argument, NULL, 'w' },
	{ "verbose", no_argument, NULL, 'v' },
	OPTION_END
};
static const struct option leases_options[] = {
	OPTION_JSON,
	{ "long", no_argument, NULL, 'l' },
	OPTION_END
};
static const struct option revoke_options[] = {
	OPTION_JSON,
	{ "for", required_argument, NULL, 'f' },
	{ "reason", required_argument, NULL, 'r' },
	OPTION_END
};
static const struct option report_options[] = {
	OPTION_JSON,
	{ "csv", no_argument, NULL, 'C' },
	{ "since", required_argument, NULL, 's' },
	{ "until", required_argument, NULL, 'u' },
	{ "by", required_argument, NULL, 'b' },
	{ "top", required_argument, NULL, 'n' },
	OPTION_END
};
static const struct option failover_options[] = {
	OPTION_JSON,
	{ "url", required_argument, NULL, 'u' },
	{ "poll-interval", required_argument, NULL, 'p' },
	{ "fail-after", required_argument, NULL, 'n' },
	OPTION_END
};

static const struct cmd_entry commands[] = {
	{ .name = "servers", .handler = cmd_servers, .flags = CMD_SERVERS,
	  .shortopts = "j", .longopts = json_options,
	  .args = "[--json]",
	  .help = "Show each server: up or down, name, epoch, uptime, version, the\n"
	  "Primaries it backs up and the backups that poll it.\n" },
	{ .name = "status", .handler = cmd_status, .flags = CMD_SERVERS,
	  .shortopts = "jvw:", .longopts = status_options,
	  .args = "[-v] [-w SECONDS] [--json]",
	  .help = "Show the Licenses table of each server.\n"
	  "  -v, --verbose    after the table, say what each STATUS, marker and\n"
	  "                   DENIALS mean\n"
	  "  -w, --watch SECONDS  redraw the table every SECONDS (fractions\n"
	  "                   allowed) until interrupted (Ctrl-C), then exit 0\n"
	  "  --json           print an array of the servers' JSON, one element\n"
	  "                   per server, each with its \"url\"\n" },
	{ .name = "leases", .handler = cmd_leases, .flags = CMD_SERVERS | CMD_ADMIN,
	  .shortopts = "jl", .longopts = leases_options,
	  .max = 1, .too_many = "too many arguments",
	  .args = "[-l] [--json] [PRODUCT]",
	  .help = "List the leases (checked-out seats), of PRODUCT only if given; a\n"
	  "PRODUCT no server has a license for is an error (exit 4).\n"
	  "  -l, --long       show whole lease ids instead of their first 8 characters\n"
	  "  --json           print the server's JSON\n" },
	{ .name = "revoke", .handler = cmd_revoke, .flags = CMD_SERVERS | CMD_ADMIN,
	  .shortopts = "jf:r:", .longopts = revoke_options,
	  .min = 1, .max = 1,
	  .too_few = "missing LEASE", .too_many = "too many arguments",
	  .args = "[--for DURATION] [--reason TEXT] [--json] LEASE",
	  .help = "Free the seat of LEASE now. Its holder's next heartbeat gets 410 and\n"
	  "the same client, user and host cannot take a seat of that license\n"
	  "again for DURATION (90, 90s, 15m, 2h, 7d). LEASE may be shortened to\n"
	  "a unique prefix of at least 6 characters.\n"
	  "  --for DURATION   bar the holder for DURATION (default: no bar)\n"
	  "  --reason TEXT    why, recorded in the usage log\n" },
	{ .name = "remove", .handler = cmd_remove, .flags = CMD_SERVERS | CMD_ADMIN,
	  .shortopts = "j", .longopts = json_options,
	  .min = 1, .max = 1,
	  .too_few = "missing LEASE", .too_many = "too many arguments",
	  .args = "[--json] LEASE",
	  .help = "Check LEASE in on its holder's behalf, without barring it (lmremove).\n"
	  "LEASE may be a unique prefix of at least 6 characters.\n" },
	{ .name = "reload", .handler = cmd_reload, .flags = CMD_SERVERS | CMD_ADMIN,
	  .shortopts = "j", .longopts = json_options,
	  .args = "[--json]",
	  .help = "Make each server re-read its licenses file, keeping its leases, and\n"
	  "print what was added, removed or changed. A broken file changes\n"
	  "nothing; the error names the file and line.\n" },
	{ .name = "license", .handler = cmd_license, .flags = 0,
	  .max = -1,
	  .args = "keygen [-d DIR] ISSUER\n"
	  "license sign -k SECRET-KEY [-i] FILE\n"
	  "license verify [-k PUBLIC-KEY]... [-H HOST] [--json] FILE\n"
	  "license add [-L LICENSES] [-k PUBLIC-KEY]... [--no-reload] FILE\n"
	  "license remove [-L LICENSES] [--no-reload] ID ...",
	  .help = "Issuer keys and signed licenses.\n"
	  "  keygen   write DIR/ISSUER.pub and DIR/ISSUER.key (mode 0600)\n"
	  "  sign     sign every license of FILE; print the result, or with -i\n"
	  "           replace FILE\n"
	  "  verify   check each license of FILE: valid, unsigned, unknown issuer,\n"
	  "           bad signature, expired, wrong host\n"
	  "  add      add the licenses of FILE to the server's licenses file,\n"
	  "           then reload the server\n"
	  "  remove   remove licenses by id from the server's licenses file,\n"
	  "           then reload the server\n"
	  "  -L LICENSES  the licenses file to edit (default: from slserve.conf)\n"
	  "  -k KEY       a public key file to verify with (default: the\n"
	  "               trusted_keys of slserve.conf)\n"
	  "  -H HOST      the host identity to check host-bound licenses against\n"
	  "  --no-reload  edit the file only\n" },
	{ .name = "report", .handler = cmd_report, .flags = CMD_SERVERS | CMD_ADMIN | CMD_LOCAL,
	  .shortopts = "jCs:u:b:n:", .longopts = report_options,
	  .args = "[--since DATE] [--until DATE] [--by license|user|host] [--top N] [--json | --csv]",
	  .help = "Usage report from the server's usage log (or STATE_DIR/usage.log with\n"
	  "-D): per license (user, host) the peak concurrent use, checkouts,\n"
	  "denials, seat-hours and top users. DATE is YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]\n"
	  "(local time), @UNIXTIME, or a duration back from now (7d, 12h).\n"
	  "--until is exclusive. --top N shows N top users (default 3).\n"
	  "With several -s (a Primary and its backups), their logs are merged:\n"
	  "a seat granted by one server and ended by another counts once.\n" },
	{ .name = "failover", .handler = cmd_failover, .flags = CMD_SERVERS | CMD_ADMIN | CMD_LOCAL,
	  .shortopts = "ju:p:n:", .longopts = failover_options,
	  .max = -1,
	  .args = "show [--json]\n"
	  "failover set NAME --url URL [--poll-interval SECONDS] [--fail-after N]\n"
	  "failover clear NAME",
	  .help = "Show or change which Primaries a server backs up, at run time: online\n"
	  "through the admin API, or offline on -D STATE_DIR while slserve is\n"
	  "stopped. poll_interval defaults to 1 second (fractions allowed, at\n"
	  "most 3600), fail_after to 3 (1 to 100).\n" },
	{ .name = "help", .handler = cmd_help, .flags = 0,
	  .max = 1, .too_many = "too many arguments",
	  .args = "[COMMAND]",
	  .help = "Show the usage of slctl or of COMMAND.\n" },
	{ .name = "version", .handler = cmd_version, .flags = 0,
	  .max = 0, .too_many = "too many arguments",
	  .args = "", .help = "Print the version of slctl.\n" },
};

/* The first error said, for the JSON error object of --json. */
static char first_error[1024];
static char first_error_code[64];
static int json_printed;

static void
remember_error(const char *fmt, va_list ap)
{
	if (first_error[0] == '\0')
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
}

/* The machine-readable code of the error about to be said (the server's
 * "error", or one of ours); the first one set wins. */
void
ctl_set_error_code(const char *code)
{
	if (first_error_code[0] == '\0' && first_error[0] == '\0')
		snprintf(first_error_code, sizeof(first_error_code), "%s", code);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", ctl_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	va_start(ap, fmt);
	remember_error(fmt, ap);
	va_end(ap);
}

/* With --json, a failure that printed no JSON prints {"error", "message"}. */
static void
json_error(int rc)
{
	json_t *j;

	if (rc == 0 || json_printed)
		return;
	j = json_pack("{s:s, s:s}", "error", first_error_code[0] ? first_error_code :
	    sl_exit_name(rc), "message", first_error[0] ? first_error :
	    sl_exit_name(rc));
	ctl_print_json(j);
	json_decref(j);
}

static const struct cmd_table table = {
	.prog = "slctl",
	.cmds = commands,
	.ncmds = nitems(commands),
	.quote = '"',
	.unknown = "; valid commands:",
	.ambiguous = ", could be:",
	.empty_is_prefix = 1,
};

static void
usage_all(FILE *f)
{
	size_t i;

	fprintf(f, "usage: slctl [-s URL]... [-f SLCLIENT_CONF] [-c SLSERVE_CONF] "
	    "[-D STATE_DIR]\n"
	    "             [--token-file FILE] [--cacert FILE] [-t SECONDS] [--json]\n"
	    "             COMMAND [ARG...]\n"
	    "commands:\n");
	for (i = 0; i < nitems(commands); i++)
		cmd_print_usage(f, &table, &commands[i], "  ", "  ");
}

/* Find a command by name or unique prefix; print why when there is none. */
static const struct cmd_entry *
find_command(const char *name)
{
	return cmd_lookup(&table, name, first_error, sizeof(first_error));
}

int
ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", ctl_progname);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	remember_error(fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		fprintf(stderr, " (see \"slctl help %s\")", cmd);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* Print the usage of cmd to stderr and return the usage exit code. */
int
ctl_command_usage(const char *cmd)
{
	const struct cmd_entry *c;

	fflush(stdout);
	if (first_error[0] == '\0')
		snprintf(first_error, sizeof(first_error), "%s: bad usage (see "
		    "\"slctl help %s\")", cmd, cmd);
	if ((c = cmd_find(&table, cmd)) != NULL)
		cmd_print_usage(stderr, &table, c, "usage: ", "       ");
	return EXIT_USAGE;
}

/* Check the n operands v of cmd against its entry; say what is wrong. */
int
ctl_operands(const char *cmd, int n, char **v)
{
	char err[512];

	if (cmd_operands(cmd_find(&table, cmd), n, v, err, sizeof(err)) == -1)
		return ctl_usage_error(cmd, "%s", err);
	return 0;
}

/*
 * The next option of the running command, from the options of its entry,
 * as getopt_long returns it. With json, -j (--json) sets *json and is not
 * returned.
 */
int
ctl_getopt(struct ctl *ctl, int argc, char **argv, int *json)
{
	const struct cmd_entry *c = ctl->cmd;
	int ch;

	while ((ch = getopt_long(argc, argv, c->shortopts ? c->shortopts : "",
	    c->longopts, NULL)) == 'j' && json != NULL)
		*json = 1;
	return ch;
}

/* The options of a command that takes only --json, then its operands. */
int
ctl_json_options(struct ctl *ctl, int argc, char **argv, int *json)
{
	if (ctl_getopt(ctl, argc, argv, json) != -1)
		return ctl_command_usage(ctl->cmd->name);
	return ctl_operands(ctl->cmd->name, argc - optind, argv + optind);
}

/*
 * The subcommand of cmd that argv[1] names exactly, among t's; argv[1]
 * becomes "slctl: CMD SUB", the name getopt gives its errors when argv + 1
 * is parsed. Else says which there are (when one was named) and the usage
 * of cmd, and returns NULL.
 */
const struct cmd_entry *
ctl_subcommand(const char *cmd, const struct cmd_table *t, int argc, char **argv)
{
	static char name[64];
	const struct cmd_entry *c;
	char names[512];

	if (argc >= 2 && (c = cmd_find(t, argv[1])) != NULL) {
		snprintf(name, sizeof(name), "slctl: %s %s", cmd, c->name);
		argv[1] = name;
		return c;
	}
	if (argc >= 2) {
		cmd_names(t, NULL, names, sizeof(names));
		ctl_warnx("%s: unknown subcommand \"%s\"; valid subcommands:%s", cmd,
		    argv[1], names);
	}
	ctl_command_usage(cmd);
	return NULL;
}

/* Check the n operands v of subcommand sub of cmd against its entry. */
int
ctl_sub_operands(const char *cmd, const struct cmd_entry *sub, int n, char **v)
{
	char err[512];

	if (cmd_operands(sub, n, v, err, sizeof(err)) == -1)
		return ctl_usage_error(cmd, "%s: %s", sub->name, err);
	return 0;
}

/* Seconds, fractions allowed, as for --watch and --poll-interval. */
int
ctl_parse_seconds(const char *s, double *out)
{
	char *end;
	double d;

	if (util_parse_number(s, &d, &end) == -1 || *end != '\0' || d <= 0)
		return -1;
	*out = d;
	return 0;
}

void
ctl_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
		json_printed = 1;
	}
}

int
cmd_help(void *ctx, int argc, char **argv)
{
	const struct cmd_entry *c;
	int rc;

	(void)ctx;
	if ((rc = ctl_operands("help", argc - 1, argv + 1)) != 0)
		return rc;
	if (argc < 2) {
		usage_all(stdout);
		printf("\nRun \"slctl help COMMAND\" for the options of a command; "
		    "see slctl(8).\n");
		return 0;
	}
	if ((c = find_command(argv[1])) == NULL)
		return EXIT_USAGE;
	cmd_print_help(stdout, &table, c);
	return 0;
}

int
cmd_version(void *ctx, int argc, char **argv)
{
	int rc;

	(void)ctx;
	if ((rc = ctl_operands("version", argc - 1, argv + 1)) != 0)
		return rc;
	printf("slctl %s\n", SL_VERSION);
	return 0;
}

/* Is opt among argv's options, before any "--"? */
static int
has_option(int argc, char **argv, const char *opt)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], opt) == 0)
			return 1;
	}
	return 0;
}

static int
finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: write error on standard output: %s\n",
		    ctl_progname, strerror(errno));
		return rc != 0 ? rc : EXIT_OP;
	}
	return rc;
}

static void
ctl_free(struct ctl *ctl)
{
	size_t i;

	for (i = 0; i < ctl->nservers; i++)
		free(ctl->servers[i].url);
	free(ctl->servers);
	if (ctl->token != NULL) {
		sodium_memzero(ctl->token, strlen(ctl->token));
		free(ctl->token);
	}
	http_client_free(ctl->http);
	free(ctl->cacert);
}

/* Long-only options. */
enum { OPT_CACERT = 256 };

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'f' },
		{ "server-config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static char cmdname[64];
	struct ctl ctl;
	const struct cmd_entry *c;
	double secs;
	int ch, rc;

	setlocale(LC_CTYPE, "");
	memset(&ctl, 0, sizeof(ctl));
	/* getopt names its errors after argv[0]: "slctl: ...", not "bin/slctl: ..." */
	argv[0] = (char *)ctl_progname;
	ctl.json = has_option(argc, argv, "--json");
	ctl.timeout_ms = 5000;
	if (sodium_init() < 0) {
		ctl_warnx("libsodium failed to initialise");
		return EXIT_OP;
	}
	if (http_global_init() == -1) {
		ctl_warnx("libcurl failed to initialise");
		return EXIT_OP;
	}
	while ((ch = getopt_long(argc, argv, "+s:f:c:D:T:t:jhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (ctl_add_server(&ctl, optarg) == -1) {
				rc = ctl_usage_error(NULL, "-s %s: not an http:// or "
				    "https:// URL", optarg);
				goto out;
			}
			ctl.servers_given = 1;
			break;
		case 'f':
			ctl.client_conf = optarg;
			break;
		case 'c':
			ctl.server_conf = optarg;
			break;
		case 'D':
			ctl.state_dir = optarg;
			break;
		case 'T':
			ctl.token_file = optarg;
			break;
		case 't':
			if (ctl_parse_seconds(optarg, &secs) == -1 || secs > 3600) {
				rc = ctl_usage_error(NULL, "-t %s: expected seconds "
				    "(more than 0, at most 3600)", optarg);
				goto out;
			}
			ctl.timeout_ms = (long)(secs * 1000);
			if (ctl.timeout_ms < 1)
				ctl.timeout_ms = 1;
			break;
		case 'j':
			ctl.json = 1;
			break;
		case OPT_CACERT:
			free(ctl.cacert);
			if ((ctl.cacert = strdup(optarg)) == NULL) {
				rc = EXIT_OP;
				goto out;
			}
			break;
		case 'h':
			usage_all(stdout);
			rc = finish(0);
			goto out;
		case 'V':
			printf("slctl %s\n", SL_VERSION);
			rc = finish(0);
			goto out;
		default:
			snprintf(first_error, sizeof(first_error), "unknown option or "
			    "missing argument");
			usage_all(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage_all(stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((c = find_command(argv[0])) == NULL) {
		rc = EXIT_USAGE;
		goto out;
	}
	snprintf(cmdname, sizeof(cmdname), "%s: %s", ctl_progname, c->name);
	argv[0] = cmdname;
	if (has_option(argc, argv, "--help")) {
		cmd_print_help(stdout, &table, c);
		rc = finish(0);
		goto out;
	}
	if (ctl.client_conf == NULL && getenv("SL_CONFIG") != NULL &&
	    getenv("SL_CONFIG")[0] != '\0')
		ctl.client_conf = getenv("SL_CONFIG");
	/* Offline work on -D needs neither servers nor a token. */
	if ((c->flags & CMD_SERVERS) &&
	    !((c->flags & CMD_LOCAL) && ctl.state_dir != NULL && !ctl.servers_given)) {
		if ((rc = ctl_servers_setup(&ctl)) != 0)
			goto out;
		if ((c->flags & CMD_ADMIN) && (rc = ctl_token_setup(&ctl)) != 0)
			goto out;
		if ((rc = ctl_http_setup(&ctl)) != 0)
			goto out;
	}
	optind = 0;	/* commands run getopt_long afresh */
	ctl.cmd = c;
	rc = c->handler(&ctl, argc, argv);
out:
	if (ctl.json)
		json_error(rc);
	rc = finish(rc);
	ctl_free(&ctl);
	http_global_cleanup();
	return rc;
}
