/*
 * api.c: the route table of slserve's HTTP API (method, path, who may
 * call it, handler, metrics route) and the handlers of the lease and admin
 * routes that are not failover's; httpd.c dispatches through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_fields.h"
#include "failover.h"
#include "fence.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "server.h"
#include "usage.h"
#include "util.h"
#include "witness.h"

static void api_health(struct req *r, const char *arg);
static void api_licenses(struct req *r, const char *arg);
static void api_checkout(struct req *r, const char *arg);
static void api_heartbeat(struct req *r, const char *arg);
static void api_checkin(struct req *r, const char *arg);
static void api_leases(struct req *r, const char *arg);
static void api_revoke(struct req *r, const char *arg);
static void api_reload(struct req *r, const char *arg);
static void api_usage(struct req *r, const char *arg);

const struct route api_routes[] = {
	{ "GET", "/v1/health", AUTH_NONE, api_health, ROUTE_HEALTH },
	{ "GET", "/v1/licenses", AUTH_NONE, api_licenses, ROUTE_LICENSES },
	{ "POST", "/v1/checkout", AUTH_NONE, api_checkout, ROUTE_CHECKOUT },
	{ "POST", "/v1/leases/*/heartbeat", AUTH_NONE, api_heartbeat, ROUTE_HEARTBEAT },
	{ "DELETE", "/v1/leases/*", AUTH_NONE, api_checkin, ROUTE_CHECKIN },
	{ "GET", "/v1/leases", AUTH_LEASES, api_leases, ROUTE_LEASES },
	{ "POST", "/v1/leases/*/revoke", AUTH_ADMIN, api_revoke, ROUTE_REVOKE },
	{ "POST", "/v1/admin/reload", AUTH_ADMIN, api_reload, ROUTE_RELOAD },
	{ "GET", "/v1/admin/usage", AUTH_ADMIN, api_usage, ROUTE_USAGE },
	{ "GET", "/v1/admin/failover", AUTH_ADMIN, api_failover_get, ROUTE_FAILOVER },
	{ "PUT", "/v1/admin/failover", AUTH_ADMIN, api_failover_put, ROUTE_FAILOVER },
	{ "DELETE", "/v1/admin/failover/*", AUTH_ADMIN, api_failover_delete, ROUTE_FAILOVER },
	{ "GET", "/v1/peer/sync", AUTH_PEER, api_peer_sync, ROUTE_PEER_SYNC },
	{ "POST", "/v1/peer/handback", AUTH_PEER, api_peer_handback, ROUTE_PEER_HANDBACK },
	{ "POST", "/v1/peer/release", AUTH_PEER, api_peer_release, ROUTE_PEER_RELEASE },
	{ "POST", "/v1/peer/fence", AUTH_PEER, api_peer_fence, ROUTE_PEER_FENCE },
	{ "GET", "/v1/peer/probe", AUTH_PEER, api_peer_probe, ROUTE_PEER_PROBE },
	{ "GET", "/metrics", AUTH_STATUS, api_metrics, ROUTE_METRICS },
	/* libmicrohttpd drops the body */
	{ "HEAD", "/metrics", AUTH_STATUS, api_metrics, ROUTE_METRICS },
	{ "GET", "/", AUTH_STATUS, api_status_page, ROUTE_STATUS_PAGE },
	{ NULL, NULL, 0, NULL, ROUTE_OTHER }
};

static int
arg_is_id(struct req *r, const char *arg)
{
	if (util_valid_id(arg))
		return 1;
	req_error(r, 400, "bad_request", "lease id must be 1-64 characters A-Z a-z 0-9 . _ -");
	return 0;
}

/* {"ok": bool, "error": "...", "since": unix time} for health and licenses. */
static json_t *
storage_json(struct server *srv, int *ok)
{
	struct journal_storage st;

	*ok = journal_storage(srv->journal, &st);
	json_t *o = json_pack("{s:b, s:I}", "ok", st.ok, "since", (json_int_t)st.since);
	if (!st.ok)
		json_object_set_new(o, "error", json_string(st.error));
	return o;
}

/* Grants, checkins and revokes are refused before they change anything
 * while storage is unhealthy: nothing is acknowledged that is not on disk. */
static int
storage_refuses(struct req *r)
{
	if (journal_storage(r->srv->journal, NULL))
		return 0;
	req_storage_unavailable(r);
	return 1;
}

static void
api_health(struct req *r, const char *arg)
{
	struct server *srv = r->srv;
	int ok;
	json_t *storage = storage_json(srv, &ok);

	(void)arg;
	/* 503 while the journal cannot write: a load balancer or monitor
	 * that asks only the status sees this server cannot serve. */
	r->reply.status = ok ? 200 : 503;
	r->reply.body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o}",
	    "status", ok ? "ok" : "storage_unavailable", "name", srv->cfg.name,
	    "epoch", srv->epoch, "version", SL_VERSION, "url", srv->cfg.url,
	    "uptime", (json_int_t)((util_mono_ms() - srv->started_mono_ms) / 1000),
	    "seq", (json_int_t)journal_last_seq(srv->journal), "storage", storage);
	failover_health(srv, r->reply.body);
}

static void
api_licenses(struct req *r, const char *arg)
{
	struct server *srv = r->srv;

	(void)arg;
	r->reply.status = 200;
	int ok;
	json_t *lics = store_licenses_json(srv->store), *v;
	queue_annotate(lics);
	const char *redundancy = failover_redundancy(srv);
	size_t i;
	json_array_foreach(lics, i, v)
		if (strcmp(js_str(v, "role", ""), "primary") == 0)
			json_object_set_new(v, "redundancy", json_string(redundancy));
	r->reply.body = json_pack("{s:s, s:s, s:o, s:o}", "server", srv->cfg.name,
	    "epoch", srv->epoch, "licenses", lics, "storage", storage_json(srv, &ok));
	/* Who backs this server up and whom it backs up, as in /v1/health:
	 * slcheck check names a lost or refused backup from one request. */
	failover_health(srv, r->reply.body);
}

/* A client-chosen lease id must be as hard to guess as the server's own
 * (128 bits): at least 32 hexadecimal digits, as a UUID or "job-" and 32
 * random hex digits have. */
#define LEASE_ID_MIN_HEX 32

static int
lease_id_strong(const char *id)
{
	int hex = 0;

	for (; *id != '\0'; id++)
		if ((*id >= '0' && *id <= '9') || (*id >= 'a' && *id <= 'f') ||
		    (*id >= 'A' && *id <= 'F'))
			hex++;
	return hex >= LEASE_ID_MIN_HEX;
}

static void
api_checkout(struct req *r, const char *arg)
{
	struct checkout_req cr;
	json_t *o;

	(void)arg;
	memset(&cr, 0, sizeof(cr));
	if ((o = req_json(r, api_checkout_fields, 0)) == NULL || storage_refuses(r)) {
		json_decref(o);
		return;
	}
	cr.product = js_str(o, "product", "");
	cr.pool = js_str(o, "pool", NULL);
	cr.lease = js_str(o, "lease", NULL);
	if (cr.lease != NULL && !lease_id_strong(cr.lease)) {
		req_error(r, 400, "bad_request", "field \"lease\": a client-chosen lease id "
		    "needs at least %d hexadecimal digits (128 random bits), such as a UUID",
		    LEASE_ID_MIN_HEX);
		json_decref(o);
		return;
	}
	cr.client = js_str(o, "client", "");
	cr.user = js_str(o, "user", "");
	cr.host = js_str(o, "host", "");
	cr.pid = (long)js_int(o, "pid", 0);
	cr.borrow = (long)js_int(o, "borrow", 0);
	if (json_object_get(o, "borrow") != NULL && (cr.borrow < 1 || cr.borrow > 366L * 86400)) {
		req_error(r, 400, "bad_request", "field \"borrow\": seconds, 1 to 31622400");
		json_decref(o);
		return;
	}
	cr.addr = req_addr(r);
	/* Seconds to wait in the queue for a seat, at most queue_max_wait. */
	int64_t wait = js_int(o, "wait", 0);
	if (wait > r->srv->cfg.queue_max_wait)
		wait = r->srv->cfg.queue_max_wait;
	char why[512];
	if ((cr.pool == NULL || strcmp(cr.pool, r->srv->cfg.name) == 0) &&
	    !fence_may_grant(r->srv->fence, why, sizeof(why)))
		req_error(r, 503, "not_serving", "%s", why);
	else
		queue_checkout(r, &cr, wait * 1000);
	json_decref(o);
}

/* ?pool=NAME on a lease call: the pool the holder was granted the seat of. */
static int
pool_query_ok(struct req *r)
{
	const char *pool = req_query(r, "pool");

	if (pool == NULL || util_valid_id(pool))
		return 1;
	req_error(r, 400, "bad_request", "pool: not a server name");
	return 0;
}

/* A seat of our own pool, or one we do not know (the backup may have
 * granted it), while a backup may serve the pool (fence.c): it is the
 * backup's to renew or end until it hands the pool back; a checkin here
 * would come back with the handback, a 404 would make its holder drop it.
 * 503 sends the holder to the backup. */
static int
own_lease_fenced(struct req *r, const char *id)
{
	char why[512];

	if (fence_may_grant(r->srv->fence, why, sizeof(why)) ||
	    store_lease_pool_own(r->srv->store, id) == 0)
		return 0;
	req_error(r, 503, "not_serving", "%s", why);
	return 1;
}

static void
api_heartbeat(struct req *r, const char *arg)
{
	if (arg_is_id(r, arg) && pool_query_ok(r) && !own_lease_fenced(r, arg))
		store_heartbeat(r->srv->store, arg, req_query(r, "pool"), &r->reply);
}

static void
api_checkin(struct req *r, const char *arg)
{
	if (arg_is_id(r, arg) && pool_query_ok(r) && !storage_refuses(r) &&
	    !own_lease_fenced(r, arg)) {
		store_checkin(r->srv->store, arg, req_query(r, "pool"), &r->reply);
		/* the seat is free: the first waiter allowed gets it now */
		if (r->reply.status == 200)
			queue_serve(r->srv);
	}
}

static void
api_leases(struct req *r, const char *arg)
{
	const char *product = req_query(r, "product");

	(void)arg;
	if (product != NULL && !util_valid_id(product)) {
		req_error(r, 400, "bad_request", "product must be 1-64 characters A-Z a-z 0-9 . _ -");
		return;
	}
	store_list_leases(r->srv->store, product, !r->admin, &r->reply);
}

static void
api_revoke(struct req *r, const char *arg)
{
	json_t *o;

	if (!arg_is_id(r, arg) || storage_refuses(r) ||
	    (o = req_json(r, api_revoke_fields, 1)) == NULL)
		return;
	long long secs = js_int(o, "for", 0);
	if (secs > 366LL * 86400) {
		req_error(r, 400, "bad_request", "field \"for\": at most one year (31622400 s)");
	} else {
		const char *by = js_str(o, "by", NULL);
		if (by == NULL)
			by = req_header(r, "User-Agent");
		store_revoke(r->srv->store, arg, (long)secs, js_str(o, "reason", ""),
		    by ? by : "admin", &r->reply);
	}
	json_decref(o);
}

static void
api_reload(struct req *r, const char *arg)
{
	char err[4096];
	json_t *changes = NULL;

	(void)arg;
	if (server_reload(r->srv, &changes, err, sizeof(err)) != 0) {
		req_error(r, 422, "bad_config", "%s", err);
		return;
	}
	r->reply.status = 200;
	r->reply.body = changes;
}

/* The usage log between since and until (unix seconds), as NDJSON. */
static void
api_usage(struct req *r, const char *arg)
{
	const char *qs = req_query(r, "since"), *qu = req_query(r, "until");
	double since = qs ? atof(qs) : 0, until = qu ? atof(qu) : 1e18;
	char *path, *text, *out = NULL;
	size_t len, olen = 0;

	(void)arg;
	usage_flush();
	path = util_path_join(r->srv->cfg.state_dir, "usage.log");
	text = path ? util_read_file(path, &len) : NULL;
	free(path);
	if (text == NULL) {
		r->raw = strdup("");
		r->rawlen = 0;
		r->content_type = "application/x-ndjson";
		return;
	}
	if ((out = malloc(len + 1)) == NULL) {
		free(text);
		req_error(r, 503, "out_of_memory", "server out of memory");
		return;
	}
	for (char *line = text, *nl; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		const char *ts = strstr(line, "\"ts\":");
		double t = ts && ts < nl ? atof(ts + 5) : 0;
		if (t < since || t > until)
			continue;
		size_t n = (size_t)(nl - line) + 1;
		memcpy(out + olen, line, n);
		olen += n;
	}
	out[olen] = '\0';
	free(text);
	r->raw = out;
	r->rawlen = olen;
	r->content_type = "application/x-ndjson";
}
