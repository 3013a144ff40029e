/*
 * slcheck: the license client. Takes seats from Primary, Secondary and
 * backup servers, runs commands under a seat, and checks the servers for a
 * monitoring system. See slcheck(1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "slcheck.h"

#define CMD_SERVERS	0x01	/* needs the server lists */
#define CMD_CONFIG	0x02	/* reads the configuration; servers optional */
#define CMD_PLUGIN	0x04	/* monitoring plugin: every failure is UNKNOWN */
#define CMD_IN_ORDER	0x08	/* options end at the first operand */
#define CMD_OWN_STATUS	0x10	/* exits as its child did: no JSON error */

static int cmd_help(void *, int, char **);

static const struct option checkout_longopts[] = {
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "borrow", required_argument, NULL, OPT_BORROW },
	{ NULL, 0, NULL, 0 }
};

static const struct option run_longopts[] = {
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "on-loss", required_argument, NULL, OPT_ON_LOSS },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "error-exit", required_argument, NULL, 'E' },
	{ NULL, 0, NULL, 0 }
};

static const struct option check_longopts[] = {
	{ "warning", required_argument, NULL, 'w' },
	{ "critical", required_argument, NULL, 'c' },
	{ "product", required_argument, NULL, 'p' },
	{ "timeout", required_argument, NULL, 't' },
	{ "expiry-warn", required_argument, NULL, OPT_EXPIRY_WARN },
	{ NULL, 0, NULL, 0 }
};

static const struct cmd_entry commands[] = {
	{ .name = "checkout", .handler = cmd_checkout, .flags = CMD_SERVERS,
	  .longopts = checkout_longopts,
	  .min = 1, .max = 1,
	  .too_few = "name the PRODUCT", .too_many = "one PRODUCT only",
	  .args = "[--wait SECONDS] [--borrow DURATION] [--json] PRODUCT" },
	{ .name = "heartbeat", .handler = cmd_heartbeat, .flags = CMD_CONFIG,
	  .min = 1, .max = 1,
	  .too_few = "give the TOKEN printed by checkout", .too_many = "one TOKEN only",
	  .args = "[--json] TOKEN" },
	{ .name = "checkin", .handler = cmd_checkin, .flags = CMD_CONFIG,
	  .min = 1, .max = 1,
	  .too_few = "give the TOKEN printed by checkout", .too_many = "one TOKEN only",
	  .args = "[--json] TOKEN" },
	{ .name = "run", .handler = cmd_run,
	  .flags = CMD_SERVERS | CMD_IN_ORDER | CMD_OWN_STATUS,
	  .shortopts = "E:", .longopts = run_longopts,
	  .max = -1,		/* run.c counts them around the "--" */
	  .args = "[--wait SECONDS] [--on-loss term|warn] [--grace SECONDS] [-E CODE]\n"
	  "                   PRODUCT [--] COMMAND [ARGUMENT ...]" },
	{ .name = "check", .handler = cmd_check, .flags = CMD_SERVERS | CMD_PLUGIN,
	  .shortopts = "w:c:p:t:", .longopts = check_longopts,
	  .args = "[-w RANGE] [-c RANGE] [-p PRODUCT] [-t SECONDS] [--expiry-warn DAYS]" },
	{ .name = "status", .handler = cmd_status, .flags = CMD_SERVERS,
	  .args = "[--json]" },
	{ .name = "config", .handler = cmd_config, .flags = CMD_CONFIG,
	  .args = "[--json]" },
	{ .name = "help", .handler = cmd_help, .max = -1, .args = "[COMMAND]" },
};

static const struct cmd_table table = {
	.prog = "slcheck",
	.cmds = commands,
	.ncmds = nitems(commands),
	.quote = '\'',
	.unknown = "; commands are:",
	.ambiguous = "; commands are:",
};

static const struct option global_longopts[] = {
	{ "file", required_argument, NULL, 'f' },
	{ "server", required_argument, NULL, 's' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: slcheck [-hVv] [-f FILE] [-s SERVERS] [--cacert FILE] [--json] "
	    "COMMAND [ARGS]\n");
	for (size_t i = 0; i < nitems(commands); i++)
		cmd_print_usage(fp, &table, &commands[i], "       ", "       ");
}

int
slc_usage_error(const char *name, const char *fmt, ...)
{
	const struct cmd_entry *c = cmd_find(&table, name);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c != NULL && (c->flags & CMD_PLUGIN)) {
		printf("SL UNKNOWN - %s\n", msg);
		return 3;
	}
	fprintf(stderr, "slcheck: %s\n", msg);
	if (slc_first_error[0] == '\0')
		util_strlcpy(slc_first_error, msg, sizeof(slc_first_error));
	if (c != NULL)
		cmd_print_usage(stderr, &table, c, "usage: ", "       ");
	return SLC_EXIT_USAGE;
}

/* Check the n operands v of command against its entry; 0 if they suit it,
 * else the usage error's exit code. */
int
slc_operands(const char *name, int n, char **v)
{
	char err[512];

	if (cmd_operands(cmd_find(&table, name), n, v, err, sizeof(err)) == -1)
		return slc_usage_error(name, "%s: %s", name, err);
	return 0;
}

/* Exact name, or a prefix of exactly one name; else says why not. */
static const struct cmd_entry *
command_lookup(const char *name)
{
	char err[512];

	return cmd_lookup(&table, name, err, sizeof(err));
}

/* With --json, a failure that printed no JSON prints {"error", "message"}
 * on stdout as well as its line on stderr. */
static void
json_error(int rc)
{
	json_t *j;

	if (rc == SLC_EXIT_OK || slc_json_printed)
		return;
	j = json_pack("{s:s, s:s}", "error", sl_exit_name(rc), "message",
	    slc_first_error[0] ? slc_first_error : sl_exit_name(rc));
	if (j != NULL)
		slc_print_json(j);
	json_decref(j);
}

static int
cmd_help(void *ctx, int argc, char **argv)
{
	const struct cmd_entry *c;

	(void)ctx;
	if (argc > 1) {
		if ((c = command_lookup(argv[1])) == NULL)
			return SLC_EXIT_USAGE;
		cmd_print_help(stdout, &table, c);
		return SLC_EXIT_OK;
	}
	usage(stdout);
	return SLC_EXIT_OK;
}

/* Options shared by every command; returns 1 if ch was one of them. */
static int
global_option(struct slc *s, int ch, const char *arg)
{
	switch (ch) {
	case 'f':
		s->file_opt = arg;
		return 1;
	case 's':
		s->servers_opt = arg;
		return 1;
	case 'v':
		s->verbose++;
		return 1;
	case OPT_JSON:
		s->json = 1;
		return 1;
	case OPT_CACERT:
		s->cacert_opt = arg;
		return 1;
	}
	return 0;
}

/* Parse the command's options (its own and the global ones) into o. On a
 * usage error returns the exit code, else -1; *help is set for -h. */
static int
command_options(struct slc *s, const struct cmd_entry *c, int argc, char **argv,
    struct slc_opts *o, int *help)
{
	struct option longopts[32];
	char shortopts[64];
	size_t n = 0;
	int ch;

	snprintf(shortopts, sizeof(shortopts), "%s:f:s:vhV%s",
	    (c->flags & CMD_IN_ORDER) ? "+" : "", c->shortopts ? c->shortopts : "");
	for (const struct option *g = global_longopts; g->name != NULL; g++)
		longopts[n++] = *g;
	for (const struct option *l = c->longopts; l != NULL && l->name != NULL; l++)
		if (n < nitems(longopts) - 1)
			longopts[n++] = *l;
	memset(&longopts[n], 0, sizeof(longopts[n]));

	o->n = 0;
	optind = 0;		/* glibc: start over */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (ch == '?' || ch == ':') {
			if (optopt != 0 && optopt < 256)
				return slc_usage_error(c->name, "%s: -%c: %s", c->name, optopt,
				    strchr(shortopts, optopt) ? "needs an argument" :
				    "unknown option");
			return slc_usage_error(c->name, "%s: %s: unknown option or "
			    "missing argument", c->name, argv[optind - 1]);
		}
		if (ch == 'h') {
			*help = 1;
			continue;
		}
		if (ch == 'V') {
			printf("slcheck %s\n", SL_VERSION);
			*help = 2;
			continue;
		}
		if (global_option(s, ch, optarg))
			continue;
		if (o->n == (int)nitems(o->v))
			return slc_usage_error(c->name, "%s: too many options", c->name);
		o->v[o->n].ch = ch;
		o->v[o->n].arg = optarg;
		o->n++;
	}
	return -1;
}

static int
setup(struct slc *s, const struct cmd_entry *c)
{
	struct http_options ho;
	char err[1024];

	if (c->flags & (CMD_SERVERS | CMD_CONFIG)) {
		/* A bad -s is a usage error (64), as in slctl; a bad
		 * SL_SERVERS or file a configuration error (78). */
		if (s->servers_opt != NULL) {
			struct clientconf scratch;
			int bad;

			memset(&scratch, 0, sizeof(scratch));
			bad = clientconf_parse_servers(&scratch, s->servers_opt, "-s",
			    err, sizeof(err)) == -1;
			clientconf_free(&scratch);
			if (bad)
				return slc_usage_error(c->name, "%s", err);
		}
		if (clientconf_load(&s->conf, s->file_opt, s->servers_opt,
		    (c->flags & CMD_SERVERS) != 0, err, sizeof(err)) == -1) {
			if (c->flags & CMD_PLUGIN) {
				printf("SL UNKNOWN - %s\n", err);
				return 3;
			}
			slc_warnx("%s", err);
			return SLC_EXIT_CONFIG;
		}
		if (cache_open(&s->cache, err, sizeof(err)) == 0)
			s->have_cache = 1;
		else
			slc_debug(s, "%s (going on without the cache)", err);
	}
	if (s->cacert_opt != NULL) {
		if (strlen(s->cacert_opt) >= sizeof(s->conf.cacert)) {
			slc_warnx("--cacert: path too long");
			return SLC_EXIT_USAGE;
		}
		util_strlcpy(s->conf.cacert, s->cacert_opt, sizeof(s->conf.cacert));
		util_strlcpy(s->conf.cacert_origin, "--cacert", sizeof(s->conf.cacert_origin));
	}
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout_ms = (long)(s->conf.connect_timeout * 1000);
	ho.timeout_ms = (long)(s->conf.timeout * 1000);
	if (ho.connect_timeout_ms <= 0)
		ho.connect_timeout_ms = 1000;
	if (ho.timeout_ms <= 0)
		ho.timeout_ms = 3000;
	ho.token = s->conf.token;
	ho.cacert = s->conf.cacert[0] != '\0' ? s->conf.cacert : NULL;
	ho.user_agent = "slcheck/" SL_VERSION;
	if ((s->http = http_client_new(&ho)) == NULL) {
		slc_warnx("cannot set up the HTTP client");
		return SLC_EXIT_FAILURE;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct slc s;
	const struct cmd_entry *c;
	int ch, rc, help = 0;

	memset(&s, 0, sizeof(s));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+f:s:vhV", global_longopts, NULL)) != -1) {
		if (global_option(&s, ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			usage(stdout);
			return slc_flush_stdout() == 0 ? SLC_EXIT_OK : SLC_EXIT_FAILURE;
		case 'V':
			printf("slcheck %s\n", SL_VERSION);
			return slc_flush_stdout() == 0 ? SLC_EXIT_OK : SLC_EXIT_FAILURE;
		default:
			if (optopt != 0 && optopt < 256)
				fprintf(stderr, "slcheck: -%c: unknown option or missing argument\n",
				    optopt);
			else
				fprintf(stderr, "slcheck: %s: unknown option or missing argument\n",
				    argv[optind - 1]);
			usage(stderr);
			return SLC_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return SLC_EXIT_USAGE;
	}
	if ((c = command_lookup(argv[0])) == NULL) {
		if (s.json) {
			snprintf(slc_first_error, sizeof(slc_first_error),
			    "unknown command '%s'", argv[0]);
			json_error(SLC_EXIT_USAGE);
		}
		return SLC_EXIT_USAGE;
	}
	if ((rc = command_options(&s, c, argc, argv, &s.opts, &help)) != -1) {
		if (s.json && !(c->flags & CMD_PLUGIN))
			json_error(rc);
		return rc;
	}
	if (help) {
		if (help == 1)
			cmd_print_help(stdout, &table, c);
		return slc_flush_stdout() == 0 ? SLC_EXIT_OK : SLC_EXIT_FAILURE;
	}
	argc -= optind;
	argv += optind;
	/* Handlers see their operands with the command name in front. */
	argv--;
	argc++;
	argv[0] = (char *)c->name;

	if (sodium_init() == -1 || http_global_init() == -1) {
		slc_warnx("cannot initialise libsodium or libcurl");
		return SLC_EXIT_FAILURE;
	}
	if ((rc = setup(&s, c)) == -1)
		rc = c->handler(&s, argc, argv);
	/* check speaks the monitoring-plugin protocol, run is its command */
	if (s.json && !(c->flags & (CMD_PLUGIN | CMD_OWN_STATUS)))
		json_error(rc);
	if (slc_flush_stdout() == -1 && rc == SLC_EXIT_OK)
		rc = (c->flags & CMD_PLUGIN) ? 3 : SLC_EXIT_FAILURE;
	http_client_free(s.http);
	cache_close(&s.cache);
	clientconf_free(&s.conf);
	http_global_cleanup();
	return rc;
}
