/*
 * What the store answers (test/12-server-units.bats runs this): the HTTP
 * status and error code of store_checkout, store_heartbeat, store_checkin
 * and store_revoke, which api.c sends as they are, and the journal record
 * each answer waits for. Among them:
 *
 *  - a grant's fields; a retry of a client-chosen id by its holder is the
 *    same seat (200, not counted again), by anyone else 409 lease_conflict;
 *  - unknown product or pool 404, expired or bound elsewhere 403, full 409;
 *  - a revoked seat answers 410 to its holder and 403 to a retry of its id,
 *    and a ban keeps that holder, and only it, from the license;
 *  - the usage policy of an options file: exclude 403 excluded, max 409
 *    max_reached, reserve 409 reserved, each naming its rule.
 *
 * (A client-chosen id's strength is checked by api.c before the store is
 * asked; the HTTP tests cover that.)
 *
 * usage: checkout DIR (an empty directory for the journal and files).
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
#include "policy.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define UNIT "checkout"
#include "unit.h"

/* This server is lic1.example; "bound" is another host's. */
static const char licenses_conf[] =
    "license \"cad-1\" { product = \"cad\" count = 2 expires = \"never\" host = \"any\" "
    "timeout = 30 }\n"
    "license \"sim-hard\" { product = \"sim\" count = 1 expires = \"never\" host = \"any\" "
    "timeout = 0 }\n"
    "license \"view\" { product = \"view\" count = \"unlimited\" expires = \"never\" "
    "host = \"any\" timeout = 60 }\n"
    "license \"old\" { product = \"old\" count = 5 expires = \"2020-01-31\" host = \"any\" "
    "timeout = 60 }\n"
    "license \"bound\" { product = \"bound\" count = 5 expires = \"never\" "
    "host = \"lic2.example\" timeout = 60 }\n"
    "license \"home\" { product = \"home\" count = 5 expires = \"never\" "
    "host = \"lic1.example\" timeout = 60 }\n"
    "license \"eda-1\" { product = \"eda\" count = 3 expires = \"never\" host = \"any\" "
    "timeout = 30 }\n";

static const char options_conf[] =
    "group \"eda-team\" { members = { \"alice\", \"bob\" } }\n"
    "product \"cad\" {\n"
    "  max = { \"1 user:*\" }\n"
    "  exclude = { \"user:mallory\" }\n"
    "}\n"
    "product \"eda\" { reserve = { \"2 group:eda-team\" } }\n";

#define L1 "job-0123456789abcdef0123456789abcdef"
#define L2 "job-aaaaaaaa0123456789abcdef01234567"
#define L3 "job-aaaaaaaa76543210fedcba9876543210"

static struct reply
co(struct store *s, const char *product, const char *pool, const char *lease,
    const char *client, const char *user, const char *host)
{
	struct checkout_req cr = { product, pool, lease, client, user, host, 42, NULL, 0, 0 };
	struct reply r;

	store_checkout(s, &cr, &r);
	return r;
}

/* The answer is status with error code (NULL: none); its body is let go. */
static void
expect(struct reply *r, unsigned status, const char *code, const char *what)
{
	const char *got = js_str(r->body, "error", NULL);

	CHECK(r->status == status, "%s: HTTP %u (%s), not %u", what, r->status,
	    got ? got : "no error", status);
	if (code != NULL)
		CHECK(got != NULL && strcmp(got, code) == 0, "%s: error %s, not %s", what,
		    got ? got : "none", code);
	else
		CHECK(got == NULL, "%s: error %s", what, got);
	if (r->status >= 400)
		CHECK(js_str(r->body, "message", "")[0] != '\0', "%s: no message", what);
	json_decref(r->body);
	r->body = NULL;
}

/* A checkout (as co) and its answer (as expect). */
static void
expect_co(struct store *s, const char *product, const char *pool, const char *lease,
    const char *client, const char *user, const char *host, unsigned status,
    const char *code, const char *what)
{
	struct reply r = co(s, product, pool, lease, client, user, host);

	expect(&r, status, code, what);
}

typedef void (*lease_call)(struct store *, const char *, const char *, struct reply *);

static void
expect_call(lease_call fn, struct store *s, const char *id, unsigned status, const char *code,
    const char *what)
{
	struct reply r;

	fn(s, id, NULL, &r);
	expect(&r, status, code, what);
}

static void
expect_revoke(struct store *s, const char *id, long for_seconds, unsigned status,
    const char *code, const char *what)
{
	struct reply r;

	store_revoke(s, id, for_seconds, "test", "unit", &r);
	expect(&r, status, code, what);
}

static long
license_field(struct store *s, const char *license, const char *key)
{
	json_t *arr = store_licenses_json(s), *v;
	long n = -1;
	size_t i;

	json_array_foreach(arr, i, v)
		if (strcmp(js_str(v, "id", ""), license) == 0)
			n = (long)js_int(v, key, -1);
	json_decref(arr);
	return n;
}

static void
write_file(const char *dir, const char *name, const char *text, char **pathp)
{
	char *path = util_path_join(dir, name);
	FILE *f;

	if (path == NULL || (f = fopen(path, "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0) {
		fprintf(stderr, "checkout: cannot write %s in %s\n", name, dir);
		exit(2);
	}
	*pathp = path;
}

/* A grant, its retries, and the refusals of a checkout. */
static void
test_checkout(struct store *s, struct journal *j)
{
	struct reply r = co(s, "cad", NULL, L1, "c1", "alice", "ws1");
	uint64_t grant_seq = r.wait_seq;

	CHECK(r.status == 201, "grant: HTTP %u", r.status);
	CHECK(strcmp(js_str(r.body, "lease", ""), L1) == 0 &&
	    strcmp(js_str(r.body, "license", ""), "cad-1") == 0 &&
	    strcmp(js_str(r.body, "product", ""), "cad") == 0 &&
	    strcmp(js_str(r.body, "pool", ""), "unit") == 0 &&
	    strcmp(js_str(r.body, "server", ""), "unit") == 0 &&
	    js_int(r.body, "expires_in", 0) == 30 &&
	    js_int(r.body, "heartbeat_interval", 0) == 10,
	    "grant: the answer's fields are not the lease's");
	CHECK(grant_seq > 0 && r.own_grant && !r.unconfirmed, "grant: waits for seq %llu, "
	    "own_grant %d, unconfirmed %d", (unsigned long long)grant_seq, r.own_grant,
	    r.unconfirmed);
	CHECK(journal_sync_to(j, grant_seq) == 0 && journal_is_durable(j, grant_seq),
	    "grant: its record is not made durable");
	expect(&r, 201, NULL, "grant");

	/* The same holder asking again: the same seat, answered once the
	 * grant is on disk. */
	r = co(s, "cad", NULL, L1, "c1", "alice", "ws1");
	CHECK(strcmp(js_str(r.body, "lease", ""), L1) == 0 &&
	    strcmp(js_str(r.body, "license", ""), "cad-1") == 0, "retry: another seat");
	CHECK(r.wait_seq >= grant_seq, "retry: waits for seq %llu, before the grant's %llu",
	    (unsigned long long)r.wait_seq, (unsigned long long)grant_seq);
	expect(&r, 200, NULL, "retry by the holder");
	CHECK(license_field(s, "cad-1", "in_use") == 1, "after a retry: %ld seats in use, "
	    "not 1", license_field(s, "cad-1", "in_use"));

	/* Anyone else naming the id would share one counted seat. */
	expect_co(s, "cad", NULL, L1, "c2", "alice", "ws1", 409, "lease_conflict",
	    "the id from another client");
	expect_co(s, "cad", NULL, L1, "c1", "bob", "ws1", 409, "lease_conflict",
	    "the id from another user");
	expect_co(s, "cad", NULL, L1, "c1", "alice", "ws2", 409, "lease_conflict",
	    "the id from another host");
	expect_co(s, "view", NULL, L1, "c1", "alice", "ws1", 409, "lease_conflict",
	    "the id for another product");
	CHECK(license_field(s, "cad-1", "in_use") == 1, "after conflicts: %ld seats in use, "
	    "not 1", license_field(s, "cad-1", "in_use"));

	expect_co(s, "nope", NULL, NULL, "c1", "alice", "ws1", 404, "unknown_product",
	    "unknown product");
	expect_co(s, "cad", "nowhere", NULL, "c1", "alice", "ws1", 404, "unknown_pool",
	    "unknown pool");
	expect_co(s, "old", NULL, NULL, "c1", "alice", "ws1", 403, "expired",
	    "expired license");
	expect_co(s, "bound", NULL, NULL, "c1", "alice", "ws1", 403, "wrong_host",
	    "license bound to another host");
	expect_co(s, "home", NULL, NULL, "c1", "alice", "ws1", 201, NULL,
	    "license bound to this host");

	/* Full: refused and counted as a failure of the license. */
	expect_co(s, "cad", NULL, NULL, "c1", "bob", "ws1", 201, NULL,
	    "second cad seat");
	long fails = license_field(s, "cad-1", "fails");
	expect_co(s, "cad", NULL, NULL, "c1", "carol", "ws1", 409, "no_seats",
	    "third cad seat of 2");
	CHECK(license_field(s, "cad-1", "fails") == fails + 1, "a refusal for want of seats "
	    "counted %ld fails, not %ld", license_field(s, "cad-1", "fails"), fails + 1);

	store_heartbeat(s, L1, NULL, &r);
	CHECK(js_int(r.body, "expires_in", 0) == 30 &&
	    js_int(r.body, "heartbeat_interval", 0) == 10, "heartbeat: expires_in %lld, "
	    "heartbeat_interval %lld", js_int(r.body, "expires_in", 0),
	    js_int(r.body, "heartbeat_interval", 0));
	expect(&r, 200, NULL, "heartbeat");
	expect_call(store_heartbeat, s, "job-ffffffffffffffffffffffffffffffff", 404,
	    "unknown_lease", "heartbeat of an unknown lease");

	store_checkin(s, L1, NULL, &r);
	CHECK(json_is_true(json_object_get(r.body, "released")) && r.wait_seq > grant_seq &&
	    r.own_grant, "checkin: released %s, waits for seq %llu",
	    json_is_true(json_object_get(r.body, "released")) ? "true" : "not true",
	    (unsigned long long)r.wait_seq);
	expect(&r, 200, NULL, "checkin");
	expect_call(store_checkin, s, L1, 404, "unknown_lease", "a second checkin");
	expect_call(store_heartbeat, s, L1, 404, "unknown_lease", "heartbeat after checkin");
	expect_co(s, "cad", NULL, NULL, "c1", "carol", "ws1", 201, NULL,
	    "the seat freed by the checkin");

	/* A hard seat: held for good once its holder is known to have it. */
	r = co(s, "sim", NULL, L2, "c1", "dave", "ws1");
	CHECK(r.unconfirmed == 1 && js_int(r.body, "heartbeat_interval", -1) == 0,
	    "hard seat: unconfirmed %d, heartbeat_interval %lld", r.unconfirmed,
	    js_int(r.body, "heartbeat_interval", -1));
	expect(&r, 201, NULL, "hard seat");
	store_list_leases(s, "sim", 0, &r);
	CHECK(json_is_integer(json_object_get(json_array_get(json_object_get(r.body, "leases"),
	    0), "expires_in")), "an unconfirmed hard seat has no end");
	json_decref(r.body);
	expect_co(s, "sim", NULL, L2, "c1", "dave", "ws1", 200, NULL,
	    "hard seat asked again by its holder");
	store_list_leases(s, "sim", 0, &r);
	CHECK(json_is_null(json_object_get(json_array_get(json_object_get(r.body, "leases"), 0),
	    "expires_in")), "a hard seat its holder asked for again still ends");
	json_decref(r.body);
}

/* Revoked seats, their tombstones, bans, and prefixes. */
static void
test_revoke(struct store *s)
{
	struct reply r = co(s, "view", NULL, L3, "c1", "erin", "ws1");

	expect(&r, 201, NULL, "erin's seat");
	long in_use = license_field(s, "view", "in_use");
	store_revoke(s, L3, 0, "test", "unit", &r);
	CHECK(strcmp(js_str(r.body, "lease", ""), L3) == 0 &&
	    json_is_true(json_object_get(r.body, "revoked")) && r.wait_seq > 0,
	    "revoke: lease %s, revoked %s, waits for seq %llu", js_str(r.body, "lease", ""),
	    json_is_true(json_object_get(r.body, "revoked")) ? "true" : "not true",
	    (unsigned long long)r.wait_seq);
	expect(&r, 200, NULL, "revoke");
	CHECK(license_field(s, "view", "in_use") == in_use - 1, "a revoked seat is still "
	    "counted");
	expect_call(store_heartbeat, s, L3, 410, "revoked", "heartbeat of a revoked seat");
	expect_call(store_checkin, s, L3, 410, "revoked", "checkin of a revoked seat");
	expect_revoke(s, L3, 0, 410, "revoked", "a second revoke");
	expect_co(s, "view", NULL, L3, "c1", "erin", "ws1", 403, "revoked",
	    "the revoked id asked for again by its holder");
	CHECK(license_field(s, "view", "in_use") == in_use - 1, "a revoked id asked for "
	    "again took a seat");
	/* Without a ban, the holder may have another seat. */
	expect_co(s, "view", NULL, NULL, "c1", "erin", "ws1", 201, NULL,
	    "erin's new seat after a revoke without a ban");

	/* Prefixes of 6 or more name one live lease, or are refused. */
	char a[SL_ID_MAX + 1], b[SL_ID_MAX + 1];
	r = co(s, "view", NULL, "job-bbbbbbbb0123456789abcdef01234567", "c1", "fay", "ws1");
	util_strlcpy(a, js_str(r.body, "lease", ""), sizeof(a));
	expect(&r, 201, NULL, "fay's seat");
	r = co(s, "view", NULL, "job-bbbbbbbb76543210fedcba9876543210", "c1", "fay", "ws2");
	util_strlcpy(b, js_str(r.body, "lease", ""), sizeof(b));
	expect(&r, 201, NULL, "fay's second seat");
	expect_revoke(s, "job-bbbbbbbb", 0, 409, "ambiguous", "a prefix of two leases");
	expect_revoke(s, "job-cccccccc", 0, 404, "unknown_lease", "a prefix of none");
	expect_revoke(s, "job-bbbbbbbb7654", 0, 200, NULL, "a prefix of one");
	expect_call(store_heartbeat, s, b, 410, "revoked", "the lease revoked by prefix");
	expect_call(store_heartbeat, s, a, 200, NULL, "the other lease of the prefix");

	/* A ban: this holder, this license, for a while. */
	expect_revoke(s, a, 60, 200, NULL, "revoke for 60 s");
	expect_co(s, "view", NULL, NULL, "c1", "fay", "ws1", 403, "revoked",
	    "the banned holder");
	expect_co(s, "view", NULL, NULL, "c1", "fay", "ws3", 201, NULL,
	    "the same user on another host");
	expect_co(s, "view", NULL, NULL, "c1", "gus", "ws1", 201, NULL, "another user");

	/* The server's own limit on live leases. */
	s->max_leases = (long)s->live;
	expect_co(s, "view", NULL, NULL, "c1", "gus", "ws2", 503,
	    "too_many_leases_total", "past max_leases");
	s->max_leases = 0;
}

/* The checkouts of test_policy in turn, with the answer each gets: cad
 * excludes mallory and gives each user one seat; eda has 3 seats, 2 of them
 * for eda-team until it uses them. A denial by the policy names its rule. */
static const struct policy_step {
	const char *product, *lease, *user, *host;
	unsigned status;
	const char *code, *rule, *what;
} policy_steps[] = {
	{ "cad", NULL, "mallory", "ws1", 403, "excluded", "exclude \"user:mallory\"",
	  "an excluded user" },
	{ "cad", L1, "alice", "ws1", 201, NULL, NULL, "alice's one cad seat" },
	{ "cad", L1, "alice", "ws1", 200, NULL, NULL,
	  "alice's retry of her seat (not a second one)" },
	{ "cad", NULL, "alice", "ws2", 409, "max_reached", "max \"1 user:*\"",
	  "alice's second cad seat (max 1 user:*)" },
	{ "cad", NULL, "bob", "ws1", 201, NULL, NULL, "bob's cad seat" },
	{ "eda", NULL, "carol", "ws1", 201, NULL, NULL, "carol takes the unreserved eda seat" },
	{ "eda", NULL, "dave", "ws1", 409, "reserved", "reserve \"2 group:eda-team\"",
	  "dave asks for a reserved eda seat" },
	{ "eda", NULL, "alice", "ws1", 201, NULL, NULL, "alice takes a reserved seat" },
	{ "eda", NULL, "bob", "ws1", 201, NULL, NULL, "bob takes a reserved seat" },
	{ "eda", NULL, "dave", "ws1", 409, "no_seats", NULL, "dave, eda full" },
	{ NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL }
};

/* The usage policy of an options file. */
static void
test_policy(struct store *s, const char *dir, const struct license_set *set)
{
	struct policy *pol = NULL;
	char err[2048], *path;
	struct reply r;

	write_file(dir, "options.conf", options_conf, &path);
	if (policy_load(path, set, &pol, err, sizeof(err)) != 0) {
		CHECK(0, "options file: %s", err);
		free(path);
		return;
	}
	free(path);
	store_set_policy(s, pol);
	/* Free cad's seats: carol's and bob's. */
	store_list_leases(s, "cad", 0, &r);
	json_t *v;
	size_t i;
	json_array_foreach(json_object_get(r.body, "leases"), i, v)
		expect_call(store_checkin, s, js_str(v, "lease", ""), 200, NULL, "cad checkin");
	json_decref(r.body);

	for (const struct policy_step *st = policy_steps; st->product != NULL; st++) {
		r = co(s, st->product, NULL, st->lease, "c1", st->user, st->host);
		if (st->rule != NULL)
			CHECK(strcmp(js_str(r.body, "rule", ""), st->rule) == 0, "%s: rule %s",
			    st->code, js_str(r.body, "rule", "(none)"));
		expect(&r, st->status, st->code, st->what);
	}
	CHECK(s->policy_denials[0] == 1 && s->policy_denials[1] == 1 &&
	    s->policy_denials[2] == 1, "policy denials by reason: excluded %llu, max_reached "
	    "%llu, reserved %llu; not 1 each", (unsigned long long)s->policy_denials[0],
	    (unsigned long long)s->policy_denials[1], (unsigned long long)s->policy_denials[2]);

	/* No policy: mallory may, and alice may take a second seat. */
	store_set_policy(s, NULL);
	expect_co(s, "eda", NULL, NULL, "c1", "mallory", "ws1", 409, "no_seats",
	    "eda full without a policy");
	expect_call(store_checkin, s, L1, 200, NULL, "alice's cad checkin");
	expect_co(s, "cad", NULL, NULL, "c1", "mallory", "ws1", 201, NULL,
	    "mallory without a policy");
}

int
main(int argc, char **argv)
{
	struct license_set set;
	char err[1024], *path;

	if (argc != 2) {
		fprintf(stderr, "usage: checkout DIR\n");
		return 2;
	}
	log_init("checkout", 1, 0);
	write_file(argv[1], "licenses.conf", licenses_conf, &path);
	if (license_load(path, &set, err, sizeof(err)) != 0) {
		fprintf(stderr, "checkout: %s\n", err);
		return 2;
	}
	free(path);
	struct store *s = store_new("unit", "lic1.example");
	struct journal *j;
	if (s == NULL)
		return 2;
	store_set_licenses(s, &set, NULL);
	if ((j = journal_open(argv[1], 0, 1000000, 0, s, err, sizeof(err))) == NULL) {
		fprintf(stderr, "checkout: %s\n", err);
		return 2;
	}
	test_checkout(s, j);
	test_revoke(s);
	test_policy(s, argv[1], &set);
	journal_close(j);
	store_free(s);
	license_set_free(&set);
	return failed;
}
