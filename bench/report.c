/*
 * loadgen's report: the tables on stdout, each figure with its target and
 * whether it is met, and the same figures in results.json.
 */
#include <sys/utsname.h>

#include <stdio.h>
#include <string.h>

#include "util.h"

#include "loadgen.h"

json_t *results;
static int targets_met, targets_total;

static const char *
verdict(int met)
{
	targets_total++;
	targets_met += met;
	return met ? "met" : "NOT MET";
}

static void
target_json(const char *name, double value, const char *target, int met)
{
	json_array_append_new(json_object_get(results, "targets"), json_pack(
	    "{s:s, s:f, s:s, s:b}", "figure", name, "value", value, "target", target, "met", met));
}

/* {"requests_per_s", "count", "errors", "p50_ms", "p99_ms", "p999_ms", "max_ms"} */
static json_t *
opstat_json(struct phase *ph, enum op op)
{
	struct opstat *st = &ph->st[op];

	json_t *o = json_pack("{s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f}",
	    "requests_per_s", phase_rate(ph, op), "count", (json_int_t)st->ok,
	    "errors", (json_int_t)st->errors, "p50_ms", sample_pct(&st->lat, 0.50),
	    "p99_ms", sample_pct(&st->lat, 0.99), "p999_ms", sample_pct(&st->lat, 0.999),
	    "max_ms", sample_pct(&st->lat, 1.0), "seconds", ph->window);
	if (ph->server_cpu_ms >= 0 && ph->issued > 0)
		json_object_set_new(o, "server_cpu_us_per_request",
		    json_real(ph->server_cpu_ms * 1000.0 / (double)ph->issued));
	return o;
}

void
results_new(double load_before)
{
	results = json_pack("{s:[], s:i, s:i, s:f, s:b, s:f}", "targets", "clients", nclients,
	    "heartbeats_per_lease", heartbeats, "phase_seconds", phase_secs, "fsync", 1,
	    "loadavg_before", load_before);
	machine_info(results);
}

/* The machine, its load before and after, and the run's settings. */
static void
report_header(double load_before)
{
	struct utsname u;

	uname(&u);
	json_t *m = json_object_get(results, "machine");
	double load_after = loadavg();
	json_object_set_new(results, "loadavg_after", json_real(load_after));
	printf("\nsl benchmark: %s, %lld cores, Linux %s; %d keep-alive clients, fsync on, "
	    "group commit\n", json_string_value(json_object_get(m, "cpu")),
	    (long long)json_integer_value(json_object_get(m, "nproc")), u.release, nclients);
	printf("load average %.2f before the run, %.2f after (the generator and the servers "
	    "share the cores)\n", load_before, load_after);
}

/* The closed-loop runs and the open-loop ones, an operation a row. */
static void
report_operations(struct load_result *l)
{
	printf("\n%-26s %10s %8s %8s %8s %8s %7s %7s  %-9s %s\n", "operation", "req/s",
	    "p50 ms", "p99 ms", "p99.9 ms", "max ms", "cpu us", "ratio", "target", "");
	double hr = phase_rate(&l->health, OP_HEALTH);
	struct { struct phase *ph; enum op op; const char *label; double target; } rows[] = {
		{ &l->health, OP_HEALTH, "health (ceiling)", 0 },
		{ &l->co, OP_CHECKOUT, "checkout", 0.5 },
		{ &l->hb, OP_HEARTBEAT, "heartbeat", 0.8 },
		{ &l->ci, OP_CHECKIN, "checkin", 0.8 },
		{ &l->lc, OP_CHECKOUT, "lifecycle: checkout", 0 },
		{ &l->lc, OP_HEARTBEAT, "lifecycle: heartbeat", 0 },
		{ &l->lc, OP_CHECKIN, "lifecycle: checkin", 0 },
		{ &l->half, OP_CHECKOUT, only_rate > 0 ? "checkout, open loop" : "checkout at half load",
		    0 },
		{ &l->halfh, OP_HEALTH, "health at the same rate", 0 },
	};
	json_t *ops = json_object();
	for (size_t i = 0; i < nitems(rows); i++) {
		struct phase *ph = rows[i].ph;
		struct opstat *st = &ph->st[rows[i].op];
		if (ph->issued == 0)
			continue;	/* not run (-R) */
		double rate = phase_rate(ph, rows[i].op), ratio = hr > 0 ? rate / hr : 0;
		char tgt[32] = "", key[64];
		const char *v = "";
		if (rows[i].target > 0) {
			snprintf(tgt, sizeof(tgt), ">= %.1fx", rows[i].target);
			v = verdict(ratio >= rows[i].target);
			char fig[64];
			snprintf(fig, sizeof(fig), "%s req/s / health req/s", rows[i].label);
			target_json(fig, ratio, tgt, ratio >= rows[i].target);
		}
		char cpu[16] = "-";
		if (ph->server_cpu_ms >= 0 && ph->issued > 0)
			snprintf(cpu, sizeof(cpu), "%.0f", ph->server_cpu_ms * 1000 / (double)ph->issued);
		char rt[16] = "-";
		if (hr > 0)
			snprintf(rt, sizeof(rt), "%.2f", ratio);
		printf("%-26s %10.0f %8.3f %8.3f %8.3f %8.3f %7s %7s  %-9s %s%s\n", rows[i].label,
		    rate, sample_pct(&st->lat, 0.5), sample_pct(&st->lat, 0.99),
		    sample_pct(&st->lat, 0.999), sample_pct(&st->lat, 1.0), cpu, rt, tgt, v,
		    st->errors ? " (errors!)" : "");
		snprintf(key, sizeof(key), "%s", rows[i].label);
		for (char *p = key; *p; p++)
			if (*p == ' ' || *p == ':')
				*p = '_';
		json_t *oj = opstat_json(ph, rows[i].op);
		json_object_set_new(oj, "ratio_to_health", json_real(ratio));
		struct stall_sum ss = stall_sum(ph->from, ph->to, 2.0);
		json_object_set_new(oj, "machine_stall_ms", json_real(ss.total_ms));
		json_object_set_new(ops, key, oj);
	}
	json_object_set_new(results, "operations", ops);
	printf("  (cpu us: the server's CPU time per request in that run, all its threads;\n"
	    "   lifecycle rows share one figure for the mix)\n");
}

/* How long the machine itself stood still in each run. */
static void
report_stalls(struct load_result *l)
{
	struct phase *runs[] = { &l->health, &l->co, &l->hb, &l->ci, &l->lc, &l->half, &l->halfh };

	printf("  (stalls, %s: ms per s of run that the\n   whole machine / one of its CPUs "
	    "stood still:", stall_probe_realtime() ? "seen by a SCHED_FIFO thread on each CPU" :
	    "seen by a thread on each CPU without real-time priority (CPU contention counts)");
	for (size_t i = 0, shown = 0; i < nitems(runs); i++) {
		if (runs[i]->issued == 0)
			continue;
		struct stall_sum ss = stall_sum(runs[i]->from, runs[i]->to, 2.0);
		double w = runs[i]->window > 0 ? runs[i]->window : 1;
		printf("%s %s %.1f/%.1f", shown++ ? "," : "", runs[i]->name, ss.total_ms / w,
		    cpu_stall_ms(runs[i]->from, runs[i]->to) / w);
	}
	printf(")\n");
}

/* The journal's writes in the half-load run: a checkout that arrives
 * while one is under way waits for it, then min_sync_interval, then its
 * own. Their p99 bucket (ms) and the share over 1 ms into *wr_over. */
static double
report_journal_writes(const struct load_result *l, double *wr_over)
{
	double wr_p50 = -1, wr_p99 = -1, wr_n = 0, wr_slow_ms = 0;

	*wr_over = -1;
	if (l->have_hist) {
		const struct hist *w0 = &l->h0[HIST_WRITES], *w1 = &l->h1[HIST_WRITES];
		double ignored;
		wr_p50 = hist_quantile(w0, w1, 0.5, 1, &ignored);
		wr_p99 = hist_quantile(w0, w1, 0.99, 1, wr_over);
		if (wr_p99 >= 0)
			wr_n = w1->count[w1->n - 1] - w0->count[w0->n - 1];
		/* Each write over 1 ms counted at its bucket's lower bound. */
		for (int i = 1; wr_p99 >= 0 && i < w1->n; i++)
			if (w1->le[i - 1] >= 0.001)
				wr_slow_ms += (w1->count[i] - w0->count[i] - w1->count[i - 1] +
				    w0->count[i - 1]) * w1->le[i - 1] * 1000;
	}
	if (wr_p99 >= 0 && l->half.window > 0)
		printf("  (the server's journal writes in this run, each with its fdatasync (its\n"
		    "   histogram): %.0f a second, half took <= %g ms, 99%% <= %g ms, %.2f%% over 1 ms;\n"
		    "   writes over 1 ms were under way for at least %.1f%% of the run. A checkout\n"
		    "   waits for the write under way when it arrives, then min_sync_interval,\n"
		    "   then for its own)\n", wr_n / l->half.window, wr_p50, wr_p99, *wr_over * 100,
		    wr_slow_ms / 10 / l->half.window);
	return wr_p99;
}

/* The half-load target, what stands under it, and "half_load". */
static void
report_half_load(struct load_result *l, double disk50, double disk99)
{
	double half_p99 = sample_pct(&l->half.st[OP_CHECKOUT].lat, 0.99);
	double offered = l->half.rate;

	printf("\n%-52s %10s  %-12s %s\n", "figure", "value", "target", "");
	if (only_rate > 0) {
		printf("%-52s %10.3f  (not the target: its rate is half the peak)\n",
		    "p99 checkout latency at the -R rate (ms)", half_p99);
	} else {
		printf("%-52s %10.3f  %-12s %s\n", "p99 checkout latency at half of peak load (ms)",
		    half_p99, "<= 2 ms", verdict(half_p99 >= 0 && half_p99 <= 2.0));
		target_json("p99 checkout latency at half of peak load (ms)", half_p99, "<= 2 ms",
		    half_p99 >= 0 && half_p99 <= 2.0);
	}
	double same_p99 = sample_pct(&l->halfh.st[OP_HEALTH].lat, 0.99);
	if (only_rate > 0)
		printf("  (open loop at %.0f checkouts/s, from -R; latency from each request's due"
		    " time)\n", offered);
	else
		printf("  (open loop at %.0f checkouts/s = half of the %.0f/s peak; latency from each "
		    "request's due time)\n", offered, l->peak);
	printf("  (GET /v1/health on the same schedule, which does no work: p99 %.3f ms,\n"
	    "   what this machine and HTTP stack alone add to a request at that rate)\n",
	    same_p99);
	printf("  (this disk: a 200-byte append + fdatasync takes %.3f ms median, %.3f ms p99,"
	    "\n   measured alone after the runs; every checkout waits for one)\n", disk50, disk99);
	/* A request due while the machine stands still is answered after
	 * the stall at the earliest: the share of the run in stalls beyond
	 * their first 2 ms is a share of requests no server answers in 2 ms. */
	struct stall_sum hs = stall_sum(l->half.from, l->half.to, 2.0);
	struct opstat *hst = &l->half.st[OP_CHECKOUT];
	size_t nslow, near = slow_near_stalls(&hst->due, &hst->due_lat, 2.0, 5, 15, &nslow);
	double srv_over = -1, srv_p99 = l->have_hist ? hist_quantile(&l->h0[HIST_REQUESTS],
	    &l->h1[HIST_REQUESTS], 0.99, 2.5, &srv_over) : -1;
	if (srv_p99 >= 0)
		printf("  (inside the server, from a request's headers to its answer (its own\n"
		    "   histogram): 99%% of these checkouts took <= %g ms, %.2f%% over 2.5 ms)\n",
		    srv_p99, srv_over * 100);
	double wr_over, wr_p99 = report_journal_writes(l, &wr_over);
	if (stall_probe_count() > 0) {
		printf("  (the machine stood still %zu time%s in this run, %.0f ms in all, the longest"
		    " %.1f ms;\n   requests falling due in a stall after its first 2 ms wait longer"
		    " than 2 ms\n   whatever the server does: %.2f%% of them (p99 <= 2 ms cannot be met"
		    " while\n   that share is 1%% or more). Of the %.2f%% of requests over 2 ms, %.0f%%"
		    " fell due\n   from 5 ms before a stall of one CPU to 15 ms after it)\n", hs.n,
		    hs.n == 1 ? "" : "s",
		    hs.total_ms, hs.longest_ms, hs.over_share * 100,
		    hst->due.n ? 100.0 * (double)nslow / (double)hst->due.n : 0,
		    nslow ? 100.0 * (double)near / (double)nslow : 0);
	}
	json_object_set_new(results, "half_load", json_pack("{s:f, s:f, s:f, s:f, s:I, s:f,"
	    " s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:b}",
	    "offered_per_s", offered, "achieved_per_s", phase_rate(&l->half, OP_CHECKOUT),
	    "p50_ms", sample_pct(&l->half.st[OP_CHECKOUT].lat, 0.5), "p99_ms", half_p99,
	    "machine_stalls", (json_int_t)hs.n, "machine_stall_ms", hs.total_ms,
	    "share_due_in_stall_beyond_2ms", hs.over_share,
	    "share_of_slow_near_cpu_stall", nslow ? (double)near / (double)nslow : 0,
	    "server_side_p99_bucket_ms", srv_p99, "health_same_rate_p99_ms", same_p99,
	    "journal_write_p99_bucket_ms", wr_p99, "journal_writes_over_1ms_share", wr_over,
	    "longest_stall_ms", hs.longest_ms,
	    "stall_probe_realtime", stall_probe_realtime()));
	json_object_set_new(results, "load_server_rss_kib", json_integer(l->rss));
}

void
report_load(struct load_result *l, double disk50, double disk99, double load_before)
{
	report_header(load_before);
	report_operations(l);
	report_stalls(l);
	report_half_load(l, disk50, disk99);
}

/* The mirrored checkout's runs, a row each; their figures, as JSON. */
static json_t *
mirror_table(struct mirror_result *m)
{
	struct { struct phase *ph; const char *label; } rows[] = {
		{ &m->solo, "checkout, no backup" },
		{ &m->mirr, "checkout, mirrored" },
		{ &m->solo1, "1 client, no backup" },
		{ &m->mirr1, "1 client, mirrored" },
	};
	json_t *runs = json_object();

	printf("\nmirrored checkout (issue 15): two Primaries of the same licenses, closed loop,"
	    "\none alone and one with a backup polling it (default poll settings;"
	    "\nsynchronous_backup: answered once the backup has the grant on its disk), the"
	    "\nN-client runs in %d slices taken in turns\n", MIRROR_TURNS);
	printf("%-26s %10s %8s %8s %8s %8s %7s\n", "run", "req/s", "p50 ms", "p99 ms",
	    "p99.9 ms", "max ms", "cpu us");
	for (size_t i = 0; i < nitems(rows); i++) {
		struct phase *ph = rows[i].ph;
		struct opstat *st = &ph->st[OP_CHECKOUT];
		char cpu[16] = "-", key[64];
		if (ph->server_cpu_ms >= 0 && ph->issued > 0)
			snprintf(cpu, sizeof(cpu), "%.0f", ph->server_cpu_ms * 1000 / (double)ph->issued);
		printf("%-26s %10.0f %8.3f %8.3f %8.3f %8.3f %7s%s\n", rows[i].label,
		    phase_rate(ph, OP_CHECKOUT), sample_pct(&st->lat, 0.5),
		    sample_pct(&st->lat, 0.99), sample_pct(&st->lat, 0.999),
		    sample_pct(&st->lat, 1.0), cpu,
		    st->errors || ph->timeouts ? " (errors!)" :
		    ph->limit > 0 && (long)ph->issued >= ph->limit ? " (seats ran out: cut short)" : "");
		snprintf(key, sizeof(key), "%s", ph->name);
		json_t *oj = opstat_json(ph, OP_CHECKOUT);
		json_object_set_new(oj, "clients", json_integer(ph->nconns));
		json_object_set_new(oj, "timeouts", json_integer((json_int_t)ph->timeouts));
		json_object_set_new(runs, key, oj);
	}
	printf("  (%d clients, then 1; cpu us: the Primary's CPU per checkout, all its threads)\n",
	    nclients);
	return runs;
}

/* Where a mirrored checkout's time goes: the Primary's journal writes and
 * the backup's polls (from /metrics), schedstat, the machine's load, and
 * what an empty poll costs. The polls a second and checkouts per poll. */
static void
mirror_costs(struct mirror_result *m, double r1, double *polls, double *per_poll)
{
	*polls = *per_poll = -1;
	if (m->have_hist[1] && m->mirr.window > 0) {
		double w = (m->mirr.window + m->mirr.warmup);
		/* Everything the Primary answered besides checkouts: the polls. */
		*polls = (m->reqs[1] - (double)m->mirr.issued) / w;
		*per_poll = *polls > 0 ? r1 / *polls : -1;
	}
	if (m->have_hist[0] && m->have_hist[1]) {
		double w0 = m->solo.window + m->solo.warmup, w1 = m->mirr.window + m->mirr.warmup;
		printf("  (the Primary: journal writes (each an fdatasync) %.0f/s alone, %.0f/s"
		    " mirrored,\n   half <= %g / %g ms; mirrored it answered %.0f backup polls a second,"
		    "\n   %.1f checkouts per poll; the backup used %.0f ms of CPU a second)\n",
		    m->writes[0] / w0, m->writes[1] / w1, m->write_p50[0], m->write_p50[1],
		    *polls, *per_poll, m->mirr.window > 0 ? m->backup_cpu_ms / w1 : -1);
	}
	if (*polls > 0 && m->b_run_ns >= 0 && m->a_run_ns[1] >= 0) {
		double w1 = m->mirr.window + m->mirr.warmup, np = *polls * w1;
		printf("  (per poll, mirrored (schedstat, all threads): the backup ran %.3f ms and waited"
		    "\n   %.3f ms runnable for a CPU; the Primary ran %.3f ms and waited %.3f ms; a poll"
		    "\n   cycle took %.3f ms)\n", m->b_run_ns / np / 1e6, m->b_wait_ns / np / 1e6,
		    m->a_run_ns[1] / np / 1e6, m->a_wait_ns[1] / np / 1e6, 1000 / *polls);
	}
	if (m->a_run_ns[0] >= 0 && m->a_run_ns[1] >= 0) {
		double n0 = (double)m->solo.issued, n1 = (double)m->mirr.issued;
		printf("  (per checkout, the Primary ran %.1f us and waited %.1f us runnable alone;"
		    "\n   %.1f us and %.1f us mirrored)\n", m->a_run_ns[0] / n0 / 1e3,
		    m->a_wait_ns[0] / n0 / 1e3, m->a_run_ns[1] / n1 / 1e3, m->a_wait_ns[1] / n1 / 1e3);
	}
	printf("  (the machine's CPUs were busy %.0f%% of the unmirrored run, %.0f%% of the mirrored;"
	    "\n   the generator, both servers and others' work share them)\n", m->busy[0] * 100,
	    m->busy[1] * 100);
	printf("  (a poll's answer with no record in it and the licenses unchanged:"
	    "\n   %zu bytes, fetched in %.3f ms at best; decoding it alone takes %.3f ms here)\n",
	    m->empty_sync_bytes, m->empty_sync_ms, m->empty_parse_ms);
	printf("  (the backup was warm %.0f ms after its start)\n", m->warm_ms);
}

void
report_mirror(void)
{
	struct mirror_result *m = &mres;
	double polls, per_poll;

	if (!mirror_ran)
		return;
	json_t *runs = mirror_table(m);

	double r0 = phase_rate(&m->solo, OP_CHECKOUT), r1 = phase_rate(&m->mirr, OP_CHECKOUT);
	double ratio = r0 > 0 ? r1 / r0 : 0;
	double p50_0 = sample_pct(&m->solo.st[OP_CHECKOUT].lat, 0.5);
	double p50_1 = sample_pct(&m->mirr.st[OP_CHECKOUT].lat, 0.5);
	double p99_0 = sample_pct(&m->solo.st[OP_CHECKOUT].lat, 0.99);
	double p99_1 = sample_pct(&m->mirr.st[OP_CHECKOUT].lat, 0.99);
	double added = p50_1 - p50_0;
	double s50_0 = sample_pct(&m->solo1.st[OP_CHECKOUT].lat, 0.5);
	double s50_1 = sample_pct(&m->mirr1.st[OP_CHECKOUT].lat, 0.5);
	int ratio_ok = r0 > 0 && ratio >= 0.75, added_ok = p50_0 >= 0 && p50_1 >= 0 && added <= 1.0;
	int mirror_ok = m->backup_mirrored == m->primary_in_use && m->primary_in_use == m->granted;

	printf("\n%-52s %10s  %-12s %s\n", "mirrored checkout", "value", "target", "");
	printf("%-52s %10.2f  %-12s %s\n", "checkout rate, mirrored / unmirrored", ratio,
	    ">= 0.75", verdict(ratio_ok));
	target_json("mirrored / unmirrored checkout rate", ratio, ">= 0.75", ratio_ok);
	printf("%-52s %10.3f  %-12s %s\n", "p50 a mirror adds to a checkout (ms)", added,
	    "<= 1 ms", verdict(added_ok));
	target_json("p50 a mirror adds to a checkout (ms)", added, "<= 1 ms", added_ok);
	printf("%-52s %10ld  %-12s %s\n", "backup's mirrored seats after the runs",
	    m->backup_mirrored, "= granted", verdict(mirror_ok));
	target_json("backup's mirrored seats = seats the Primary granted",
	    (double)m->backup_mirrored, "= granted", mirror_ok);
	printf("  (%.0f -> %.0f checkouts/s; p50 %.3f -> %.3f ms; p99 %.3f -> %.3f ms, +%.3f ms)\n",
	    r0, r1, p50_0, p50_1, p99_0, p99_1, p99_1 - p99_0);
	printf("  (one client: p50 %.3f -> %.3f ms, +%.3f ms: the serial cost of one mirror round,"
	    "\n   with no other checkout to share it)\n", s50_0, s50_1, s50_1 - s50_0);
	printf("  (granted %ld checkouts in the mirrored runs; the Primary holds %ld seats, the"
	    "\n   backup's /v1/licenses mirrors %ld of them, read right after the last answer)\n",
	    m->granted, m->primary_in_use, m->backup_mirrored);
	mirror_costs(m, r1, &polls, &per_poll);

	json_object_set_new(results, "mirror", json_pack("{s:o, s:i, s:f, s:f, s:f, s:f, s:f,"
	    " s:f, s:f, s:f, s:I, s:I, s:I, s:b, s:f, s:f, s:f, s:f, s:f}",
	    "runs", runs, "clients", nclients, "rate_ratio", ratio, "added_p50_ms", added,
	    "unmirrored_p99_ms", p99_0, "mirrored_p99_ms", p99_1,
	    "one_client_unmirrored_p50_ms", s50_0, "one_client_mirrored_p50_ms", s50_1,
	    "backup_warm_ms", m->warm_ms, "polls_per_s", polls,
	    "granted", (json_int_t)m->granted, "primary_in_use", (json_int_t)m->primary_in_use,
	    "backup_mirrored", (json_int_t)m->backup_mirrored, "mirror_complete", mirror_ok,
	    "checkouts_per_poll", per_poll,
	    "primary_journal_writes_per_s_unmirrored", m->have_hist[0] ?
	    m->writes[0] / (m->solo.window + m->solo.warmup) : -1,
	    "primary_journal_writes_per_s_mirrored", m->have_hist[1] ?
	    m->writes[1] / (m->mirr.window + m->mirr.warmup) : -1,
	    "backup_cpu_ms_per_s", m->mirr.window > 0 ?
	    m->backup_cpu_ms / (m->mirr.window + m->mirr.warmup) : -1,
	    "primary_journal_write_p50_bucket_ms_mirrored", m->write_p50[1]));
	json_t *mj = json_object_get(results, "mirror");
	json_object_set_new(mj, "machine_busy_unmirrored", json_real(m->busy[0]));
	json_object_set_new(mj, "machine_busy_mirrored", json_real(m->busy[1]));
	json_object_set_new(mj, "schedstat_ms", json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}",
	    "primary_run_unmirrored", m->a_run_ns[0] / 1e6,
	    "primary_wait_unmirrored", m->a_wait_ns[0] / 1e6,
	    "primary_run_mirrored", m->a_run_ns[1] / 1e6,
	    "primary_wait_mirrored", m->a_wait_ns[1] / 1e6,
	    "backup_run_mirrored", m->b_run_ns / 1e6, "backup_wait_mirrored", m->b_wait_ns / 1e6));
	json_object_set_new(mj, "empty_sync_bytes", json_integer((json_int_t)m->empty_sync_bytes));
	json_object_set_new(mj, "empty_sync_ms", json_real(m->empty_sync_ms));
	json_object_set_new(mj, "empty_sync_decode_ms", json_real(m->empty_parse_ms));
	phase_free(&m->solo);
	phase_free(&m->mirr);
	phase_free(&m->solo1);
	phase_free(&m->mirr1);
}

/* A scale run's figures, for results.json. */
static json_t *
scale_json(const struct scale_result *s)
{
	json_t *inc = json_array();

	for (int k = 0; k < NINC; k++)
		if (s->inc_ms[k] >= 0)
			json_array_append_new(inc, json_pack("{s:I, s:f, s:I}", "records",
			    (json_int_t)inc_sizes[k], "ms", s->inc_ms[k], "bytes",
			    (json_int_t)s->inc_bytes[k]));
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f,"
	    " s:f, s:f, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:I, s:o, s:f, s:f, s:I,"
	    " s:f, s:f, s:f, s:f}",
	    "leases", (json_int_t)s->leases, "fill_seconds", s->fill_s,
	    "rss_mib", s->rss_kb / 1024.0, "peak_rss_mib", s->hwm_kb / 1024.0,
	    "rss_after_restart_mib", s->rss_restart_kb / 1024.0,
	    "peak_rss_after_restart_mib", s->hwm_restart_kb / 1024.0,
	    "stop_ms", s->stop_ms, "restart_ms", s->restart_ms,
	    "licenses_p50_ms", s->lic_p50, "licenses_p99_ms", s->lic_p99,
	    "licenses_bytes", (json_int_t)s->lic_bytes,
	    "checkout_p50_ms", s->co_p50, "checkout_p99_ms", s->co_p99,
	    "lifecycle_req_per_s", s->co_rate,
	    "full_sync_fetch_ms", s->full_ms, "backup_full_sync_ms", s->backup_sync_ms,
	    "backup_failed_polls", (json_int_t)s->backup_failed_polls,
	    "licenses_max_ms", s->lic_max,
	    "full_sync_bytes", (json_int_t)s->full_bytes, "incremental_sync", inc,
	    "backup_cpu_ms_per_s_idle", s->backup_cpu_idle,
	    "backup_rss_mib", s->backup_rss_kb / 1024.0,
	    "restart_replayed_records", (json_int_t)s->replayed,
	    "restart_cpu_ms", s->restart_cpu_ms,
	    "backup_cpu_ms_per_s_changing", s->backup_cpu_busy,
	    "primary_cpu_ms_per_s_changing", s->primary_cpu_busy,
	    "backup_licenses_p99_ms", s->backup_lic_p99);
}

/* The cost of an incremental sync by the records it carries, a run a row. */
static void
scale_incremental_table(void)
{
	printf("\n%-10s", "incremental sync: records");
	for (int k = 0; k < NINC; k++)
		printf(" %9ld", inc_sizes[k]);
	printf("\n");
	for (int i = 0; i < nscales; i++) {
		printf("%7ld leases: ms   ", sres[i].leases);
		for (int k = 0; k < NINC; k++)
			sres[i].inc_ms[k] < 0 ? printf(" %9s", "-") :
			    printf(" %9.3f", sres[i].inc_ms[k]);
		printf("\n%7ld leases: KiB  ", sres[i].leases);
		for (int k = 0; k < NINC; k++)
			sres[i].inc_ms[k] < 0 ? printf(" %9s", "-") :
			    printf(" %9.1f", sres[i].inc_bytes[k] / 1024.0);
		printf("\n");
	}
}

/* The targets at 100,000 leases; small is the 1,000-lease run, if any. */
static void
report_big(struct scale_result *big, struct scale_result *small)
{
	if (big != NULL && big->filled != big->leases) {
		static const char *const figs[] = { "resident memory at 100k leases (MiB)",
		    "restart at 100k leases (ms)", "GET /v1/licenses p99 at 100k leases (ms)",
		    "backup full sync at 100k leases (ms)" };
		printf("\nat 100,000 leases: not reached (%ld leases after %.0f s of checkouts)\n",
		    big->filled, big->fill_s);
		for (size_t i = 0; i < nitems(figs); i++) {
			printf("%-52s %10s  %-12s %s\n", figs[i], "-", "", verdict(0));
			target_json(figs[i], -1, "not reached", 0);
		}
		big = NULL;
	}
	if (big != NULL) {
		printf("\n%-52s %10s  %-12s %s\n", "at 100,000 leases over 100 licenses", "value",
		    "target", "");
		double rmib = big->rss_kb / 1024.0, rrmib = big->rss_restart_kb / 1024.0;
		double worst = rmib > rrmib ? rmib : rrmib;
		printf("%-52s %10.1f  %-12s %s\n", "slserve resident memory (MiB, VmRSS)", worst,
		    "<= 64 MiB", verdict(worst <= 64));
		target_json("resident memory at 100k leases (MiB)", worst, "<= 64 MiB", worst <= 64);
		printf("%-52s %10.0f  %-12s %s\n", "restart: snapshot + journal replay (ms)",
		    big->restart_ms, "<= 1000 ms", verdict(big->restart_ms <= 1000));
		printf("  (%.0f ms of CPU; %ld journal records replayed after the snapshot)\n",
		    big->restart_cpu_ms, big->replayed);
		target_json("restart at 100k leases (ms)", big->restart_ms, "<= 1000 ms",
		    big->restart_ms <= 1000);
		printf("%-52s %10.3f  %-12s %s\n", "GET /v1/licenses p99 (ms)", big->lic_p99,
		    "<= 10 ms", verdict(big->lic_p99 <= 10));
		target_json("GET /v1/licenses p99 at 100k leases (ms)", big->lic_p99, "<= 10 ms",
		    big->lic_p99 <= 10);
		int sync_ok = big->backup_sync_ms >= 0 && big->backup_sync_ms <= 2000;
		printf("%-52s %10.0f  %-12s %s\n", "backup's full sync (ms)", big->backup_sync_ms,
		    "<= 2000 ms", verdict(sync_ok));
		target_json("backup full sync at 100k leases (ms)", big->backup_sync_ms,
		    "<= 2000 ms", sync_ok);
		if (small != NULL) {
			/* The same change must cost the same whatever the lease count. */
			int k = 2;	/* 100 records */
			double tr = big->inc_ms[k] / (small->inc_ms[k] > 0 ? small->inc_ms[k] : 1e-3);
			double br = (double)big->inc_bytes[k] / (double)(small->inc_bytes[k] ?
			    small->inc_bytes[k] : 1);
			int inc_ok = br <= 1.5 && (tr <= 2.0 || big->inc_ms[k] - small->inc_ms[k] < 1.0);
			/* Below a millisecond apart the ratio is noise. */
			printf("%-52s %10.2f  %-12s %s\n", "incremental sync of 100 records, time "
			    "100k/1k", tr, "~1", verdict(inc_ok));
			printf("  (%.2f ms at 100k leases, %.2f ms at 1k: met when the ratio is <= 2 "
			    "or the two are under 1 ms apart)\n", big->inc_ms[k], small->inc_ms[k]);
			printf("%-52s %10.2f  %-12s\n", "  bytes 100k/1k", br, "~1");
			target_json("incremental sync cost, 100k leases / 1k leases (time)", tr,
			    "~1 (<= 2; bytes <= 1.5)", inc_ok);
			/* The backup's side of the same changes: its CPU while the
			 * Primary changes at the same rate. */
			double bc = big->backup_cpu_busy, sc = small->backup_cpu_busy;
			double cr = bc / (sc > 1 ? sc : 1);
			int cpu_ok = cr <= 3 || bc < 50;
			printf("%-52s %10.1f  %-12s %s\n", "backup CPU while the Primary changes, "
			    "100k/1k", cr, "~1", verdict(cpu_ok));
			printf("  (%.0f ms/s at 100k leases, %.0f ms/s at 1k; 20 changes/s; met when "
			    "the ratio is <= 3 or under 50 ms/s)\n", bc, sc);
			target_json("backup CPU for the same changes, 100k leases / 1k leases", cr,
			    "~1 (<= 3)", cpu_ok);
		}
	}
}

void
report_scale(void)
{
	json_t *scale = json_array();
	struct scale_result *big = NULL, *small = NULL;

	if (nscales > 0) {
		printf("\n%-8s %6s %7s %7s %7s %8s %7s %7s %8s %6s %7s %7s %7s\n", "leases",
		    "fill s", "RSS", "peak", "restart", "replayed", "lic p99", "co p99", "full",
		    "full", "backup", "backup", "backup");
		printf("%-8s %6s %7s %7s %7s %8s %7s %7s %8s %6s %7s %7s %7s\n", "", "", "MiB", "MiB",
		    "ms", "records", "ms", "ms", "fetch ms", "MiB", "sync ms", "MiB", "cpu ms/s");
	}
	for (int i = 0; i < nscales; i++) {
		struct scale_result *s = &sres[i];
		if (s->leases == 100000)
			big = s;
		if (s->leases == 1000 && s->filled == s->leases)
			small = s;
		if (s->filled != s->leases) {
			printf("%-10ld the fill reached only %ld leases in %.0f s: not measured\n",
			    s->leases, s->filled, s->fill_s);
			json_array_append_new(scale, json_pack("{s:I, s:I, s:f}", "leases",
			    (json_int_t)s->leases, "filled", (json_int_t)s->filled,
			    "fill_seconds", s->fill_s));
			continue;
		}
		printf("%-8ld %6.1f %7.1f %7.1f %7.0f %8ld %7.3f %7.3f %8.1f %6.1f %7.0f %7.1f %7.0f\n",
		    s->leases, s->fill_s, s->rss_kb / 1024.0, s->hwm_kb / 1024.0, s->restart_ms,
		    s->replayed, s->lic_p99, s->co_p99, s->full_ms, s->full_bytes / 1048576.0,
		    s->backup_sync_ms, s->backup_rss_kb / 1024.0, s->backup_cpu_busy);
		json_array_append_new(scale, scale_json(s));
	}
	json_object_set_new(results, "scale", scale);
	if (nscales > 0) {
		printf("  (RSS: VmRSS once steady after the fill; peak: VmHWM (a compaction holds the\n"
		    "   snapshot's image and text for a moment); restart: SIGTERM, start, first 200\n"
		    "   from /v1/health, replaying that many journal records after the snapshot;\n"
		    "   lic p99: GET /v1/licenses; co p99: checkout in a %d-client lifecycle run;\n"
		    "   full fetch: GET /v1/peer/sync since 0; backup sync: a second slserve from its\n"
		    "   start to its first good poll; backup MiB: its VmRSS then; backup cpu: its CPU\n"
		    "   while the Primary's leases change at 20 requests/s)\n", nclients);
		printf("  (GET /v1/licenses p99 on the warm backup, its Primary's seats counted from\n"
		    "   its mirror:");
		for (int i = 0; i < nscales; i++)
			if (sres[i].filled == sres[i].leases)
				printf(" %ld leases %.3f ms%s", sres[i].leases, sres[i].backup_lic_p99,
				    i + 1 < nscales ? "," : "");
		printf(")\n");
		scale_incremental_table();
	}
	report_big(big, small);
}

void
report_failover(json_t *failover)
{
	if (failover != NULL) {
		printf("\nfailover (%s, exit %lld, %.0f s):\n", failover_script,
		    (long long)json_integer_value(json_object_get(failover, "exit")),
		    json_real_value(json_object_get(failover, "seconds")));
		fputs(json_string_value(json_object_get(failover, "output")), stdout);
		json_t *v, *fo_rows = json_object_get(failover, "results");
		size_t i;
		if (json_is_array(fo_rows))
			printf("\n%-52s %10s  %-12s %s\n", "failover (median of the script's runs)",
			    "value", "target", "");
		json_array_foreach(json_is_array(fo_rows) ? fo_rows : NULL, i, v) {
			double pi = json_number_value(json_object_get(v, "poll_interval"));
			double b = json_number_value(json_object_get(v, "bound_s"));
			double t = json_number_value(json_object_get(v, "takeover_median_s"));
			double h = json_number_value(json_object_get(v, "handback_median_s"));
			char fig[80], tgt[32];
			snprintf(fig, sizeof(fig), "takeover, poll_interval %g, fail_after %lld (s)", pi,
			    (long long)json_integer_value(json_object_get(v, "fail_after")));
			snprintf(tgt, sizeof(tgt), "<= %.1f s", b);
			printf("%-52s %10.2f  %-12s %s\n", fig, t, tgt, verdict(t <= b));
			target_json(fig, t, tgt, t <= b);
			snprintf(fig, sizeof(fig), "handback, poll_interval %g (s)", pi);
			printf("%-52s %10.2f  %-12s\n", fig, h, "(measured)");
		}
		json_object_set_new(results, "failover", failover);
	} else {
		printf("\nfailover: %s not found; takeover and handback times not measured here\n",
		    failover_script);
		json_object_set_new(results, "failover", json_null());
	}
}

void
results_write(void)
{
	printf("\n%d of %d targets met\n", targets_met, targets_total);
	json_object_set_new(results, "targets_met", json_integer(targets_met));
	json_object_set_new(results, "targets_total", json_integer(targets_total));
	if (json_dump_file(results, json_path, JSON_INDENT(2)) != 0)
		fatal("cannot write %s", json_path);
	printf("results: %s\n", json_path);
}

/* The usage policy run (policy.c). */
void
report_policy(void)
{
	if (!pres.ran)
		return;
	double ratio = pres.rate[0] > 0 ? pres.rate[1] / pres.rate[0] : 0;
	/* a policy that refused nothing it should may not have been read */
	int ok = ratio >= 0.9 && pres.live;

	printf("\n%-52s %10s  %-12s %s\n", "usage policy (issue 19)", "value", "target", "");
	printf("%-52s %10.2f  %-12s %s\n", "checkout rate, ten rules / no policy", ratio, ">= 0.9",
	    verdict(ok));
	target_json("checkout rate with a policy of ten rules / without", ratio, ">= 0.9", ok);
	printf("  (%.0f -> %.0f checkouts/s, mean of %d rounds taken in turn; p50 %.3f -> %.3f ms"
	    " in the last;\n   the rules were %s: a checkout by an excluded user got %s)\n",
	    pres.rate[0] / POLICY_ROUNDS, pres.rate[1] / POLICY_ROUNDS, POLICY_ROUNDS,
	    pres.p50[0], pres.p50[1], pres.live ? "live" : "NOT live", pres.live ? "403" :
	    "no 403");
	json_object_set_new(results, "policy", json_pack("{s:f, s:f, s:f, s:i, s:b, s:b}",
	    "rate_without", pres.rate[0] / POLICY_ROUNDS, "rate_with", pres.rate[1] / POLICY_ROUNDS,
	    "ratio", ratio, "rounds", POLICY_ROUNDS, "rules_live", pres.live, "met", ok));
}
