/*
 * queue.c: checkouts that wait on the server, first come, first served
 * (the usage policy's queue = true; queue.h). A waiter's request is held
 * (req_hold) and answered once a seat the policy lets it take frees, its
 * wait is over, its client went away, or the server stops. Waiters ask the
 * store again only when a seat may have freed (store_free_gen), in the
 * order they came, so the first one the policy allows gets the seat.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "fence.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "queue.h"
#include "util.h"

struct waiter {
	struct waiter *next;
	struct req *r;
	struct checkout_req cr;		/* its strings point into text */
	char pool[SL_ID_MAX + 1];	/* the pool it waits in */
	int64_t since_ms, deadline_ms;	/* monotonic */
	uint64_t tried_gen;		/* store_free_gen at its last try */
	json_t *last;			/* the refusal it got last */
	char text[];
};

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;	/* locks.h */
static struct waiter *head;
static long nwaiters;
static int stopping;

static int
queueable(const struct reply *rep)
{
	const char *code = js_str(rep->body, "error", "");

	return rep->status == 409 && (strcmp(code, "no_seats") == 0 ||
	    strcmp(code, "max_reached") == 0 || strcmp(code, "reserved") == 0);
}

static struct waiter *
waiter_new(struct req *r, const struct checkout_req *cr, const char *pool, int64_t wait_ms)
{
	const char *v[] = { cr->product, cr->pool ? cr->pool : "", cr->lease ? cr->lease : "",
	    cr->client, cr->user, cr->host, cr->addr ? cr->addr : "" };
	size_t len = 0;
	struct waiter *w;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		len += strlen(v[i]) + 1;
	if ((w = calloc(1, sizeof(*w) + len)) == NULL)
		return NULL;
	char *p = w->text;
	const char **dst[] = { &w->cr.product, &w->cr.pool, &w->cr.lease, &w->cr.client,
	    &w->cr.user, &w->cr.host, &w->cr.addr };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i]) + 1;
		memcpy(p, v[i], n);
		*dst[i] = p;
		p += n;
	}
	if (cr->pool == NULL)
		w->cr.pool = NULL;
	if (cr->lease == NULL)
		w->cr.lease = NULL;
	w->cr.pid = cr->pid;
	w->cr.borrow = cr->borrow;
	w->cr.quiet = 1;		/* its first refusal was counted */
	w->r = r;
	util_strlcpy(w->pool, pool, sizeof(w->pool));
	w->since_ms = util_mono_ms();
	w->deadline_ms = w->since_ms + wait_ms;
	return w;
}

static void
waiter_wake(void *arg)
{
	req_wake(arg);
}

/* The grant's record is on disk: wait for the backups too when the seat
 * is of our own pool (as httpd.c does for a checkout answered at once). */
static void
waiter_durable(void *arg)
{
	struct req *r = arg;

	if (req_wait_more(r, waiter_wake))
		return;
	req_wake(r);
}

/* Answer w's request with rep (consumed) and let w go. */
static void
waiter_answer(struct waiter *w, struct reply *rep)
{
	struct req *r = w->r;

	json_decref(w->last);
	free(w);
	nwaiters--;
	r->reply = *rep;
	if (r->reply.wait_seq > 0 &&
	    journal_wait(r->srv->journal, r->reply.wait_seq, waiter_durable, r) == 1)
		return;
	waiter_durable(r);
}

static void
waiter_refuse(struct waiter *w, unsigned status, const char *code, const char *msg)
{
	struct reply rep;

	memset(&rep, 0, sizeof(rep));
	reply_error(&rep, status, code, "%s", msg);
	waiter_answer(w, &rep);
}

/* Has the client of a held request closed its connection? */
static int
client_gone(struct req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd pfd;

	if (ci == NULL)
		return 0;
	pfd.fd = ci->connect_fd;
	pfd.events = POLLRDHUP;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* Try waiter w once more; 1 when it was answered (and freed). */
static int
waiter_try(struct server *srv, struct waiter *w, uint64_t gen)
{
	struct reply rep;
	char why[512];

	w->tried_gen = gen;
	if (strcmp(w->pool, srv->cfg.name) == 0 && !fence_may_grant(srv->fence, why,
	    sizeof(why))) {
		waiter_refuse(w, 503, "not_serving", why);
		return 1;
	}
	store_checkout(srv->store, &w->cr, &rep);
	if (queueable(&rep)) {
		json_decref(w->last);
		w->last = rep.body;
		return 0;
	}
	if (rep.status == 201 || rep.status == 200)
		log_debug("queue: %s for %s waited %.1f s", w->cr.product, w->cr.user,
		    (double)(util_mono_ms() - w->since_ms) / 1000);
	waiter_answer(w, &rep);
	return 1;
}

/* queue_serve for waiters of pool and product (NULL: all). Queue locked. */
static void
serve_locked(struct server *srv, const char *pool, const char *product)
{
	uint64_t gen = store_free_gen(srv->store);
	int64_t now = util_mono_ms();

	for (struct waiter **pp = &head, *w; (w = *pp) != NULL;) {
		if (pool != NULL && (strcmp(w->pool, pool) != 0 ||
		    strcmp(w->cr.product, product) != 0)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;		/* out of the list while it is looked at */
		if (client_gone(w->r)) {
			waiter_refuse(w, 409, "client_gone", "the client went away while "
			    "it waited");
			continue;
		}
		if (w->tried_gen != gen && waiter_try(srv, w, gen))
			continue;
		if (now >= w->deadline_ms) {
			struct reply rep;
			memset(&rep, 0, sizeof(rep));
			rep.status = 409;
			rep.body = w->last;
			w->last = NULL;
			json_object_set_new(rep.body, "waited", json_real((double)(now -
			    w->since_ms) / 1000));
			waiter_answer(w, &rep);
			continue;
		}
		w->next = *pp;		/* back in its place */
		*pp = w;
		pp = &w->next;
	}
}

int
queue_checkout(struct req *r, const struct checkout_req *cr, int64_t wait_ms)
{
	struct server *srv = r->srv;
	const char *pool = cr->pool != NULL ? cr->pool : srv->cfg.name;
	struct waiter *w;

	if (wait_ms <= 0 || !store_queue_allowed(srv->store, cr->pool, cr->product)) {
		store_checkout(srv->store, cr, &r->reply);
		return 0;
	}
	pthread_mutex_lock(&queue_lock);
	/* Those who came first ask first. */
	serve_locked(srv, pool, cr->product);
	uint64_t gen = store_free_gen(srv->store);
	store_checkout(srv->store, cr, &r->reply);
	if (stopping || !queueable(&r->reply) || (w = waiter_new(r, cr, pool, wait_ms)) == NULL) {
		pthread_mutex_unlock(&queue_lock);
		return 0;
	}
	w->tried_gen = gen;
	w->last = r->reply.body;
	memset(&r->reply, 0, sizeof(r->reply));
	struct waiter **pp = &head;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = w;
	nwaiters++;
	req_hold(r);
	pthread_mutex_unlock(&queue_lock);
	return 1;
}

void
queue_serve(struct server *srv)
{
	pthread_mutex_lock(&queue_lock);
	if (head != NULL)
		serve_locked(srv, NULL, NULL);
	pthread_mutex_unlock(&queue_lock);
}

void
queue_stop(struct server *srv)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "server \"%s\" is shutting down", srv->cfg.name);
	pthread_mutex_lock(&queue_lock);
	stopping = 1;
	while (head != NULL) {
		struct waiter *w = head;
		head = w->next;
		waiter_refuse(w, 503, "stopping", msg);
	}
	pthread_mutex_unlock(&queue_lock);
}

void
queue_annotate(json_t *licenses)
{
	json_t *v;
	size_t i;

	pthread_mutex_lock(&queue_lock);
	json_array_foreach(licenses, i, v) {
		const char *pool = js_str(v, "pool", ""), *product = js_str(v, "product", "");
		long n = 0;
		for (struct waiter *w = head; w != NULL; w = w->next)
			n += strcmp(w->pool, pool) == 0 && strcmp(w->cr.product, product) == 0;
		json_object_set_new(v, "queued", json_integer(n));
	}
	pthread_mutex_unlock(&queue_lock);
}

void
queue_count_views(struct lic_view *lics, size_t n)
{
	pthread_mutex_lock(&queue_lock);
	for (size_t i = 0; i < n; i++) {
		lics[i].queued = 0;
		for (struct waiter *w = head; w != NULL; w = w->next)
			lics[i].queued += strcmp(w->pool, lics[i].pool) == 0 &&
			    strcmp(w->cr.product, lics[i].product) == 0;
	}
	pthread_mutex_unlock(&queue_lock);
}

long
queue_length(void)
{
	pthread_mutex_lock(&queue_lock);
	long n = nwaiters;
	pthread_mutex_unlock(&queue_lock);
	return n;
}
