/* slctl leases, revoke, remove and reload: operations on a server's seats. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slctl.h"
#include "util.h"

#define LEASE_SHORT	8	/* characters of a lease id shown by default */
#define LEASE_PREFIX_MIN 6	/* shortest prefix the server resolves */

static int
check_lease_arg(const char *cmd, const char *lease)
{
	if (!util_valid_id(lease))
		return ctl_usage_error(cmd, "invalid lease id \"%s\"", lease);
	if (strlen(lease) < LEASE_PREFIX_MIN)
		return ctl_usage_error(cmd, "lease id \"%s\" too short: give at "
		    "least %d characters", lease, LEASE_PREFIX_MIN);
	return 0;
}

static void
leases_rows(struct table *t, json_t *j, const char *server, int long_ids)
{
	json_t *l;
	size_t i;

	json_array_foreach(json_object_get(j, "leases"), i, l) {
		char id[SL_ID_MAX + 1], pid[32], since[64], left[96], until[64];
		const char *cells[11];
		size_t n = 0;
		json_t *v;

		util_strlcpy(id, ctl_json_str(l, "lease", "-"),
		    long_ids ? sizeof(id) : LEASE_SHORT + 1);
		v = json_object_get(l, "pid");
		if (json_is_integer(v))
			snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(v));
		else
			snprintf(pid, sizeof(pid), "-");
		v = json_object_get(l, "since");
		if (json_is_number(v))
			fmt_time(since, sizeof(since), json_number_value(v));
		else
			snprintf(since, sizeof(since), "-");
		v = json_object_get(l, "expires_in");
		if (json_is_number(json_object_get(l, "borrowed_until"))) {
			/* a borrow ends at its time: say when */
			fmt_time(until, sizeof(until),
			    json_number_value(json_object_get(l, "borrowed_until")));
			snprintf(left, sizeof(left), "borrowed until %s", until);
		} else if (json_is_number(v)) {
			util_fmt_duration(left, sizeof(left), json_number_value(v), 0);
		} else {
			snprintf(left, sizeof(left), "never");
		}
		if (server != NULL)
			cells[n++] = server;
		cells[n++] = id;
		cells[n++] = ctl_json_str(l, "license", "-");
		cells[n++] = ctl_json_str(l, "pool", "-");
		cells[n++] = ctl_json_str(l, "client", "-");
		cells[n++] = ctl_json_str(l, "user", "-");
		cells[n++] = ctl_json_str(l, "host", "-");
		cells[n++] = pid;
		cells[n++] = since;
		cells[n++] = left;
		table_add(t, cells);
	}
}

/* Does any server have a license of product (as Primary or as backup)?
 * No leases of a product nobody licenses is an error, not an empty list.
 * A server that cannot say sets *rc. */
static int
product_known(struct ctl *ctl, const char *product, int *rc)
{
	json_t *lic;
	size_t i, k;

	for (i = 0; i < ctl->nservers; i++) {
		struct ctl_reply r;

		if (ctl_call(ctl, &ctl->servers[i], "GET", "/v1/licenses", NULL,
		    &r) == -1 || r.status != 200 || !json_is_object(r.json)) {
			*rc = ctl_fail(ctl, &ctl->servers[i], &r, "licenses");
			ctl_reply_clear(&r);
			return 1;
		}
		json_array_foreach(json_object_get(r.json, "licenses"), k, lic)
			if (strcmp(ctl_json_str(lic, "product", ""), product) == 0) {
				ctl_reply_clear(&r);
				return 1;
			}
		ctl_reply_clear(&r);
	}
	return 0;
}

int
cmd_leases(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	static const char *const hdr[] = { "SERVER", "LEASE", "LICENSE", "POOL",
	    "CLIENT", "USER", "HOST", "PID", "SINCE", "EXPIRES IN" };
	const char *product = NULL;
	char *path = NULL, *esc;
	struct table *t = NULL;
	json_t *out = NULL;
	size_t i, found = 0;
	int ch, json = ctl->json, long_ids = 0, rc = 0;
	int many = ctl->nservers > 1;

	while ((ch = ctl_getopt(ctl, argc, argv, &json)) != -1) {
		switch (ch) {
		case 'l':
			long_ids = 1;
			break;
		default:
			return ctl_command_usage("leases");
		}
	}
	if ((rc = ctl_operands("leases", argc - optind, argv + optind)) != 0)
		return rc;
	if (argc - optind == 1) {
		product = argv[optind];
		if (!util_valid_id(product))
			return ctl_usage_error("leases", "invalid product name \"%s\"",
			    product);
	}
	if (product != NULL) {
		if ((esc = ctl_url_escape(product)) == NULL ||
		    asprintf(&path, "/v1/leases?product=%s", esc) == -1) {
			free(esc);
			return EXIT_OP;
		}
		free(esc);
	} else if ((path = strdup("/v1/leases")) == NULL)
		return EXIT_OP;
	if (json)
		out = json_array();
	else {
		t = table_new(nitems(hdr) - (many ? 0 : 1), hdr + (many ? 0 : 1));
		if (t == NULL) {
			free(path);
			return EXIT_OP;
		}
		table_right(t, many ? 7 : 6);
		table_right(t, many ? 9 : 8);
	}
	for (i = 0; i < ctl->nservers; i++) {
		struct ctl_server *srv = &ctl->servers[i];
		struct ctl_reply r;

		if (ctl_call(ctl, srv, "GET", path, NULL, &r) == -1 ||
		    r.status != 200 || !json_is_object(r.json) ||
		    !json_is_array(json_object_get(r.json, "leases"))) {
			int e = ctl_fail(ctl, srv, &r, "leases");
			if (rc == 0)
				rc = e;
			if (json)
				json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "url",
				    srv->url, "error", r.status == 0 ? "unreachable" :
				    ctl_json_str(r.json, "error", "bad_answer"), "message",
				    r.status == 0 ? r.error : ctl_json_str(r.json, "message",
				    "not the JSON expected")));
			ctl_reply_clear(&r);
			continue;
		}
		found += json_array_size(json_object_get(r.json, "leases"));
		/* One shape for one server or many, as status --json. */
		if (json) {
			json_object_set_new(r.json, "url", json_string(srv->url));
			json_array_append(out, r.json);
		} else
			leases_rows(t, r.json, many ? srv->url : NULL, long_ids);
		ctl_reply_clear(&r);
	}
	if (product != NULL && rc == 0 && found == 0 && !product_known(ctl, product, &rc)) {
		ctl_set_error_code("unknown_product");
		ctl_warnx("%s: unknown product: no server has a license for it",
		    product);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (json)
		ctl_print_json(out);
	else if (t != NULL && (rc == 0 || table_rows(t) > 0))
		table_print(t, stdout);
out:
	json_decref(out);
	table_free(t);
	free(path);
	return rc;
}

int
cmd_revoke(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	const char *lease, *reason = NULL;
	long duration = -1;
	char path[128];
	json_t *body;
	size_t i;
	int ch, json = ctl->json, rc;

	while ((ch = ctl_getopt(ctl, argc, argv, &json)) != -1) {
		switch (ch) {
		case 'f':
			if ((duration = util_parse_duration(optarg)) < 0)
				return ctl_usage_error("revoke", "--for %s: expected "
				    "a duration such as 90, 90s, 15m, 2h or 7d", optarg);
			break;
		case 'r':
			reason = optarg;
			if (strlen(reason) > 255)
				return ctl_usage_error("revoke", "--reason: at most "
				    "255 bytes");
			break;
		default:
			return ctl_command_usage("revoke");
		}
	}
	if ((rc = ctl_operands("revoke", argc - optind, argv + optind)) != 0)
		return rc;
	lease = argv[optind];
	if ((rc = check_lease_arg("revoke", lease)) != 0)
		return rc;
	snprintf(path, sizeof(path), "/v1/leases/%s/revoke", lease);
	body = json_object();
	if (duration >= 0)
		json_object_set_new(body, "for", json_integer(duration));
	if (reason != NULL)
		json_object_set_new(body, "reason", json_string(reason));

	/* A lease lives on one server: ask each until one knows it. */
	rc = -1;
	for (i = 0; i < ctl->nservers && rc == -1; i++) {
		struct ctl_server *srv = &ctl->servers[i];
		struct ctl_reply r;
		json_t *until;
		char when[64];

		if (ctl_call(ctl, srv, "POST", path, body, &r) == -1 ||
		    r.status != 200 || !json_is_object(r.json)) {
			if (r.status == 404 && ctl->nservers > 1) {
				ctl_reply_clear(&r);
				continue;
			}
			rc = ctl_fail(ctl, srv, &r, "revoke");
			ctl_reply_clear(&r);
			break;
		}
		rc = 0;
		if (json) {
			json_object_set_new(r.json, "url", json_string(srv->url));
			ctl_print_json(r.json);
		} else {
			until = json_object_get(r.json, "until");
			printf("revoked lease %s on %s", ctl_json_str(r.json, "lease",
			    lease), srv->url);
			if (json_is_number(until) && json_number_value(until) > 0) {
				fmt_time(when, sizeof(when), json_number_value(until));
				printf("; its client, user and host are refused until %s",
				    when);
			}
			putchar('\n');
		}
		ctl_reply_clear(&r);
	}
	if (rc == -1) {
		ctl_warnx("revoke: no lease \"%s\" on any of the %zu servers", lease,
		    ctl->nservers);
		rc = EXIT_OP;
	}
	json_decref(body);
	return rc;
}

/* Find the one lease whose id starts with prefix on any server. */
static int
resolve_lease(struct ctl *ctl, const char *prefix, char *id, size_t idlen,
    size_t *server)
{
	size_t i, k, found = 0;
	json_t *l;
	int rc = 0;

	for (i = 0; i < ctl->nservers; i++) {
		struct ctl_reply r;

		if (ctl_call(ctl, &ctl->servers[i], "GET", "/v1/leases", NULL, &r) == -1 ||
		    r.status != 200 || !json_is_object(r.json)) {
			rc = ctl_fail(ctl, &ctl->servers[i], &r, "leases");
			ctl_reply_clear(&r);
			return rc;
		}
		json_array_foreach(json_object_get(r.json, "leases"), k, l) {
			const char *lid = ctl_json_str(l, "lease", "");
			if (strncmp(lid, prefix, strlen(prefix)) != 0)
				continue;
			if (found++ == 0) {
				util_strlcpy(id, lid, idlen);
				*server = i;
			}
		}
		ctl_reply_clear(&r);
	}
	if (found == 0) {
		ctl_warnx("remove: no lease \"%s\"", prefix);
		return EXIT_OP;
	}
	if (found > 1) {
		ctl_warnx("remove: lease id \"%s\" is ambiguous (%zu leases); give "
		    "more characters", prefix, found);
		return EXIT_OP;
	}
	return 0;
}

int
cmd_remove(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	char id[SL_ID_MAX + 1], path[128];
	struct ctl_reply r;
	size_t server = 0;
	int json = ctl->json, rc;

	if ((rc = ctl_json_options(ctl, argc, argv, &json)) != 0)
		return rc;
	if ((rc = check_lease_arg("remove", argv[optind])) != 0)
		return rc;
	if ((rc = resolve_lease(ctl, argv[optind], id, sizeof(id), &server)) != 0)
		return rc;
	snprintf(path, sizeof(path), "/v1/leases/%s", id);
	if (ctl_call(ctl, &ctl->servers[server], "DELETE", path, NULL, &r) == -1 ||
	    r.status != 200) {
		rc = ctl_fail(ctl, &ctl->servers[server], &r, "remove");
		ctl_reply_clear(&r);
		return rc;
	}
	if (json && r.json != NULL)
		ctl_print_json(r.json);
	else
		printf("removed lease %s on %s\n", id, ctl->servers[server].url);
	ctl_reply_clear(&r);
	return 0;
}

/* Print what a reload changed, one line per change, prefixed by the server
 * when there are several. */
static void
reload_print(const char *server, json_t *j)
{
	const char *sep = server[0] ? ": " : "";

	json_t *v;
	size_t i, n = 0;

	json_array_foreach(json_object_get(j, "added"), i, v) {
		printf("%s%sadded %s\n", server, sep, json_is_string(v) ?
		    json_string_value(v) : "?");
		n++;
	}
	json_array_foreach(json_object_get(j, "removed"), i, v) {
		printf("%s%sremoved %s\n", server, sep, json_is_string(v) ?
		    json_string_value(v) : "?");
		n++;
	}
	json_array_foreach(json_object_get(j, "changed"), i, v) {
		char oc[32], nc[32];
		json_t *o = json_object_get(v, "old_count");
		json_t *c = json_object_get(v, "new_count");

		if (json_is_integer(o) && json_integer_value(o) >= 0)
			snprintf(oc, sizeof(oc), "%lld", (long long)json_integer_value(o));
		else
			snprintf(oc, sizeof(oc), "unlimited");
		if (json_is_integer(c) && json_integer_value(c) >= 0)
			snprintf(nc, sizeof(nc), "%lld", (long long)json_integer_value(c));
		else
			snprintf(nc, sizeof(nc), "unlimited");
		if (json_is_integer(o) && json_is_integer(c) &&
		    json_integer_value(o) == json_integer_value(c))
			printf("%s%schanged %s\n", server, sep, ctl_json_str(v, "id", "?"));
		else
			printf("%s%schanged %s count %s -> %s\n", server, sep,
			    ctl_json_str(v, "id", "?"), oc, nc);
		n++;
	}
	if (n == 0)
		printf("%s%sno changes\n", server, sep);
}

int
cmd_reload(void *ctx, int argc, char **argv)
{
	struct ctl *ctl = ctx;
	json_t *out = NULL;
	size_t i;
	int json = ctl->json, rc = 0;

	if ((rc = ctl_json_options(ctl, argc, argv, &json)) != 0)
		return rc;
	if (json && ctl->nservers > 1)
		out = json_array();
	for (i = 0; i < ctl->nservers; i++) {
		struct ctl_server *srv = &ctl->servers[i];
		struct ctl_reply r;

		if (ctl_call(ctl, srv, "POST", "/v1/admin/reload", NULL, &r) == -1 ||
		    r.status != 200 || !json_is_object(r.json)) {
			int e;
			if (r.status == 422)
				ctl_warnx("%s: reload refused, nothing changed: %s",
				    srv->url, ctl_json_str(r.json, "message",
				    "bad licenses file"));
			e = r.status == 422 ? EXIT_OP : ctl_fail(ctl, srv, &r, "reload");
			if (rc == 0)
				rc = e;
			ctl_reply_clear(&r);
			continue;
		}
		if (out != NULL) {
			json_object_set_new(r.json, "url", json_string(srv->url));
			json_array_append(out, r.json);
		} else if (json)
			ctl_print_json(r.json);
		else
			reload_print(ctl->nservers > 1 ? srv->url : "", r.json);
		ctl_reply_clear(&r);
	}
	if (out != NULL)
		ctl_print_json(out);
	json_decref(out);
	return rc;
}
