/* Inside the store: what its files share (store.c the tables, checkout.c
 * the checkout policy, record.c the JSON and journal records, snapshot.c,
 * pool.c). Every function here expects the store's lock held unless it
 * says otherwise. */
#ifndef SLSERVE_STORE_INT_H
#define SLSERVE_STORE_INT_H

#include <stdint.h>

#include <jansson.h>

#include "store.h"

/* A lease's strings, as records and snapshot images carry them. */
struct lease_text {
	const char *id, *license, *product, *pool, *client, *user, *host, *addr;
};

/* A handback's release keeps a tombstone this long. */
#define HANDBACK_TOMB_MS (600 * 1000LL)

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
