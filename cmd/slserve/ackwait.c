/*
 * ackwait.c: with synchronous_backup, the replies that wait until every
 * backup polling this server holds their record (srv->reply_wait).
 * failover.c tells it what the backups hold as their polls come.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "ackwait.h"
#include "server.h"

/*
 * synchronous_backup: answers to checkouts that wait until the backups
 * polling this server have the grant. A backup's poll since=SEQ (in our
 * epoch) says that it holds our journal up to SEQ in its saved mirror.
 * Kept apart from struct failover, which failover_stop frees while the
 * journal's committer may still ask to wait.
 */
struct ack_waiter {
	uint64_t seq;
	void (*resume)(void *);
	void *arg;
};
static pthread_mutex_t ack_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ack_waiter *ack_waiters;
static size_t ack_nwaiters, ack_capwaiters;
static int ack_watched;		/* some backup polls us */
static uint64_t ack_seq;	/* what every backup that polls us holds */
static int ack_stopped;

int
ackwait_wait(struct server *srv, uint64_t seq, void (*resume)(void *), void *arg)
{
	int wait = 0;

	if (!srv->cfg.synchronous_backup)
		return 0;
	pthread_mutex_lock(&ack_mu);
	if (!ack_stopped && ack_watched && ack_seq < seq) {
		if (ack_nwaiters == ack_capwaiters) {
			size_t n = ack_capwaiters ? ack_capwaiters * 2 : 64;
			struct ack_waiter *w = realloc(ack_waiters, n * sizeof(*w));
			if (w != NULL) {
				ack_waiters = w;
				ack_capwaiters = n;
			}
		}
		if (ack_nwaiters < ack_capwaiters) {
			ack_waiters[ack_nwaiters++] = (struct ack_waiter){ seq, resume, arg };
			wait = 1;
		}
	}
	pthread_mutex_unlock(&ack_mu);
	return wait;
}

int
ackwait_unwait(void (*resume)(void *), void *arg)
{
	int found = 0;

	pthread_mutex_lock(&ack_mu);
	for (size_t i = 0; i < ack_nwaiters && !found; i++) {
		if (ack_waiters[i].resume != resume || ack_waiters[i].arg != arg)
			continue;
		ack_waiters[i] = ack_waiters[--ack_nwaiters];
		found = 1;
	}
	pthread_mutex_unlock(&ack_mu);
	return found;
}

/* Set what the backups hold and answer the checkouts that waited for it
 * (all of them when no backup polls, or at shutdown). */
void
ackwait_update(int watched, uint64_t seq, int stop)
{
	struct ack_waiter *go = NULL;
	size_t ngo = 0, keep = 0;

	pthread_mutex_lock(&ack_mu);
	ack_watched = watched;
	ack_seq = seq;
	if (stop)
		ack_stopped = 1;
	if (ack_nwaiters > 0 && (go = malloc(ack_nwaiters * sizeof(*go))) == NULL)
		stop = 1;	/* cannot sort them out: let them all go below */
	for (size_t i = 0; i < ack_nwaiters; i++) {
		struct ack_waiter *w = &ack_waiters[i];
		if (ack_stopped || !watched || w->seq <= seq) {
			if (go != NULL)
				go[ngo++] = *w;
			else
				w->resume(w->arg);
		} else {
			ack_waiters[keep++] = *w;
		}
	}
	ack_nwaiters = keep;
	pthread_mutex_unlock(&ack_mu);
	for (size_t i = 0; i < ngo; i++)
		go[i].resume(go[i].arg);
	free(go);
}
