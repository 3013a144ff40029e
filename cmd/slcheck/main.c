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

struct slc_command {
	const char *name;
	int (*fn)(struct slc *, const struct slc_opts *, int, char **);
	int flags;
	const char *shortopts;
	const struct option *longopts;
	const char *usage;
};

static int cmd_help(struct slc *, const struct slc_opts *, int, char **);

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

static const struct slc_command commands[] = {
	{ "checkout", cmd_checkout, CMD_SERVERS, "", checkout_longopts,
	    "checkout [--wait SECONDS] [--borrow DURATION] [--json] PRODUCT" },
	{ "heartbeat", cmd_heartbeat, CMD_CONFIG, "", NULL,
	    "heartbeat [--json] TOKEN" },
	{ "checkin", cmd_checkin, CMD_CONFIG, "", NULL,
	    "checkin [--json] TOKEN" },
	{ "run", cmd_run, CMD_SERVERS | CMD_IN_ORDER, "E:", run_longopts,
	    "run [--wait SECONDS] [--on-loss term|warn] [--grace SECONDS] [-E CODE]\n"
	    "                   PRODUCT [--] COMMAND [ARGUMENT ...]" },
	{ "check", cmd_check, CMD_SERVERS | CMD_PLUGIN, "w:c:p:t:", check_longopts,
	    "check [-w RANGE] [-c RANGE] [-p PRODUCT] [-t SECONDS] [--expiry-warn DAYS]" },
	{ "status", cmd_status, CMD_SERVERS, "", NULL,
	    "status [--json]" },
	{ "config", cmd_config, CMD_CONFIG, "", NULL,
	    "config [--json]" },
	{ "help", cmd_help, 0, "", NULL,
	    "help [COMMAND]" },
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
		fprintf(fp, "       slcheck %s\n", commands[i].usage);
}

static const struct slc_command *
command_find(const char *name)
{
	for (size_t i = 0; i < nitems(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
slc_usage_of(const char *name)
{
	const struct slc_command *c = command_find(name);

	if (c != NULL)
		fprintf(stderr, "usage: slcheck %s\n", c->usage);
}

int
slc_usage_error(const char *name, const char *fmt, ...)
{
	const struct slc_command *c = command_find(name);
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
	slc_usage_of(name);
	return SLC_EXIT_USAGE;
}

/* Exact name, or a prefix of exactly one name. */
static const struct slc_command *
command_lookup(const char *name)
{
	const struct slc_command *found = NULL;
	size_t len = strlen(name), matches = 0;

	if ((found = command_find(name)) != NULL)
		return found;
	for (size_t i = 0; i < nitems(commands); i++) {
		if (len > 0 && strncmp(commands[i].name, name, len) == 0) {
			found = &commands[i];
			matches++;
		}
	}
	if (matches == 1)
		return found;
	fprintf(stderr, "slcheck: %s command '%s'; commands are:",
	    matches > 1 ? "ambiguous" : "unknown", name);
	for (size_t i = 0; i < nitems(commands); i++)
		if (matches <= 1 || strncmp(commands[i].name, name, len) == 0)
			fprintf(stderr, " %s", commands[i].name);
	fprintf(stderr, "\n");
	return NULL;
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
	if (j != NULL && json_dumpf(j, stdout, JSON_INDENT(2)) == 0)
		putchar('\n');
	json_decref(j);
}

static int
cmd_help(struct slc *s, const struct slc_opts *o, int argc, char **argv)
{
	(void)s;
	(void)o;
	if (argc > 1) {
		const struct slc_command *c = command_lookup(argv[1]);
		if (c == NULL)
			return SLC_EXIT_USAGE;
		printf("usage: slcheck %s\n", c->usage);
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
command_options(struct slc *s, const struct slc_command *c, int argc, char **argv,
    struct slc_opts *o, int *help)
{
	struct option longopts[32];
	char shortopts[64];
	size_t n = 0;
	int ch;

	snprintf(shortopts, sizeof(shortopts), "%s:f:s:vhV%s",
	    (c->flags & CMD_IN_ORDER) ? "+" : "", c->shortopts);
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
setup(struct slc *s, const struct slc_command *c)
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
	struct slc_opts opts;
	const struct slc_command *c;
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
	if ((rc = command_options(&s, c, argc, argv, &opts, &help)) != -1) {
		if (s.json && !(c->flags & CMD_PLUGIN))
			json_error(rc);
		return rc;
	}
	if (help) {
		if (help == 1)
			printf("usage: slcheck %s\n", c->usage);
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
		rc = c->fn(&s, &opts, argc, argv);
	/* check speaks the monitoring-plugin protocol, run is its command */
	if (s.json && !(c->flags & CMD_PLUGIN) && c->fn != cmd_run)
		json_error(rc);
	if (slc_flush_stdout() == -1 && rc == SLC_EXIT_OK)
		rc = (c->flags & CMD_PLUGIN) ? 3 : SLC_EXIT_FAILURE;
	http_client_free(s.http);
	cache_close(&s.cache);
	clientconf_free(&s.conf);
	http_global_cleanup();
	return rc;
}
