/*
 * The locks of slserve and the one order they nest in, written here only:
 * a thread that holds one takes only locks below it, never one above. Each
 * module's lock is taken by that module's functions alone, and let go
 * before they return. A ThreadSanitizer build (make TSAN=1, test/sanitize.sh)
 * reports any order that runs against this one.
 *
 *   reload_lock	server.h (main.c): one reload at a time.
 *   apply_mu		struct failover (failover.c): one failover_apply at a
 *			time, so that a Primary never has two pollers.
 *   fo->mu		struct failover (failover.c, poller.c): the pollers
 *			and the backups seen.
 *     or mirror_mu	mirrorlog.c: a backup's mirror files. Never held
 *			together with fo->mu.
 *   poll_error_mu	failover.c: each poller's last error; taken alone,
 *			or last under fo->mu.
 *   queue_lock		queue.c: the checkout queues.
 *   full_mu		peersync.c: the full sync's copy of our leases; under
 *			it, the journal's mu, then (not nested) the store's lock.
 *   store lock		struct store: taken by the store module only (store.c,
 *			checkout.c, record.c, pool.c, snapshot.c,
 *			store_view.c); other modules call its functions.
 *   usage_lock		usage.c: the usage log, written under the store lock.
 *   watch_lock		httpd.c: the connection watch; under it httpd_sweep
 *			takes back the wait of a request whose client has gone
 *			(the journal's mu, journal_unwait; ack_mu,
 *			ackwait_unwait), which keeps that request from being
 *			freed meanwhile.
 *   j->mu		struct journal (journal*.c): records are appended under
 *			the store lock.
 *
 * Leaves, taken alone, under which nothing else locks but the log and
 * req_hold / req_wake (libmicrohttpd's own): ack_mu (ackwait.c), the
 * fence's mu (fence.c), lp_mu (peersync.c) and probe_mu (witness.c).
 * log_lock (common/log.c) comes last of all: anything may log.
 *
 * Threads: a thread joins a poller (poller_join) holding no lock that a
 * poller takes, and no HTTP thread joins one (see failover_apply).
 */
#ifndef SLSERVE_LOCKS_H
#define SLSERVE_LOCKS_H
#endif
