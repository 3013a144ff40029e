/* Failover: this server as a backup (pollers, takeover, handback) and as a
 * Primary (peer sync, taking leases back from its backups). */
#ifndef SLSERVE_FAILOVER_H
#define SLSERVE_FAILOVER_H

#include <stdint.h>

#include <jansson.h>

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
