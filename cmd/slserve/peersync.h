/* A Primary's side of the peer sync (see peersync.c). */
#ifndef SLSERVE_PEERSYNC_H
#define SLSERVE_PEERSYNC_H

#include <stdint.h>

struct req;
struct server;

#define LONG_POLL_MAX_MS 5000		/* longest a sync is held */
#define PEER_INTERVAL_MAX 5.0		/* longest poll interval a backup may announce */

/* Answer sync r: the records since `since` (every one appended when the
 * backup long-polls, wait_ms > 0), or all leases (full, or records no
 * longer kept). */
void peersync_reply(struct req *r, uint64_t since, int full, long wait_ms);
/* Hold sync r until the journal takes a record after since, or wait_ms;
 * 0: held (answered later); -1: answer now. */
int peersync_hold(struct req *r, uint64_t since, long wait_ms, const char *backup);
/* failover_start: be told of the journal's batches; failover_stop: answer
 * every held sync and hold no more. */
void peersync_start(struct server *srv);
void peersync_stop(struct server *srv);
/* Every 100 ms: answer held syncs whose wait ran out; let an old full copy go. */
void peersync_tick(struct server *srv);

#endif
