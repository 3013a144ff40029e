/*
 * handback.c: a pool taken back from the backup that served it. As the
 * Primary: the leases a backup hands back merged into our own (pushed by
 * the backup, POST /v1/peer/handback, or pulled at our start,
 * failover_reclaim), and the pool ours again only once they are on our
 * disk. As the backup: the answers to a Primary that pulls (POST
 * /v1/peer/release: prepare, then commit).
 */
#include <stdio.h>
#include <string.h>

#include "api_fields.h"
#include "failover.h"
#include "failover_int.h"
#include "fence.h"
#include "http.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "usage.h"
#include "util.h"

/* Take a backup's leases back: 0 once they are on our disk, and the pool
 * ours again; -1 when some are not (no memory, storage unavailable): the
 * backup must keep the pool and hand it back again later. */
static int
merge_payload(struct server *srv, json_t *payload, const char *from)
{
	int adopted, ended, lost;
	uint64_t seq = store_merge_handback(srv->store, payload, &adopted, &ended, &lost);

	if (journal_sync_to(srv->journal, seq) != 0 || lost) {
		log_warnx("handback from \"%s\" not taken: %s; it keeps the pool and hands it "
		    "back again", from, lost ? "a lease could not be journaled (out of memory)" :
		    "the journal cannot write");
		return -1;
	}
	fence_handed_back(srv->fence, from);
	size_t n = json_array_size(json_object_get(payload, "leases"));
	if (n == 0 && adopted == 0 && ended == 0)
		return 0;
	/* The same count as the backup's "handed pool back" line, then what
	 * became of them here. */
	log_info("handback from \"%s\": %zu lease%s handed back (%d new here, the others "
	    "held here already or ended), %d ended while it served", from, n, n == 1 ? "" : "s",
	    adopted, ended);
	usage_event("handback", json_pack("{s:s, s:s, s:s, s:i, s:i}", "pool", srv->cfg.name,
	    "from", from, "by", srv->cfg.name, "adopted", adopted, "ended", ended));
	return 0;
}

void
failover_reclaim(struct server *srv)
{
	struct failover *fo = fo_of(srv);
	int64_t deadline = util_mono_ms() + srv->cfg.handback_wait_ms;
	char url[700], body[256];

	for (size_t i = 0; i < fo->nbackups; i++) {
		struct backup_seen *b = &fo->backups[i];
		int64_t left = deadline - util_mono_ms();
		if (left <= 0) {
			log_warnx("handback: no time left to ask %s; it hands back when it polls",
			    b->url);
			continue;
		}
		struct http_options ho = { left < 1000 ? left : 1000, left, srv->peer_token,
		    srv->cfg.ca, NULL };
		struct http_client *c = http_client_new(&ho);
		struct http_response resp;
		if (c == NULL)
			continue;
		snprintf(url, sizeof(url), "%s/v1/peer/release", b->url);
		snprintf(body, sizeof(body), "{\"pool\":\"%s\"}", srv->cfg.name);
		if (http_request(c, "POST", url, body, &resp) == 0 && resp.status == 200) {
			json_t *payload = json_loads(resp.body, 0, NULL);
			/* Not merged: no commit, the backup keeps the pool. */
			if (payload != NULL && merge_payload(srv, payload, b->name) == 0) {
				http_response_clear(&resp);
				snprintf(body, sizeof(body), "{\"pool\":\"%s\",\"commit\":true}",
				    srv->cfg.name);
				if (http_request(c, "POST", url, body, &resp) != 0 ||
				    resp.status != 200)
					log_warnx("handback: %s did not confirm; it will hand back "
					    "when it polls", b->url);
			}
			json_decref(payload);
		} else {
			log_warnx("handback: backup \"%s\" at %s: %s", b->name, b->url,
			    resp.status ? "error answer" : resp.error);
		}
		http_response_clear(&resp);
		http_client_free(c);
	}
}

/* ---- routes ---- */

void
api_peer_handback(struct req *r, const char *arg)
{
	json_t *o;

	(void)arg;
	if ((o = req_json(r, api_handback_fields, 0)) == NULL)
		return;
	if (strcmp(js_str(o, "pool", ""), r->srv->cfg.name) != 0) {
		req_error(r, 409, "wrong_pool", "this is server \"%s\", not \"%s\"",
		    r->srv->cfg.name, js_str(o, "pool", ""));
		json_decref(o);
		return;
	}
	if (merge_payload(r->srv, o, js_str(o, "from", "?")) != 0) {
		json_decref(o);
		req_error(r, 503, "storage_unavailable", "server \"%s\" could not record the "
		    "leases handed back; hand back again later", r->srv->cfg.name);
		return;
	}
	json_decref(o);
	r->reply.status = 200;
	r->reply.body = json_pack("{s:b}", "accepted", 1);
}

void
api_peer_release(struct req *r, const char *arg)
{
	json_t *o;

	(void)arg;
	if ((o = req_json(r, api_handback_fields, 0)) == NULL)
		return;
	struct store *s = r->srv->store;
	int own;
	enum pool_status status;
	struct pool *p = store_pool_find(s, js_str(o, "pool", ""), &own, &status);
	if (p == NULL || own) {
		req_error(r, 404, "unknown_pool", "server \"%s\" does not back up \"%s\"",
		    r->srv->cfg.name, js_str(o, "pool", ""));
	} else if (json_is_true(json_object_get(o, "commit"))) {
		/* 0 unless our prepare still holds the pool */
		uint64_t seq = store_handback_commit(s, p, HANDBACK_PULL);
		journal_sync_to(r->srv->journal, seq);
		r->reply.status = 200;
		r->reply.body = json_pack("{s:b}", "committed", 1);
	} else if (status == POOL_HOT_RETRY) {
		r->reply.status = 200;
		r->reply.body = store_handback_prepare(s, p, HANDBACK_PULL);
	} else {
		r->reply.status = 200;
		r->reply.body = json_pack("{s:s, s:s, s:[], s:[]}", "pool", store_pool_name(p),
		    "from", r->srv->cfg.name, "leases", "released");
	}
	json_decref(o);
}
