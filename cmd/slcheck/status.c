/* status: is each server up, how fast, which epoch; config: the effective
 * configuration and where each value came from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "slcheck.h"

struct status_row {
	const char *role;
	slc_url_t url;
	const char *of;		/* for a backup: the server it backs up */
};

int
cmd_status(void *ctx, int argc, char **argv)
{
	struct slc *s = ctx;
	struct status_row rows[128];
	json_t *out;
	size_t nrows = 0;
	int up = 0, rc;

	if ((rc = slc_operands(argv[0], argc - 1, argv + 1)) != 0)
		return rc;
	out = json_array();
	for (size_t i = 0; i < s->conf.nservers && nrows < nitems(rows); i++) {
		slc_url_t backups[CACHE_MAX_BACKUPS + 1];
		const struct clientconf_server *cs = &s->conf.servers[i];
		size_t nb;

		rows[nrows].role = clientconf_role_name(cs->role);
		util_strlcpy(rows[nrows].url, cs->url, sizeof(rows[0].url));
		rows[nrows++].of = NULL;
		nb = slc_backups_of(s, cs->url, backups, nitems(backups));
		for (size_t b = 0; b < nb && nrows < nitems(rows); b++) {
			rows[nrows].role = "backup";
			util_strlcpy(rows[nrows].url, backups[b], sizeof(rows[0].url));
			rows[nrows++].of = cs->url;
		}
	}
	if (!s->json)
		printf("%-9s %-32s %-12s %-5s %9s  %-16s  %s\n", "ROLE", "URL", "NAME", "STATE",
		    "LATENCY", "EPOCH", "BACKUPS");
	for (size_t i = 0; i < nrows; i++) {
		struct reply r;
		json_t *row, *b;
		char backups[1024] = "";
		const char *name, *epoch;
		size_t k;

		slc_request(s, "GET", rows[i].url, "/v1/health", NULL, &r);
		row = json_pack("{s:s, s:s}", "role", rows[i].role, "url", rows[i].url);
		if (rows[i].of != NULL)
			json_object_set_new(row, "backup_of", json_string(rows[i].of));
		if (r.kind != REPLY_OK) {
			json_object_set_new(row, "up", json_false());
			json_object_set_new(row, "error", json_string(r.detail));
			if (!s->json)
				printf("%-9s %-32s %-12s %-5s %9s  %-16s  (%s)\n", rows[i].role,
				    rows[i].url, "-", "down", "-", "-", r.detail);
			json_array_append_new(out, row);
			reply_free(&r);
			continue;
		}
		up++;
		name = js_str(r.json, "name", r.server);
		epoch = js_str(r.json, "epoch", r.epoch);
		json_array_foreach(json_object_get(r.json, "backups"), k, b) {
			size_t len = strlen(backups);
			snprintf(backups + len, sizeof(backups) - len, "%s%s", len ? "," : "",
			    js_str(b, "url", "?"));
		}
		json_object_set_new(row, "up", json_true());
		json_object_set_new(row, "name", json_string(name));
		json_object_set_new(row, "epoch", json_string(epoch));
		json_object_set_new(row, "latency", json_real(r.seconds));
		json_object_set(row, "health", r.json);
		json_array_append_new(out, row);
		if (!s->json)
			printf("%-9s %-32s %-12s %-5s %7.1fms  %-16s  %s\n", rows[i].role,
			    rows[i].url, name, "up", r.seconds * 1000, epoch,
			    backups[0] ? backups : "-");
		reply_free(&r);
		if (clientconf_find(&s->conf, rows[i].url) != NULL)
			slc_learn(s, rows[i].url);
	}
	rc = up > 0 ? SLC_EXIT_OK : SLC_EXIT_UNREACHABLE;
	if (s->json && slc_print_json(out) == -1)
		rc = SLC_EXIT_FAILURE;
	json_decref(out);
	return rc;
}

/* One line of the table, or one {"key", "value", "origin"} of --json, where
 * a missing value is null (the table says "(none)") and the backup and pool
 * of a server name it as "server" (the table indents them under it). */
static void
config_line(json_t *out, int json, const char *key, const char *value, const char *origin,
    const char *server)
{
	if (json) {
		json_t *o = json_pack("{s:s, s:s?, s:s}", "key", key, "value", value,
		    "origin", origin);
		if (server != NULL)
			json_object_set_new(o, "server", json_string(server));
		json_array_append_new(out, o);
		return;
	}
	printf("%s%-*s %-40s %s\n", server ? "  " : "", server ? 14 : 16, key,
	    value ? value : "(none)", origin);
}

int
cmd_config(void *ctx, int argc, char **argv)
{
	struct slc *s = ctx;
	const struct clientconf *cc = &s->conf;
	json_t *out;
	char buf[64], file[600];
	int rc = SLC_EXIT_OK;

	if ((rc = slc_operands(argv[0], argc - 1, argv + 1)) != 0)
		return rc;
	out = json_array();
	if (!s->json)
		printf("%-16s %-40s %s\n", "KEY", "VALUE", "ORIGIN");
	snprintf(file, sizeof(file), "%s%s", cc->file, cc->file_missing && !s->json ?
	    " (missing)" : "");
	config_line(out, s->json, "file", file, cc->file_origin, NULL);
	if (s->json)
		json_object_set_new(json_array_get(out, 0), "missing",
		    json_boolean(cc->file_missing));
	for (size_t i = 0; i < cc->nservers; i++) {
		const struct clientconf_server *cs = &cc->servers[i];
		slc_url_t backups[CACHE_MAX_BACKUPS + 1];
		char pool[SL_ID_MAX + 1];
		const char *pool_origin = NULL;
		size_t nb = slc_backups_of(s, cs->url, backups, nitems(backups));

		config_line(out, s->json, clientconf_role_name(cs->role), cs->url, cs->origin,
		    NULL);
		for (size_t b = 0; b < nb; b++)
			config_line(out, s->json, "backup", backups[b],
			    strcmp(backups[b], cs->backup) == 0 ? cs->backup_origin : "learned",
			    cs->url);
		if (slc_pool_of(s, cs->url, pool, &pool_origin) == 0)
			config_line(out, s->json, "pool", pool, pool_origin, cs->url);
	}
	snprintf(buf, sizeof(buf), "%g", cc->connect_timeout);
	config_line(out, s->json, "connect_timeout", buf, cc->connect_timeout_origin, NULL);
	snprintf(buf, sizeof(buf), "%g", cc->timeout);
	config_line(out, s->json, "timeout", buf, cc->timeout_origin, NULL);
	snprintf(buf, sizeof(buf), "%ld", cc->dead_ttl);
	config_line(out, s->json, "dead_ttl", buf, cc->dead_ttl_origin, NULL);
	config_line(out, s->json, "token", cc->token ? (s->json ? "set" : "(set)") : NULL,
	    cc->token_origin, NULL);
	config_line(out, s->json, "cacert", cc->cacert[0] ? cc->cacert : NULL,
	    cc->cacert_origin, NULL);
	config_line(out, s->json, "cache", s->cache.dir[0] ? s->cache.dir : NULL,
	    s->cache.dir_origin ? s->cache.dir_origin : "-", NULL);
	if (s->json && slc_print_json(out) == -1)
		rc = SLC_EXIT_FAILURE;
	json_decref(out);
	return rc;
}
