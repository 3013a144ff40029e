/*
 * A usage policy of ten rules (issue 19): "the checkout rate with a policy
 * of 10 rules stays within 10% of the rate without one". Two servers with
 * the bench's licenses, one without an options file and one with ten rules
 * on every product (a reservation, three max, three include, three
 * exclude, over a group that holds every loadgen user), the same
 * closed-loop checkout run on each in turn, twice, so that the machine's
 * drift falls on both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

struct policy_result pres;

/* The options file: every loadgen user (user0..) in group "eng", its host
 * in hostgroup "farm", and ten rules on each product p00... None refuses a
 * checkout of the run: each is looked at and passed. */
static char *
options_text(void)
{
	size_t cap = 4096 + (size_t)nclients * 16 + NLICENSES * 512, len = 0;
	char *t = malloc(cap);

	if (t == NULL)
		fatal("out of memory");
	len += (size_t)snprintf(t + len, cap - len, "# written by loadgen\ngroup \"eng\" { members = {");
	for (int i = 0; i < nclients; i++)
		len += (size_t)snprintf(t + len, cap - len, "%s\"user%d\"", i ? ", " : " ", i);
	len += (size_t)snprintf(t + len, cap - len, " } }\n"
	    "group \"banned\" { members = { \"mallory\" } }\n"
	    "hostgroup \"farm\" { members = { \"loadgen\" } }\n");
	for (int i = 0; i < NLICENSES; i++)
		len += (size_t)snprintf(t + len, cap - len,
		    "product \"p%02d\" {\n"
		    "  reserve = { \"10 group:eng\" }\n"
		    "  max = { \"%d user:*\", \"%d group:eng\", \"%d hostgroup:farm\" }\n"
		    "  include = { \"group:eng\", \"hostgroup:farm\", \"user:user0\" }\n"
		    "  exclude = { \"user:mallory\", \"host:evil\", \"group:banned\" }\n"
		    "}\n", i, SEATS / 2, SEATS - 100, SEATS - 50);
	return t;
}

/* One closed-loop checkout run on s; its seats checked in after. */
static double
policy_phase(struct slsrv *s, const char *name, double *p50)
{
	struct phase ph;
	struct idlist ids = { NULL, 0, 0, 0 };

	phase_init(&ph, name, M_CHECKOUT, s->port);
	ph.nconns = nclients;
	ph.secs = phase_secs + warmup_secs;
	ph.ids = &ids;
	/* well under the rules' max and the reservation, per product */
	ph.limit = NLICENSES * SEATS / 4;
	run_phase(&ph);
	double rate = phase_rate(&ph, OP_CHECKOUT);
	*p50 = sample_pct(&ph.st[OP_CHECKOUT].lat, 0.5);
	phase_free(&ph);
	checkin_all(s->port, &ids);
	idlist_free(&ids);
	return rate;
}

void
run_policy(void)
{
	struct slsrv s[2];
	char extra[512], *text = options_text(), *path = path_in(tmpdir, "options.conf");

	write_file(path, text);
	free(text);
	srv_init(&s[0], "benchA", "nopolicy", "max_leases_per_client = 1000000\n");
	snprintf(extra, sizeof(extra), "max_leases_per_client = 1000000\noptions = \"%s\"\n", path);
	free(path);
	srv_init(&s[1], "benchA", "policy", extra);
	srv_start(&s[0]);
	srv_start(&s[1]);
	for (int r = 0; r < POLICY_ROUNDS; r++)
		for (int k = 0; k < 2; k++) {
			fprintf(stderr, "loadgen: policy: checkout %s, %d clients, %g s (round %d)\n",
			    k ? "with ten rules" : "without a policy", nclients, phase_secs, r + 1);
			pres.rate[k] += policy_phase(&s[k], k ? "policy" : "nopolicy", &pres.p50[k]);
		}
	/* The rules were live: one of them refuses mallory. */
	struct bconn b = BCONN_INIT(s[1].port);
	struct hresp r;
	pres.live = bhttp(&b, "POST", "/v1/checkout", NULL, "{\"product\":\"p00\",\"client\":"
	    "\"bench-probe\",\"user\":\"mallory\",\"host\":\"loadgen\",\"pid\":1}", &r,
	    5000) == 0 && r.status == 403;
	bconn_free(&b);
	srv_stop(&s[1]);
	srv_stop(&s[0]);
	pres.ran = 1;
}
