/*
 * A mirrored checkout (issue 15).
 *
 * With synchronous_backup (the default) a checkout of the Primary's pool
 * is answered once it is on the Primary's disk and every backup polling it
 * has acknowledged it (its next long poll's since=SEQ, sent once the
 * backup has the records on its own disk). What that costs: two Primaries
 * of the same licenses, one alone and one with a backup polling it
 * (default poll settings), the same closed-loop checkout run on each in
 * MIRROR_TURNS slices taken in turns (on a shared machine the load of
 * others comes and goes: run one after the other, the two runs saw rates
 * a third apart for the same server), then each with one client (the
 * serial cost of a checkout, no batching). After the mirrored runs the
 * backup's mirror must hold every lease its Primary granted.
 */
#include <stdio.h>
#include <string.h>

#include "loadgen.h"

struct mirror_result mres;
int mirror_ran;

/* The backup's health lists pool as warm, after a good poll. */
static int
backup_warm(int port, const char *pool)
{
	json_t *h = get_json(port, "/v1/health", NULL, 2000), *v;
	int warm = 0;
	size_t i;

	json_array_foreach(json_object_get(h, "backs_up"), i, v)
		if (member_is(v, "pool", pool) && member_is(v, "status", "warm") &&
		    json_is_number(json_object_get(v, "last_poll_age")))
			warm = 1;
	json_decref(h);
	return warm;
}

/* An incremental sync of nothing (since = the last seq), no wait: best of
 * 20, its bytes, and the best time to decode its body. As a backup the
 * Primary has not seen ("bench-probe"); asked after the measured runs. */
static void
empty_sync(struct slsrv *a, struct mirror_result *m)
{
	struct bconn b = BCONN_INIT(a->port);
	json_t *h = get_json(a->port, "/v1/health", NULL, 5000);
	const char *epoch = json_string_value(json_object_get(h, "epoch"));
	char path[512];
	struct hresp r;

	m->empty_sync_ms = m->empty_parse_ms = -1;
	m->empty_sync_bytes = 0;
	snprintf(path, sizeof(path), "/v1/peer/sync?since=%lld&epoch=%s&name=bench-probe",
	    (long long)json_integer_value(json_object_get(h, "seq")), epoch ? epoch : "none");
	/* A backup names the licenses it holds (lic=GEN) and gets them only
	 * when they changed: learn the generation, then ask as it does. */
	if (bhttp(&b, "GET", path, peer_token, NULL, &r, 5000) == 0 && r.status == 200) {
		json_t *o = json_loadb(r.body, r.blen, 0, NULL);
		const char *gen = json_string_value(json_object_get(o, "licenses_gen"));
		if (gen != NULL)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&lic=%s", gen);
		json_decref(o);
	}
	for (int i = 0; i < 20; i++) {
		uint64_t t0 = now_ns();
		if (bhttp(&b, "GET", path, peer_token, NULL, &r, 5000) != 0 || r.status != 200)
			break;
		double ms = ns_ms(now_ns() - t0);
		if (m->empty_sync_ms < 0 || ms < m->empty_sync_ms)
			m->empty_sync_ms = ms;
		m->empty_sync_bytes = r.total;
		t0 = now_ns();
		json_t *o = json_loadb(r.body, r.blen, 0, NULL);
		ms = ns_ms(now_ns() - t0);
		json_decref(o);
		if (m->empty_parse_ms < 0 || ms < m->empty_parse_ms)
			m->empty_parse_ms = ms;
	}
	json_decref(h);
	bconn_free(&b);
}

/* Checkouts each Primary may hold: what the runs grant stays held (the
 * backup must mirror every one), less room for the one-client run. */
#define MIRROR_ROOM	((long)NLICENSES * MIRROR_SEATS / 4 * 3)

/* The Primary's schedstat and /metrics, and the machine's CPU, before the
 * first slice of a run and after its last (see run_mirror). */
struct mirror_mark {
	double run, wait, busy, all;
	struct hist h[NHISTS];
	int hh;
};

static void
mirror_mark(struct mirror_mark *mk, const struct slsrv *a)
{
	mk->hh = server_hist(a->port, mk->h) == 0;
	proc_sched(a->pid, &mk->run, &mk->wait);
}

/* Run k's figures between marks m0 and m1 of Primary a. */
static void
mirror_marks(int k, const struct mirror_mark *m0, const struct mirror_mark *m1)
{
	mres.a_run_ns[k] = m0->run >= 0 && m1->run >= 0 ? m1->run - m0->run : -1;
	mres.a_wait_ns[k] = m0->wait >= 0 && m1->wait >= 0 ? m1->wait - m0->wait : -1;
	mres.have_hist[k] = m0->hh && m1->hh;
	if (!mres.have_hist[k])
		return;
	double ignored;
	/* The second scrape itself is one of the requests counted. */
	mres.reqs[k] = hist_total(&m1->h[HIST_REQUESTS]) - hist_total(&m0->h[HIST_REQUESTS]) - 1;
	mres.writes[k] = hist_total(&m1->h[HIST_WRITES]) - hist_total(&m0->h[HIST_WRITES]);
	mres.write_p50[k] = hist_quantile(&m0->h[HIST_WRITES], &m1->h[HIST_WRITES], 0.5, 1,
	    &ignored);
	mres.write_p99[k] = hist_quantile(&m0->h[HIST_WRITES], &m1->h[HIST_WRITES], 0.99, 1,
	    &ignored);
}

/* One slice of a closed-loop checkout run on Primary a, added to run agg
 * (k >= 0: the machine's CPU busy in it added to run k's). */
static void
mirror_slice(struct phase *agg, const char *name, struct slsrv *a, int nconns, double secs,
    struct idlist *ids, int k)
{
	struct phase ph;
	double b0, t0, b1, t1;

	phase_init(&ph, name, M_CHECKOUT, a->port);
	ph.nconns = nconns;
	ph.secs = secs + warmup_secs;
	ph.ids = ids;
	ph.limit = MIRROR_ROOM - (long)ids->n;
	if (ph.limit < 1)
		ph.limit = 1;
	machine_cpu(&b0, &t0);
	run_phase_cpu(&ph, a->pid);
	machine_cpu(&b1, &t1);
	if (k >= 0 && b0 >= 0 && t1 > t0) {
		mres.busy_cpu[k] += b1 - b0;
		mres.all_cpu[k] += t1 - t0;
	}
	phase_merge(agg, &ph);
	phase_free(&ph);
}

void
run_mirror(void)
{
	struct mirror_result *m = &mres;
	struct slsrv a, s, b;
	struct idlist ids = { NULL, 0, 0, 0 }, sids = { NULL, 0, 0, 0 };
	struct mirror_mark mk[2][2];
	char extra[256];

	/* Two Primaries of the same licenses: a, mirrored, and s, alone. */
	srv_init_with(&a, "benchA", "mirror", "licenses-m.conf",
	    "max_leases_per_client = 1000000\n");
	srv_start(&a);
	srv_init_with(&s, "benchA", "solo", "licenses-m.conf",
	    "max_leases_per_client = 1000000\n");
	srv_start(&s);
	/* A backup of a with the default poll settings and the shared peer
	 * token. */
	snprintf(extra, sizeof(extra), "failover \"benchA\" {\n  url = \"http://127.0.0.1:%d\"\n}\n",
	    a.port);
	srv_init(&b, "benchB", "mirror", extra);
	uint64_t t0 = now_ns();
	srv_start(&b);
	m->warm_ms = -1;
	while (now_ns() - t0 < 30ull * 1000000000ull) {
		if (backup_warm(b.port, "benchA")) {
			m->warm_ms = ns_ms(now_ns() - t0);
			break;
		}
		sleep_ms(5);
	}
	if (m->warm_ms < 0)
		fatal("the backup was not warm 30 s after its start; see %s", b.log);
	/* Its first polls settle (the Primary notes it, the fence). */
	sleep_ms(500);

	/* The two runs in slices, taken in turns: what the machine's other
	 * work takes from one, it takes from the other alike. */
	fprintf(stderr, "loadgen: mirror: checkout alone and with a backup polling, %d clients, "
	    "%g s each in %d turns\n", nclients, phase_secs, MIRROR_TURNS);
	double bc0 = proc_cpu_ms(b.pid), br0, bw0, br1, bw1;
	proc_sched(b.pid, &br0, &bw0);
	mirror_mark(&mk[0][0], &s);
	mirror_mark(&mk[1][0], &a);
	for (int t = 0; t < MIRROR_TURNS; t++) {
		mirror_slice(&m->solo, "unmirrored", &s, nclients, phase_secs / MIRROR_TURNS,
		    &sids, 0);
		mirror_slice(&m->mirr, "mirrored", &a, nclients, phase_secs / MIRROR_TURNS,
		    &ids, 1);
	}
	mirror_mark(&mk[0][1], &s);
	mirror_mark(&mk[1][1], &a);
	m->backup_cpu_ms = proc_cpu_ms(b.pid) - bc0;
	proc_sched(b.pid, &br1, &bw1);
	m->b_run_ns = br0 >= 0 && br1 >= 0 ? br1 - br0 : -1;
	m->b_wait_ns = bw0 >= 0 && bw1 >= 0 ? bw1 - bw0 : -1;
	mirror_marks(0, &mk[0][0], &mk[0][1]);
	mirror_marks(1, &mk[1][0], &mk[1][1]);
	for (int k = 0; k < 2; k++)
		m->busy[k] = m->all_cpu[k] > 0 ? m->busy_cpu[k] / m->all_cpu[k] : -1;
	mirror_slice(&m->solo1, "unmirrored-1", &s, 1, 2.0, &sids, -1);
	mirror_slice(&m->mirr1, "mirrored-1", &a, 1, 2.0, &ids, -1);

/* Every answered checkout waited for the backup: its mirror holds
	 * each one now, without waiting for another poll. */
	m->granted = (long)ids.n;
	m->primary_in_use = seats_in_use(a.port);
	m->backup_mirrored = seats_in_role(b.port, "backup", "benchA");
	if (!backup_warm(b.port, "benchA"))
		m->backup_mirrored = -1;	/* not warm after the run: that is a failure */
	empty_sync(&a, m);
	srv_stop(&b);
	srv_stop(&a);
	srv_stop(&s);
	idlist_free(&ids);
	idlist_free(&sids);
	mirror_ran = 1;
}

