/*
 * The usage policy at checkout: the include, exclude, max and reserve rules
 * of the options file (policy.h) applied to a holder's request, on the
 * seats of a product or of one license of a pool. Every function here is
 * called by checkout.c and store.c with the store's lock held.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "rules.h"
#include "store_int.h"

/* The seats a section governs: every license of a product in a pool, or
 * one license. */
struct scope {
	struct store *s;
	struct pool *p;
	const struct policy_entry *pe;
	struct lic *lic;		/* a license section: its license */
};

static struct lic *
scope_first(const struct scope *sc)
{
	return sc->lic != NULL ? sc->lic : lic_first_of_product(sc->s, sc->p, sc->pe->name);
}

static struct lic *
scope_next(const struct scope *sc, struct lic *c)
{
	return sc->lic != NULL ? NULL : lic_of_product(c->prod_next, sc->p, sc->pe->name);
}

/* Which leases a rule counts for a request: those of its target (named),
 * of the requester's own user or host (user:*, host:*), of one group the
 * requester is in (group:*, hostgroup:*: group), or all ("*"). */
static int
counts(const struct policy_rule *r, const struct policy_group *group,
    const struct checkout_req *req, const struct lease *l)
{
	const struct policy_target *t = &r->target;

	if (t->kind == POLICY_ALL)
		return 1;
	if (!t->each)
		return policy_member(t, l->user, l->host);
	switch (t->kind) {
	case POLICY_USER: return strcmp(l->user, req->user) == 0;
	case POLICY_HOST: return strcmp(l->host, req->host) == 0;
	case POLICY_GROUP: return policy_group_has(group, l->user);
	case POLICY_HOSTGROUP: return policy_group_has(group, l->host);
	default: return 0;
	}
}

/* The live leases of one license that rule r counts, from its tallies by
 * user and by host: a lookup per name, not a walk over its leases. -1 when
 * a tally lost count. */
static long
held_tallied(struct lic *c, const struct policy_rule *r, const struct policy_group *group,
    const struct checkout_req *req)
{
	const struct policy_target *t = &r->target;
	const struct policy_group *g = t->each ? group : t->group;
	struct tally *tt = t->kind == POLICY_HOST || t->kind == POLICY_HOSTGROUP ? &c->hosts :
	    &c->users;
	long n = 0, k;

	if (t->kind == POLICY_ALL)
		return c->in_use;
	if (t->kind == POLICY_USER || t->kind == POLICY_HOST)
		return tally_count(tt, t->each ? (t->kind == POLICY_USER ? req->user :
		    req->host) : t->name);
	for (size_t i = 0; g != NULL && i < g->n; i++) {
		if ((k = tally_count(tt, g->members[i])) < 0)
			return -1;
		n += k;
	}
	return n;
}

static long
held(const struct scope *sc, const struct policy_rule *r, const struct policy_group *group,
    const struct checkout_req *req)
{
	long n = 0, k;

	for (struct lic *c = scope_first(sc); c != NULL; c = scope_next(sc, c)) {
		if ((k = held_tallied(c, r, group, req)) >= 0) {
			n += k;
			continue;
		}
		for (const struct lease *l = c->live; l != NULL; l = l->lic_next)
			n += counts(r, group, req, l);
	}
	return n;
}

static void
refuse(struct refusal *f, unsigned status, const char *code, const struct policy_entry *pe,
    const char *opt, const struct policy_rule *r, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void
refuse(struct refusal *f, unsigned status, const char *code, const struct policy_entry *pe,
    const char *opt, const struct policy_rule *r, const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	f->code = code;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
	if (r != NULL)
		snprintf(f->rule, sizeof(f->rule), "%s \"%s\"", opt, r->text);
	else
		snprintf(f->rule, sizeof(f->rule), "%s", opt);
	f->line = r != NULL ? r->line : pe->line;
}

static const char *
what(const struct policy_entry *pe)
{
	return pe->is_license ? "license" : "product";
}

int
rules_admit(const struct policy *pol, const struct policy_entry *pe,
    const struct checkout_req *req, struct refusal *f)
{
	for (size_t i = 0; i < pe->nexclude; i++) {
		const struct policy_rule *r = &pe->exclude[i];
		if (policy_member(&r->target, req->user, req->host)) {
			refuse(f, 403, "excluded", pe, "exclude", r, "user \"%s\" on host \"%s\" "
			    "may not use %s \"%s\": exclude \"%s\" (%s:%d)", req->user, req->host,
			    what(pe), pe->name, r->text, pol->file, r->line);
			return 1;
		}
	}
	for (size_t i = 0; i < pe->ninclude; i++)
		if (policy_member(&pe->include[i].target, req->user, req->host))
			return 0;
	if (pe->ninclude > 0) {
		refuse(f, 403, "excluded", pe, "include", NULL, "user \"%s\" on host \"%s\" may "
		    "not use %s \"%s\": not in its include list (%s:%d)", req->user, req->host,
		    what(pe), pe->name, pol->file, pe->include[0].line);
		f->line = pe->include[0].line;
		return 1;
	}
	return 0;
}

/* max with group:* or hostgroup:*: the most each group the requester is in
 * may hold. */
static int
max_each_group(const struct policy *pol, const struct scope *sc, const struct policy_rule *r,
    const struct checkout_req *req, struct refusal *f)
{
	int hostgroups = r->target.kind == POLICY_HOSTGROUP;
	const struct policy_group *v = hostgroups ? pol->hostgroups : pol->groups;
	size_t n = hostgroups ? pol->nhostgroups : pol->ngroups;

	for (size_t i = 0; i < n; i++) {
		if (!policy_group_has(&v[i], hostgroups ? req->host : req->user))
			continue;
		long h = held(sc, r, &v[i], req);
		if (h >= r->n) {
			refuse(f, 409, "max_reached", sc->pe, "max", r, "%s \"%s\" holds %ld "
			    "seat%s of %s \"%s\", the most max \"%s\" allows (%s:%d)",
			    hostgroups ? "hostgroup" : "group", v[i].name, h, h == 1 ? "" : "s",
			    what(sc->pe), sc->pe->name, r->text, pol->file, r->line);
			return 1;
		}
	}
	return 0;
}

int
rules_max(struct store *s, const struct policy *pol, struct pool *p, struct lic *lic,
    const struct policy_entry *pe, const struct checkout_req *req, struct refusal *f)
{
	struct scope sc = { s, p, pe, lic };

	for (size_t i = 0; i < pe->nmax; i++) {
		const struct policy_rule *r = &pe->max[i];
		const struct policy_target *t = &r->target;
		if (t->each && (t->kind == POLICY_GROUP || t->kind == POLICY_HOSTGROUP)) {
			if (max_each_group(pol, &sc, r, req, f))
				return 1;
			continue;
		}
		if (!policy_member(t, req->user, req->host))
			continue;
		long h = held(&sc, r, NULL, req);
		if (h < r->n)
			continue;
		const char *who = t->kind == POLICY_ALL ? "everyone together" :
		    t->each ? (t->kind == POLICY_USER ? req->user : req->host) :
		    r->text + strcspn(r->text, " \t") + strspn(r->text + strcspn(r->text, " \t"),
		    " \t");
		refuse(f, 409, "max_reached", pe, "max", r, "%s%s%s holds %ld seat%s of %s "
		    "\"%s\", the most max \"%s\" allows (%s:%d)",
		    t->each ? (t->kind == POLICY_USER ? "user \"" : "host \"") : "",
		    who, t->each ? "\"" : "", h, h == 1 ? "" : "s", what(pe), pe->name,
		    r->text, pol->file, r->line);
		return 1;
	}
	return 0;
}

/* Can license c grant a seat here (the checks of store_checkout that do
 * not depend on who asks)? */
static int
servable(const struct store *s, const struct pool *p, const struct lic *c)
{
	return !c->retired && !license_expired(&c->def) &&
	    (!p->own || license_host_matches(&c->def, s->host_id));
}

int
rules_reserve(struct store *s, const struct policy *pol, struct pool *p, struct lic *lic,
    const struct policy_entry *pe, const struct checkout_req *req, struct refusal *f)
{
	struct scope sc = { s, p, pe, lic };
	const struct policy_rule *first = NULL;
	long total = 0, used = 0, blocked = 0;

	if (pe->nreserve == 0)
		return 0;
	for (struct lic *c = scope_first(&sc); c != NULL; c = scope_next(&sc, c)) {
		if (!servable(s, p, c))
			continue;
		if (c->def.count == LICENSE_UNLIMITED)
			return 0;
		total += c->def.count;
		used += c->in_use + c->lingering;
	}
	if (total - used <= 0)
		return 0;		/* none free: no_seats, said by the caller */
	for (size_t i = 0; i < pe->nreserve; i++) {
		const struct policy_rule *r = &pe->reserve[i];
		if (policy_member(&r->target, req->user, req->host))
			continue;
		long unused = r->n - held(&sc, r, NULL, req);
		if (unused > 0) {
			blocked += unused;
			if (first == NULL)
				first = r;
		}
	}
	if (total - used - blocked > 0)
		return 0;
	refuse(f, 409, "reserved", pe, "reserve", first, "the %ld free seat%s of %s \"%s\" %s "
	    "reserved for others: reserve \"%s\" (%s:%d)", total - used,
	    total - used == 1 ? "" : "s", what(pe), pe->name, total - used == 1 ? "is" : "are",
	    first->text, pol->file, first->line);
	return 1;
}

/*
 * Lingering seats: after a checkin, the seat stays with its holder
 * (client, user and host) for the linger of its license or product. Kept in
 * memory only: a restart or a takeover lets them go early, which frees a
 * seat and never counts one twice.
 */
struct linger {
	struct linger *next;
	struct lic *lic;
	int64_t until_ms;
	char key[];		/* client, user, host; each NUL-terminated */
};

/* The long at offset field of a policy section (linger, borrow). */
static long
entry_long(const struct policy_entry *pe, size_t field)
{
	long v;

	memcpy(&v, (const char *)pe + field, sizeof(v));
	return v;
}

/* The seconds pol sets for lic, field being the offset of that long in
 * struct policy_entry: its license section's when that sets some, else
 * its product section's, else 0. */
static long
policy_seconds(const struct policy *pol, const struct lic *lic, size_t field)
{
	const struct policy_entry *pe;

	if (pol == NULL)
		return 0;
	if ((pe = policy_license(pol, lic->def.id)) != NULL && entry_long(pe, field) > 0)
		return entry_long(pe, field);
	if ((pe = policy_product(pol, lic->def.product)) != NULL)
		return entry_long(pe, field);
	return 0;
}

long
rules_linger_seconds(const struct store *s, const struct lic *lic)
{
	return policy_seconds(lic->pool->own ? s->policy : lic->pool->policy, lic,
	    offsetof(struct policy_entry, linger));
}

void
rules_linger_add(struct store *s, const struct lease *l, long seconds)
{
	size_t lc = strlen(l->client) + 1, lu = strlen(l->user) + 1, lh = strlen(l->host) + 1;
	struct linger *g = malloc(sizeof(*g) + lc + lu + lh);

	if (g == NULL)
		return;		/* the seat is free at once: never more seats */
	memcpy(g->key, l->client, lc);
	memcpy(g->key + lc, l->user, lu);
	memcpy(g->key + lc + lu, l->host, lh);
	g->lic = l->lic;
	g->until_ms = now_ms() + seconds * 1000;
	g->next = s->lingers;
	s->lingers = g;
	g->lic->lingering++;
}

static void
linger_drop(struct linger **pp)
{
	struct linger *g = *pp;

	*pp = g->next;
	g->lic->lingering--;
	free(g);
}

void
rules_linger_sweep(struct store *s, int all)
{
	int64_t now = now_ms();

	for (struct linger **pp = &s->lingers; *pp != NULL;) {
		if (all || (*pp)->until_ms <= now) {
			linger_drop(pp);
			s->free_gen++;	/* a seat for the queue (queue.c) */
		} else
			pp = &(*pp)->next;
	}
}

int
rules_linger_take(struct store *s, const struct pool *p, const struct checkout_req *req)
{
	int64_t now = now_ms();

	for (struct linger **pp = &s->lingers; *pp != NULL; pp = &(*pp)->next) {
		struct linger *g = *pp;
		const char *k = g->key;
		if (g->until_ms <= now || g->lic->pool != p ||
		    strcmp(g->lic->def.product, req->product) != 0 || strcmp(k, req->client) != 0)
			continue;
		k += strlen(k) + 1;
		if (strcmp(k, req->user) != 0)
			continue;
		k += strlen(k) + 1;
		if (strcmp(k, req->host) != 0)
			continue;
		linger_drop(pp);
		return 1;
	}
	return 0;
}

long
rules_borrow_seconds(const struct policy *pol, const struct lic *lic)
{
	return policy_seconds(pol, lic, offsetof(struct policy_entry, borrow));
}
