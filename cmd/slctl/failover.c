/*
 * slctl failover show|set|clear: which Primaries a server backs up, changed
 * online through the admin API or offline in STATE_DIR/failover.ini.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failcfg.h"
#include "slctl.h"
#include "state.h"
#include "util.h"

struct failover_args {
	const char *name;
	const char *url;
	double poll_interval;
	int fail_after;
	int json;
};

static void
fmt_seconds(char *buf, size_t size, double d)
{
	snprintf(buf, size, "%g", d);
}

static int
failover_print(json_t *list, int json)
{
	static const char *const hdr[] = { "NAME", "URL", "POLL INTERVAL",
	    "FAIL AFTER", "SOURCE", "STATUS", "LAST POLL" };
	struct table *t;
	json_t *e;
	size_t i;
	int live = 0;	/* a running server also says how each Primary fares */

	if (json) {
		json_t *o = json_pack("{s:O}", "failover", list);
		ctl_print_json(o);
		json_decref(o);
		return 0;
	}
	json_array_foreach(list, i, e)
		if (json_is_string(json_object_get(e, "status")))
			live = 1;
	if ((t = table_new(nitems(hdr) - (live ? 0 : 2), hdr)) == NULL)
		return EXIT_OP;
	table_right(t, 2);
	table_right(t, 3);
	table_right(t, 6);
	json_array_foreach(list, i, e) {
		char poll[32] = "-", fail[32] = "-", age[32] = "never";
		json_t *a = json_object_get(e, "last_poll_age");
		json_t *p = json_object_get(e, "poll_interval");
		json_t *f = json_object_get(e, "fail_after");

		if (json_is_number(p))
			fmt_seconds(poll, sizeof(poll), json_number_value(p));
		if (json_is_integer(f))
			snprintf(fail, sizeof(fail), "%lld",
			    (long long)json_integer_value(f));
		if (json_is_number(a))
			util_fmt_duration(age, sizeof(age), json_number_value(a), 0);
		const char *row[] = { ctl_json_str(e, "name", "-"),
		    ctl_json_str(e, "url", "-"), poll, fail,
		    ctl_json_str(e, "source", "-"), ctl_json_str(e, "status", "-"),
		    age };
		table_add(t, row);
	}
	table_print(t, stdout);
	table_free(t);
	return 0;
}

static json_t *
failcfg_to_json(const struct failcfg *cfg)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < cfg->n; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:f, s:i, s:s}",
		    "name", cfg->v[i].name, "url", cfg->v[i].url,
		    "poll_interval", cfg->v[i].poll_interval,
		    "fail_after", cfg->v[i].fail_after, "source", "runtime"));
	return list;
}

/* Offline: edit STATE_DIR/failover.ini while no slserve runs on it. */
static int
failover_offline(struct ctl *ctl, const char *op, const struct failover_args *a)
{
	struct failcfg cfg = { NULL, 0 };
	struct failcfg_entry e;
	struct stat st;
	char err[1024];
	int lockfd = -1, rc = 0, r;
	json_t *list;

	if (strcmp(op, "show") != 0) {
		if (state_ensure_dir(ctl->state_dir, err, sizeof(err)) == -1) {
			ctl_warnx("%s", err);
			return EXIT_CONFIG;
		}
	} else if (stat(ctl->state_dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		ctl_warnx("%s: %s", ctl->state_dir, errno ? strerror(errno) :
		    "not a directory");
		return EXIT_CONFIG;
	}
	if (ctl_state_offline(ctl->state_dir, &lockfd, err, sizeof(err)) == -1) {
		ctl_warnx("failover %s: %s", op, err);
		return EXIT_OP;
	}
	if (strcmp(op, "show") == 0) {
		if (failcfg_load(ctl->state_dir, &cfg, err, sizeof(err)) == -1) {
			ctl_warnx("%s", err);
			rc = EXIT_CONFIG;
			goto out;
		}
		list = failcfg_to_json(&cfg);
		rc = failover_print(list, a->json);
		json_decref(list);
	} else if (strcmp(op, "set") == 0) {
		failcfg_entry_init(&e, a->name, a->url);
		e.poll_interval = a->poll_interval;
		e.fail_after = a->fail_after;
		if (failcfg_set(ctl->state_dir, &e, NULL, err, sizeof(err)) == -1) {
			ctl_warnx("failover set: %s", err);
			rc = EXIT_OP;
			goto out;
		}
		printf("%s: backing up %s at %s (poll_interval %g, fail_after %d)\n",
		    ctl->state_dir, a->name, a->url, a->poll_interval, a->fail_after);
	} else {
		r = failcfg_clear(ctl->state_dir, a->name, NULL, err, sizeof(err));
		if (r == -1) {
			ctl_warnx("failover clear: %s", err);
			rc = EXIT_OP;
		} else if (r == 1) {
			ctl_warnx("failover clear: %s: no runtime failover setting "
			    "\"%s\"", ctl->state_dir, a->name);
			rc = EXIT_OP;
		} else
			printf("%s: no longer backing up %s\n", ctl->state_dir,
			    a->name);
	}
out:
	failcfg_free(&cfg);
	close(lockfd);
	return rc;
}

static int
failover_online(struct ctl *ctl, const char *op, const struct failover_args *a)
{
	struct ctl_server *srv;
	struct ctl_reply r;
	char path[128];
	json_t *body = NULL;
	int rc;

	if ((rc = ctl_need_one_server(ctl, "failover")) != 0)
		return rc;
	srv = &ctl->servers[0];
	if (strcmp(op, "show") == 0) {
		if (ctl_call(ctl, srv, "GET", "/v1/admin/failover", NULL, &r) == -1 ||
		    r.status != 200 ||
		    !json_is_array(json_object_get(r.json, "failover"))) {
			rc = ctl_fail(ctl, srv, &r, "failover show");
			ctl_reply_clear(&r);
			return rc;
		}
		if (a->json)
			ctl_print_json(r.json);
		else
			rc = failover_print(json_object_get(r.json, "failover"), 0);
		ctl_reply_clear(&r);
		return rc;
	}
	if (strcmp(op, "set") == 0) {
		body = json_pack("{s:s, s:s, s:f, s:i}", "name", a->name, "url",
		    a->url, "poll_interval", a->poll_interval, "fail_after",
		    a->fail_after);
		rc = ctl_call(ctl, srv, "PUT", "/v1/admin/failover", body, &r);
	} else {
		snprintf(path, sizeof(path), "/v1/admin/failover/%s", a->name);
		rc = ctl_call(ctl, srv, "DELETE", path, NULL, &r);
	}
	json_decref(body);
	if (rc == -1 || r.status < 200 || r.status > 299) {
		rc = ctl_fail(ctl, srv, &r, strcmp(op, "set") == 0 ?
		    "failover set" : "failover clear");
		ctl_reply_clear(&r);
		return rc;
	}
	if (a->json && r.json != NULL)
		ctl_print_json(r.json);
	else if (strcmp(op, "set") == 0)
		printf("%s: backing up %s at %s (poll_interval %g, fail_after %d)\n",
		    srv->url, a->name, a->url, a->poll_interval, a->fail_after);
	else
		printf("%s: no longer backing up %s\n", srv->url, a->name);
	ctl_reply_clear(&r);
	return 0;
}

/* The subcommands, which cmd_failover runs itself, with their operands. */
static const struct cmd_entry failover_cmds[] = {
	{ .name = "show" },
	{ .name = "set", .min = 1, .max = 1, .too_few = "missing NAME",
	  .too_many = "too many arguments" },
	{ .name = "clear", .min = 1, .max = 1, .too_few = "missing NAME",
	  .too_many = "too many arguments" },
};

static const struct cmd_table failover_table = {
	.prog = "slctl failover",
	.cmds = failover_cmds,
	.ncmds = nitems(failover_cmds),
};

int
cmd_failover(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	const struct cmd_entry *sub;
	struct failover_args a;
	struct failcfg_entry e;
	const char *op;
	char err[512], *end;
	long n;
	int ch, rc;

	memset(&a, 0, sizeof(a));
	a.json = ctl->json;
	a.poll_interval = FAILCFG_POLL_DEFAULT;
	a.fail_after = FAILCFG_FAIL_DEFAULT;
	if ((sub = ctl_subcommand("failover", &failover_table, argc, argv)) == NULL)
		return EXIT_USAGE;
	op = sub->name;
	argc--;
	argv++;
	while ((ch = ctl_getopt(ctl, argc, argv, &a.json)) != -1) {
		switch (ch) {
		case 'u':
			a.url = optarg;
			break;
		case 'p':
			if (ctl_parse_seconds(optarg, &a.poll_interval) == -1 ||
			    a.poll_interval > FAILCFG_POLL_MAX)
				return ctl_usage_error("failover", "--poll-interval "
				    "%s: expected seconds, more than 0 and at most %g",
				    optarg, FAILCFG_POLL_MAX);
			break;
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *optarg == '\0' || *end != '\0' || n < 1 ||
			    n > FAILCFG_FAIL_MAX)
				return ctl_usage_error("failover", "--fail-after %s: "
				    "expected an integer from 1 to %d", optarg,
				    FAILCFG_FAIL_MAX);
			a.fail_after = (int)n;
			break;
		default:
			return ctl_command_usage("failover");
		}
	}
	argc -= optind;
	argv += optind;
	if ((rc = ctl_sub_operands("failover", sub, argc, argv)) != 0)
		return rc;
	if (strcmp(op, "show") != 0) {
		a.name = argv[0];
		if (!util_valid_id(a.name))
			return ctl_usage_error("failover", "invalid name \"%s\": use "
			    "1 to %d of A-Z a-z 0-9 . _ -", a.name, SL_ID_MAX);
	}
	if (strcmp(op, "set") == 0) {
		if (a.url == NULL)
			return ctl_usage_error("failover", "set: missing --url URL");
		failcfg_entry_init(&e, a.name, a.url);
		e.poll_interval = a.poll_interval;
		e.fail_after = a.fail_after;
		if (failcfg_validate(&e, err, sizeof(err)) == -1)
			return ctl_usage_error("failover", "%s", err);
	} else if (a.url != NULL)
		return ctl_usage_error("failover", "%s: --url only goes with set", op);

	if (ctl->state_dir != NULL && !ctl->servers_given)
		return failover_offline(ctl, op, &a);
	if (ctl->http == NULL) {
		/* -D with -s: the dispatcher has set up the connection already */
		if ((rc = ctl_http_setup(ctl)) != 0)
			return rc;
	}
	return failover_online(ctl, op, &a);
}
