/* The running server: configuration, state and the HTTP daemon. */
#ifndef SLSERVE_SERVER_H
#define SLSERVE_SERVER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "config.h"
#include "license.h"
#include "store.h"

struct MHD_Daemon;
struct MHD_Connection;
struct failover;
struct fence;

struct req;

struct server {
	struct server_config cfg;
	struct store *store;
	struct journal *journal;
	struct failover *failover;
	struct fence *fence;		/* our grants' authority (fence.c) */
	struct MHD_Daemon *daemon;
	char epoch[17];
	time_t started;
	int64_t started_mono_ms;
	unsigned char admin_hash[crypto_generichash_BYTES];
	unsigned char peer_hash[crypto_generichash_BYTES];
	char *peer_token;		/* sent to the Primaries we back up */
	struct license_key *keys;	/* trusted issuer keys */
	size_t nkeys;
	pthread_mutex_t reload_lock;	/* lock order: locks.h */
	atomic_int draining;		/* set by main at SIGTERM, read by HTTP threads */
	/*
	 * What a reply changing our own pool (reply.own_grant) waits for once
	 * its record is on disk, and the last look before it goes out; set
	 * before serving by the modules that need them (failover.c: the
	 * backups' acknowledgement, with synchronous_backup; fence.c: that
	 * no backup can have taken the pool over), NULL otherwise. httpd.c
	 * knows no more of failover than these.
	 * reply_wait: 1 when resume(arg) will be called later, 0 to go on.
	 * reply_unwait: take a reply_wait back; 1 when it still waited (its
	 * resume will not be called).
	 * reply_check: may replace r's reply (release the seat, answer 503).
	 */
	int (*reply_wait)(struct server *srv, uint64_t seq, void (*resume)(void *), void *arg);
	int (*reply_unwait)(void (*resume)(void *), void *arg);
	void (*reply_check)(struct req *r);
};

/* What a request asked for, as the route label of
 * sl_http_request_duration_seconds (metrics.c names them): a fixed set, so
 * that no client can make new series. ROUTE_OTHER: no route (404, 405...). */
enum route_id {
	ROUTE_OTHER, ROUTE_HEALTH, ROUTE_LICENSES, ROUTE_CHECKOUT, ROUTE_HEARTBEAT,
	ROUTE_CHECKIN, ROUTE_LEASES, ROUTE_REVOKE, ROUTE_RELOAD, ROUTE_USAGE,
	ROUTE_FAILOVER, ROUTE_PEER_SYNC, ROUTE_PEER_HANDBACK, ROUTE_PEER_RELEASE,
	ROUTE_PEER_FENCE, ROUTE_PEER_PROBE, ROUTE_METRICS, ROUTE_STATUS_PAGE, ROUTE_COUNT
};

/* One HTTP request in flight. */
struct req {
	struct server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	char *body;
	size_t len;
	int too_large;
	int suspended;
	int watched;			/* its wait is watched for its client's close */
	int gone;			/* its client closed while it waited (httpd_sweep) */
	int answered;
	int close;			/* answer with Connection: close */
	char addr[64];			/* the client's address: req_addr */
	struct reply reply;
	/* A non-JSON answer (text, NDJSON): used when reply.body is NULL. */
	char *raw;
	size_t rawlen;
	const char *content_type;
	int64_t start_us;		/* util_mono_us() at arrival */
	enum route_id route;		/* set by dispatch; ROUTE_OTHER until then */
	int admin;			/* it carried the admin token (dispatch) */
	/* The methods the path allows, "GET, PUT", when dispatch answers
	 * 405 method_not_allowed: its Allow header. "" otherwise. */
	char allow[64];
	/* A request its handler holds (req_hold): on_resume, when set, makes
	 * the answer once req_wake has let it go; ctx is the handler's (a
	 * single allocation: freed here if on_resume never ran). */
	void (*on_resume)(struct req *r);
	void *ctx;
};

/* httpd.c */
int httpd_start(struct server *srv, char *err, size_t errlen);
/* Close connections whose request did not arrive whole within
 * request_timeout (from the main loop). */
void httpd_sweep(struct server *srv);
void httpd_stop(struct server *srv);
const char *req_query(struct req *r, const char *key);
/* The numeric address the request came from ("" if unknown). */
const char *req_addr(struct req *r);
/* From a handler: answer later. The connection waits, without a thread,
 * until req_wake (from any thread); then r->on_resume, if set, fills in
 * the answer. Every held request must be woken before httpd_stop. */
void req_hold(struct req *r);
void req_wake(struct req *r);
const char *req_header(struct req *r, const char *key);
/* Decode the request body against fields; on failure answer 400 and NULL. */
struct js_field;
json_t *req_json(struct req *r, const struct js_field *fields, int allow_empty);
/* Answer r with an error, replacing the answer it had (reply_error). */
#define req_error(r, ...)	reply_error(&(r)->reply, __VA_ARGS__)

/* Once r's record is on disk: 1 when a change to our own pool waits for
 * more (reply_wait above) and resume(r) will be called when it may be
 * answered; 0 to answer now. */
int req_wait_more(struct req *r, void (*resume)(void *));

/* A text answer (the status page, /metrics) written to a stream:
 * req_text_open gives the stream, or NULL after answering 503 when memory
 * is short; req_text_close makes what was written r's answer, of
 * content_type, and returns 0, or answers 503 and returns -1. */
FILE *req_text_open(struct req *r);
int req_text_close(struct req *r, FILE *f, const char *content_type);

/* Answer 503 storage_unavailable: the journal cannot write (journal.c). */
void req_storage_unavailable(struct req *r);

/* api.c: the routes. Each handler fills r->reply (or r->raw). */
struct route {
	const char *method;
	const char *pattern;		/* "*" matches one path segment */
	int auth;			/* AUTH_* */
	void (*fn)(struct req *r, const char *arg);
	enum route_id id;
};
/* AUTH_STATUS: public, or the admin token's when public_status is false.
 * AUTH_LEASES: the admin token's; with public_leases, a request without an
 * Authorization header is served too, as a public one (r->admin is 0). */
enum { AUTH_NONE, AUTH_ADMIN, AUTH_PEER, AUTH_STATUS, AUTH_LEASES };
extern const struct route api_routes[];

/* metrics.c: GET /metrics, and the latency of each answered request. */
void api_metrics(struct req *r, const char *arg);
/* A request answered with status, for the route it asked for. */
void metrics_request_done(int64_t start_us, enum route_id route, unsigned status);

/* statuspage.c: GET /, the HTML status page. */
void api_status_page(struct req *r, const char *arg);
/* The 401 of the status page for a browser (Accept: text/html) when
 * public_status = false: a short HTML notice saying how to see it. */
void api_status_page_private(struct req *r);

/* main.c */
int server_reload(struct server *srv, json_t **changes, char *err, size_t errlen);

#endif
