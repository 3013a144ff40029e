/* Inside the store: what its files share (store.c the tables, checkout.c
 * the checkout policy, record.c the JSON and journal records, snapshot.c,
 * pool.c, store_view.c). Every function here expects the store's lock held unless it
 * says otherwise. */
#ifndef SLSERVE_STORE_INT_H
#define SLSERVE_STORE_INT_H

#include <stdint.h>

#include <jansson.h>

#include "store.h"

struct pool {
	char name[SL_ID_MAX + 1];
	int own;		/* this server's own licenses */
	char primary_url[512];	/* for a Primary this server backs up */
	enum pool_status status;
	/* A Primary this server backs up: */
	json_t *mirror;		/* its leases as last synced: object id -> lease record */
	json_t *released;	/* ids of its leases that ended here while serving */
	json_t *refused;	/* [{id,client,user,host}]: retries of client-chosen
				 * ids refused (no seat) here while serving */
	char primary_epoch[40];	/* its epoch and sequence as last synced */
	uint64_t primary_seq;
	int64_t last_poll_ms;	/* monotonic time of the last good poll; 0: never */
	int failed_polls;
	int dirty;		/* mirror changed since it was last saved */
	int handing;		/* HANDBACK_* under way: no checkouts or checkins */
	int64_t fenced_until_ms;	/* monotonic: we promised the Primary not to
					 * take over before this (POST /v1/peer/fence) */
	/* A Primary's usage policy, as it sent it with its licenses (its
	 * policy_to_json, kept to tell a change); NULL: none. */
	struct policy *policy;
	json_t *policy_json;
};

struct store {
	pthread_mutex_t lock;	/* taken by the store module only: locks.h */
	char name[SL_ID_MAX + 1];
	char host_id[256];
	struct journal *journal;
	long max_leases_per_client;	/* 0: no limit, here and below */
	long max_leases_per_ip;
	long max_leases;
	int64_t confirm_timeout_ms;	/* an unconfirmed hard seat ends then */
	int had_state;		/* its journal had records at start (it lost none) */
	time_t started;		/* when this process started serving */

	struct lic **lics;
	size_t nlics, caplics;
	/* lics by pool and id (open addressing), and chains of lics by pool
	 * and product in the order of lics; made again after a change */
	struct lic **lic_index, **product_index;
	struct lic *all_lics;		/* the one chain, without memory for them */
	size_t nlic_index;
	int lic_index_stale;
	struct pool **pools;
	size_t npools;

	struct lease **buckets;
	size_t nbuckets;
	size_t nleases;		/* in the hash, tombstones included */
	size_t image_avg;	/* bytes a lease took in the last image */
	struct lease *img_cursor;	/* the next lease a compaction's image copies */
	struct lease *head;	/* every lease, for listing and snapshots */
	/* Soft leases and tombstones by the time they may end (a min-heap,
	 * slots from 1), so expiry looks only at what is due. */
	struct lease **heap;
	size_t nheap, capheap;

	struct ban *bans;
	size_t nbans;

	/* Live leases per client/user/host, for max_leases_per_client, and
	 * per address, for max_leases_per_ip; all live leases. */
	struct tally holders, addrs;
	size_t live;

	struct policy *policy;	/* the own pool's usage policy; NULL: none */
	json_t *policy_json;	/* the same for backups (store_own_licenses) */
	struct linger *lingers;	/* seats kept for their holders (rules.c) */

	uint64_t lic_gen;	/* bumped by each store_set_licenses */
	uint64_t free_gen;	/* store_free_gen */
	/* counters since start */
	uint64_t grants, checkins, expiries, revokes, denials;
	/* per pool and product; their names come from licenses only */
	struct product_denials *product_denials;
	size_t nproduct_denials;
	uint64_t policy_denials[3];	/* of denials: excluded, max_reached, reserved */
};

/* A lease's strings, as records and snapshot images carry them. */
struct lease_text {
	const char *id, *license, *product, *pool, *client, *user, *host, *addr;
};

/* A handback's release keeps a tombstone this long. */
#define HANDBACK_TOMB_MS (600 * 1000LL)

/* Find a pool by name (NULL or "": our own); add (or find) one. */
struct pool *store_pool(struct store *s, const char *name);
struct pool *store_add_pool(struct store *s, const char *name, const char *url);
/* Live leases of an address, or of the holder of req (client, user,
 * host): by their tally, or by a scan when it lost count. */
long addr_lease_count(struct store *s, const char *addr);
long client_lease_count(struct store *s, const struct checkout_req *req);
/* Whole seconds left of a borrow (0 when over). */
long borrow_left(const struct lease *l);
int64_t expiry_resumed(const struct lease *l, int64_t recorded, int64_t now);
int heap_reserve(struct store *s);
/* The interval a holder heartbeats at for a timeout (0: none). */
long heartbeat_interval(long timeout);
uint64_t journal_lease(struct store *s, const char *op, const struct lease *l, const char *why);
/* Journal {"op":op,"lease":lease,"why":why} (why may be NULL); lease is
 * consumed. Returns the sequence, 0 when not recorded. */
uint64_t journal_record(struct store *s, const char *op, json_t *lease, const char *why);
/* Journal a lease's end ({"op":"release"}, its id and pool). */
uint64_t journal_release(struct store *s, const struct lease *l, const char *why);
uint64_t lease_end(struct store *s, struct lease *l, const char *why, json_t *extra);
struct lease *lease_find(struct store *s, const char *id);
int lease_from_record(struct store *s, json_t *o);
/* The answer to a grant of lease l (201) or to its holder's retry. */
json_t *lease_grant_json(const struct store *s, const struct lease *l);
void lease_journal_expiry(struct store *s, struct lease *l);
void lease_link(struct store *s, struct lease *l);
struct lease *lease_new(const char *id, const char *product, const char *client, const char *user,
    const char *host, const char *addr);
json_t *lease_record_json(const struct lease *l);
void lease_schedule(struct store *s, struct lease *l);
void lease_unlink(struct store *s, struct lease *l);
struct lic *lic_add(struct store *s, struct pool *p, const struct license *def);
void lic_drop_retired(struct store *s);
struct lic *lic_find(struct store *s, const struct pool *p, const char *id);
/* The license of mirrored lease v (pool.c) into buf; -1: none. */
int mirror_lease_license(json_t *v, char *buf, size_t len);
/* Every license's l->mirrored, from one pass over each warm pool's mirror
 * (store lock held). */
void store_count_mirrored(struct store *s);
/* Live leases of key in a tally of one string (a license's users or
 * hosts); -1 when the tally lost count (count by scanning then). */
long tally_count(struct tally *t, const char *key);
void lic_free(struct lic *l);
struct lic *lic_first_of_product(struct store *s, const struct pool *p, const char *product);
struct lic *lic_of_product(struct lic *l, const struct pool *p, const char *product);
struct lic *lic_placeholder(struct store *s, struct pool *p, const char *id, const char *product);
int64_t now_ms(void);
json_t *record_json(const struct lease_text *t, long pid, time_t since, int64_t expires_ms,
    int64_t tomb_until_ms, int handed_back);
/* Set o's key to a string or an integer, without jansson's checks (see
 * record.c); no lock needed. */
void record_set_int(json_t *o, const char *key, json_int_t v);
void record_set_str(json_t *o, const char *key, const char *v);
const char *text_put(char **pp, const char *src, size_t len);
/* A lease's usage log line: its license, holder and the seats in use. */
json_t *usage_json(const struct lease *l);

#endif
