/*
 * witness.c: any slserve can be a witness: GET /v1/peer/probe?url=URL says
 * whether this server reaches URL's /v1/health, so that a backup cut off
 * from its Primary does not take over a Primary that is up. The check
 * (up to 1.5 s) runs on a thread of its own while the request is held, not
 * on an HTTP worker; at most PROBES_MAX at once, more are checked inline.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failcfg.h"
#include "http.h"
#include "json.h"
#include "server.h"
#include "util.h"
#include "witness.h"

#define PROBES_MAX 4

struct probe {
	struct req *r;
	char ca[4096];
	char target[FAILCFG_URL_MAX];
	int reachable;
};

static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;	/* a leaf: locks.h */
static pthread_cond_t probe_cv = PTHREAD_COND_INITIALIZER;
static int probes_running;
static int probes_stopped;

static int
probe_reach(const char *ca, const char *target)
{
	struct http_options ho = { 500, 1000, NULL, ca[0] ? ca : NULL, NULL };
	struct http_client *c = http_client_new(&ho);
	struct http_response resp;
	char *url = NULL;
	int ok = 0;

	memset(&resp, 0, sizeof(resp));
	if (c != NULL && asprintf(&url, "%s/v1/health", target) != -1)
		ok = http_request(c, "GET", url, NULL, &resp) == 0 && resp.status == 200;
	else
		url = NULL;
	http_response_clear(&resp);
	http_client_free(c);
	free(url);
	return ok;
}

static void
probe_answer(struct req *r, const char *target, int reachable)
{
	r->reply.status = 200;
	r->reply.body = json_pack("{s:s, s:b}", "url", target, "reachable", reachable);
}

/* The held request, woken: answer it (on its HTTP thread). */
static void
probe_resume(struct req *r)
{
	struct probe *pr = r->ctx;

	r->ctx = NULL;
	probe_answer(r, pr->target, pr->reachable);
	free(pr);
}

static void *
probe_main(void *arg)
{
	struct probe *pr = arg;

	pr->reachable = probe_reach(pr->ca, pr->target);
	/* pr is the request's from here (probe_resume frees it); the wake
	 * under probe_mu, so that witness_stop returns only after it. */
	pthread_mutex_lock(&probe_mu);
	probes_running--;
	req_wake(pr->r);
	pthread_cond_broadcast(&probe_cv);
	pthread_mutex_unlock(&probe_mu);
	return NULL;
}

void
api_peer_probe(struct req *r, const char *arg)
{
	const char *target = req_query(r, "url");
	const char *ca = r->srv->cfg.ca;
	struct probe *pr;
	pthread_attr_t attr;
	pthread_t t;
	int started = 0;

	(void)arg;
	if (!failcfg_valid_url(target)) {
		req_error(r, 400, "bad_request", "probe needs url=http://HOST:PORT");
		return;
	}
	if ((pr = calloc(1, sizeof(*pr))) == NULL) {
		req_error(r, 503, "out_of_memory", "out of memory");
		return;
	}
	pr->r = r;
	util_strlcpy(pr->target, target, sizeof(pr->target));
	util_strlcpy(pr->ca, ca != NULL ? ca : "", sizeof(pr->ca));
	pthread_mutex_lock(&probe_mu);
	if (!probes_stopped && probes_running < PROBES_MAX && pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r->ctx = pr;
		r->on_resume = probe_resume;
		req_hold(r);
		if (pthread_create(&t, &attr, probe_main, pr) == 0) {
			probes_running++;
			started = 1;
		} else {
			r->ctx = NULL;
			r->on_resume = NULL;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&probe_mu);
	if (started)
		return;
	/* Held but no thread: wake it; answered below, when resumed. */
	if (r->suspended)
		req_wake(r);
	probe_answer(r, pr->target, probe_reach(pr->ca, pr->target));
	free(pr);
}

void
witness_stop(void)
{
	pthread_mutex_lock(&probe_mu);
	probes_stopped = 1;
	while (probes_running > 0)
		pthread_cond_wait(&probe_cv, &probe_mu);
	pthread_mutex_unlock(&probe_mu);
}
