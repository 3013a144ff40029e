/*
 * A backup's mirror of a Primary's pool on disk, mirrorlog.c
 * (test/12-server-units.bats runs this), fed sync answers as the poller
 * would be, without a network:
 *
 *  - a full copy and then incremental records, applied to the pool and
 *    saved as a base and journal lines, come back after a restart (leases,
 *    expiries, the Primary's epoch and sequence that a poll acknowledges),
 *    and a takeover then serves exactly those seats; the seats ended while
 *    serving come back as well, for the handback;
 *  - a mirror journal left from an older base (a stop between writing the
 *    base and starting its journal over) is refused: its records are not
 *    applied again;
 *  - records of another epoch than the one on disk are saved as a new base,
 *    not appended to the old chain;
 *  - a torn mirror journal keeps what held before the tear, and the
 *    restart acknowledges nothing (sequence 0: a full copy follows).
 *
 * usage: mirror DIR (an empty directory).
 * Prints what is wrong and exits 1, or exits 0.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "journal.h"
#include "json.h"
#include "license.h"
#include "log.h"
#include "mirrorlog.h"
#include "server.h"
#include "state.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define UNIT "mirror"
#include "unit.h"
#include "fixture.h"

#define ID_A "a0000000000000000000000000000000"
#define ID_B "b0000000000000000000000000000000"
#define ID_C "c0000000000000000000000000000000"
#define ID_D "d0000000000000000000000000000000"
#define ID_E "e0000000000000000000000000000000"
#define ID_F "f0000000000000000000000000000000"

static struct server srv;
static const char *dir;
static int64_t soon;		/* an expiry a minute from the start */

/* A lease of the Primary lic0 as its journal and snapshots carry it. */
static json_t *
lease(const char *id, int64_t expires_ms)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I}", "id", id,
	    "license", "cad-0", "product", "cad", "pool", "lic0", "client", "c", "user", "u",
	    "host", "h", "pid", 1, "since", 1, "expires_ms", (json_int_t)expires_ms);
}

static json_t *
record(const char *op, json_t *lease_json)
{
	return json_pack("{s:s, s:o}", "op", op, "lease", lease_json);
}

static void
good(void *arg)
{
	(*(int *)arg)++;
}

/* Apply a sync answer (consumed) as the poller does: sent as text, its
 * records appended as they came; saving a base when mirror_apply says so.
 * Returns whether it asked for one. */
static int
apply(struct pool *p, json_t *o, const char *what)
{
	char lic_gen[64] = "";
	int base = 0, goods = 0;
	size_t off = 0, rawlen = 0;
	char *text = json_dumps(o, JSON_COMPACT);
	json_t *sent = text != NULL ? json_loads(text, 0, NULL) : NULL;

	if (sent == NULL)
		exit(2);
	json_decref(o);
	const char *raw = js_member_span(text, strlen(text), "records", &off, &rawlen) == 0 ?
	    text + off : NULL;
	CHECK((raw != NULL) == json_is_array(json_object_get(sent, "records")),
	    "%s: the records' text was %sfound", what, raw ? "" : "not ");
	mirror_apply(&srv, p, sent, raw, rawlen, &base, lic_gen, sizeof(lic_gen), good, &goods);
	CHECK(goods == 1, "%s: the poll was called good %d times", what, goods);
	json_decref(sent);
	free(text);
	if (base)
		mirror_persist(&srv, p, 1);
	return base;
}

/* A new store with the pool lic0 backed up, its mirror loaded from disk. */
static struct pool *
start(void)
{
	srv.store = store_new("lic1", "");
	if (srv.store == NULL)
		exit(2);
	int is_new;
	struct pool *p = store_pool_add(srv.store, "lic0", "http://127.0.0.1:9", &is_new);
	if (p == NULL)
		exit(2);
	mirror_load(&srv, p);
	return p;
}

static void
stop(void)
{
	mirror_close_all();
	store_free(srv.store);
	srv.store = NULL;
}

/* The mirror holds exactly the ids given (a NULL-terminated list). */
static void
mirror_is(struct pool *p, const char *what, ...)
{
	va_list ap;
	const char *id;
	size_t n = 0;

	pthread_mutex_lock(&srv.store->lock);
	va_start(ap, what);
	while ((id = va_arg(ap, const char *)) != NULL) {
		n++;
		CHECK(json_object_get(p->mirror, id) != NULL, "%s: lease %s is not mirrored",
		    what, id);
	}
	va_end(ap);
	CHECK(json_object_size(p->mirror) == n, "%s: %zu leases mirrored, not %zu", what,
	    json_object_size(p->mirror), n);
	pthread_mutex_unlock(&srv.store->lock);
}

static int64_t
mirrored_expiry(struct pool *p, const char *id)
{
	/* A mirrored lease is kept as its text (pool.c). */
	pthread_mutex_lock(&srv.store->lock);
	json_t *v = json_object_get(p->mirror, id);
	json_t *rec = json_is_string(v) ? js_loadb(json_string_value(v), json_string_length(v),
	    NULL) : NULL;
	pthread_mutex_unlock(&srv.store->lock);
	int64_t e = js_int(rec, "expires_ms", -1);
	json_decref(rec);
	return e;
}

static void
durable_is(struct pool *p, uint64_t seq, const char *epoch, const char *what)
{
	char got[40];
	uint64_t s = mirror_durable(p, got, sizeof(got));

	CHECK(s == seq && strcmp(got, epoch) == 0, "%s: a poll would acknowledge %s seq "
	    "%llu, not %s seq %llu", what, got, (unsigned long long)s, epoch,
	    (unsigned long long)seq);
}

static char *
path_of(const char *name)
{
	char *p = util_path_join(dir, name);

	if (p == NULL)
		exit(2);
	return p;
}

/* Full copy, records, a restart, a takeover, and the seats ended while
 * serving after another restart. Returns the journal as it was after the
 * records (for test_stale). */
static char *
test_restart(size_t *old_len)
{
	struct pool *p = start();

	durable_is(p, 0, "", "nothing on disk");
	json_t *o = json_pack("{s:b, s:s, s:I, s:o, s:s, s:[ooo]}", "full", 1, "epoch", "E1",
	    "seq", (json_int_t)5, "licenses", unit_licenses(5), "licenses_gen", "g1", "leases",
	    lease(ID_A, soon), lease(ID_B, soon), lease(ID_C, soon));
	CHECK(apply(p, o, "full copy") == 1, "a full copy was not saved as a base");
	durable_is(p, 5, "E1", "after a full copy");
	mirror_is(p, "full copy", ID_A, ID_B, ID_C, NULL);

	o = json_pack("{s:s, s:I, s:[oooo]}", "epoch", "E1", "seq", (json_int_t)9, "records",
	    record("grant", lease(ID_D, soon)), record("release",
	    json_pack("{s:s, s:s}", "id", ID_A, "pool", "lic0")),
	    record("renew", json_pack("{s:s, s:s, s:I}", "id", ID_B, "pool", "lic0",
	    "expires_ms", (json_int_t)(soon + 30000))),
	    record("confirm", json_pack("{s:s, s:s}", "id", ID_C, "pool", "lic0")));
	CHECK(apply(p, o, "records") == 0, "records of the same epoch were saved as a new "
	    "base, not appended");
	durable_is(p, 9, "E1", "after records");
	mirror_is(p, "records", ID_B, ID_C, ID_D, NULL);

	char *lpath = path_of("mirror-lic0.journal");
	char *old = unit_read_file(lpath, old_len);
	stop();

	p = start();
	mirror_is(p, "after a restart", ID_B, ID_C, ID_D, NULL);
	CHECK(mirrored_expiry(p, ID_B) == soon + 30000, "after a restart the renewed lease "
	    "expires at %lld, not %lld", (long long)mirrored_expiry(p, ID_B),
	    (long long)(soon + 30000));
	CHECK(mirrored_expiry(p, ID_C) == 0, "after a restart the confirmed hard seat "
	    "expires at %lld", (long long)mirrored_expiry(p, ID_C));
	durable_is(p, 9, "E1", "after a restart");

	/* The Primary is gone: the seats mirrored are the ones served. */
	char err[512], *jdir = path_of("journal-lic1");
	struct journal *j;
	if (mkdir(jdir, 0700) != 0 ||
	    (j = journal_open(jdir, 0, 1000000, 0, srv.store, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mirror: journal in %s: %s\n", jdir, err);
		exit(2);
	}
	store_takeover(srv.store, p);
	mirror_save(&srv, p);
	CHECK(p->status == POOL_HOT_RETRY, "takeover: pool lic0 is %s",
	    pool_status_str(p->status));
	json_t *lics = store_licenses_json(srv.store), *v;
	size_t i;
	long in_use = -1;
	json_array_foreach(lics, i, v)
		if (strcmp(js_str(v, "id", ""), "cad-0") == 0)
			in_use = (long)js_int(v, "in_use", -1);
	json_decref(lics);
	CHECK(in_use == 3, "after a takeover cad-0 has %ld seats in use, not 3", in_use);
	struct reply r;
	store_heartbeat(srv.store, ID_D, "lic0", &r);
	CHECK(r.status == 200, "heartbeat of a seat mirrored before a restart: HTTP %u",
	    r.status);
	json_decref(r.body);
	store_heartbeat(srv.store, ID_A, "lic0", &r);
	CHECK(r.status == 404, "heartbeat of a seat released before the restart: HTTP %u",
	    r.status);
	json_decref(r.body);
	store_checkin(srv.store, ID_D, "lic0", &r);
	CHECK(r.status == 200, "checkin while serving: HTTP %u", r.status);
	json_decref(r.body);
	journal_sync_to(j, r.wait_seq);
	mirror_persist(&srv, p, 1);
	journal_close(j);
	stop();

	p = start();
	pthread_mutex_lock(&srv.store->lock);
	CHECK(json_array_size(p->released) == 1 &&
	    strcmp(json_string_value(json_array_get(p->released, 0)), ID_D) == 0,
	    "after a restart the seats ended while serving are %zu, not [%s]",
	    json_array_size(p->released), ID_D);
	pthread_mutex_unlock(&srv.store->lock);
	stop();
	free(jdir);
	free(lpath);
	return old;
}

/* A journal of an older base, as a stop between a new base and its
 * journal leaves it: not applied. */
static void
test_stale(const char *old, size_t old_len)
{
	struct pool *p = start();
	char *lpath = path_of("mirror-lic0.journal");

	/* The Primary restarted: a full copy of another epoch, one seat. */
	json_t *o = json_pack("{s:b, s:s, s:I, s:o, s:s, s:[o]}", "full", 1, "epoch", "E2",
	    "seq", (json_int_t)3, "licenses", unit_licenses(5), "licenses_gen", "g2", "leases",
	    lease(ID_E, soon));
	CHECK(apply(p, o, "full copy of E2") == 1, "a full copy was not saved as a base");
	durable_is(p, 3, "E2", "after a full copy of E2");
	stop();
	unit_write_file(lpath, old, old_len);

	p = start();
	mirror_is(p, "the journal of an older base beside a new one", ID_E, NULL);
	durable_is(p, 3, "E2", "the journal of an older base beside a new one");

	/* Records go on: the first in a new base (the journal was refused),
	 * the next appended to it. */
	o = json_pack("{s:s, s:I, s:[o]}", "epoch", "E2", "seq", (json_int_t)4, "records",
	    record("grant", lease(ID_F, soon)));
	apply(p, o, "records after a refused journal");
	o = json_pack("{s:s, s:I, s:[o]}", "epoch", "E2", "seq", (json_int_t)5, "records",
	    record("grant", lease(ID_A, soon)));
	CHECK(apply(p, o, "records after a new base") == 0, "records after a new base were "
	    "not appended");
	durable_is(p, 5, "E2", "records after a new base");

	/* Records of another epoch than the one on disk: a new base, then
	 * appended to. */
	o = json_pack("{s:s, s:I, s:[o]}", "epoch", "E3", "seq", (json_int_t)2, "records",
	    record("release", json_pack("{s:s, s:s}", "id", ID_E, "pool", "lic0")));
	CHECK(apply(p, o, "records of another epoch") == 1, "records of epoch E3 were "
	    "appended to a chain of epoch E2");
	durable_is(p, 2, "E3", "records of another epoch");
	o = json_pack("{s:s, s:I, s:[o]}", "epoch", "E3", "seq", (json_int_t)3, "records",
	    record("grant", lease(ID_B, soon)));
	CHECK(apply(p, o, "records of E3") == 0, "records of E3 after its base were not "
	    "appended");
	mirror_is(p, "records of E3", ID_F, ID_A, ID_B, NULL);
	stop();
	p = start();
	mirror_is(p, "a restart after records of another epoch", ID_F, ID_A, ID_B, NULL);
	durable_is(p, 3, "E3", "a restart after records of another epoch");
	stop();

	/* The journal torn in the middle of a line after those. */
	size_t len, rl;
	char *text = unit_read_file(lpath, &len);
	const char *line = "{\"seq\":4,\"epoch\":\"E3\",\"records\":[]}";
	char *rec = state_journal_record(line, strlen(line), &rl);
	char *torn = malloc(len + rl);
	if (rec == NULL || torn == NULL)
		exit(2);
	memcpy(torn, text, len);
	memcpy(torn + len, rec, rl / 2);
	unit_write_file(lpath, torn, len + rl / 2);
	free(rec);
	free(torn);
	free(text);
	p = start();
	mirror_is(p, "a torn mirror journal", ID_F, ID_A, ID_B, NULL);
	durable_is(p, 0, "", "a torn mirror journal");
	stop();
	free(lpath);
}

/* js_loadb_fast decodes what it takes as jansson does; what it leaves
 * (escapes, bytes >= 0x80, reals, deep nesting) js_loadb decodes with
 * jansson; what is malformed neither takes. */
static void
test_fast_decode(void)
{
	enum { FAST, SLOW, BAD };
	static const struct {
		const char *text;
		int how;
	} cases[] = {
		{ "{\"op\":\"grant\",\"lease\":{\"id\":\"0123456789abcdef0123456789abcdef\","
		    "\"pid\":10018,\"expires_ms\":1796528358215,\"hard\":false,\"x\":null},"
		    "\"seq\":118377}", FAST },
		{ " [ 0 , -0, 7,-45, 123456789012345678, -123456789012345678 ] ", FAST },
		{ "{\"a\":[],\"b\":{},\"c\":[[{}]],\"d\":true,\"e\":false}\n", FAST },
		{ "{\"k\":1,\"k\":2}", FAST },
		{ "{\"s\":\"a b~\\\"c\"}", SLOW },
		{ "{\"s\":\"\\u00e9\"}", SLOW },
		{ "{\"s\":\"\xc3\xa9\"}", SLOW },
		{ "[1.5]", SLOW },
		{ "[1e3]", SLOW },
		{ "[1234567890123456789]", SLOW },
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		    SLOW },
		{ "", BAD }, { "  ", BAD }, { "{", BAD }, { "{\"a\":}", BAD },
		{ "{\"a\":1,}", BAD }, { "[1,]", BAD }, { "[01]", BAD }, { "[-]", BAD },
		{ "[tru]", BAD }, { "{} x", BAD }, { "\"str\"", BAD }, { "7", BAD },
		{ "{\"a\" 1}", BAD }, { "[1 2]", BAD }, { "{\"a\":\"b}", BAD },
		{ "[\"\x01\"]", BAD },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		json_error_t err;
		json_t *a = json_loadb(t, strlen(t), 0, &err);
		json_t *f = js_loadb_fast(t, strlen(t));
		json_t *l = js_loadb(t, strlen(t), &err);
		CHECK(js_fast_valid(t, strlen(t)) == (cases[i].how == FAST),
		    "fast decode %zu: js_fast_valid is not what the fast path takes: %s", i, t);
		switch (cases[i].how) {
		case FAST:
			CHECK(a != NULL && f != NULL && json_equal(a, f) && json_equal(a, l),
			    "fast decode %zu: not what jansson decodes: %s", i, t);
			break;
		case SLOW:
			CHECK(a != NULL && f == NULL && l != NULL && json_equal(a, l),
			    "fast decode %zu: taken by the fast path, or not as jansson: %s", i, t);
			break;
		default:
			CHECK(a == NULL && f == NULL && l == NULL,
			    "fast decode %zu: malformed, yet decoded: %s", i, t);
			break;
		}
		json_decref(a);
		json_decref(f);
		json_decref(l);
	}
	/* A NUL inside is not white space. */
	CHECK(js_loadb_fast("[1]\0", 4) == NULL && js_loadb("[1]\0", 4, NULL) == NULL,
	    "fast decode: a NUL after the value was taken");
}

/* js_member_span finds a top-level member's value as text, whatever the
 * strings and the nested members around it hold. */
static void
test_member_span(void)
{
	static const struct {
		const char *text, *key, *value;
	} cases[] = {
		{ "{\"records\":[1,2]}", "records", "[1,2]" },
		{ "{ \"a\" : {\"records\":[9]}, \"records\" : [ {\"x\":\"]}\"} ] }", "records",
		    "[ {\"x\":\"]}\"} ]" },
		{ "{\"s\":\"\\\",\\\"records\\\":[7]\",\"records\":[]}", "records", "[]" },
		{ "{\"s\":\"x\\\\\",\"records\":[3]}", "records", "[3]" },
		{ "{\"seq\":12,\"full\":false}", "seq", "12" },
		{ "{\"seq\":12,\"full\":false}", "full", "false" },
		{ "{\"a\":[\"records\"],\"b\":{\"records\":1}}", "records", NULL },
		{ "[\"records\",1]", "records", NULL },
		{ "{\"records\":1,\"records\":[2]}", "records", "[2]" },
		{ "{\"records\":}", "records", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = 0, len = 0;
		int rc = js_member_span(cases[i].text, strlen(cases[i].text), cases[i].key, &off,
		    &len);
		if (cases[i].value == NULL) {
			CHECK(rc == -1, "member span %zu: found \"%.*s\" where there is none", i,
			    (int)len, cases[i].text + off);
			continue;
		}
		CHECK(rc == 0 && len == strlen(cases[i].value) &&
		    memcmp(cases[i].text + off, cases[i].value, len) == 0,
		    "member span %zu: \"%.*s\", not \"%s\"", i, rc == 0 ? (int)len : 0,
		    cases[i].text + off, cases[i].value);
	}
	/* js_member_first stops at the first of a repeated key. */
	const char *twice = "{\"a\":1,\"records\":\"x\",\"records\":[2]}";
	size_t off = 0, len = 0;
	CHECK(js_member_first(twice, strlen(twice), "records", &off, &len) == 0 && len == 3 &&
	    memcmp(twice + off, "\"x\"", 3) == 0, "member first: \"%.*s\", not \"x\"", (int)len,
	    twice + off);
}

/* js_iter walks the members of an object's text, and the elements of an
 * array's, as they were written. */
static void
test_iter(void)
{
	static const struct {
		const char *text, *want;	/* want: "key=value|..." */
	} cases[] = {
		{ "{\"op\":\"grant\",\"lease\":{\"id\":\"x\",\"n\":[1,{\"a\":\"}]\"}]},\"seq\":7}",
		    "op=\"grant\"|lease={\"id\":\"x\",\"n\":[1,{\"a\":\"}]\"}]}|seq=7|" },
		{ " { \"a\" : -12 , \"b\":true,\"c\" :null , \"d\":\"q\\\"\" } ",
		    "a=-12|b=true|c=null|d=\"q\\\"\"|" },
		{ "[ 1,\"two\" ,[3],{\"f\":4} ]", "=1|=\"two\"|=[3]|={\"f\":4}|" },
		{ "[]", "" }, { "{}", "" },
	};
	char got[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct js_iter it;
		const char *k = NULL, *t = cases[i].text;
		size_t kl = 0, off, vl, n = 0;
		int rc;

		got[0] = '\0';
		CHECK(js_iter_init(&it, t, strlen(t)) == 0, "iter %zu: not started", i);
		while ((rc = js_iter_next(&it, &k, &kl, &off, &vl)) == 1)
			n += (size_t)snprintf(got + n, sizeof(got) - n, "%.*s=%.*s|",
			    it.obj ? (int)kl : 0, k, (int)vl, t + off);
		CHECK(rc == 0 && strcmp(got, cases[i].want) == 0, "iter %zu: rc %d, \"%s\", not "
		    "\"%s\"", i, rc, got, cases[i].want);
	}
	struct js_iter it;
	size_t off, vl;
	CHECK(js_iter_init(&it, "7", 1) == -1, "iter: a number is no container");
	CHECK(js_iter_init(&it, "[1", 2) == 0 && js_iter_next(&it, NULL, NULL, &off, &vl) == 1 &&
	    js_iter_next(&it, NULL, NULL, &off, &vl) == -1, "iter: an array without its end");
}

int
main(int argc, char **argv)
{
	size_t old_len;

	if (argc != 2) {
		fprintf(stderr, "usage: mirror DIR\n");
		return 2;
	}
	log_init("mirror", 1, 0);
	mirror_init();
	dir = argv[1];
	srv.cfg.state_dir = argv[1];
	srv.cfg.fsync = 1;
	soon = (int64_t)time(NULL) * 1000 + 60000;
	test_member_span();
	test_iter();
	test_fast_decode();
	char *old = test_restart(&old_len);
	test_stale(old, old_len);
	free(old);
	return failed;
}
