/* Inside failover: what failover.c and poller.c share. Lock order in
 * struct failover's comment. */
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
 * apply_mu, mu and mirror_mu (mirrorlog.c) nest in this order: apply_mu,
 * then mu or mirror_mu (never both at once), then the store's lock.
 * failover_apply runs on the main loop's tick (failover.ini changed) and
 * on HTTP threads (PUT and DELETE /v1/admin/failover): apply_mu makes it
 * one at a time, so that a Primary never gets two pollers.
 */
struct failover {
	struct server *srv;
	pthread_mutex_t apply_mu;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct poller **pollers;
	size_t npollers;
	struct backup_seen *backups;
	size_t nbackups;
	int backups_dirty;
	struct timespec ini_mtime;	/* with mu */
	int started;			/* with apply_mu: failover_start ran */
	int stopped;			/* with apply_mu: failover_stop ran */
};

/* Guards every poller's refused_polls and last_error; taken alone, or
 * last under fo->mu. */
extern pthread_mutex_t poll_error_mu;

static inline struct failover *fo_of(struct server *srv) { return srv->failover; }

/* Start pl's thread (its state set by failover_apply); stop it and wait. */
void poller_start(struct poller *pl);
void poller_join(struct poller *pl);
/* pl's settings and how polling goes, for /v1/health; with fo->mu held. */
json_t *poller_json(struct server *srv, struct poller *pl, int64_t now);

#endif
