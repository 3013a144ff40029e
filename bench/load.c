/*
 * The load runs against one server (loadgen's own, or one on -P PORT):
 * GET /v1/health, the ceiling; checkout, heartbeat and checkin each alone,
 * closed loop; the lifecycle mix; then checkout in an open loop at half of
 * the peak checkout rate, and GET /v1/health on the same schedule.
 */
#include <stdio.h>
#include <string.h>

#include "loadgen.h"

/* The closed-loop runs: health, checkout, heartbeat, checkin, lifecycle. */
static void
run_closed_loops(struct load_result *l, const struct slsrv *a)
{
	struct idlist ids = { NULL, 0, 0, 0 };

	fprintf(stderr, "loadgen: GET /v1/health, %d clients, %g s\n", nclients, phase_secs);
	run_phase_cpu(&l->health, a->pid);

	fprintf(stderr, "loadgen: checkout\n");
	l->co.ids = &ids;
	/* Room for the later phases: never more than half the seats. */
	l->co.limit = NLICENSES * SEATS / 2;
	run_phase_cpu(&l->co, a->pid);

	fprintf(stderr, "loadgen: heartbeat\n");
	l->hb.ids = &ids;
	run_phase_cpu(&l->hb, a->pid);

	fprintf(stderr, "loadgen: checkin\n");
	ids.cursor = 0;
	l->ci.ids = &ids;
	run_phase_cpu(&l->ci, a->pid);
	checkin_all(a->port, &ids);
	idlist_free(&ids);
	l->co.ids = l->hb.ids = l->ci.ids = NULL;

	fprintf(stderr, "loadgen: lifecycle: checkout, %d heartbeats, checkin\n", heartbeats);
	run_phase_cpu(&l->lc, a->pid);
}

/* The open-loop runs at half of the peak, with the server's /metrics
 * histograms around the checkout run. */
static void
run_open_loops(struct load_result *l, const struct slsrv *a)
{
	struct idlist ids = { NULL, 0, 0, 0 };

	l->peak = only_rate > 0 ? 2 * only_rate : phase_rate(&l->co, OP_CHECKOUT);
	fprintf(stderr, "loadgen: open-loop checkout at %.0f/s (half of peak)\n", l->peak / 2);
	phase_init(&l->half, "half-load", M_CHECKOUT, a->port);
	l->half.rate = l->peak / 2 > 1 ? l->peak / 2 : 1;
	l->half.ids = &ids;
	l->have_hist = server_hist(a->port, l->h0) == 0;
	run_phase_cpu(&l->half, a->pid);
	l->have_hist = l->have_hist && server_hist(a->port, l->h1) == 0;
	l->half.ids = NULL;
	checkin_all(a->port, &ids);
	idlist_free(&ids);
	/* The same schedule of requests that do nothing: what this machine
	 * and HTTP stack alone add to a request at that rate. */
	fprintf(stderr, "loadgen: open-loop health at %.0f/s\n", l->half.rate);
	phase_init(&l->halfh, "health-half", M_HEALTH, a->port);
	l->halfh.rate = l->half.rate;
	run_phase_cpu(&l->halfh, a->pid);
}

void
run_load(struct load_result *l)
{
	struct slsrv a;
	long hwm;

	memset(l, 0, sizeof(*l));
	if (external_port > 0) {
		/* A server someone else started (profiling): load phases only. */
		memset(&a, 0, sizeof(a));
		a.port = external_port;
		a.pid = -1;
	} else {
		srv_init(&a, "benchA", "load", "max_leases_per_client = 1000000\n");
		srv_start(&a);
	}
	fprintf(stderr, "loadgen: slserve on 127.0.0.1:%d, state in %s\n", a.port, a.dir);

	phase_init(&l->health, "health", M_HEALTH, a.port);
	phase_init(&l->co, "checkout", M_CHECKOUT, a.port);
	phase_init(&l->hb, "heartbeat", M_HEARTBEAT, a.port);
	phase_init(&l->ci, "checkin", M_CHECKIN, a.port);
	phase_init(&l->lc, "lifecycle", M_LIFECYCLE, a.port);
	if (only_rate == 0)
		run_closed_loops(l, &a);
	run_open_loops(l, &a);
	l->rss = hwm = -1;
	if (a.pid > 0)
		proc_mem(a.pid, &l->rss, &hwm);
	srv_stop(&a);
}

void
load_free(struct load_result *l)
{
	phase_free(&l->health);
	phase_free(&l->co);
	phase_free(&l->hb);
	phase_free(&l->ci);
	phase_free(&l->lc);
	phase_free(&l->half);
	phase_free(&l->halfh);
}
