/* Inside failover: what failover.c and poller.c share. Lock order:
 * locks.h. */
#ifndef SLSERVE_FAILOVER_INT_H
#define SLSERVE_FAILOVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "server.h"
#include "util.h"

/* One Primary this server backs up, polled by its own thread. */
struct poller {
	struct server *srv;
	struct pool *pool;
	char name[SL_ID_MAX + 1];
	char url[512];
	char witness[512];
	char lic_gen[64];	/* of the Primary's licenses we hold ("": none) */
	double interval;
	int fail_after;
	int from_config;
	int witness_said;	/* its refusal was logged since the last good poll */
	long slow_ms;		/* > 0: the Primary answered slowly; poll timeout */
	int refused;		/* polls refused (4xx) in a row: logged every 60th */
	int synchronous;	/* the Primary waits for us (synchronous_backup) */
	int long_poll;		/* the Primary held our last poll: poll again now */
	/* With poll_error_mu: the poller writes them, health reads them. */
	int refused_polls;	/* polls the Primary refused since the last good one */
	char last_error[256];	/* why the last poll failed ("": it did not) */
	atomic_int stop;		/* set under fo->mu; the poller reads it unlocked */
	pthread_t thread;
	struct http_client *http;
	/* Set by failover_apply (apply_mu and fo->mu held) before the thread
	 * starts: the stopped poller of the same Primary, which this one
	 * joins (poller_finish) before its first poll; its own thread then
	 * clears it. */
	struct poller *predecessor;
	int forget;		/* stopped for good: its pool is forgotten once joined */
	struct apply_wait *waiter;	/* the request answered once it is */
	int started;		/* poller_start made its thread (with apply_mu) */
	atomic_int exited;	/* its thread returned: joining it does not wait */
};

/* A backup that polls this server. */
struct backup_seen {
	char name[SL_ID_MAX + 1];
	char url[512];
	int64_t last_ms;	/* monotonic; 0: not since we started */
	double interval;
	long wait_ms;		/* how long we may hold its polls (long poll) */
	uint64_t acked;		/* our journal up to here is in its mirror */
	int lost;		/* silent for BACKUP_LOST_POLLS intervals (failover_tick) */
	time_t lost_since;	/* wall clock: when it was found lost */
};

/* A backup that has not polled for this many of its poll intervals (since
 * its last poll, or since we started) no longer backs us up. */
#define BACKUP_LOST_POLLS 3

/*
 * failover_apply runs on the main loop's tick (failover.ini changed) and
 * on HTTP threads (PUT and DELETE /v1/admin/failover): apply_mu makes it
 * one at a time (lock order: locks.h). It joins no poller: a stopped one
 * is joined by the poller that replaces it, before that one's first poll,
 * or else by failover_tick once its thread has returned, so that a Primary
 * never has two pollers polling and no HTTP thread waits out a poll.
 */
struct failover {
	struct server *srv;
	pthread_mutex_t apply_mu;	/* lock order: locks.h */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct poller **pollers;
	size_t npollers;
	struct backup_seen *backups;
	size_t nbackups;
	int backups_dirty;
	struct timespec ini_mtime;	/* with mu */
	/* With mu: stopped pollers not yet joined, nor claimed by a poller
	 * of the same Primary (at most one a Primary). */
	struct poller **retiring;
	size_t nretiring;
	int started;			/* with apply_mu: failover_start ran */
	int stopped;			/* with apply_mu: failover_stop ran */
};

/* Guards every poller's refused_polls and last_error (locks.h). */
extern pthread_mutex_t poll_error_mu;

static inline struct failover *fo_of(struct server *srv) { return srv->failover; }

/* Start pl's thread (its state set by failover_apply): 0, or -1 when it
 * could not. Wait for a stopped poller's thread to return. */
int poller_start(struct poller *pl);
void poller_join(struct poller *pl);
/* Be done with a stopped poller: join it (and what it replaced, if it
 * never ran), forget its pool if it was stopped for good, answer the
 * request that waits for that, free it. */
void poller_finish(struct server *srv, struct poller *pl);
/* pl's settings and how polling goes, for /v1/health; with fo->mu held. */
json_t *poller_json(struct server *srv, struct poller *pl, int64_t now);
/* How polling goes, typed, for the views; with fo->mu held. */
struct primary_view;
void poller_view(struct server *srv, struct poller *pl, int64_t now,
    struct primary_view *v);

#endif
