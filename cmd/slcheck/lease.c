/* checkout, heartbeat and checkin: one seat, named by its token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "slcheck.h"

static int
lease_request(struct slc *s, const char *method, const char *url, const struct token *t,
    const char *what, struct reply *r, char *redirect)
{
	char path[2 * SL_ID_MAX + 64];

	/* The pool tells a backup that has not mirrored the seat yet that it
	 * is its Primary's: it answers 503 not_serving, not 404. */
	snprintf(path, sizeof(path), "/v1/leases/%s%s%s%s%s", t->lease, what ? "/" : "",
	    what ? what : "", t->pool[0] ? "?pool=" : "", t->pool);
	slc_request(s, method, url, path, NULL, r);
	slc_debug(s, "%s %s%s: %s", method, url, path,
	    r->kind == REPLY_UNREACHABLE ? r->detail : r->kind == REPLY_OK ? "ok" : r->detail);
	if (r->kind == REPLY_ERROR && r->status == 503 && strcmp(r->code, "not_serving") == 0 &&
	    clientconf_normalize_url(js_str(r->json, "primary", ""), redirect) == 0 &&
	    strcmp(redirect, url) != 0)
		return 1;
	return 0;
}

/*
 * Send a lease call (what: "heartbeat", or NULL to check in) to the server
 * that granted the lease; if it does not answer, to its backups, then to
 * the server owning the lease's pool and its backups. A backup answering
 * 503 not_serving sends the call to the Primary it names. The token's URL
 * becomes the server that answered. Returns 0 on a 2xx answer, else -1
 * with r describing the last answer (or that none came).
 */
int
lease_call(struct slc *s, const char *method, struct token *t, const char *what,
    struct reply *r)
{
	slc_url_t cand[2 * (CACHE_MAX_BACKUPS + 2)], owner;
	char redirect[CLIENTCONF_URL_MAX];
	size_t n = 0;

	util_strlcpy(cand[n++], t->url, sizeof(cand[0]));
	n += slc_backups_of(s, t->url, cand + n, CACHE_MAX_BACKUPS + 1);
	if (slc_url_of_pool(s, t->pool, owner) == 0 && strcmp(owner, t->url) != 0) {
		util_strlcpy(cand[n++], owner, sizeof(cand[0]));
		n += slc_backups_of(s, owner, cand + n, CACHE_MAX_BACKUPS + 1);
	}
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t k = 0; k < i; k++)
			dup |= strcmp(cand[k], cand[i]) == 0;
		if (dup)
			continue;
		if (i > 0)
			reply_free(r);
		char url[CLIENTCONF_URL_MAX];
		util_strlcpy(url, cand[i], sizeof(url));
		if (lease_request(s, method, url, t, what, r, redirect) == 1) {
			reply_free(r);
			util_strlcpy(url, redirect, sizeof(url));
			lease_request(s, method, url, t, what, r, redirect);
		}
		if (r->kind == REPLY_UNREACHABLE ||
		    (r->kind == REPLY_ERROR && r->status == 503))
			continue;
		if (strcmp(t->url, url) != 0) {
			slc_debug(s, "lease %s: now with %s", t->lease, url);
			util_strlcpy(t->url, url, sizeof(t->url));
		}
		return r->kind == REPLY_OK ? 0 : -1;
	}
	return -1;
}

int
lease_exit_code(const struct reply *r)
{
	switch (r->kind) {
	case REPLY_OK:
		return SLC_EXIT_OK;
	case REPLY_UNREACHABLE:
		return SLC_EXIT_UNREACHABLE;
	case REPLY_ERROR:
		if (r->status == 404 || r->status == 410)
			return SLC_EXIT_LOST;
		if (r->status == 503)
			return SLC_EXIT_UNREACHABLE;
		if (r->status == 403)
			return SLC_EXIT_REFUSED;
		return SLC_EXIT_SERVER_ERROR;
	default:
		return SLC_EXIT_SERVER_ERROR;
	}
}

int
cmd_checkout(void *ctx, int argc, char **argv)
{
	struct slc *s = ctx;
	const struct slc_opts *o = &s->opts;
	struct checkout_request req;
	struct seat seat;
	char token[512];
	double wait = 0;
	long borrow = 0;
	int rc;

	for (int i = 0; i < o->n; i++) {
		if (o->v[i].ch == OPT_WAIT && (wait = slc_parse_seconds(o->v[i].arg)) < 0)
			return slc_usage_error(argv[0], "--wait: \"%s\" is not a number of seconds",
			    o->v[i].arg);
		if (o->v[i].ch == OPT_BORROW && (borrow = util_parse_duration(o->v[i].arg)) < 1)
			return slc_usage_error(argv[0], "--borrow: \"%s\" is not a duration "
			    "(90s, 30m, 12h, 7d)", o->v[i].arg);
	}
	if ((rc = slc_operands(argv[0], argc - 1, argv + 1)) != 0)
		return rc;
	if (!util_valid_id(argv[1]))
		return slc_usage_error(argv[0], "checkout: \"%s\" is not a product name",
		    argv[1]);
	checkout_request_init(&req, argv[1], "slcheck");
	req.borrow = borrow;
	if ((rc = select_checkout_wait(s, &req, wait, &seat)) != SLC_EXIT_OK)
		return rc;
	token_format(&seat.token, token, sizeof(token));
	if (s->json) {
		json_t *out = json_deep_copy(seat.json);
		json_object_set_new(out, "server_url", json_string(seat.token.url));
		json_object_set_new(out, "token", json_string(token));
		json_object_set_new(out, "via", json_string(seat.via));
		rc = slc_print_json(out) == 0 ? SLC_EXIT_OK : SLC_EXIT_FAILURE;
		json_decref(out);
	} else {
		printf("%s\n", token);
	}
	seat_free(&seat);
	return rc;
}

static int
lease_command(struct slc *s, int argc, char **argv, const char *method, const char *what)
{
	struct token t;
	struct reply r;
	char token[512];
	int rc;

	if ((rc = slc_operands(argv[0], argc - 1, argv + 1)) != 0)
		return rc;
	if (token_parse(argv[1], &t) == -1)
		return slc_usage_error(argv[0], "%s: \"%.200s\" is not a token "
		    "(LEASE:POOL@URL)", argv[0], argv[1]);
	lease_call(s, method, &t, what, &r);
	rc = lease_exit_code(&r);
	if (rc != SLC_EXIT_OK) {
		slc_warnx("%s %s: %s: %s", argv[0], t.lease, t.url,
		    r.kind == REPLY_UNREACHABLE ? "no server answered" : r.detail);
	} else if (s->json) {
		token_format(&t, token, sizeof(token));
		json_object_set_new(r.json, "server_url", json_string(t.url));
		json_object_set_new(r.json, "token", json_string(token));
		if (slc_print_json(r.json) == -1)
			rc = SLC_EXIT_FAILURE;
	}
	reply_free(&r);
	return rc;
}

int
cmd_heartbeat(void *ctx, int argc, char **argv)
{
	return lease_command(ctx, argc, argv, "POST", "heartbeat");
}

int
cmd_checkin(void *ctx, int argc, char **argv)
{
	return lease_command(ctx, argc, argv, "DELETE", NULL);
}
