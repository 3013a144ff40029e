/* Failover: this server as a backup (pollers, takeover, handback) and as a
 * Primary (peer sync, taking leases back from its backups). */
#ifndef SLSERVE_FAILOVER_H
#define SLSERVE_FAILOVER_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "store.h"

struct server;
struct req;

/* Before the journal is replayed: make the pools of the Primaries this
 * server backs up (config and STATE_DIR/failover.ini) and restore their
 * mirrors. */
int failover_init(struct server *srv, char *err, size_t errlen);
/* After replay, before serving: take back leases our backups hold for us. */
void failover_reclaim(struct server *srv);
/* Start the pollers. */
void failover_start(struct server *srv);
/* Every 250 ms from the main loop: statuses, saving mirrors, runtime file. */
void failover_tick(struct server *srv);
/* At shutdown, once draining: let checkouts that wait for backups go, stop
 * the pollers and refuse runtime changes. The state stays for requests
 * still in flight; failover_free, once the HTTP daemon has stopped, saves
 * the mirrors and frees it. */
void failover_stop(struct server *srv);
void failover_free(struct server *srv);
/* Every 100 ms from the main loop: answer held syncs whose wait ran out. */
void failover_tick_fast(struct server *srv);


/* The failover part of /v1/health, typed, for the views (/metrics, the
 * status page): the backups that poll this server and the Primaries it
 * backs up, read at one instant (failover_status.c). */
struct backup_view {
	char name[SL_ID_MAX + 1];
	char url[512];
	int polled;		/* it polled since we started: last_poll_age is set */
	double last_poll_age;	/* seconds */
	int lost;		/* state "lost" (else "polling") */
	time_t lost_since;	/* wall clock, when lost */
};
struct primary_view {
	char pool[SL_ID_MAX + 1];	/* the Primary's name */
	char url[512];
	enum pool_status status;	/* of its pool here */
	int polled;		/* a good poll since we started: last_poll_age is set */
	double last_poll_age;	/* seconds */
	int failed_polls;	/* in a row, refused ones included */
	int refused_polls;	/* refused since the last good one */
	char last_error[256];	/* why the last poll failed; "": it did not */
};
struct failover_view {
	struct backup_view *backups;
	size_t nbackups;
	struct primary_view *primaries;
	size_t nprimaries;
};
/* Fill v (empty when memory is short); failover_view_free lets it go. */
void failover_view(struct server *srv, struct failover_view *v);
void failover_view_free(struct failover_view *v);
/* failover_redundancy as of the view. */
const char *failover_view_redundancy(const struct failover_view *v);

/* Fields for /v1/health: "backups" and "backs_up". */
void failover_health(struct server *srv, json_t *health);
/* Is this server's own pool backed up: "ok" (no backup it knows is
 * lost), "lost" (one went silent) or "none" (it knows no backup)? */
const char *failover_redundancy(struct server *srv);

/* Routes. */
void api_peer_sync(struct req *r, const char *arg);
void api_peer_handback(struct req *r, const char *arg);
void api_peer_release(struct req *r, const char *arg);
void api_peer_fence(struct req *r, const char *arg);
void api_failover_get(struct req *r, const char *arg);
void api_failover_put(struct req *r, const char *arg);
void api_failover_delete(struct req *r, const char *arg);

#endif
