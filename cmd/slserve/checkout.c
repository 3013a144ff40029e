/*
 * checkout.c: the checkout policy: who gets a seat (store_checkout: the
 * licenses of a product, the usage policy's rules, bans, the per-client,
 * per-address and total limits) and what a holder may do with it after
 * (heartbeat, confirm, checkin), revoking a seat (a tombstone that answers
 * 410, and a ban), the refusals counted by reason. Every change is
 * journaled (record.c) and answered once durable (reply.wait_seq). Each
 * store_ function takes the store lock (store.c) itself; lease_end expects
 * it held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "rules.h"
#include "store.h"
#include "store_int.h"
#include "usage.h"
#include "util.h"

#define TOMBSTONE_MIN_MS (3600 * 1000LL)	/* answer 410 this long after a revoke */

static void lease_confirm(struct store *s, struct lease *l);

int
store_queue_allowed(struct store *s, const char *pool, const char *product)
{
	const struct policy_entry *pe;
	struct pool *p;
	int allowed = 0;

	pthread_mutex_lock(&s->lock);
	if ((p = store_pool(s, pool)) != NULL) {
		const struct policy *pol = p->own ? s->policy : p->policy;
		allowed = pol != NULL && (pe = policy_product(pol, product)) != NULL && pe->queue;
	}
	pthread_mutex_unlock(&s->lock);
	return allowed;
}

static void
usage_deny(const struct store *s, const struct checkout_req *req, const struct lic *l,
    const char *code)
{
	if (req->quiet)
		return;		/* a queued waiter asking again: counted once */
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:I, s:s}",
	    "product", req->product, "pool", l ? l->pool->name : (req->pool ? req->pool : s->name),
	    "client", req->client, "user", req->user, "host", req->host, "lease",
	    "pid", (json_int_t)req->pid, "error", code);
	if (l != NULL) {
		json_object_set_new(ev, "license", json_string(l->def.id));
		json_object_set_new(ev, "in_use", json_integer(l->in_use));
		json_object_set_new(ev, "max", json_integer(l->def.count));
	}
	usage_event("deny", ev);
}

const char *const deny_reason_names[DENY_REASONS] = {
	"no_seats", "expired", "wrong_host", "revoked", "too_many_leases_total",
	"too_many_leases_per_ip", "too_many_leases",
};

/* Count a refused checkout of product (a license's, never the client's
 * string) in pool p. */
static void
product_denied(struct store *s, const struct pool *p, const char *product,
    enum deny_reason why)
{
	struct product_denials *d = NULL, *nv;

	for (size_t i = 0; i < s->nproduct_denials && d == NULL; i++)
		if (strcmp(s->product_denials[i].pool, p->name) == 0 &&
		    strcmp(s->product_denials[i].product, product) == 0)
			d = &s->product_denials[i];
	if (d == NULL) {
		nv = realloc(s->product_denials, (s->nproduct_denials + 1) * sizeof(*nv));
		if (nv == NULL)
			return;		/* the count is lost, not the answer */
		s->product_denials = nv;
		d = &nv[s->nproduct_denials++];
		memset(d, 0, sizeof(*d));
		util_strlcpy(d->pool, p->name, sizeof(d->pool));
		util_strlcpy(d->product, product, sizeof(d->product));
	}
	d->n[why]++;
}

struct product_denials *
store_product_denials(struct store *s, size_t *n)
{
	struct product_denials *copy;

	pthread_mutex_lock(&s->lock);
	*n = s->nproduct_denials;
	copy = malloc((*n ? *n : 1) * sizeof(*copy));
	if (copy == NULL)
		*n = 0;
	else if (*n > 0)
		memcpy(copy, s->product_denials, *n * sizeof(*copy));
	pthread_mutex_unlock(&s->lock);
	return copy;
}

static int
ban_matches(const struct store *s, const struct lic *l, const struct checkout_req *req)
{
	int64_t now = now_ms();

	for (size_t i = 0; i < s->nbans; i++) {
		const struct ban *b = &s->bans[i];
		if (b->until_ms > now && strcmp(b->license, l->def.id) == 0 &&
		    strcmp(b->client, req->client) == 0 && strcmp(b->user, req->user) == 0 &&
		    strcmp(b->host, req->host) == 0)
			return 1;
	}
	return 0;
}

/*
 * A backup serving a Primary's pool refuses a checkout that names its own
 * lease id: it may be the retry of a grant the Primary wrote but never
 * answered (it failed first), which the backup's mirror never saw. Its
 * client now knows it has no seat, so the handback tells the Primary to end
 * that grant (store_merge_handback), or nobody would hold it. Bounded; kept
 * with the mirror (store_pool_state).
 */
#define REFUSED_MAX 10000

static void
note_refused(struct pool *p, const struct checkout_req *req)
{
	if (p->refused == NULL)
		p->refused = json_array();
	if (p->refused == NULL || json_array_size(p->refused) >= REFUSED_MAX)
		return;
	json_array_append_new(p->refused, json_pack("{s:s, s:s, s:s, s:s}", "id", req->lease,
	    "client", req->client, "user", req->user, "host", req->host));
	p->dirty |= 2;		/* not in the mirror journal's lines: a new base */
}

/* A seat this backup adopted from its mirror, asked for again by its
 * holder: a grant the Primary wrote, sent us and never answered. It may
 * have been lost with the Primary (we had it before its disk did): from now
 * on it is this holder's seat, which a handback brings back even when the
 * Primary does not hold it. Journaled ({"op":"claim"}); the retry is
 * answered once that is on disk. */
static void
lease_claim(struct store *s, struct lease *l)
{
	if (!l->adopted)
		return;
	json_t *lj = json_object();
	record_set_str(lj, "id", l->id);
	record_set_str(lj, "pool", l->lic->pool->name);
	uint64_t seq = journal_record(s, "claim", lj, NULL);
	if (seq > 0) {		/* 0: out of memory; asked again, claimed then */
		l->adopted = 0;
		l->journaled_seq = seq;
	}
}

/* Which reason to give when the licenses of a product refuse a checkout
 * for different ones: a seat free but not for this holder (reserved,
 * max_reached) says most; then none free; then excluded from one license
 * (another may free a seat). */
static int
reason_rank(const char *why)
{
	static const char *const order[] = { "excluded", "no_seats", "max_reached", "reserved" };

	for (int i = (int)(sizeof(order) / sizeof(order[0])) - 1; i >= 0; i--)
		if (strcmp(why, order[i]) == 0)
			return i + 1;
	return 0;
}

/* Answer a checkout the usage policy refuses; count and log it by reason. */
static void
policy_deny(struct store *s, const struct checkout_req *req, struct lic *l,
    const struct refusal *f, struct reply *r)
{
	s->denials += !req->quiet;
	if (req->quiet)
		;
	else if (strcmp(f->code, "excluded") == 0)
		s->policy_denials[0]++;
	else if (strcmp(f->code, "max_reached") == 0)
		s->policy_denials[1]++;
	else
		s->policy_denials[2]++;
	l->fails += !req->quiet;
	reply_error(r, f->status, f->code, "%s", f->message);
	json_object_set_new(r->body, "rule", json_string(f->rule));
	usage_deny(s, req, l, f->code);
}

void
store_checkout(struct store *s, const struct checkout_req *req, struct reply *r)
{
	struct lic *pick = NULL, *reason_lic = NULL;
	struct refusal refusal, refusal2, *reason_refusal = NULL;
	const char *reason = NULL;
	int candidates = 0, full = 0;
	struct pool *p;
	struct lease *l;
	json_t *ev = NULL;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&s->lock);
	p = store_pool(s, req->pool);
	if (p == NULL) {
		reply_error(r, 404, "unknown_pool", "pool \"%s\" is not served here: this is "
		    "server \"%s\" and it backs up no server of that name", req->pool, s->name);
		goto out;
	}
	if (!p->own && (p->status != POOL_HOT_RETRY || p->handing)) {
		reply_error(r, 503, "not_serving", "server \"%s\" is a backup for \"%s\", which "
		    "is up: ask it at %s", s->name, p->name, p->primary_url);
		json_object_set_new(r->body, "primary", json_string(p->primary_url));
		goto out;
	}
	if (req->lease != NULL && (l = lease_find(s, req->lease)) != NULL) {
		if (l->tomb_until_ms > 0) {
			reply_error(r, 403, "revoked", "lease %s was revoked", l->id);
		} else if (strcmp(l->product, req->product) != 0 || l->lic->pool != p) {
			reply_error(r, 409, "lease_conflict", "lease %s is held for product \"%s\" "
			    "in pool \"%s\"", l->id, l->product, l->lic->pool->name);
		} else if (strcmp(l->client, req->client) != 0 || strcmp(l->user, req->user) != 0 ||
		    strcmp(l->host, req->host) != 0) {
			/* A retry is the same holder asking again; anyone else
			 * naming the id would share one counted seat. */
			reply_error(r, 409, "lease_conflict", "lease %s is held by another client, "
			    "user or host; choose a new random lease id", l->id);
		} else {
			lease_confirm(s, l);	/* its holder asks again: it has it */
			lease_claim(s, l);
			r->status = 200;
			r->body = lease_grant_json(s, l);
			r->wait_seq = l->journaled_seq > l->seq ? l->journaled_seq : l->seq;
			r->own_grant = p->own;
		}
		goto out;
	}
	/* A seat that lingers for this holder is its own again; the others
	 * past their time are let go. */
	if (s->lingers != NULL) {
		rules_linger_sweep(s, 0);
		rules_linger_take(s, p, req);
	}
	struct lic *first = lic_first_of_product(s, p, req->product);
	int nfull = 0;
	/* The usage policy of the pool (a Primary's, as it sent it, when we
	 * serve its pool): the product's rules first. */
	const struct policy *pol = p->own ? s->policy : p->policy;
	const struct policy_entry *pe = pol ? policy_product(pol, req->product) : NULL;
	if (pe != NULL && first != NULL && (rules_admit(pol, pe, req, &refusal) ||
	    rules_max(s, pol, p, NULL, pe, req, &refusal) ||
	    rules_reserve(s, pol, p, NULL, pe, req, &refusal))) {
		policy_deny(s, req, first, &refusal, r);
		goto out;
	}
	for (struct lic *c = first; c != NULL; c = lic_of_product(c->prod_next, p, req->product)) {
		if (c->retired)
			continue;
		candidates++;
		const char *why = NULL;
		int by_rule = 0;
		const struct policy_entry *le = pol ? policy_license(pol, c->def.id) : NULL;
		struct refusal *lf = reason_refusal == &refusal ? &refusal2 : &refusal;
		if (license_expired(&c->def))
			why = "expired";
		else if (p->own && !license_host_matches(&c->def, s->host_id))
			why = "wrong_host";
		else if (s->nbans > 0 && ban_matches(s, c, req))
			why = "revoked";
		else if (le != NULL && (by_rule = rules_admit(pol, le, req, lf)))
			why = lf->code;
		else if (c->def.count != LICENSE_UNLIMITED && c->in_use + c->lingering >= c->def.count)
			why = "no_seats";
		else if (le != NULL && (by_rule = (rules_max(s, pol, p, c, le, req, lf) ||
		    rules_reserve(s, pol, p, c, le, req, lf))))
			why = lf->code;
		if (why == NULL) {
			pick = c;
			break;
		}
		if (strcmp(why, "no_seats") == 0) {
			full = 1;
			nfull++;
		}
		if (reason == NULL || reason_rank(why) > reason_rank(reason) ||
		    (strcmp(why, "no_seats") == 0 && strcmp(reason, "no_seats") == 0)) {
			reason = why;
			reason_lic = c;
			reason_refusal = by_rule ? lf : NULL;
		}
	}
	if (candidates == 0) {
		s->denials += !req->quiet;
		reply_error(r, 404, "unknown_product", "no license for product \"%s\" in pool "
		    "\"%s\"", req->product, p->name);
		usage_deny(s, req, NULL, "unknown_product");
		goto out;
	}
	if (pick == NULL && reason_refusal != NULL) {
		policy_deny(s, req, reason_lic, reason_refusal, r);
		goto out;
	}
	if (pick == NULL) {
		s->denials += !req->quiet;
		/* FAILS: the refusal of the one license the answer is about (an
		 * expired, wrong-host or barred license; the only full one). All
		 * seats of several licenses in use is the product's refusal, and
		 * counts in product_denials only, not once on each license. A
		 * queued waiter asking again is not counted again. */
		if (!req->quiet && (!full || nfull == 1))
			reason_lic->fails++;
		if (!req->quiet)
			product_denied(s, p, reason_lic->def.product, full ? DENY_NO_SEATS :
			    strcmp(reason, "expired") == 0 ? DENY_EXPIRED :
			    strcmp(reason, "wrong_host") == 0 ? DENY_WRONG_HOST : DENY_REVOKED);
		if (full && !p->own && req->lease != NULL)
			note_refused(p, req);
		long lingering = 0;
		for (struct lic *c = first; c != NULL;
		    c = lic_of_product(c->prod_next, p, req->product))
			lingering += c->lingering;
		if (full && lingering > 0)
			reply_error(r, 409, "no_seats", "all seats of product \"%s\" in pool "
			    "\"%s\" are in use on server \"%s\", %ld of them kept for the "
			    "holder that checked it in (linger)", req->product, p->name, s->name,
			    lingering);
		else if (full)
			reply_error(r, 409, "no_seats", "all seats of product \"%s\" in pool "
			    "\"%s\" are in use on server \"%s\"", req->product, p->name, s->name);
		else if (strcmp(reason, "expired") == 0)
			reply_error(r, 403, "expired", "license \"%s\" expired on %s",
			    reason_lic->def.id, reason_lic->def.expires);
		else if (strcmp(reason, "wrong_host") == 0)
			reply_error(r, 403, "wrong_host", "license \"%s\" is bound to host \"%s\", "
			    "not this server", reason_lic->def.id, reason_lic->def.host);
		else
			reply_error(r, 403, "revoked", "a seat of license \"%s\" was revoked from "
			    "this client; it may not check out again yet", reason_lic->def.id);
		usage_deny(s, req, reason_lic, full ? "no_seats" : reason);
		goto out;
	}
	if (req->borrow > 0) {
		long allowed = rules_borrow_seconds(pol, pick);
		if (allowed == 0 || req->borrow > allowed) {
			s->denials += !req->quiet;
			pick->fails += !req->quiet;
			if (allowed == 0)
				reply_error(r, 403, "borrow_not_allowed", "license \"%s\" of product "
				    "\"%s\" may not be borrowed (no borrow in the usage policy)",
				    pick->def.id, req->product);
			else
				reply_error(r, 403, "borrow_too_long", "a borrow of product \"%s\" "
				    "is at most %ld seconds; %ld asked", req->product, allowed,
				    req->borrow);
			json_object_set_new(r->body, "borrow_max", json_integer(allowed));
			usage_deny(s, req, pick, allowed == 0 ? "borrow_not_allowed" :
			    "borrow_too_long");
			goto out;
		}
	}
	if (s->max_leases > 0 && (long)s->live >= s->max_leases) {
		s->denials += !req->quiet;
		reply_error(r, 503, "too_many_leases_total", "server \"%s\" holds %zu live "
		    "leases, its limit (max_leases = %ld)", s->name, s->live, s->max_leases);
		json_object_set_new(r->body, "limit", json_integer(s->max_leases));
		product_denied(s, p, pick->def.product, DENY_TOO_MANY_TOTAL);
		usage_deny(s, req, pick, "too_many_leases_total");
		goto out;
	}
	if (s->max_leases_per_ip > 0 && req->addr != NULL && req->addr[0] != '\0' &&
	    addr_lease_count(s, req->addr) >= s->max_leases_per_ip) {
		s->denials += !req->quiet;
		reply_error(r, 429, "too_many_leases_per_ip", "address %s already holds %ld "
		    "leases on server \"%s\" (max_leases_per_ip = %ld)", req->addr,
		    s->max_leases_per_ip, s->name, s->max_leases_per_ip);
		json_object_set_new(r->body, "limit", json_integer(s->max_leases_per_ip));
		json_object_set_new(r->body, "address", json_string(req->addr));
		product_denied(s, p, pick->def.product, DENY_TOO_MANY_PER_IP);
		usage_deny(s, req, pick, "too_many_leases_per_ip");
		goto out;
	}
	if (s->max_leases_per_client > 0 &&
	    client_lease_count(s, req) >= s->max_leases_per_client) {
		s->denials += !req->quiet;
		reply_error(r, 429, "too_many_leases", "this client already holds %ld leases "
		    "(max_leases_per_client)", s->max_leases_per_client);
		product_denied(s, p, pick->def.product, DENY_TOO_MANY);
		usage_deny(s, req, pick, "too_many_leases");
		goto out;
	}
	if (heap_reserve(s) != 0 || (l = lease_new(req->lease, req->product, req->client,
	    req->user, req->host, req->addr ? req->addr : "")) == NULL) {
		reply_error(r, 503, "out_of_memory", "server out of memory");
		goto out;
	}
	if (req->lease == NULL)
		util_random_hex(l->id, 16);
	l->pid = req->pid;
	l->since = time(NULL);
	/* A hard seat is held for good only once its holder is known to have
	 * it (store_confirm): until then it ends confirm_timeout after the
	 * grant, so a grant whose answer never arrived (the server crashed
	 * first) is not held by nobody for ever. */
	l->expires_ms = now_ms() + (pick->def.timeout > 0 ? pick->def.timeout * 1000 :
	    s->confirm_timeout_ms);
	r->unconfirmed = pick->def.timeout == 0;
	if (req->borrow > 0) {
		/* A borrow ends at its time, hard license or soft, held or not. */
		l->borrowed_until_ms = l->expires_ms = now_ms() + req->borrow * 1000;
		r->unconfirmed = 0;
	}
	l->journaled_ms = l->expires_ms;
	l->lic = pick;
	lease_link(s, l);
	if ((l->seq = journal_lease(s, "grant", l, NULL)) == 0) {
		lease_unlink(s, l);	/* not on disk: not granted */
		free(l);
		reply_error(r, 503, "out_of_memory", "server out of memory: no seat granted");
		goto out;
	}
	l->journaled_seq = l->seq;
	s->grants++;
	/* Logged once the lock is let go: formatting and writing the line
	 * was about a third of what a checkout did under it (callgrind). */
	ev = usage_json(l);
	r->status = 201;
	r->body = lease_grant_json(s, l);
	r->wait_seq = l->seq;
	r->own_grant = p->own;
out:
	pthread_mutex_unlock(&s->lock);
	if (ev != NULL)
		usage_event("grant", ev);
}

/* Answer for a lease id that is a tombstone. */
static void
reply_tombstone(const struct store *s, const struct lease *l, struct reply *r)
{
	if (l->handed_back) {
		reply_error(r, 503, "not_serving", "lease %s was handed back to server \"%s\" at %s",
		    l->id, l->lic->pool->name, l->lic->pool->primary_url);
		json_object_set_new(r->body, "primary", json_string(l->lic->pool->primary_url));
	} else {
		reply_error(r, 410, "revoked", "lease %s was revoked by the administrator of "
		    "server \"%s\"", l->id, s->name);
	}
}

/* The pool of a Primary this server mirrors, but does not serve, that holds
 * lease id: until a takeover, the Primary answers for it. */
static struct pool *
mirror_pool_of(struct store *s, const char *id)
{
	for (size_t i = 0; i < s->npools; i++) {
		struct pool *p = s->pools[i];
		if (!p->own && p->status != POOL_HOT_RETRY &&
		    json_object_get(p->mirror, id) != NULL)
			return p;
	}
	return NULL;
}

/* Answer for a lease a warm backup mirrors: 503, go to the Primary (not 404,
 * which tells the client that its seat is gone). */
static void
reply_mirrored(const struct pool *p, const char *id, struct reply *r)
{
	reply_error(r, 503, "not_serving", "lease %s is served by its Primary \"%s\" at %s",
	    id, p->name, p->primary_url);
	json_object_set_new(r->body, "primary", json_string(p->primary_url));
}

/* The live lease id for a call of its holder (heartbeat, or checkin when
 * changing), or NULL with the answer in r: unknown, revoked, handed back, or
 * in a pool this server does not serve now (changing: nor while it hands the
 * pool back). Called with the store lock held. */
static struct lease *
lease_for_holder(struct store *s, const char *id, const char *pool, int changing,
    struct reply *r)
{
	struct lease *l = lease_find(s, id);
	struct pool *mp;

	if (l == NULL && (mp = mirror_pool_of(s, id)) != NULL) {
		reply_mirrored(mp, id, r);
	} else if (l == NULL && pool != NULL && (mp = store_pool(s, pool)) != NULL &&
	    !mp->own && (mp->status != POOL_HOT_RETRY || mp->handing)) {
		/* The holder says the seat is of a Primary's pool that we back
		 * up but do not serve now: the seat may be one our mirror has
		 * not seen yet. Not 404, which would make it drop the seat. */
		reply_mirrored(mp, id, r);
	} else if (l == NULL) {
		reply_error(r, 404, "unknown_lease", "no lease %s on server \"%s\" (expired, "
		    "checked in, or never granted here)", id, s->name);
	} else if (l->tomb_until_ms > 0) {
		reply_tombstone(s, l, r);
	} else if (!l->lic->pool->own && (l->lic->pool->status != POOL_HOT_RETRY ||
	    (changing && l->lic->pool->handing))) {
		reply_error(r, 503, "not_serving", "pool \"%s\" is served by its Primary at %s",
		    l->lic->pool->name, l->lic->pool->primary_url);
		json_object_set_new(r->body, "primary", json_string(l->lic->pool->primary_url));
	} else {
		return l;
	}
	return NULL;
}

/* A hard seat's holder has it: held until checked in from now on, and
 * journaled so ({"op":"confirm"}). Not waited for by itself: a crash before
 * it is on disk leaves the seat unconfirmed, and the holder's next call
 * (slcheck heartbeats hard seats too) confirms it again. */
static void
lease_confirm(struct store *s, struct lease *l)
{
	if (l->lic->def.timeout != 0 || l->expires_ms == 0 || l->tomb_until_ms > 0 ||
	    l->borrowed_until_ms > 0)
		return;
	json_t *lj = json_object();
	record_set_str(lj, "id", l->id);
	record_set_str(lj, "pool", l->lic->pool->name);
	l->expires_ms = l->journaled_ms = 0;
	lease_schedule(s, l);
	l->journaled_seq = journal_record(s, "confirm", lj, NULL);
}

int
store_lease_pool_own(struct store *s, const char *id)
{
	pthread_mutex_lock(&s->lock);
	struct lease *l = lease_find(s, id);
	int own = l == NULL ? -1 : l->lic->pool->own;
	pthread_mutex_unlock(&s->lock);
	return own;
}

void
store_confirm(struct store *s, const char *id)
{
	struct lease *l;

	pthread_mutex_lock(&s->lock);
	if ((l = lease_find(s, id)) != NULL)
		lease_confirm(s, l);
	pthread_mutex_unlock(&s->lock);
}

/*
 * A heartbeat renews a soft lease for a timeout from now, and journals the
 * new expiry when it is more than half a timeout past the journaled one
 * (every other heartbeat, at a third of the timeout apart); that heartbeat
 * is answered once its record is on disk. So no acknowledged heartbeat
 * promised more than the last journaled expiry plus half a timeout, which
 * is what a restart, a takeover and a handback give the lease (see
 * expiry_resumed): what is left of its timeout, never a fresh one.
 */
void
store_heartbeat(struct store *s, const char *id, const char *pool, struct reply *r)
{
	struct lease *l;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&s->lock);
	if ((l = lease_for_holder(s, id, pool, 0, r)) != NULL && l->borrowed_until_ms > 0) {
		/* Nothing to renew: the borrow ends at its time. */
		r->status = 200;
		r->body = json_pack("{s:s, s:I, s:I, s:I}", "lease", l->id, "expires_in",
		    (json_int_t)borrow_left(l), "heartbeat_interval", (json_int_t)0,
		    "borrowed_until", (json_int_t)(l->borrowed_until_ms / 1000));
		r->wait_seq = l->journaled_seq > l->seq ? l->journaled_seq : l->seq;
	} else if (l != NULL) {
		long t = l->lic->def.timeout;
		if (t == 0 && l->expires_ms > 0) {
			lease_confirm(s, l);
			r->own_grant = l->lic->pool->own;
		} else if (l->expires_ms > 0) {
			l->expires_ms = now_ms() + t * 1000;
			/* Sooner than scheduled only if a reload cut the timeout. */
			if (l->expires_ms < l->due_ms)
				lease_schedule(s, l);
			if (l->expires_ms > l->journaled_ms + t * 500) {
				lease_journal_expiry(s, l);
				/* our backups resume the seat from what they mirror */
				r->own_grant = l->lic->pool->own;
			}
		}
		r->status = 200;
		r->body = json_pack("{s:s, s:I, s:I}", "lease", l->id, "expires_in",
		    (json_int_t)t, "heartbeat_interval", (json_int_t)heartbeat_interval(t));
		r->wait_seq = l->journaled_seq > l->seq ? l->journaled_seq : l->seq;
	}
	pthread_mutex_unlock(&s->lock);
}

/* End a live lease: unlink, journal, log (with extra fields, which are
 * consumed). Returns the journal sequence. With evp, the usage event is
 * left there for the caller to log once it has let go of the store lock. */
static uint64_t
lease_end_event(struct store *s, struct lease *l, const char *why, json_t *extra,
    json_t **evp)
{
	uint64_t seq;

	lease_unlink(s, l);
	if ((seq = journal_release(s, l, why)) == 0) {
		/* Not recorded (out of memory): the lease goes on, and the
		 * caller says so, or tries again. */
		lease_link(s, l);
		json_decref(extra);
		return 0;
	}
	if (!l->lic->pool->own) {
		struct pool *p = l->lic->pool;
		if (p->released == NULL)
			p->released = json_array();
		json_array_append_new(p->released, json_string(l->id));
		p->dirty = 1;
	}
	json_t *ev = usage_json(l);
	if (extra != NULL) {
		json_object_update(ev, extra);
		json_decref(extra);
	}
	if (evp != NULL)
		*evp = ev;
	else
		usage_event(why, ev);
	return seq;
}

uint64_t
lease_end(struct store *s, struct lease *l, const char *why, json_t *extra)
{
	return lease_end_event(s, l, why, extra, NULL);
}

void
store_checkin(struct store *s, const char *id, const char *pool, struct reply *r)
{
	struct lease *l;
	json_t *ev = NULL;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&s->lock);
	if ((l = lease_for_holder(s, id, pool, 1, r)) != NULL) {
		long linger = rules_linger_seconds(s, l->lic);
		uint64_t seq = lease_end_event(s, l, "checkin", linger > 0 ?
		    json_pack("{s:I}", "linger", (json_int_t)linger) : NULL, &ev);
		if (seq == 0) {
			reply_error(r, 503, "out_of_memory", "server out of memory: lease %s "
			    "is not checked in; try again", id);
			goto out;
		}
		/* Answered once its record is on disk and, for our own pool,
		 * in our backups' mirrors (synchronous_backup), like a grant:
		 * a checkin acknowledged and then lost to a crash or a
		 * takeover would bring back a seat its holder has let go. */
		r->wait_seq = seq;
		r->own_grant = l->lic->pool->own;
		s->checkins++;
		r->status = 200;
		r->body = json_object();
		record_set_str(r->body, "lease", id);
		json_object_set_new_nocheck(r->body, "released", json_true());
		if (linger > 0) {
			rules_linger_add(s, l, linger);
			record_set_int(r->body, "linger", linger);
		}
		free(l);
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (ev != NULL)
		usage_event("checkin", ev);
}

void
store_revoke(struct store *s, const char *idprefix, long for_seconds, const char *reason,
    const char *by, struct reply *r)
{
	struct lease *l = NULL, *x;
	size_t plen = strlen(idprefix);
	int matches = 0;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&s->lock);
	if ((l = lease_find(s, idprefix)) == NULL && plen >= 6) {
		for (x = s->head; x != NULL; x = x->next) {
			if (x->tomb_until_ms == 0 && strncmp(x->id, idprefix, plen) == 0) {
				l = x;
				matches++;
			}
		}
		if (matches > 1) {
			reply_error(r, 409, "ambiguous", "lease prefix %s matches %d leases",
			    idprefix, matches);
			goto out;
		}
	}
	if (l == NULL) {
		reply_error(r, 404, "unknown_lease", "no lease %s on server \"%s\"", idprefix,
		    s->name);
		goto out;
	}
	if (l->tomb_until_ms > 0) {
		reply_error(r, 410, "revoked", "lease %s is already revoked", l->id);
		goto out;
	}
	int64_t until = now_ms() + (int64_t)for_seconds * 1000;
	json_t *extra = json_pack("{s:s, s:s, s:I}", "reason", reason ? reason : "",
	    "by", by ? by : "", "for", (json_int_t)for_seconds);
	lease_unlink(s, l);
	l->tomb_until_ms = until > now_ms() + TOMBSTONE_MIN_MS ? until : now_ms() + TOMBSTONE_MIN_MS;
	lease_link(s, l);
	if ((r->wait_seq = journal_lease(s, "revoke", l, reason)) == 0) {
		/* Not recorded (out of memory): the seat goes on. */
		lease_unlink(s, l);
		l->tomb_until_ms = 0;
		lease_link(s, l);
		json_decref(extra);
		reply_error(r, 503, "out_of_memory", "server out of memory: lease %s is not "
		    "revoked; try again", l->id);
		goto out;
	}
	if (!l->lic->pool->own) {
		if (l->lic->pool->released == NULL)
			l->lic->pool->released = json_array();
		json_array_append_new(l->lic->pool->released, json_string(l->id));
		l->lic->pool->dirty = 1;
	}
	r->own_grant = l->lic->pool->own;
	json_t *ev = usage_json(l);
	json_object_update(ev, extra);
	json_decref(extra);
	usage_event("revoke", ev);
	s->revokes++;
	int banned = 1;
	if (for_seconds > 0) {
		struct ban *nb = realloc(s->bans, (s->nbans + 1) * sizeof(*nb));
		if (nb != NULL) {
			s->bans = nb;
			struct ban *b = &s->bans[s->nbans++];
			util_strlcpy(b->license, l->lic->def.id, sizeof(b->license));
			util_strlcpy(b->client, l->client, sizeof(b->client));
			util_strlcpy(b->user, l->user, sizeof(b->user));
			util_strlcpy(b->host, l->host, sizeof(b->host));
			b->until_ms = until;
			json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "op", "ban",
			    "license", b->license, "client", b->client, "user", b->user,
			    "host", b->host, "until_ms", (json_int_t)until);
			uint64_t bseq = journal_append(s->journal, rec);
			json_decref(rec);
			if (bseq > 0) {
				r->wait_seq = bseq;
			} else {
				/* not recorded: not in force either */
				s->nbans--;
				banned = 0;
			}
		} else {
			banned = 0;
		}
	}
	char by_esc[1024], reason_esc[1024];
	log_info("revoked lease %s of license %s (for %lds) by %s: %s", l->id, l->lic->def.id,
	    for_seconds, log_escape(by_esc, sizeof(by_esc), by ? by : "admin"),
	    log_escape(reason_esc, sizeof(reason_esc), reason));
	r->status = 200;
	r->body = json_pack("{s:s, s:b, s:I}", "lease", l->id, "revoked", 1,
	    "until", (json_int_t)(until / 1000));
	if (!banned)
		json_object_set_new(r->body, "ban_recorded", json_false());
out:
	pthread_mutex_unlock(&s->lock);
}
