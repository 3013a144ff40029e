/* The in-memory model: pools of licenses and the leases held on them.
 * Every function takes the store lock itself; results are copied out as JSON. */
#ifndef SLSERVE_STORE_H
#define SLSERVE_STORE_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "license.h"

struct journal;
struct policy;

enum pool_status { POOL_HOT, POOL_HOT_WARM, POOL_WARM, POOL_HOT_RETRY };
#define POOL_STATUSES (POOL_HOT_RETRY + 1)	/* how many there are */
const char *pool_status_str(enum pool_status s);

/* Live leases by holder (client, user, host) or by address (store.c). */
struct tally {
	struct holder **buckets;
	size_t n, nbuckets;
	int lost;		/* an allocation failed: count by scanning */
};

struct lic {
	struct license def;
	struct pool *pool;
	long in_use;
	long fails;
	int retired;		/* gone from the licenses file; kept while leased */
	struct lic *prod_next;	/* next in its product_index chain */
	struct lease *live;	/* its live leases (not tombstones), for the policy */
	struct tally users, hosts;	/* the same counted by user, by host */
	long lingering;		/* seats held by a linger after their checkin */
	long mirrored;		/* a warm backup's: its Primary's seats, as
				 * mirrored (store_count_mirrored, for views) */
};

struct lease {
	char id[SL_ID_MAX + 1];
	/* These point into text[] below: a lease is one allocation the size
	 * of its strings, not a kilobyte of fixed arrays. */
	const char *product;
	const char *client;	/* client, user and host: at most 255 bytes */
	const char *user;
	const char *host;
	const char *addr;	/* the address it was granted to; "" unknown */
	long pid;
	time_t since;
	int64_t expires_ms;	/* wall clock; 0 = hard lease, held until checkin */
	int64_t borrowed_until_ms;	/* > 0: a borrow, ending then whatever
					 * happens (expires_ms is the same) */
	int64_t journaled_ms;	/* its expiry as the journal last recorded it */
	uint64_t journaled_seq;	/* the record of that: a promise waits for it */
	int64_t tomb_until_ms;	/* > 0: revoked or handed back; kept to answer 410 */
	int handed_back;	/* tombstone left by a handback: answer not_serving */
	int adopted;		/* taken over from a Primary's mirror: the Primary's */
	uint64_t seq;		/* journal sequence of its grant */
	int64_t due_ms;		/* its key in the expiry heap: when to look at it */
	size_t heap_pos;	/* its slot in the heap, from 1; 0: not in it */
	struct lic *lic;
	struct lease *hnext;	/* hash chain */
	struct lease *prev, *next;
	struct lease *lic_prev, *lic_next;	/* in lic->live while live */
	char text[];		/* product, client, user, host, addr; each NUL-terminated */
};

struct ban {
	char license[SL_ID_MAX + 1];
	char client[256], user[256], host[256];
	int64_t until_ms;
};


/* The result of an operation: HTTP status, body, and the journal sequence
 * that must be durable before the answer goes out (0: none). */
struct reply {
	unsigned status;
	json_t *body;
	uint64_t wait_seq;
	int unconfirmed;	/* a new hard seat: store_confirm once answered */
	int own_grant;		/* a change to our own pool (a grant or checkin):
				 * synchronous_backup applies */
};

/* Answer r with an error: status, and {"error":code,"message":...} as the
 * body, which replaces the one r had (NULL or its own); nothing to wait
 * for. No lock needed (record.c). */
void reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

struct checkout_req {
	const char *product, *pool, *lease, *client, *user, *host;
	long pid;
	const char *addr;	/* the client's address (not asserted by it); NULL none */
	long borrow;		/* seconds of a borrow; 0: an ordinary seat */
	int quiet;		/* a queued waiter asking again: a refusal is not
				 * counted or logged again (queue.c) */
};

/* Why a checkout of a known product was refused: the error codes of the
 * answers (unknown_product aside: its name comes from the client). */
enum deny_reason {
	DENY_NO_SEATS, DENY_EXPIRED, DENY_WRONG_HOST, DENY_REVOKED,
	DENY_TOO_MANY_TOTAL, DENY_TOO_MANY_PER_IP, DENY_TOO_MANY, DENY_REASONS
};
extern const char *const deny_reason_names[DENY_REASONS];

/* Refused checkouts of one product of one pool since start, by reason. */
struct product_denials {
	char pool[SL_ID_MAX + 1];
	char product[SL_ID_MAX + 1];
	uint64_t n[DENY_REASONS];
};

struct store;
struct pool;

struct store *store_new(const char *name, const char *host_id);
void store_free(struct store *s);
/* The journal the store's changes go to (journal_open, at start). */
void store_set_journal(struct store *s, struct journal *j);
/* slserve.conf's limits (0: none) and how long a hard seat may stay
 * unconfirmed; at start. */
void store_set_limits(struct store *s, long per_client, long per_ip, long total,
    int64_t confirm_timeout_ms);
/* Serving from now: had_state, whether the journal had records at start. */
void store_set_started(struct store *s, int had_state, time_t now);

/* Install a licenses file into the own pool (start and reload). changes gets
 * {"added":[...],"removed":[...],"changed":[...]}. */
void store_set_licenses(struct store *s, const struct license_set *set, json_t **changes);

/* Install the usage policy of the own pool (NULL: none), which the store
 * owns from now on; the one before it is freed. */
void store_set_policy(struct store *s, struct policy *policy);

/* Add (or find) a pool for a Primary this server backs up; *is_new: it
 * was not there. */
struct pool *store_pool_add(struct store *s, const char *name, const char *url, int *is_new);
/* The pool named name (NULL or "": our own), NULL if none; its kind and
 * status (POOL_WARM when none) read with it, when asked. */
struct pool *store_pool_find(struct store *s, const char *name, int *own,
    enum pool_status *status);
/* The name it was made with (never changes). */
const char *store_pool_name(const struct pool *p);

void store_checkout(struct store *s, const struct checkout_req *req, struct reply *r);
/* Does the usage policy of pool let waiters queue for product? */
int store_queue_allowed(struct store *s, const char *pool, const char *product);
/* Changes whenever a seat may have freed (a lease ended, a linger went,
 * licenses or policy changed): the queue asks again only then. */
uint64_t store_free_gen(struct store *s);
/* pool: the pool the holder says the lease is of (?pool=), or NULL. */
void store_heartbeat(struct store *s, const char *id, const char *pool, struct reply *r);
void store_checkin(struct store *s, const char *id, const char *pool, struct reply *r);
void store_revoke(struct store *s, const char *idprefix, long for_seconds,
    const char *reason, const char *by, struct reply *r);
/* holders_only: who holds which license since when (public_leases), without
 * the lease ids (which let their bearer check a seat in), clients and pids. */
void store_list_leases(struct store *s, const char *product, int holders_only,
    struct reply *r);
json_t *store_licenses_json(struct store *s);
/* The counters since start, copied at one instant (store_view.c). */
struct store_counters {
	uint64_t grants, checkins, expiries, revokes, denials;
	uint64_t policy_denials[3];	/* excluded, max_reached, reserved */
};
void store_counters(struct store *s, struct store_counters *c);
/* Why a license grants no seat, as a checkout would find it. */
enum lic_unservable { LIC_SERVABLE, LIC_EXPIRED, LIC_WRONG_HOST };
/* "expired", "wrong_host" (NULL: servable), as /v1/licenses says "why". */
const char *lic_unservable_str(enum lic_unservable why);
/* A license as the views (/metrics, the status page) show it: the same
 * figures as /v1/licenses, typed. */
struct lic_view {
	char pool[SL_ID_MAX + 1];
	char id[SL_ID_MAX + 1];
	char product[SL_ID_MAX + 1];
	char served_by[SL_ID_MAX + 1];	/* the pool's Primary while warm, else us */
	char expires[16];		/* "YYYY-MM-DD" or "never" */
	int own;		/* role "primary": our own pool; else "backup" */
	enum pool_status status;	/* of its pool */
	long count;		/* seats, or LICENSE_UNLIMITED */
	long in_use;		/* a warm backup's: its Primary's, as mirrored */
	long fails;		/* checkouts refused because of it (DENIALS) */
	long queued;		/* checkouts waiting: 0 here, queue_count_views */
	enum lic_unservable why;
};
/* Every license but retired ones, in the order of /v1/licenses, copied
 * under one hold of the store lock (store_view.c); free the array. NULL,
 * and *n 0, when memory is short. */
struct lic_view *store_lic_views(struct store *s, size_t *n);
/* A copy of the refusal counters of every pool and product (free it). */
struct product_denials *store_product_denials(struct store *s, size_t *n);

/* Failover, backup side (pool is a Primary this server backs up). */
void store_pool_set_licenses(struct store *s, struct pool *p, json_t *defs);
/* leases decoded, or raw: their text, which js_fast_valid took. */
void store_mirror_full(struct store *s, struct pool *p, json_t *leases, const char *raw,
    size_t rawlen);
/* records decoded, or raw: their text, which js_fast_valid took (records
 * is not read then). Returns the leases the mirror holds now; *nrecs: the
 * records read. */
size_t store_mirror_records(struct store *s, struct pool *p, json_t *records, const char *raw,
    size_t rawlen, size_t *nrecs);
/* Serve the pool: adopt the mirrored leases. Returns the sequence to sync.
 * Not while the pool is fenced (p->fenced_until_ms) or not warm: then
 * p->status stays as it was. */
uint64_t store_takeover(struct store *s, struct pool *p);
/* Hand the pool back to its Primary, in two steps. prepare: stop changing
 * the pool (checkouts and checkins answer not_serving; heartbeats go on) and
 * return {"pool","from","leases","released"} for the Primary. commit, once the
 * Primary holds them: the leases become tombstones that point clients at the
 * Primary, and the pool is warm again (returns the sequence to sync; 0 when
 * by's handback was not under way, or another one committed first).
 * cancel: by's handback is over; the pool is served again unless the other
 * is under way. The backup pushes a handback (its poller) while the Primary
 * may pull one (POST /v1/peer/release): each has its own bit in handing, so
 * one's cancel never reopens the pool in the middle of the other. */
enum handback_by { HANDBACK_PUSH = 1, HANDBACK_PULL = 2 };
json_t *store_handback_prepare(struct store *s, struct pool *p, enum handback_by by);
uint64_t store_handback_commit(struct store *s, struct pool *p, enum handback_by by);
void store_handback_cancel(struct store *s, struct pool *p, enum handback_by by);
/* Persisted state of a pool: {"licenses","mirror","released","epoch","seq"}. */
json_t *store_pool_state(struct store *s, struct pool *p);
/* A state as JSON text, its mirror's leases as objects; NULL: out of memory. */
char *store_pool_state_text(json_t *st, size_t *lenp);
/* Let go of what store_pool_state gave (it shares the mirror's leases). */
void store_pool_state_free(struct store *s, json_t *st);
void store_pool_restore(struct store *s, struct pool *p, json_t *state);
/* Does this server hold live leases of the pool (it was serving it)? */
int store_pool_has_leases(struct store *s, struct pool *p);

/* A backup's view of pool p, read under one hold of the store lock. */
struct pool_view {
	enum pool_status status;
	int dirty;		/* changed since the mirror was saved */
	int handing;		/* a handback under way */
	int failed_polls;
	int64_t last_poll_ms;	/* monotonic; 0: never */
	int64_t fenced_until_ms;	/* monotonic: no takeover before */
};
void store_pool_view(struct store *s, const struct pool *p, struct pool_view *v);
/* The i-th pool of a Primary this server backs up (from 0; NULL past the
 * last), and whether its mirror is to be saved. A pool keeps its index. */
struct pool *store_mirror_pool(struct store *s, size_t i, int *dirty);
/* Seats of pool p that this server holds while it serves the pool
 * (hot-retry), and in *ended those that ended here and that its Primary
 * has not yet been told of (the handback tells it). */
long store_pool_serving(struct store *s, const struct pool *p, long *ended);
/* A Primary no longer backed up: synced in full if backed up again, and
 * warm (not served). */
void store_pool_reset(struct store *s, struct pool *p);
void store_pool_set_status(struct store *s, struct pool *p, enum pool_status status);
/* Our own pool: hot-warm while a backup polls us, hot when none does. */
void store_own_pool_watched(struct store *s, int watched);
/* We promised not to take pool p over before until_ms (monotonic). */
void store_pool_fenced_until(struct store *s, struct pool *p, int64_t until_ms);
/* POST /v1/peer/fence: does this server serve pool name (unknown, our own,
 * or hot-retry)? If not, promise not to take it over for ttl_ms from now
 * (a longer promise stands). *handing: serving, but handing it back. */
int store_pool_fence(struct store *s, const char *name, int64_t ttl_ms, int *handing);
/* What a poll of the Primary came to, on p's count of failed polls in a
 * row: POLL_GOOD (the count starts again, the time is noted), POLL_FAILED
 * (one more), POLL_REFUSED (the Primary is up and refused it: the count
 * starts again, no step towards a takeover). Returns the count before a
 * good poll, and after the others. */
enum poll_outcome { POLL_GOOD, POLL_FAILED, POLL_REFUSED };
int store_pool_polled(struct store *s, struct pool *p, enum poll_outcome outcome);
/* The mirror's save state (mirrorlog.c): p->dirty, its bit 2 a change
 * that only a new base holds. */
int store_pool_dirty(struct store *s, const struct pool *p);
void store_pool_set_dirty(struct store *s, struct pool *p, int dirty);
/* The mirror holds the Primary's journal up to seq of epoch: returns 1
 * when seq is not the one it held. */
int store_pool_synced(struct store *s, struct pool *p, const char *epoch, uint64_t seq);
/* Ids of leases that ended here while serving, read from the mirror's
 * journal at start. */
void store_pool_add_released(struct store *s, struct pool *p, json_t *ids);
/* The ids released since the first from (the mirror's journal holds
 * those), when only they changed, the pool is served and the journal takes
 * lines (appendable): then the pool is no longer dirty. NULL otherwise.
 * *dirty and *n (the ids released in all) as they were. */
json_t *store_pool_take_released(struct store *s, struct pool *p, int appendable,
    size_t from, int *dirty, size_t *n);
/* What a mirror just read from disk holds: the sync state is dropped when
 * resync (a full sync follows), the pool is dirty or not as said. */
struct pool_sync {
	char epoch[40];
	uint64_t seq;
	size_t released;	/* ids in p->released */
};
void store_pool_loaded(struct store *s, struct pool *p, int resync, int dirty,
    struct pool_sync *sync);

/* Failover, Primary side. */
/* Own live leases granted at or before sequence upto, as JSON text made
 * outside the store lock (NULL: no memory). */
char *store_own_leases_text(struct store *s, uint64_t upto, size_t *len);
json_t *store_own_licenses(struct store *s);
/* Changes whenever store_own_licenses may have (within one start). */
uint64_t store_licenses_gen(struct store *s);
/* Take leases back from a backup. Returns the sequence to sync; *lost: a
 * lease could not be journaled (out of memory) and is not taken, so the
 * backup must not end the pool (it hands back again later). */
uint64_t store_merge_handback(struct store *s, json_t *payload, int *adopted, int *ended,
    int *lost);

/* End the lease id (of a pool this server serves) that its client was
 * told was not granted: fencing (fence.c), a record not written, an answer
 * not delivered (httpd.c). Returns the sequence to sync, 0 if none. */
uint64_t store_release_unanswered(struct store *s, const char *id);
/* The holder of hard seat id has it (its 201 was sent, or it called with
 * the id): it is held until checked in (see store_checkout). */
void store_confirm(struct store *s, const char *id);
/* Is lease id (live, or a revoked or handed-back marker) of this server's
 * own pool (1), of another pool (0), or unknown here (-1)? */
int store_lease_pool_own(struct store *s, const char *id);

/* Reclaim soft leases past their expiry and drop old tombstones and bans. */
void store_expire(struct store *s);

/* Durable state: a snapshot of every lease and ban, and the replay of one
 * journal record. Except store_image_take, called with the store unlocked. */
struct store_image;
/* An empty image: store_image_new, without room for leases (the first
 * store_image_more makes it), or store_image_reserve, with room for the
 * leases there are; both without the store lock. store_image_take, with
 * the lock held, copies the bans and
 * starts the walk over the leases; store_image_more copies up to max more
 * (0: all the rest) under one hold of the lock it takes: 1 while leases
 * remain, 0 when the image is whole, -1 when out of memory (the image is
 * still freed with store_image_free). The leases are each as they were
 * when copied: replaying the journal's records after the sequence read
 * with store_image_take makes them what they are (see snapshot.c). */
struct store_image *store_image_new(void);
struct store_image *store_image_reserve(struct store *s);
int store_image_take(struct store *s, struct store_image *img);
/* store_image_take for a compaction (store_view.c): takes the lock, and
 * *seqp gets the journal's last sequence, which the image is as of. */
int store_image_start(struct store *s, struct store_image *img, uint64_t *seqp);
int store_image_more(struct store *s, struct store_image *img, size_t max);
/* The snapshot's text at seq ({"leases":[...],"bans":[...],"version":1,
 * "seq":N}); frees the image. NULL when out of memory. parallel: made by
 * one thread a core, else by the caller alone. */
char *store_image_text(struct store_image *img, uint64_t seq, size_t *len, int parallel);
void store_image_free(struct store_image *img);
int store_apply_snapshot(struct store *s, json_t *snap);
/* n of a snapshot's leases: made without the store lock, linked under one
 * hold of it (the threads that load a snapshot share it). */
int store_apply_leases(struct store *s, json_t **recs, size_t n);
int store_apply_record(struct store *s, json_t *rec);
/* After replay: give every soft lease what is left of its timeout, its
 * journaled expiry plus half a timeout (no acknowledged heartbeat promised
 * more; see store_heartbeat), never a fresh one. */
void store_grace(struct store *s);

#endif
