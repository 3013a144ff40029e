/*
 * The lease journal on disk (test/12-server-units.bats runs this), in
 * directories of its own under DIR:
 *
 *  - records appended by several threads are written in groups (fewer
 *    writes than records), each durable once journal_sync_to says so, and
 *    a start reads back exactly the leases, tombstones and sequence there
 *    were;
 *  - a torn tail (a record half written, or the last one damaged) is cut,
 *    and the start keeps everything before it;
 *  - a damaged record with good ones after it, or a record missing from
 *    the sequence, stops the start with the byte offset and the sequence
 *    numbers at fault, and the file is left as it was;
 *  - compactions while leases change keep every lease and tombstone.
 *
 * usage: journal DIR (an empty directory).
 * Prints what is wrong and exits 1, or exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "journal.h"
#include "journal_int.h"
#include "json.h"
#include "license.h"
#include "log.h"
#include "state.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define UNIT "journal"
#include "unit.h"
#include "fixture.h"

/* view: unlimited soft seats; sim: hard ones. */
static struct store *
new_store(void)
{
	struct license lic[2];
	struct license_set set = { .v = lic, .n = 2 };
	struct store *s = store_new("unit", "");

	if (s == NULL)
		exit(2);
	memset(lic, 0, sizeof(lic));
	for (int i = 0; i < 2; i++) {
		util_strlcpy(lic[i].id, i ? "sim" : "view", sizeof(lic[i].id));
		util_strlcpy(lic[i].product, i ? "sim" : "view", sizeof(lic[i].product));
		util_strlcpy(lic[i].expires, "never", sizeof(lic[i].expires));
		util_strlcpy(lic[i].host, "any", sizeof(lic[i].host));
		lic[i].count = i ? 1000 : LICENSE_UNLIMITED;
		lic[i].timeout = i ? 0 : 300;
		lic[i].expires_day = -1;
	}
	store_set_licenses(s, &set, NULL);
	return s;
}

static struct journal *
open_dir(const char *dir, struct store *s, long compact_after, int do_fsync)
{
	char err[1024];
	struct journal *j = journal_open(dir, do_fsync, compact_after, 0, s, err, sizeof(err));

	CHECK(j != NULL, "start in %s: %s", dir, err);
	return j;
}

static char *
subdir(const char *dir, const char *name)
{
	char *d = util_path_join(dir, name);

	if (d == NULL || mkdir(d, 0700) != 0) {
		fprintf(stderr, "journal: cannot make %s/%s: %s\n", dir, name, strerror(errno));
		exit(2);
	}
	return d;
}

/* The store's answer r to op on what (by someone, or NULL): it is want, else
 * say so; its body is let go, its sequence returned. */
static uint64_t
answered(struct reply *r, unsigned want, const char *op, const char *what, const char *by)
{
	CHECK(r->status == want, "%s of %s%s%s: HTTP %u", op, what, by ? " by " : "",
	    by ? by : "", r->status);
	json_decref(r->body);
	return r->wait_seq;
}

/* A checkout by user of a seat with id (NULL: the server's), granted
 * or not; returns the sequence its answer waits for. */
static uint64_t
checkout(struct store *s, const char *product, const char *id, const char *user)
{
	struct checkout_req cr = { product, NULL, id, "c", user, "h", 7, NULL, 0, 0 };
	struct reply r;

	store_checkout(s, &cr, &r);
	return answered(&r, 201, "checkout", product, user);
}

static uint64_t
checkin(struct store *s, const char *id)
{
	struct reply r;

	store_checkin(s, id, NULL, &r);
	return answered(&r, 200, "checkin", id, NULL);
}

static uint64_t
revoke_lease(struct store *s, const char *id)
{
	struct reply r;

	store_revoke(s, id, 0, "test", "unit", &r);
	return answered(&r, 200, "revoke", id, NULL);
}

static unsigned
heartbeat(struct store *s, const char *id)
{
	struct reply r;

	store_heartbeat(s, id, NULL, &r);
	json_decref(r.body);
	return r.status;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every lease, tombstones included, as sorted text: "id license user
 * expires_ms [revoked]", one a line. */
static char *
leases_of(struct store *s)
{
	size_t n = 0, len = 1;
	char **v, *out, *p;

	pthread_mutex_lock(&s->lock);
	v = calloc(s->nleases + 1, sizeof(*v));
	for (struct lease *l = s->head; v != NULL && l != NULL; l = l->next) {
		if (asprintf(&v[n], "%s %s %s %lld%s\n", l->id, l->lic->def.id, l->user,
		    (long long)l->journaled_ms, l->tomb_until_ms > 0 ? " revoked" : "") < 0)
			exit(2);
		len += strlen(v[n++]);
	}
	pthread_mutex_unlock(&s->lock);
	if (v == NULL || (out = malloc(len)) == NULL)
		exit(2);
	qsort(v, n, sizeof(*v), cmp_str);
	p = out;
	*p = '\0';
	for (size_t i = 0; i < n; i++) {
		p = stpcpy(p, v[i]);
		free(v[i]);
	}
	free(v);
	return out;
}

static size_t
lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* The offsets of the journal file's records (up to max); returns how many,
 * *end the offset after the last. */
static size_t
records_at(const char *text, size_t len, size_t *offs, size_t max, size_t *end)
{
	size_t off = strlen(STATE_JOURNAL_HEADER), next, n = 0;

	while (off < len && state_journal_record_at(text, len, off, &next)) {
		if (n < max)
			offs[n] = off;
		n++;
		off = next;
	}
	*end = off;
	return n;
}

/* The "seq" of the record at off. */
static long long
seq_at(const char *text, size_t off)
{
	const char *json = text + off + 9, *nl = strchr(json, '\n');
	json_t *o = json_loadb(json, nl ? (size_t)(nl - json) : strlen(json), 0, NULL);
	long long seq = js_int(o, "seq", -1);

	json_decref(o);
	return seq;
}

struct worker {
	struct store *s;
	struct journal *j;
	int n, k;
	int bad;
};

/* n checkouts, each waited for as an HTTP answer waits for its record. */
static void *
worker(void *arg)
{
	struct worker *w = arg;
	char user[32];

	for (int i = 0; i < w->n; i++) {
		snprintf(user, sizeof(user), "w%d-%d", w->k, i);
		uint64_t seq = checkout(w->s, "view", NULL, user);
		if (journal_sync_to(w->j, seq) != 0 || !journal_is_durable(w->j, seq))
			w->bad++;
	}
	return NULL;
}

#define APPENDS 200
#define WORKERS 4

/* Appends in groups, made durable, read back by a start. */
static void
test_load(const char *dir, char **want)
{
	struct store *s = new_store();
	struct journal *j = open_dir(dir, s, 1000000, 1);
	struct journal_stats st0, st1;
	char user[32];

	if (j == NULL)
		exit(1);
	journal_stats(j, &st0);
	for (int i = 0; i < APPENDS; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		checkout(s, i % 2 ? "view" : "sim", NULL, user);
	}
	uint64_t last = journal_last_seq(j);
	CHECK(last == APPENDS, "%d grants took the sequence to %llu", APPENDS,
	    (unsigned long long)last);
	CHECK(journal_sync_to(j, last) == 0 && journal_is_durable(j, last), "seq %llu is not "
	    "durable after journal_sync_to", (unsigned long long)last);
	journal_stats(j, &st1);
	CHECK(st1.records - st0.records == APPENDS, "%llu records counted for %d appends",
	    (unsigned long long)(st1.records - st0.records), APPENDS);
	CHECK(st1.commits - st0.commits <= APPENDS / 2 && st1.syncs >= 1, "%d records no one "
	    "waited for took %llu writes: not grouped", APPENDS,
	    (unsigned long long)(st1.commits - st0.commits));

	/* On disk as journal_sync_to said, while the journal is still open. */
	char *path = util_path_join(dir, "journal");
	size_t len, end, offs[1];
	char *text = util_read_file(path, &len);
	size_t n = text ? records_at(text, len, offs, 0, &end) : 0;
	CHECK(n == APPENDS, "the journal file holds %zu records, not %d", n, APPENDS);
	free(text);

	/* Threads waiting for their own records, as HTTP requests do. */
	struct worker w[WORKERS];
	pthread_t t[WORKERS];
	for (int k = 0; k < WORKERS; k++) {
		w[k] = (struct worker){ s, j, 25, k, 0 };
		if (pthread_create(&t[k], NULL, worker, &w[k]) != 0)
			exit(2);
	}
	for (int k = 0; k < WORKERS; k++) {
		pthread_join(t[k], NULL);
		CHECK(w[k].bad == 0, "worker %d: %d answers not durable when journal_sync_to "
		    "returned", k, w[k].bad);
	}

	/* Some seats end, one is revoked; then a restart. */
	struct reply r;
	store_list_leases(s, "view", 0, &r);
	json_t *ls = json_object_get(r.body, "leases");
	for (size_t i = 0; i < 10; i++)
		checkin(s, js_str(json_array_get(ls, i), "lease", ""));
	char revoked[SL_ID_MAX + 1];
	util_strlcpy(revoked, js_str(json_array_get(ls, 10), "lease", ""), sizeof(revoked));
	revoke_lease(s, revoked);
	json_decref(r.body);
	*want = leases_of(s);
	last = journal_last_seq(j);
	journal_close(j);
	store_free(s);

	s = new_store();
	if ((j = open_dir(dir, s, 1000000, 1)) != NULL) {
		char *got = leases_of(s);
		CHECK(strcmp(got, *want) == 0, "after a restart: %zu leases, not the %zu there "
		    "were (or not the same)", lines(got), lines(*want));
		CHECK(journal_last_seq(j) == last, "after a restart the sequence is %llu, not "
		    "%llu", (unsigned long long)journal_last_seq(j), (unsigned long long)last);
		CHECK(heartbeat(s, revoked) == 410, "the revoked seat after a restart: HTTP %u, "
		    "not 410", heartbeat(s, revoked));
		free(got);
		journal_close(j);
	}
	store_free(s);
	free(path);
}

/* Start again in dir; the leases must be want. */
static void
restart_holds(const char *dir, const char *want, const char *what)
{
	struct store *s = new_store();
	struct journal *j = open_dir(dir, s, 1000000, 1);

	if (j != NULL) {
		char *got = leases_of(s);
		CHECK(strcmp(got, want) == 0, "%s: %zu leases after the start, not the %zu before",
		    what, lines(got), lines(want));
		free(got);
		journal_close(j);
	}
	store_free(s);
}

/* A torn tail: cut, and everything before it kept. */
static void
test_torn(const char *dir, const char *want)
{
	char *path = util_path_join(dir, "journal");
	size_t len, end, offs[1];
	char *text = unit_read_file(path, &len);

	records_at(text, len, offs, 0, &end);
	/* Half a grant written where the next record goes, zeros after it
	 * (the room written ahead). */
	const char *json = "{\"op\":\"grant\",\"lease\":{\"id\":\"torn-0123456789abcdef\","
	    "\"license\":\"view\",\"product\":\"view\",\"pool\":\"unit\",\"client\":\"c\","
	    "\"user\":\"torn\",\"host\":\"h\",\"pid\":1,\"since\":1,\"expires_ms\":1},"
	    "\"seq\":99999}";
	size_t rl;
	char *rec = state_journal_record(json, strlen(json), &rl);
	int fd = open(path, O_WRONLY);
	if (rec == NULL || fd < 0 || pwrite(fd, rec, rl / 2, (off_t)end) != (ssize_t)(rl / 2)) {
		fprintf(stderr, "journal: cannot tear %s\n", path);
		exit(2);
	}
	close(fd);
	restart_holds(dir, want, "a record torn in half");
	free(text);
	text = util_read_file(path, &len);
	int zeros = text != NULL && len >= end + rl / 2;
	for (size_t i = end; zeros && i < end + rl / 2; i++)
		zeros = text[i] == '\0';
	CHECK(zeros, "the torn record is still in the journal after a start");
	free(text);
	free(rec);

	/* The last record whole but damaged, nothing after it: a tail too. */
	struct store *s = new_store();
	struct journal *j = open_dir(dir, s, 1000000, 1);
	if (j == NULL)
		exit(1);
	uint64_t seq = checkout(s, "view", "job-ffffffff0123456789abcdef01234567", "late");
	journal_sync_to(j, seq);
	journal_close(j);
	store_free(s);
	text = unit_read_file(path, &len);
	size_t offs2[2000];
	size_t n = records_at(text, len, offs2, 2000, &end);
	if (n == 0 || n > 2000)
		exit(2);
	char *user = strstr(text + offs2[n - 1], "\"late\"");
	CHECK(user != NULL, "the last record is not the late grant");
	if (user != NULL) {
		user[1] = 'L';
		unit_write_file(path, text, len);
		restart_holds(dir, want, "the last record damaged");
	}
	free(text);
	free(path);
}

/* Damage with good records after it, and a record missing: no start. */
static void
test_damage(const char *dir)
{
	char *path = util_path_join(dir, "journal"), err[2048], want[256];
	struct store *s = new_store();
	struct journal *j = open_dir(dir, s, 1000000, 0);
	size_t len, len2, end, offs[20];
	uint64_t seq = 0;

	if (j == NULL)
		exit(1);
	for (int i = 0; i < 20; i++)
		seq = checkout(s, "view", NULL, "d");
	journal_sync_to(j, seq);
	journal_close(j);
	store_free(s);

	char *text = util_read_file(path, &len);
	if (text == NULL || records_at(text, len, offs, 20, &end) != 20)
		exit(2);
	long long bad = seq_at(text, offs[9]);
	char *op = strstr(text + offs[9], "\"op\"");
	if (op == NULL || bad < 2)
		exit(2);
	op[1] = 'O';
	unit_write_file(path, text, len);

	s = new_store();
	j = journal_open(dir, 0, 1000000, 0, s, err, sizeof(err));
	CHECK(j == NULL, "a start over a damaged record in the middle succeeded");
	snprintf(want, sizeof(want), "byte %zu: damaged record after seq %lld (seq %lld "
	    "expected)", offs[9], bad - 1, bad);
	CHECK(j != NULL || strstr(err, want) != NULL, "damage in the middle: \"%s\" does not "
	    "say \"%s\"", err, want);
	snprintf(want, sizeof(want), "from byte %zu", offs[10]);
	CHECK(j != NULL || (strstr(err, want) != NULL && strstr(err, "slserve --recover")),
	    "damage in the middle: \"%s\" names neither the next good record (%s) nor "
	    "slserve --recover", err, want);
	journal_close(j);
	store_free(s);
	char *after = util_read_file(path, &len2);
	CHECK(after != NULL && len2 == len && memcmp(after, text, len) == 0, "a start that "
	    "refused a damaged journal changed it");
	free(after);

	/* The damaged record mended, the one after it taken out. */
	op[1] = 'o';
	memmove(text + offs[10], text + offs[11], len - offs[11]);
	unit_write_file(path, text, len - (offs[11] - offs[10]));
	s = new_store();
	j = journal_open(dir, 0, 1000000, 0, s, err, sizeof(err));
	CHECK(j == NULL, "a start over a gap in the sequence succeeded");
	snprintf(want, sizeof(want), "byte %zu: record seq %lld follows seq %lld: seq "
	    "%lld-%lld are missing", offs[10], bad + 2, bad, bad + 1, bad + 1);
	CHECK(j != NULL || strstr(err, want) != NULL, "a gap: \"%s\" does not say \"%s\"",
	    err, want);
	journal_close(j);
	store_free(s);
	free(text);
	free(path);
}

/* Wait (up to 10 s) for a compaction under way to end. */
static void
compaction_done(struct journal *j)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	int busy = 1;

	for (int i = 0; i < 1000 && busy; i++) {
		pthread_mutex_lock(&j->mu);
		busy = j->compacting;
		pthread_mutex_unlock(&j->mu);
		if (busy)
			nanosleep(&tick, NULL);
	}
	CHECK(!busy, "a compaction did not end within 10 s");
}

#define CHURN 600

/* Compactions while leases come and go keep every lease. */
static void
test_compaction(const char *dir)
{
	static char ids[CHURN][SL_ID_MAX + 1];
	struct store *s = new_store();
	struct journal *j = open_dir(dir, s, 64, 0);
	char user[32];
	uint64_t seq = 0;

	if (j == NULL)
		exit(1);
	for (int i = 0; i < CHURN; i++) {
		snprintf(ids[i], sizeof(ids[i]), "job-%04d0123456789abcdef0123456789ab", i);
		snprintf(user, sizeof(user), "k%d", i);
		seq = checkout(s, i % 5 ? "view" : "sim", ids[i], user);
		if (i % 3 == 2 && (i - 2) % 7 != 5)	/* not one revoked */
			seq = checkin(s, ids[i - 2]);
		if (i % 7 == 6)
			seq = revoke_lease(s, ids[i - 1]);
		if (i % 10 == 9)
			journal_sync_to(j, seq);
	}
	journal_sync_to(j, seq);
	compaction_done(j);
	pthread_mutex_lock(&j->mu);
	uint64_t base = j->base;
	pthread_mutex_unlock(&j->mu);
	CHECK(base > 0, "no compaction in %d changes with compact_after 64",
	    CHURN + CHURN / 3 + CHURN / 7);
	char *want = leases_of(s);
	journal_close(j);
	store_free(s);

	restart_holds(dir, want, "after compactions");
	s = new_store();
	if ((j = open_dir(dir, s, 1000000, 0)) != NULL) {
		CHECK(heartbeat(s, ids[5]) == 410, "a seat revoked before a compaction: HTTP %u, "
		    "not 410", heartbeat(s, ids[5]));
		CHECK(heartbeat(s, ids[0]) == 404, "a seat checked in before a compaction: HTTP "
		    "%u, not 404", heartbeat(s, ids[0]));
		CHECK(heartbeat(s, ids[CHURN - 1]) == 200, "the last seat: HTTP %u, not 200",
		    heartbeat(s, ids[CHURN - 1]));
		journal_close(j);
	}
	store_free(s);
	free(want);
}

int
main(int argc, char **argv)
{
	char *want = NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: journal DIR\n");
		return 2;
	}
	log_init("journal", 1, 0);
	char *a = subdir(argv[1], "load"), *b = subdir(argv[1], "damage");
	char *c = subdir(argv[1], "compact");
	test_load(a, &want);
	test_torn(a, want);
	test_damage(b);
	test_compaction(c);
	free(want);
	free(a);
	free(b);
	free(c);
	return failed;
}
