/*
 * A mirrored checkout (issue 15).
 *
 * With synchronous_backup (the default) a checkout of the Primary's pool
 * is answered once it is on the Primary's disk and every backup polling it
 * has acknowledged it (its next long poll's since=SEQ, sent once the
 * backup has the records on its own disk). What that costs: one Primary,
 * the same closed-loop checkout run first alone, then with a backup
 * polling it (default poll settings), each also with one client (the
 * serial cost of a checkout, no batching). After the mirrored runs the
 * backup's mirror must hold every lease the Primary granted.
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

/* A closed-loop checkout run on the Primary a, with its /metrics around
 * it when k >= 0. */
static void
mirror_phase(struct phase *ph, const char *name, struct slsrv *a, int nconns, double secs,
    struct idlist *ids, int k)
{
	struct hist h0[NHISTS], h1[NHISTS];

	phase_init(ph, name, M_CHECKOUT, a->port);
	ph->nconns = nconns;
	ph->secs = secs + warmup_secs;
	ph->ids = ids;
	/* The unmirrored seats are checked in before the mirrored runs; the
	 * one-client run after each needs far fewer than a quarter. */
	ph->limit = NLICENSES * SEATS / 4 * 3;
	int hh = k >= 0 && server_hist(a->port, h0) == 0;
	double r0, w0, r1, w1, b0, t0, b1, t1;
	proc_sched(a->pid, &r0, &w0);
	machine_cpu(&b0, &t0);
	run_phase_cpu(ph, a->pid);
	if (k < 0)
		return;
	machine_cpu(&b1, &t1);
	mres.busy[k] = t1 > t0 && t0 >= 0 ? (b1 - b0) / (t1 - t0) : -1;
	proc_sched(a->pid, &r1, &w1);
	mres.a_run_ns[k] = r0 >= 0 && r1 >= 0 ? r1 - r0 : -1;
	mres.a_wait_ns[k] = w0 >= 0 && w1 >= 0 ? w1 - w0 : -1;
	hh = hh && server_hist(a->port, h1) == 0;
	mres.have_hist[k] = hh;
	if (!hh)
		return;
	double ignored;
	/* The second scrape itself is one of the requests counted. */
	mres.reqs[k] = hist_total(&h1[HIST_REQUESTS]) - hist_total(&h0[HIST_REQUESTS]) - 1;
	mres.writes[k] = hist_total(&h1[HIST_WRITES]) - hist_total(&h0[HIST_WRITES]);
	mres.write_p50[k] = hist_quantile(&h0[HIST_WRITES], &h1[HIST_WRITES], 0.5, 1, &ignored);
	mres.write_p99[k] = hist_quantile(&h0[HIST_WRITES], &h1[HIST_WRITES], 0.99, 1, &ignored);
}

void
run_mirror(void)
{
	struct mirror_result *m = &mres;
	struct slsrv a, b;
	struct idlist ids = { NULL, 0, 0, 0 };
	char extra[256];

	srv_init(&a, "benchA", "mirror", "max_leases_per_client = 1000000\n");
	srv_start(&a);
	fprintf(stderr, "loadgen: mirror: checkout without a backup, %d clients, %g s\n",
	    nclients, phase_secs);
	mirror_phase(&m->solo, "unmirrored", &a, nclients, phase_secs, &ids, 0);
	mirror_phase(&m->solo1, "unmirrored-1", &a, 1, 2.0, &ids, -1);
	/* Both start from no seats held; checkins with no backup yet. */
	checkin_all(a.port, &ids);
	idlist_free(&ids);

	/* A backup with the default poll settings and the shared peer token. */
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
	fprintf(stderr, "loadgen: mirror: checkout with a backup polling, %d clients, %g s\n",
	    nclients, phase_secs);
	double bc0 = proc_cpu_ms(b.pid), br0, bw0, br1, bw1;
	proc_sched(b.pid, &br0, &bw0);
	mirror_phase(&m->mirr, "mirrored", &a, nclients, phase_secs, &ids, 1);
	m->backup_cpu_ms = proc_cpu_ms(b.pid) - bc0;
	proc_sched(b.pid, &br1, &bw1);
	m->b_run_ns = br0 >= 0 && br1 >= 0 ? br1 - br0 : -1;
	m->b_wait_ns = bw0 >= 0 && bw1 >= 0 ? bw1 - bw0 : -1;
	mirror_phase(&m->mirr1, "mirrored-1", &a, 1, 2.0, &ids, -1);

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
	idlist_free(&ids);
	mirror_ran = 1;
}

