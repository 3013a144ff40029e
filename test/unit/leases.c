/*
 * The lease tables of the store (test/12-server-units.bats runs this):
 *
 *  - a product's seats are granted up to its licenses' counts, license by
 *    license, then refused (409 no_seats); a checkin frees one seat, once;
 *  - the tallies per holder, per address and per user of a license follow
 *    every grant, checkin and revoke (max_leases_per_client and _per_ip
 *    refuse by them);
 *  - store_expire ends what is due, in deadline order, and nothing else: a
 *    lease renewed since it was scheduled, a confirmed hard seat and a
 *    lease not yet due stay; an unconfirmed hard seat and a tombstone past
 *    their time go; the expiry heap stays a heap throughout;
 *  - lease ids are found across pools and across the hash table's growth,
 *    and one id never names two seats, whatever pool a checkout names.
 *
 * There is no clock to set: deadlines are moved instead, under the store
 * lock, as a timeout passing would have moved them.
 *
 * usage: leases DIR (an empty directory for the journal and licenses).
 * Prints what is wrong and exits 1, or exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "journal.h"
#include "json.h"
#include "license.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define UNIT "leases"
#include "unit.h"
#include "fixture.h"

/* cad: 3 + 2 soft seats on two licenses; sim, lab: 1 hard; view: unlimited. */
static const char licenses_conf[] =
    "license \"cad-1\" { product = \"cad\" count = 3 expires = \"never\" host = \"any\" "
    "timeout = 60 }\n"
    "license \"cad-2\" { product = \"cad\" count = 2 expires = \"never\" host = \"any\" "
    "timeout = 60 }\n"
    "license \"sim\" { product = \"sim\" count = 1 expires = \"never\" host = \"any\" "
    "timeout = 0 }\n"
    "license \"lab\" { product = \"lab\" count = 1 expires = \"never\" host = \"any\" "
    "timeout = 0 }\n"
    "license \"view\" { product = \"view\" count = \"unlimited\" expires = \"never\" "
    "host = \"any\" timeout = 60 }\n";

static struct store *
new_store(const char *dir, struct journal **jp)
{
	char err[1024], *path = util_path_join(dir, "licenses.conf");
	struct license_set set;
	struct store *s = store_new("unit", "");
	FILE *f;

	if (s == NULL || path == NULL || (f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "leases: cannot set up in %s\n", dir);
		exit(2);
	}
	fputs(licenses_conf, f);
	fclose(f);
	if (license_load(path, &set, err, sizeof(err)) != 0) {
		fprintf(stderr, "leases: %s\n", err);
		exit(2);
	}
	store_set_licenses(s, &set, NULL);
	license_set_free(&set);
	free(path);
	if ((*jp = journal_open(dir, 0, 1000000, 0, s, err, sizeof(err))) == NULL) {
		fprintf(stderr, "leases: %s\n", err);
		exit(2);
	}
	return s;
}

/* A checkout; returns the HTTP status, the lease id in id (when granted)
 * and the license it is of in lic. */
static unsigned
checkout(struct store *s, const char *product, const char *pool, const char *lease,
    const char *user, const char *host, const char *addr, char *id, char *lic)
{
	struct checkout_req cr = { product, pool, lease, "client", user, host, 1, addr, 0, 0 };
	struct reply r;

	store_checkout(s, &cr, &r);
	if (id != NULL)
		util_strlcpy(id, js_str(r.body, "lease", ""), SL_ID_MAX + 1);
	if (lic != NULL)
		util_strlcpy(lic, js_str(r.body, "license", js_str(r.body, "error", "")),
		    SL_ID_MAX + 1);
	json_decref(r.body);
	return r.status;
}

static unsigned
call(void (*fn)(struct store *, const char *, const char *, struct reply *), struct store *s,
    const char *id, const char *pool, char *error)
{
	struct reply r;

	fn(s, id, pool, &r);
	if (error != NULL)
		util_strlcpy(error, js_str(r.body, "error", ""), 64);
	json_decref(r.body);
	return r.status;
}

static long
in_use(struct store *s, const char *license)
{
	json_t *arr = store_licenses_json(s), *v;
	long n = -1;
	size_t i;

	json_array_foreach(arr, i, v)
		if (strcmp(js_str(v, "id", ""), license) == 0)
			n = (long)js_int(v, "in_use", -1);
	json_decref(arr);
	return n;
}

/* Heap order, heap slots, and every lease that may end in the heap. */
static void
heap_holds(struct store *s, const char *when)
{
	size_t due = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 1; i <= s->nheap; i++) {
		CHECK(s->heap[i]->heap_pos == i, "%s: heap slot %zu holds a lease that says %zu",
		    when, i, s->heap[i]->heap_pos);
		CHECK(i == 1 || s->heap[i / 2]->due_ms <= s->heap[i]->due_ms,
		    "%s: heap slot %zu is due before its parent", when, i);
	}
	for (struct lease *l = s->head; l != NULL; l = l->next) {
		int64_t d = l->tomb_until_ms > 0 ? l->tomb_until_ms : l->expires_ms;
		if (d > 0) {
			due++;
			CHECK(l->heap_pos != 0, "%s: lease %s may end but is not in the heap",
			    when, l->id);
		}
	}
	CHECK(due == s->nheap, "%s: %zu leases may end, the heap holds %zu", when, due,
	    s->nheap);
	pthread_mutex_unlock(&s->lock);
}

/* The per-user and per-host tallies of each license agree with its leases. */
static void
tallies_hold(struct store *s, const char *when)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nlics; i++) {
		struct lic *c = s->lics[i];
		long n = 0;
		for (struct lease *l = c->live; l != NULL; l = l->lic_next) {
			long users = 0, hosts = 0;
			n++;
			for (struct lease *x = c->live; x != NULL; x = x->lic_next) {
				users += strcmp(x->user, l->user) == 0;
				hosts += strcmp(x->host, l->host) == 0;
			}
			CHECK(tally_count(&c->users, l->user) == users, "%s: license %s: user %s "
			    "holds %ld seats, tallied %ld", when, c->def.id, l->user, users,
			    tally_count(&c->users, l->user));
			CHECK(tally_count(&c->hosts, l->host) == hosts, "%s: license %s: host %s "
			    "holds %ld seats, tallied %ld", when, c->def.id, l->host, hosts,
			    tally_count(&c->hosts, l->host));
		}
		CHECK(n == c->in_use, "%s: license %s: %ld live leases, in_use %ld", when,
		    c->def.id, n, c->in_use);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Seats up to the count, license by license; a checkin frees one, once. */
static void
test_count(struct store *s)
{
	char ids[6][SL_ID_MAX + 1], lic[SL_ID_MAX + 1], err[64], host[16];
	unsigned st;

	for (int i = 0; i < 5; i++) {
		snprintf(host, sizeof(host), "h%d", i);
		st = checkout(s, "cad", NULL, NULL, "alice", host, NULL, ids[i], lic);
		CHECK(st == 201, "cad seat %d: HTTP %u (%s)", i + 1, st, lic);
		CHECK(strcmp(lic, i < 3 ? "cad-1" : "cad-2") == 0, "cad seat %d is of %s, "
		    "not %s", i + 1, lic, i < 3 ? "cad-1" : "cad-2");
	}
	st = checkout(s, "cad", NULL, NULL, "bob", "h9", NULL, ids[5], lic);
	CHECK(st == 409 && strcmp(lic, "no_seats") == 0, "a 6th cad seat of 5: HTTP %u %s",
	    st, lic);
	CHECK(in_use(s, "cad-1") == 3 && in_use(s, "cad-2") == 2, "in use: cad-1 %ld, "
	    "cad-2 %ld, not 3 and 2", in_use(s, "cad-1"), in_use(s, "cad-2"));
	CHECK(s->live == 5, "live leases %zu, not 5", s->live);

	st = call(store_checkin, s, ids[1], NULL, err);
	CHECK(st == 200, "checkin of a cad-1 seat: HTTP %u %s", st, err);
	st = call(store_checkin, s, ids[1], NULL, err);
	CHECK(st == 404 && strcmp(err, "unknown_lease") == 0, "the same checkin again: "
	    "HTTP %u %s, not 404 unknown_lease", st, err);
	CHECK(in_use(s, "cad-1") == 2, "cad-1 in use %ld after a checkin, not 2",
	    in_use(s, "cad-1"));
	st = checkout(s, "cad", NULL, NULL, "bob", "h9", NULL, ids[1], lic);
	CHECK(st == 201 && strcmp(lic, "cad-1") == 0, "the freed seat: HTTP %u %s", st, lic);
	st = checkout(s, "cad", NULL, NULL, "bob", "h9", NULL, NULL, lic);
	CHECK(st == 409, "full again: HTTP %u %s", st, lic);
	tallies_hold(s, "count");
	for (int i = 0; i < 5; i++)
		call(store_checkin, s, ids[i], NULL, NULL);
	CHECK(s->live == 0 && in_use(s, "cad-1") == 0 && in_use(s, "cad-2") == 0,
	    "after every checkin: %zu live, cad-1 %ld, cad-2 %ld", s->live,
	    in_use(s, "cad-1"), in_use(s, "cad-2"));
}

/* The tallies by holder and by address, through the limits they enforce. */
static void
test_tallies(struct store *s)
{
	char a[3][SL_ID_MAX + 1], lic[SL_ID_MAX + 1], err[64];
	struct reply r;
	unsigned st;

	s->max_leases_per_client = 2;
	for (int i = 0; i < 2; i++) {
		st = checkout(s, "view", NULL, NULL, "carol", "ws1", "10.0.0.1", a[i], lic);
		CHECK(st == 201, "carol's seat %d: HTTP %u %s", i + 1, st, lic);
	}
	st = checkout(s, "view", NULL, NULL, "carol", "ws1", "10.0.0.1", NULL, lic);
	CHECK(st == 429 && strcmp(lic, "too_many_leases") == 0, "carol's 3rd seat with "
	    "max_leases_per_client 2: HTTP %u %s", st, lic);
	st = checkout(s, "view", NULL, NULL, "carol", "ws2", "10.0.0.2", a[2], lic);
	CHECK(st == 201, "carol on another host is another holder: HTTP %u %s", st, lic);
	st = call(store_checkin, s, a[0], NULL, err);
	CHECK(st == 200, "carol's checkin: HTTP %u %s", st, err);
	st = checkout(s, "view", NULL, NULL, "carol", "ws1", "10.0.0.1", a[0], lic);
	CHECK(st == 201, "carol's seat after a checkin: HTTP %u %s", st, lic);
	/* A revoked seat is a tombstone: it counts no more. */
	store_revoke(s, a[0], 0, "test", "unit", &r);
	CHECK(r.status == 200, "revoke: HTTP %u", r.status);
	json_decref(r.body);
	st = checkout(s, "view", NULL, NULL, "carol", "ws1", "10.0.0.1", a[0], lic);
	CHECK(st == 201, "carol's seat after a revoke: HTTP %u %s", st, lic);
	s->max_leases_per_client = 0;

	/* 10.0.0.1: two seats and a tombstone, which holds none. */
	s->max_leases_per_ip = 3;
	st = checkout(s, "view", NULL, NULL, "dave", "ws3", "10.0.0.1", NULL, lic);
	CHECK(st == 201, "a 3rd seat from 10.0.0.1 with max_leases_per_ip 3: HTTP %u %s", st,
	    lic);
	st = checkout(s, "view", NULL, NULL, "dave", "ws3", "10.0.0.1", NULL, lic);
	CHECK(st == 429 && strcmp(lic, "too_many_leases_per_ip") == 0, "a 4th seat from "
	    "10.0.0.1 with max_leases_per_ip 3: HTTP %u %s", st, lic);
	st = checkout(s, "view", NULL, NULL, "dave", "ws3", "10.0.0.3", NULL, lic);
	CHECK(st == 201, "another address: HTTP %u %s", st, lic);
	s->max_leases_per_ip = 0;
	tallies_hold(s, "tallies");
}

/* Move lease id's deadline to at (ms), as time passing would. */
static void
set_deadline(struct store *s, const char *id, int64_t at)
{
	pthread_mutex_lock(&s->lock);
	struct lease *l = lease_find(s, id);
	CHECK(l != NULL, "lease %s not found to move its deadline", id);
	if (l != NULL) {
		l->expires_ms = l->journaled_ms = at;
		lease_schedule(s, l);
	}
	pthread_mutex_unlock(&s->lock);
}

static int
lease_exists(struct store *s, const char *id)
{
	pthread_mutex_lock(&s->lock);
	int found = lease_find(s, id) != NULL;
	pthread_mutex_unlock(&s->lock);
	return found;
}

#define EXPIRING 40

/* store_expire: what is due ends, in deadline order; the rest stays. */
static void
test_expiry(struct store *s, struct journal *j)
{
	char ids[EXPIRING][SL_ID_MAX + 1], lic[SL_ID_MAX + 1], err[64], user[16];
	char renewed[SL_ID_MAX + 1], hard[SL_ID_MAX + 1], held[SL_ID_MAX + 1];
	char tomb[SL_ID_MAX + 1];
	int64_t now = now_ms();
	struct reply r;
	unsigned st;

	for (int i = 0; i < EXPIRING; i++) {
		snprintf(user, sizeof(user), "u%02d", i);
		st = checkout(s, "view", NULL, NULL, user, "h", NULL, ids[i], lic);
		CHECK(st == 201, "view seat %d: HTTP %u %s", i, st, lic);
	}
	heap_holds(s, "after the grants");
	/* Even ones past due, in an order unlike the grants' (deadline of
	 * lease i: 7 * i mod EXPIRING seconds ago); odd ones due in an hour. */
	for (int i = 0; i < EXPIRING; i++)
		set_deadline(s, ids[i], i % 2 == 0 ? now - 1000 - (int64_t)(7 * i % EXPIRING) *
		    1000 : now + 3600 * 1000);
	heap_holds(s, "after deadlines moved");

	/* A lease renewed since it was scheduled: due in the heap, not in fact. */
	checkout(s, "view", NULL, NULL, "renewer", "h", NULL, renewed, NULL);
	set_deadline(s, renewed, now - 500);
	st = call(store_heartbeat, s, renewed, NULL, err);
	CHECK(st == 200, "heartbeat: HTTP %u %s", st, err);
	/* A hard seat never confirmed: its holder may never have had the
	 * answer, so it ends confirm_timeout after the grant (past here). A
	 * confirmed one, granted as late, is held until checked in. */
	s->confirm_timeout_ms = -1000;
	st = checkout(s, "sim", NULL, NULL, "erin", "h", NULL, hard, lic);
	CHECK(st == 201, "unconfirmed hard seat: HTTP %u %s", st, lic);
	st = checkout(s, "lab", NULL, NULL, "frank", "h", NULL, held, lic);
	CHECK(st == 201, "hard seat: HTTP %u %s", st, lic);
	s->confirm_timeout_ms = 300 * 1000;
	store_confirm(s, held);
	/* A revoked seat past its tombstone's time. */
	checkout(s, "view", NULL, NULL, "grace", "h", NULL, tomb, NULL);
	store_revoke(s, tomb, 0, "test", "unit", &r);
	json_decref(r.body);
	pthread_mutex_lock(&s->lock);
	struct lease *t = lease_find(s, tomb);
	if (t != NULL) {
		t->tomb_until_ms = now - 1;
		lease_schedule(s, t);
	}
	pthread_mutex_unlock(&s->lock);
	st = call(store_heartbeat, s, tomb, NULL, err);
	CHECK(st == 410, "heartbeat of a revoked seat: HTTP %u %s, not 410", st, err);
	heap_holds(s, "before expiry");

	uint64_t before = journal_last_seq(j);
	long sim_before = in_use(s, "sim");
	store_expire(s);
	heap_holds(s, "after expiry");

	/* The expiries as journaled, in the order they were ended. */
	size_t n, len;
	char *text = journal_since_text(j, before, 1, &n, &len);
	json_t *recs = text ? json_loads(text, 0, NULL) : NULL, *v;
	size_t i;
	int64_t last = 0;
	int ended = 0, hard_ended = 0;
	CHECK(recs != NULL, "the journal's records since seq %llu", (unsigned long long)before);
	json_array_foreach(recs, i, v) {
		const char *id = js_str(json_object_get(v, "lease"), "id", "");
		CHECK(strcmp(js_str(v, "op", ""), "release") == 0 &&
		    strcmp(js_str(v, "why", ""), "expire") == 0, "store_expire journaled "
		    "%s %s", js_str(v, "op", "?"), js_str(v, "why", ""));
		if (strcmp(id, hard) == 0) {
			hard_ended = 1;
			continue;
		}
		int k = -1;
		for (int x = 0; x < EXPIRING; x++)
			if (strcmp(ids[x], id) == 0)
				k = x;
		CHECK(k >= 0 && k % 2 == 0, "store_expire ended %s, which was not due", id);
		if (k < 0)
			continue;
		int64_t due = now - 1000 - (int64_t)(7 * k % EXPIRING) * 1000;
		CHECK(ended == 0 || due >= last, "lease %d (due %lld ms ago) ended after one "
		    "due later", k, (long long)(now - due));
		last = due;
		ended++;
	}
	CHECK(ended == EXPIRING / 2, "%d leases ended of the %d due", ended, EXPIRING / 2);
	CHECK(hard_ended, "the unconfirmed hard seat past its time was not ended");
	CHECK(in_use(s, "sim") == sim_before - 1, "sim in use %ld, not %ld", in_use(s, "sim"),
	    sim_before - 1);
	for (int x = 1; x < EXPIRING; x += 2)
		CHECK(lease_exists(s, ids[x]), "lease %d, due in an hour, is gone", x);
	CHECK(lease_exists(s, renewed), "the lease renewed since it was scheduled is gone");
	CHECK(lease_exists(s, held), "the confirmed seat is gone");
	CHECK(!lease_exists(s, tomb), "the tombstone past its time is still there");
	st = call(store_heartbeat, s, tomb, NULL, err);
	CHECK(st == 404, "heartbeat of a tombstone gone: HTTP %u %s, not 404", st, err);
	pthread_mutex_lock(&s->lock);
	struct lease *rl = lease_find(s, renewed);
	CHECK(rl == NULL || rl->due_ms > now, "the renewed lease was not moved down the heap");
	pthread_mutex_unlock(&s->lock);
	json_decref(recs);
	free(text);
	/* Nothing more is due: a second pass ends nothing. */
	before = journal_last_seq(j);
	store_expire(s);
	CHECK(journal_last_seq(j) == before, "a second store_expire journaled %llu records",
	    (unsigned long long)(journal_last_seq(j) - before));
	tallies_hold(s, "expiry");
}

#define MANY 3000

/* Ids across pools, and across the hash table's growth. */
static void
test_lookup(struct store *s)
{
	static char ids[MANY][SL_ID_MAX + 1];
	char lic[SL_ID_MAX + 1], err[64], user[16];
	unsigned st;

	/* Past the hash table's first size (1024): it grows meanwhile. */
	for (int i = 0; i < MANY; i++) {
		snprintf(user, sizeof(user), "m%d", i);
		st = checkout(s, "view", NULL, NULL, user, "h", NULL, ids[i], lic);
		if (st != 201) {
			CHECK(0, "view seat %d of %d: HTTP %u %s", i, MANY, st, lic);
			return;
		}
	}
	CHECK(s->nbuckets >= MANY, "the hash has %zu buckets for %zu leases", s->nbuckets,
	    s->nleases);
	for (int i = 0; i < MANY; i += 2)
		call(store_checkin, s, ids[i], NULL, NULL);
	int lost = 0, kept = 0;
	for (int i = 0; i < MANY; i++) {
		int own = store_lease_pool_own(s, ids[i]);
		if (i % 2 == 0)
			kept += own != -1;
		else
			lost += own != 1;
	}
	CHECK(lost == 0 && kept == 0, "after %d grants and %d checkins: %d live leases not "
	    "found, %d checked in found", MANY, MANY / 2, lost, kept);

	/* A Primary's pool backed up here: its license, one lease mirrored. */
	struct pool *p = store_add_pool(s, "lic0", "http://lic0.example:7070");
	json_t *defs = unit_licenses(3);
	store_pool_set_licenses(s, p, defs);
	json_decref(defs);
	const char *mid = "0123456789abcdef0123456789abcdef";
	json_t *recs = json_pack("[{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I}}]",
	    "op", "grant", "lease", "id", mid, "license", "cad-0", "product", "cad", "pool", "lic0",
	    "client", "c", "user", "ivan", "host", "h", "pid", 1, "since", 1,
	    "expires_ms", (json_int_t)(now_ms() + 60000));
	size_t nrecs = 0;
	store_mirror_records(s, p, recs, NULL, 0, &nrecs);
	json_decref(recs);
	/* The same as text, as a poll brings it: a second seat, a third
	 * granted and ended, and a heartbeat of the first. */
	const char *mid2 = "fedcba9876543210fedcba9876543210";
	char raw[1024];
	long long later = (long long)now_ms() + 90000;
	int rl = snprintf(raw, sizeof(raw), "[{\"op\":\"grant\",\"lease\":{\"id\":\"%s\","
	    "\"license\":\"cad-0\",\"product\":\"cad\",\"pool\":\"lic0\",\"client\":\"c\","
	    "\"user\":\"jo\",\"host\":\"h\",\"pid\":2,\"since\":1,\"expires_ms\":%lld},\"seq\":2},"
	    "{\"op\":\"grant\",\"lease\":{\"id\":\"gone-0123456789abcdef0123456789ab\","
	    "\"license\":\"cad-0\",\"pool\":\"lic0\"}},{\"op\":\"release\",\"lease\":"
	    "{\"id\":\"gone-0123456789abcdef0123456789ab\",\"pool\":\"lic0\"}},"
	    "{\"op\":\"renew\",\"lease\":{\"id\":\"%s\",\"pool\":\"lic0\",\"expires_ms\":%lld}},"
	    "{\"op\":\"grant\",\"lease\":{\"id\":\"other-pool-0123456789abcdef0123\","
	    "\"pool\":\"lic9\"}}]", mid2, later, mid, later);
	CHECK(js_fast_valid(raw, (size_t)rl), "mirror records: not fast-valid: %s", raw);
	size_t held = store_mirror_records(s, p, NULL, raw, (size_t)rl, &nrecs);
	CHECK(held == 2 && nrecs == 5, "mirror records as text: %zu leases held, %zu records "
	    "read; not 2 and 5", held, nrecs);
	pthread_mutex_lock(&s->lock);
	json_t *renewed = json_object_get(p->mirror, mid);
	json_t *rec = renewed != NULL ? js_loadb(json_string_value(renewed),
	    json_string_length(renewed), NULL) : NULL;
	pthread_mutex_unlock(&s->lock);
	CHECK(js_int(rec, "expires_ms", 0) == later && strcmp(js_str(rec, "user", ""), "ivan") == 0,
	    "a renew as text: the mirrored lease is %s", rec ? json_dumps(rec, 0) : "gone");
	json_decref(rec);
	/* A member named twice counts as jansson reads it, the last: the
	 * lease is kept as it decodes, with one. */
	const char *mid3 = "abababababababababababababababab";
	rl = snprintf(raw, sizeof(raw), "[{\"op\":\"grant\",\"lease\":{\"id\":\"%s\","
	    "\"license\":\"nope\",\"pool\":\"lic0\",\"license\":\"cad-0\"}}]", mid3);
	held = store_mirror_records(s, p, NULL, raw, (size_t)rl, &nrecs);
	char twice[SL_ID_MAX + 1] = "";
	pthread_mutex_lock(&s->lock);
	json_t *twice_v = json_object_get(p->mirror, mid3);
	int got = twice_v != NULL ? mirror_lease_license(twice_v, twice, sizeof(twice)) : -1;
	const char *kt = json_string_value(twice_v);
	pthread_mutex_unlock(&s->lock);
	CHECK(held == 3 && got == 0 && strcmp(twice, "cad-0") == 0 && kt != NULL &&
	    strstr(strstr(kt, "\"license\"") + 1, "\"license\"") == NULL,
	    "a license named twice: kept as %s", kt ? kt : "nothing");
	rl = snprintf(raw, sizeof(raw), "[{\"op\":\"release\",\"lease\":{\"id\":\"%s\","
	    "\"pool\":\"lic0\"}}]", mid3);
	held = store_mirror_records(s, p, NULL, raw, (size_t)rl, &nrecs);
	CHECK(held == 2, "the lease named twice was not released: %zu held", held);

	/* Warm: the Primary answers for its seat; this server does not hold it. */
	st = call(store_heartbeat, s, mid, NULL, err);
	CHECK(st == 503 && strcmp(err, "not_serving") == 0, "heartbeat of a mirrored seat "
	    "while warm: HTTP %u %s, not 503 not_serving", st, err);
	CHECK(store_lease_pool_own(s, mid) == -1, "a mirrored seat is held here while warm");
	st = checkout(s, "cad", "lic0", NULL, "ivan", "h", NULL, NULL, lic);
	CHECK(st == 503 && strcmp(lic, "not_serving") == 0, "checkout in a warm pool: HTTP "
	    "%u %s", st, lic);

	pthread_mutex_lock(&s->lock);
	p->status = POOL_WARM;
	p->fenced_until_ms = 0;
	pthread_mutex_unlock(&s->lock);
	store_takeover(s, p);
	CHECK(p->status == POOL_HOT_RETRY, "takeover: pool %s", pool_status_str(p->status));
	CHECK(store_lease_pool_own(s, mid) == 0, "the adopted seat: pool_own %d, not 0",
	    store_lease_pool_own(s, mid));
	CHECK(store_lease_pool_own(s, mid2) == 0, "the seat mirrored as text: pool_own %d, "
	    "not 0", store_lease_pool_own(s, mid2));
	CHECK(store_lease_pool_own(s, ids[1]) == 1, "an own seat: pool_own %d, not 1",
	    store_lease_pool_own(s, ids[1]));
	st = call(store_heartbeat, s, mid, "lic0", err);
	CHECK(st == 200, "heartbeat of the adopted seat: HTTP %u %s", st, err);

	/* One id, one seat: not again in another pool, nor for another product. */
	st = checkout(s, "cad", "lic0", ids[1], "m1", "h", NULL, NULL, lic);
	CHECK(st == 409 && strcmp(lic, "lease_conflict") == 0, "an own lease id named in "
	    "pool lic0: HTTP %u %s, not 409 lease_conflict", st, lic);
	st = checkout(s, "view", NULL, mid, "ivan", "h", NULL, NULL, lic);
	CHECK(st == 409 && strcmp(lic, "lease_conflict") == 0, "pool lic0's lease id named "
	    "in the own pool: HTTP %u %s, not 409 lease_conflict", st, lic);
	st = checkout(s, "cad", "lic0", NULL, "judy", "h", NULL, NULL, lic);
	CHECK(st == 201 && strcmp(lic, "cad-0") == 0, "a seat of pool lic0: HTTP %u %s", st,
	    lic);
	st = checkout(s, "cad", "lic0", NULL, "judy", "h2", NULL, NULL, lic);
	CHECK(st == 409 && strcmp(lic, "no_seats") == 0, "lic0's cad is 3 seats, all held: "
	    "HTTP %u %s", st, lic);
	CHECK(in_use(s, "cad-1") == 0, "pool lic0's seats counted on the own cad-1 (%ld)",
	    in_use(s, "cad-1"));
	st = call(store_checkin, s, mid, "lic0", err);
	CHECK(st == 200, "checkin of the adopted seat: HTTP %u %s", st, err);
	CHECK(p->released != NULL && json_array_size(p->released) == 1 &&
	    strcmp(json_string_value(json_array_get(p->released, 0)), mid) == 0,
	    "the seat ended here is not in the pool's released list for the handback");
	tallies_hold(s, "lookup");
	heap_holds(s, "lookup");
}

int
main(int argc, char **argv)
{
	struct journal *j;

	if (argc != 2) {
		fprintf(stderr, "usage: leases DIR\n");
		return 2;
	}
	log_init("leases", 1, 0);
	struct store *s = new_store(argv[1], &j);
	test_count(s);
	test_tallies(s);
	test_expiry(s, j);
	test_lookup(s);
	journal_close(j);
	store_free(s);
	return failed;
}
