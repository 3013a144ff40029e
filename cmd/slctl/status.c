/* slctl servers and slctl status: the console's two panes. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "legend.h"
#include "slctl.h"
#include "util.h"

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
join_names(char *buf, size_t size, json_t *arr, const char *key, const char *extra)
{
	json_t *v;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		const char *name = ctl_json_str(v, key, "?");
		const char *x = extra ? ctl_json_str(v, extra, NULL) : NULL;

		if ((x != NULL ? fmt_list_add(buf, size, &off, ",", "%s(%s)", name, x) :
		    fmt_list_add(buf, size, &off, ",", "%s", name)) == -1)
			break;
	}
	fmt_list_end(buf, size);
}

/* A backup of this server that went silent, or a Primary it backs up
 * that refuses its polls: said after the table (into trouble, as
 * "URL: text"), and a failure. Returns the number found. */
static int
servers_failover_trouble(const char *url, json_t *health, json_t *trouble)
{
	json_t *v;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(health, "backups"), i, v) {
		json_t *age = json_object_get(v, "last_poll_age");
		char since[64], ago[32] = "never";
		if (strcmp(ctl_json_str(v, "state", ""), "lost") != 0)
			continue;
		fmt_time(since, sizeof(since), json_number_value(json_object_get(v, "since")));
		if (json_is_number(age))
			util_fmt_duration(ago, sizeof(ago), json_number_value(age), 0);
		json_array_append_new(trouble, json_sprintf("%s: backup \"%s\" lost since %s "
		    "(last poll %s%s): this server has no backup", url,
		    ctl_json_str(v, "name", "?"), since, ago, json_is_number(age) ? " ago" : ""));
		n++;
	}
	json_array_foreach(json_object_get(health, "backs_up"), i, v) {
		if (json_integer_value(json_object_get(v, "refused_polls")) <= 0)
			continue;
		json_array_append_new(trouble, json_sprintf("%s: \"%s\" refuses the polls of "
		    "this backup (%s): it does not back \"%s\" up", url,
		    ctl_json_str(v, "pool", "?"), ctl_json_str(v, "last_error", "refused"),
		    ctl_json_str(v, "pool", "?")));
		n++;
	}
	return n;
}

/* NAME, or NAME(lost) for each backup in arr. */
static void
join_backups(char *buf, size_t size, json_t *arr)
{
	json_t *v;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		int lost = strcmp(ctl_json_str(v, "state", ""), "lost") == 0;
		int n = snprintf(buf + off, size - off, "%s%s%s", off ? "," : "",
		    ctl_json_str(v, "name", "?"), lost ? "(lost)" : "");
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
	if (buf[0] == '\0')
		snprintf(buf, size, "-");
}

int
cmd_servers(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	static const char *const hdr[] = { "SERVER", "STATE", "NAME", "EPOCH",
	    "UPTIME", "VERSION", "BACKS UP", "BACKUPS" };
	struct table *t = NULL;
	json_t *out = NULL, *down, *d;
	size_t i;
	int json = ctl->json, rc, worst = 0;

	if ((rc = ctl_json_options(ctl, argc, argv, &json)) != 0)
		return rc;
	if (json)
		out = json_array();
	else if ((t = table_new(nitems(hdr), hdr)) == NULL)
		return EXIT_OP;
	down = json_array();	/* reasons, reported after the table */
	json_t *trouble = json_array();	/* failover trouble, likewise */
	for (i = 0; i < ctl->nservers; i++) {
		struct ctl_server *srv = &ctl->servers[i];
		struct ctl_reply r;
		char uptime[32], backs_up[512], backups[512];
		json_t *j;

		int called = ctl_call(ctl, srv, "GET", "/v1/health", NULL, &r);
		/* Up, but it cannot write its state (it answers 503 to grants):
		 * listed, state "no-storage", and a failure. */
		int no_storage = called == 0 && r.status == 503 && json_is_false(
		    json_object_get(json_object_get(r.json, "storage"), "ok"));
		if (no_storage) {
			json_array_append_new(down, json_pack("[s, s, b]", srv->url, ctl_json_str(
			    json_object_get(r.json, "storage"), "error", "unknown error"), 1));
			if (worst == 0)
				worst = EXIT_OP;
		} else if (called == -1 || r.status != 200 || !json_is_object(r.json)) {
			const char *why = r.status == 0 ? r.error : "bad answer";
			char status[64];

			if (r.status != 0) {
				snprintf(status, sizeof(status), "HTTP status %ld",
				    r.status);
				why = status;
			}
			worst = EXIT_UNREACH;
			if (json)
				json_array_append_new(out, json_pack("{s:s, s:b, s:s}",
				    "url", srv->url, "up", 0, "error", why));
			else {
				const char *row[] = { srv->url, "down", "-", "-",
				    "-", "-", "-", "-" };
				table_add(t, row);
			}
			json_array_append_new(down, json_pack("[s, s]", srv->url, why));
			ctl_reply_clear(&r);
			continue;
		}
		j = r.json;
		if (servers_failover_trouble(srv->url, j, trouble) > 0 && worst == 0)
			worst = EXIT_OP;
		if (json) {
			json_t *o = json_deep_copy(j);
			json_object_set_new(o, "url", json_string(srv->url));
			json_object_set_new(o, "up", json_true());
			json_array_append_new(out, o);
		} else {
			json_t *up = json_object_get(j, "uptime");
			util_fmt_duration(uptime, sizeof(uptime),
			    json_is_number(up) ? json_number_value(up) : 0, 0);
			if (!json_is_number(up))
				snprintf(uptime, sizeof(uptime), "-");
			join_names(backs_up, sizeof(backs_up),
			    json_object_get(j, "backs_up"), "pool", "status");
			join_backups(backups, sizeof(backups), json_object_get(j, "backups"));
			const char *row[] = { srv->url, no_storage ? "no-storage" : "up",
			    ctl_json_str(j, "name", "-"), ctl_json_str(j, "epoch", "-"),
			    uptime, ctl_json_str(j, "version", "-"), backs_up, backups };
			table_add(t, row);
		}
		ctl_reply_clear(&r);
	}
	if (json)
		ctl_print_json(out);
	else
		table_print(t, stdout);
	json_array_foreach(down, i, d)
		ctl_warnx("%s: %s: %s", json_string_value(json_array_get(d, 0)),
		    json_array_size(d) == 2 ? "down" : "storage unavailable",
		    json_string_value(json_array_get(d, 1)));
	json_array_foreach(trouble, i, d)
		ctl_warnx("%s", json_string_value(d));
	json_decref(trouble);
	json_decref(down);
	json_decref(out);
	table_free(t);
	return worst;
}

static void
fmt_number(char *buf, size_t size, json_t *v, const char *dflt)
{
	if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%g", json_real_value(v));
	else
		snprintf(buf, size, "%s", dflt);
}

/* Add the licenses of one server's answer to t. */
static void
status_rows(struct table *t, json_t *j, int with_server, int with_backup, int with_queue)
{
	json_t *lic;
	size_t i;
	const char *server = ctl_json_str(j, "server", "-");

	json_array_foreach(json_object_get(j, "licenses"), i, lic) {
		char in_use[32], max[32], fails[32], age[32], status[96], queued[32];
		const char *cells[14];
		size_t n = 0;
		json_t *m = json_object_get(lic, "max");
		json_t *a = json_object_get(lic, "last_poll_age");
		int backup = strcmp(ctl_json_str(lic, "role", ""), "backup") == 0;

		fmt_number(in_use, sizeof(in_use), json_object_get(lic, "in_use"), "-");
		if (json_is_integer(m) && json_integer_value(m) < 0)
			snprintf(max, sizeof(max), "unlimited");
		else
			fmt_number(max, sizeof(max), m, "-");
		fmt_number(fails, sizeof(fails), json_object_get(lic, "fails"), "-");
		if (json_is_number(a))
			util_fmt_duration(age, sizeof(age), json_number_value(a), 0);
		else
			snprintf(age, sizeof(age), backup ? "never" : "-");
		if (with_server)
			cells[n++] = server;
		cells[n++] = ctl_json_str(lic, "id", "-");
		cells[n++] = ctl_json_str(lic, "product", "-");
		cells[n++] = in_use;
		cells[n++] = max;
		cells[n++] = fails;
		cells[n++] = ctl_json_str(lic, "role", "-");
		/* STATUS, then what is wrong: ",expired" or ",wrong_host" (it
		 * cannot serve), ",backup_lost" (its backup went silent). */
		snprintf(status, sizeof(status), "%s%s%s%s", ctl_json_str(lic, "status", "-"),
		    json_is_false(json_object_get(lic, "servable")) ? "," : "",
		    json_is_false(json_object_get(lic, "servable")) ?
		    ctl_json_str(lic, "why", "unservable") : "",
		    strcmp(ctl_json_str(lic, "redundancy", ""), "lost") == 0 ?
		    ",backup_lost" : "");
		cells[n++] = status;
		cells[n++] = ctl_json_str(lic, "served_by", "-");
		cells[n++] = ctl_json_str(lic, "expires", "-");
		if (with_backup) {
			cells[n++] = backup ? ctl_json_str(lic, "primary",
			    ctl_json_str(lic, "pool", "-")) : "-";
			cells[n++] = age;
		}
		if (with_queue) {
			fmt_number(queued, sizeof(queued), json_object_get(lic, "queued"), "-");
			cells[n++] = queued;
		}
		table_add(t, cells);
	}
}

/* Does a license of this answer have checkouts waiting in the queue? */
static int
has_queued_rows(json_t *j)
{
	json_t *lic;
	size_t i;

	json_array_foreach(json_object_get(j, "licenses"), i, lic)
		if (json_integer_value(json_object_get(lic, "queued")) > 0)
			return 1;
	return 0;
}

static int
has_backup_rows(json_t *j)
{
	json_t *lic;
	size_t i;

	json_array_foreach(json_object_get(j, "licenses"), i, lic)
		if (strcmp(ctl_json_str(lic, "role", ""), "backup") == 0)
			return 1;
	return 0;
}

/* What the statuses, markers and DENIALS mean (status -v), from the
 * words the status page shows too. */
static void
print_legend(FILE *f)
{
	size_t i;

	fputc('\n', f);
	for (i = 0; i < legend_nstatuses; i++)
		fprintf(f, "%-13s %s.\n", legend_statuses[i].name, legend_statuses[i].meaning);
	for (i = 0; i < legend_nmarks; i++)
		fprintf(f, "%-13s %s.\n", legend_marks[i].name, legend_marks[i].meaning);
}

/* One round of status: fetch every server, print one table. */
static int
status_once(struct ctl *ctl, int json, int legend)
{
	static const char *const hdr[] = { "SERVER", "LICENSE", "PRODUCT",
	    "IN USE", "MAX", "DENIALS", "ROLE", "STATUS", "SERVED BY", "EXPIRES",
	    "PRIMARY", "LAST POLL" };
	json_t **answers, *out;
	struct table *t;
	size_t i, first, ncols;
	int rc = 0, with_server = ctl->nservers > 1, with_backup = 0, with_queue = 0;
	const char *cols[nitems(hdr) + 1];

	if ((answers = calloc(ctl->nservers, sizeof(*answers))) == NULL)
		return EXIT_OP;
	for (i = 0; i < ctl->nservers; i++) {
		struct ctl_reply r;

		if (ctl_call(ctl, &ctl->servers[i], "GET", "/v1/licenses", NULL,
		    &r) == -1 || r.status != 200 || !json_is_object(r.json) ||
		    !json_is_array(json_object_get(r.json, "licenses"))) {
			int e = ctl_fail(ctl, &ctl->servers[i], &r, "licenses");
			if (rc == 0)
				rc = e;
			if (json)
				answers[i] = json_pack("{s:s, s:s, s:s}", "url",
				    ctl->servers[i].url, "error", r.status == 0 ?
				    "unreachable" : ctl_json_str(r.json, "error",
				    "bad_answer"), "message", r.status == 0 ? r.error :
				    ctl_json_str(r.json, "message", "not the JSON expected"));
			ctl_reply_clear(&r);
			continue;
		}
		answers[i] = json_incref(r.json);
		if (has_backup_rows(r.json))
			with_backup = 1;
		if (has_queued_rows(r.json))
			with_queue = 1;
		ctl_reply_clear(&r);
	}
	/* One shape for one server or many: an array of answers, each with
	 * its "url", or {"url", "error", "message"} for a server that failed. */
	if (json) {
		out = json_array();
		for (i = 0; i < ctl->nservers; i++) {
			if (answers[i] == NULL)
				continue;
			json_object_set_new(answers[i], "url",
			    json_string(ctl->servers[i].url));
			json_array_append(out, answers[i]);
		}
		ctl_print_json(out);
		json_decref(out);
		goto out;
	}
	first = with_server ? 0 : 1;
	ncols = nitems(hdr) - first - (with_backup ? 0 : 2);
	memcpy(cols, hdr + first, ncols * sizeof(*cols));
	if (with_queue)		/* shown while checkouts wait */
		cols[ncols++] = "QUEUED";
	if ((t = table_new(ncols, cols)) == NULL) {
		rc = EXIT_OP;
		goto out;
	}
	table_right(t, 3 - first);
	table_right(t, 4 - first);
	table_right(t, 5 - first);
	table_right(t, 11 - first);
	if (with_queue)
		table_right(t, ncols - 1);
	for (i = 0; i < ctl->nservers; i++)
		if (answers[i] != NULL)
			status_rows(t, answers[i], with_server, with_backup, with_queue);
	if (table_rows(t) > 0 || rc == 0) {
		table_print(t, stdout);
		if (legend)
			print_legend(stdout);
	}
	table_free(t);
	/* A server that cannot write its state grants nothing: said after
	 * the table, and a failure (1) like a refused operation. */
	for (i = 0; i < ctl->nservers; i++) {
		json_t *st = answers[i] ? json_object_get(answers[i], "storage") : NULL;
		if (!json_is_false(json_object_get(st, "ok")))
			continue;
		char since[64];
		fmt_time(since, sizeof(since), json_number_value(json_object_get(st, "since")));
		ctl_warnx("%s: storage unavailable since %s: %s; it answers 503 to checkouts, "
		    "checkins and revokes", ctl->servers[i].url, since,
		    ctl_json_str(st, "error", "unknown error"));
		if (rc == 0)
			rc = EXIT_OP;
	}
out:
	for (i = 0; i < ctl->nservers; i++)
		json_decref(answers[i]);
	free(answers);
	return rc;
}

int
cmd_status(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	struct sigaction sa;
	double watch = 0;
	int ch, json = ctl->json, legend = 0, rc, tty;

	while ((ch = ctl_getopt(ctl, argc, argv, &json)) != -1) {
		switch (ch) {
		case 'v':
			legend = 1;
			break;
		case 'w':
			if (ctl_parse_seconds(optarg, &watch) == -1 || watch > 86400)
				return ctl_usage_error("status", "--watch %s: expected "
				    "seconds (more than 0)", optarg);
			break;
		default:
			return ctl_command_usage("status");
		}
	}
	if ((rc = ctl_operands("status", argc - optind, argv + optind)) != 0)
		return rc;
	if (watch == 0)
		return status_once(ctl, json, legend);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	tty = isatty(STDOUT_FILENO);
	while (!interrupted) {
		char now[64];
		struct timespec ts;

		fmt_time(now, sizeof(now), (double)time(NULL));
		if (tty)
			fputs("\033[H\033[2J", stdout);
		else if (!json)
			fputc('\n', stdout);
		if (!json)
			printf("Every %gs: slctl status%*s%s\n\n", watch, 4, "", now);
		rc = status_once(ctl, json, legend);
		(void)rc;
		if (fflush(stdout) != 0)
			return EXIT_OP;
		ts.tv_sec = (time_t)watch;
		ts.tv_nsec = (long)((watch - floor(watch)) * 1e9);
		while (!interrupted && nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	return 0;
}
