/*
 * pool.c: the store's side of failover, per pool: a Primary's licenses and
 * leases mirrored on a backup, takeover, handback (prepare, commit, merge),
 * and the state of a pool a backup saves (mirrorlog.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "journal.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "store.h"
#include "store_int.h"
#include "usage.h"
#include "util.h"

/*
 * The Primary's usage policy comes with its licenses: each carries it as
 * "policy" (store_own_licenses), none when it has no options file. Install
 * it for pool p; 1 when it changed. A policy that does not parse is logged
 * and none is applied (the Primary checked it against its licenses).
 */
static int
pool_set_policy(struct pool *p, json_t *defs)
{
	json_t *pj = NULL, *v;
	struct policy *policy = NULL;
	char err[512];
	size_t i;

	json_array_foreach(defs, i, v)
		if (json_is_object(pj = json_object_get(v, "policy")))
			break;
	if (!json_is_object(pj))
		pj = NULL;
	if (pj == NULL ? p->policy_json == NULL : p->policy_json != NULL &&
	    json_equal(pj, p->policy_json))
		return 0;
	if (pj != NULL && policy_from_json(pj, &policy, err, sizeof(err)) != 0) {
		log_warnx("pool %s: its Primary's usage policy is not applied: %s", p->name, err);
		pj = NULL;
	}
	policy_free(p->policy);
	json_decref(p->policy_json);
	p->policy = policy;
	p->policy_json = pj != NULL ? json_deep_copy(pj) : NULL;
	log_info("pool %s: %s", p->name, policy != NULL ? "its Primary's usage policy "
	    "applies when this server serves it" : "no usage policy");
	return 1;
}

void
store_pool_set_licenses(struct store *s, struct pool *p, json_t *defs)
{
	struct license def;
	char err[256];
	json_t *v;
	size_t i;
	int changed = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t k = 0; k < s->nlics; k++)
		if (s->lics[k]->pool == p)
			s->lics[k]->retired = 1;
	json_array_foreach(defs, i, v) {
		if (license_from_json(v, &def, err, sizeof(err)) != 0) {
			log_warnx("pool %s: %s", p->name, err);
			continue;
		}
		struct lic *l = lic_find(s, p, def.id);
		if (l == NULL) {
			if ((l = lic_add(s, p, &def)) == NULL)
				log_warnx("pool %s: license \"%s\": out of memory; not loaded",
				    p->name, def.id);
			changed |= l != NULL;
		}
		if (l != NULL) {
			changed |= memcmp(&l->def, &def, sizeof(def)) != 0;
			l->def = def;
			l->retired = 0;
		}
	}
	for (size_t k = 0; k < s->nlics; k++)
		changed |= s->lics[k]->pool == p && s->lics[k]->retired;
	changed |= pool_set_policy(p, defs);
	s->lic_index_stale = 1;		/* a product may have changed */
	lic_drop_retired(s);
	/* The mirror file keeps them for a restart that must serve the pool. */
	if (changed)
		p->dirty = 1;
	pthread_mutex_unlock(&s->lock);
}

/*
 * A mirrored lease is kept as its record's compact JSON text, in a json
 * string: one allocation, not the thirty of a decoded record (a backup
 * mirroring 100,000 leases held 220 MB of them, and growing its heap for
 * them took a seventh of its CPU). The Primary's poll answers come as text,
 * which goes into the mirror as it came (store_mirror_records,
 * store_mirror_full); what reads a lease decodes it (mirror_lease_json), or
 * finds the one member it needs (mirror_lease_member). A text kept names
 * each member read here (LEASE_KEYS) once at most: else it is kept as
 * jansson decodes it, the last of a repeated key. Never changed in place,
 * but replaced: store_pool_state's copy shares them.
 */
static json_t *
mirror_value(json_t *lease)
{
	size_t n;
	char *t = js_compact(lease, 0, &n);
	json_t *v = t != NULL ? json_stringn_nocheck(t, n) : NULL;

	free(t);
	return v;
}

/* Mirrored lease v decoded: a new record of its own. */
static json_t *
mirror_lease_json(json_t *v)
{
	return json_is_string(v) ? js_loadb(json_string_value(v), json_string_length(v), NULL) :
	    NULL;
}

/* Where member key of mirrored lease v's text is: a text kept names it
 * once at most (mirror_rec_value), so the first is the one. */
static int
mirror_lease_member(json_t *v, const char *key, const char **val, size_t *vlen)
{
	const char *t = json_string_value(v);
	size_t off;

	if (t == NULL || js_member_first(t, json_string_length(v), key, &off, vlen) != 0)
		return -1;
	*val = t + off;
	return 0;
}

/* The integer that a value's text is, as js_int reads it: else 0. */
static int64_t
text_int(const char *t, size_t n)
{
	char buf[24];

	if (n == 0 || n >= sizeof(buf) || (t[0] != '-' && (t[0] < '0' || t[0] > '9')))
		return 0;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/* A string value's text into buf, as js_str reads it ("" when it is no
 * string, or does not fit: no name sl takes is that long). */
static void
text_str(const char *t, size_t n, char *buf, size_t len)
{
	buf[0] = '\0';
	if (n >= 2 && t[0] == '"' && n - 2 < len) {
		memcpy(buf, t + 1, n - 2);
		buf[n - 2] = '\0';
	}
}

int
mirror_lease_license(json_t *v, char *buf, size_t len)
{
	const char *t;
	size_t n;

	if (mirror_lease_member(v, "license", &t, &n) != 0)
		return -1;
	text_str(t, n, buf, len);
	return buf[0] != '\0' ? 0 : -1;
}

static int64_t
mirror_lease_int(json_t *v, const char *key)
{
	const char *t;
	size_t n;

	return mirror_lease_member(v, key, &t, &n) == 0 ? text_int(t, n) : 0;
}

/* A lease record of the Primary's: from its text, or decoded. */
struct mirror_rec {
	char op[16];		/* of a journal record */
	char id[SL_ID_MAX + 2];
	char pool[SL_ID_MAX + 2];
	int64_t tomb_until_ms, expires_ms;
	int is_lease;		/* the lease is an object: */
	const char *text;	/*   its text (tl bytes), or */
	size_t tl;
	int repeated;		/*   (a member of LEASE_KEYS twice in it) */
	json_t *lease;		/*   decoded */
};

/* The members of a lease read here (mirror_lease_member, mirror_lease_read). */
enum { LK_ID, LK_LICENSE, LK_POOL, LK_TOMB, LK_EXPIRES, NLEASE_KEYS };
static const struct {
	const char *name;
	size_t len;
} LEASE_KEYS[NLEASE_KEYS] = {
	[LK_ID] = { "id", 2 }, [LK_LICENSE] = { "license", 7 }, [LK_POOL] = { "pool", 4 },
	[LK_TOMB] = { "tomb_until_ms", 13 }, [LK_EXPIRES] = { "expires_ms", 10 },
};

/* The members of lease text t (which js_fast_valid took) into r. */
static void
mirror_lease_read(const char *t, size_t n, struct mirror_rec *r)
{
	struct js_iter it;
	const char *k;
	size_t kl, vo, vl;
	unsigned seen = 0;

	r->is_lease = n > 0 && t[0] == '{';
	r->text = t;
	r->tl = n;
	if (!r->is_lease || js_iter_init(&it, t, n) != 0)
		return;
	while (js_iter_next(&it, &k, &kl, &vo, &vl) == 1) {
		size_t w;
		for (w = 0; w < NLEASE_KEYS; w++)
			if (LEASE_KEYS[w].len == kl && memcmp(k, LEASE_KEYS[w].name, kl) == 0)
				break;
		if (w == NLEASE_KEYS)
			continue;
		if (seen & (1u << w))
			r->repeated = 1;
		seen |= 1u << w;
		const char *v = t + vo;
		if (w == LK_ID)
			text_str(v, vl, r->id, sizeof(r->id));
		else if (w == LK_POOL)
			text_str(v, vl, r->pool, sizeof(r->pool));
		else if (w == LK_TOMB)
			r->tomb_until_ms = text_int(v, vl);
		else if (w == LK_EXPIRES)
			r->expires_ms = text_int(v, vl);
	}
}

/* Decoded lease into r. */
static void
mirror_lease_decoded(json_t *lease, struct mirror_rec *r)
{
	const char *id = js_str(lease, "id", ""), *pool = js_str(lease, "pool", "");

	r->is_lease = json_is_object(lease);
	r->lease = lease;
	if (strlen(id) < sizeof(r->id))
		strcpy(r->id, id);
	if (strlen(pool) < sizeof(r->pool))
		strcpy(r->pool, pool);
	r->tomb_until_ms = js_int(lease, "tomb_until_ms", 0);
	r->expires_ms = js_int(lease, "expires_ms", 0);
}

/* Is r one of pool p's leases? */
static int
mirror_rec_ours(const struct mirror_rec *r, const struct pool *p)
{
	return r->is_lease && util_valid_id(r->id) && strcmp(r->pool, p->name) == 0;
}

/* Lease r as a mirror keeps it (a new reference; NULL: out of memory). */
static json_t *
mirror_rec_value(const struct mirror_rec *r)
{
	json_t *o, *v;

	if (r->lease != NULL)
		return mirror_value(r->lease);
	if (!r->repeated)
		return json_stringn_nocheck(r->text, r->tl);
	o = js_loadb(r->text, r->tl, NULL);
	v = o != NULL ? mirror_value(o) : NULL;
	json_decref(o);
	return v;
}

/* Replace mirrored lease m (id) by one with expires_ms set. */
static void
mirror_lease_set(struct pool *p, const char *id, json_t *m, int64_t expires_ms)
{
	json_t *c = mirror_lease_json(m), *v = NULL;

	if (c == NULL || json_object_set_new(c, "expires_ms", json_integer(expires_ms)) != 0 ||
	    (v = mirror_value(c)) == NULL || json_object_set_new(p->mirror, id, v) != 0) {
		/* out of memory: the lease keeps its old expiry, as a grant
		 * not set is not mirrored */
		log_warnx("pool \"%s\": out of memory mirroring lease %s", p->name, id);
	}
	json_decref(c);
}

/* Keep lease r in mirror m (id r->id). */
static void
mirror_put(const struct pool *p, json_t *m, const struct mirror_rec *r)
{
	json_t *v = mirror_rec_value(r);

	if (v == NULL || json_object_set_new(m, r->id, v) != 0)
		log_warnx("pool \"%s\": out of memory mirroring lease %s", p->name, r->id);
}

/* Take journal record r into p's mirror; store lock held. */
static void
mirror_take(struct pool *p, const struct mirror_rec *r)
{
	json_t *m;

	if (!mirror_rec_ours(r, p))
		return;
	if (strcmp(r->op, "grant") == 0 && r->tomb_until_ms == 0)
		mirror_put(p, p->mirror, r);
	else if (strcmp(r->op, "confirm") == 0 && (m = json_object_get(p->mirror, r->id)) != NULL)
		mirror_lease_set(p, r->id, m, 0);
	else if (strcmp(r->op, "renew") == 0 && (m = json_object_get(p->mirror, r->id)) != NULL &&
	    r->expires_ms > mirror_lease_int(m, "expires_ms"))
		mirror_lease_set(p, r->id, m, r->expires_ms);
	else if (strcmp(r->op, "release") == 0 || strcmp(r->op, "revoke") == 0)
		json_object_del(p->mirror, r->id);
	p->dirty = 1;
}

/* Journal record text raw[off..off+len) (raw: js_fast_valid took it) into r. */
static void
mirror_rec_text(const char *raw, size_t off, size_t len, struct mirror_rec *r)
{
	struct js_iter it;
	const char *k, *lease = NULL;
	size_t kl, vo, vl, ll = 0;

	memset(r, 0, sizeof(*r));
	if (js_iter_init(&it, raw + off, len) != 0 || !it.obj)
		return;
	while (js_iter_next(&it, &k, &kl, &vo, &vl) == 1) {
		if (kl == 2 && memcmp(k, "op", 2) == 0) {
			text_str(raw + off + vo, vl, r->op, sizeof(r->op));
		} else if (kl == 5 && memcmp(k, "lease", 5) == 0) {
			lease = raw + off + vo;
			ll = vl;
		}
	}
	if (lease != NULL)
		mirror_lease_read(lease, ll, r);
}

/* Journal record rec decoded into r. */
static void
mirror_rec_json(json_t *rec, struct mirror_rec *r)
{
	const char *op = js_str(rec, "op", "");

	memset(r, 0, sizeof(*r));
	if (strlen(op) < sizeof(r->op))
		strcpy(r->op, op);
	mirror_lease_decoded(json_object_get(rec, "lease"), r);
}

void
store_mirror_full(struct store *s, struct pool *p, json_t *leases, const char *raw,
    size_t rawlen)
{
	json_t *m = json_object(), *v;
	struct mirror_rec r;
	struct js_iter it;
	size_t i, off, len;

	if (raw != NULL && js_iter_init(&it, raw, rawlen) == 0 && !it.obj) {
		while (js_iter_next(&it, NULL, NULL, &off, &len) == 1) {
			memset(&r, 0, sizeof(r));
			mirror_lease_read(raw + off, len, &r);
			if (mirror_rec_ours(&r, p) && r.tomb_until_ms == 0)
				mirror_put(p, m, &r);
		}
	} else if (raw == NULL) {
		json_array_foreach(leases, i, v) {
			memset(&r, 0, sizeof(r));
			mirror_lease_decoded(v, &r);
			if (mirror_rec_ours(&r, p) && r.tomb_until_ms == 0)
				mirror_put(p, m, &r);
		}
	}
	pthread_mutex_lock(&s->lock);
	json_decref(p->mirror);
	p->mirror = m;
	p->dirty = 1;
	pthread_mutex_unlock(&s->lock);
}

size_t
store_mirror_records(struct store *s, struct pool *p, json_t *records, const char *raw,
    size_t rawlen, size_t *nrecs)
{
	struct mirror_rec r;
	struct js_iter it;
	json_t *rec;
	size_t i, n, off, len;

	*nrecs = 0;
	pthread_mutex_lock(&s->lock);
	if (p->mirror == NULL)
		p->mirror = json_object();
	if (raw != NULL && js_iter_init(&it, raw, rawlen) == 0 && !it.obj) {
		while (js_iter_next(&it, NULL, NULL, &off, &len) == 1) {
			mirror_rec_text(raw, off, len, &r);
			mirror_take(p, &r);
			(*nrecs)++;
		}
	} else if (raw == NULL) {
		json_array_foreach(records, i, rec) {
			mirror_rec_json(rec, &r);
			mirror_take(p, &r);
			(*nrecs)++;
		}
	}
	n = json_object_size(p->mirror);
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Is live lease l the seat that record rec describes: the same license
 * and holder? */
static int
lease_is_record(const struct lease *l, json_t *rec)
{
	return strcmp(l->lic->def.id, js_str(rec, "license", "")) == 0 &&
	    strcmp(l->client, js_str(rec, "client", "")) == 0 &&
	    strcmp(l->user, js_str(rec, "user", "")) == 0 &&
	    strcmp(l->host, js_str(rec, "host", "")) == 0;
}

/* Would adopting rec into pool p take the id of lease l, another pool's
 * seat or tombstone, or another holder's seat? Lease ids are unique per
 * server: replacing l would drop a seat its holder still uses and free it
 * for a second one. Such a record is refused, and logged. */
static int
adopt_collides(const struct lease *l, const struct pool *p, json_t *rec, const char *why)
{
	char lic[2 * SL_ID_MAX + 8];

	if (l == NULL || (l->lic->pool == p && (l->tomb_until_ms > 0 || lease_is_record(l, rec))))
		return 0;
	log_escape(lic, sizeof(lic), js_str(rec, "license", ""));
	log_warnx("%s: lease %s of pool \"%s\" (license %s) not adopted: the id is held "
	    "here by %s of pool \"%s\" (license %s)%s", why, l->id, p->name, lic,
	    l->tomb_until_ms > 0 ? "a revoked lease" : "a seat", l->lic->pool->name,
	    l->lic->def.id, l->lic->pool == p ? " for another holder" : "");
	return 1;
}

/*
 * Adopt one lease record into pool p with what is left of its timeout
 * (expiry_resumed); journaled. A record the journal cannot take (out of
 * memory) sets *lost. At a handback the lease is then not taken: the
 * backup keeps the pool and hands it back again. At a takeover it stays
 * counted: the mirror on disk holds it (a restart adopts it again), and
 * dropping it would free its seat for a second holder.
 */
static uint64_t
adopt_lease(struct store *s, struct pool *p, json_t *rec, int *lost)
{
	struct lease *l = lease_find(s, js_str(rec, "id", ""));
	const char *why = p->own ? "handback" : "takeover";

	if (adopt_collides(l, p, rec, why))
		return 0;
	if (l != NULL && l->tomb_until_ms == 0)
		return 0;	/* already held here */
	json_t *copy = json_deep_copy(rec);
	json_object_del(copy, "tomb_until_ms");
	json_object_del(copy, "handed_back");
	json_object_del(copy, "adopted");
	/* a backup serving a Primary's seat: the Primary decides at handback */
	if (!p->own)
		json_object_set_new(copy, "adopted", json_true());
	json_object_set_new(copy, "pool", json_string(p->name));
	if (lease_from_record(s, copy) != 0) {
		json_decref(copy);
		return 0;
	}
	json_decref(copy);
	l = lease_find(s, js_str(rec, "id", ""));
	l->expires_ms = l->journaled_ms = expiry_resumed(l, l->expires_ms, now_ms());
	lease_schedule(s, l);
	l->seq = l->journaled_seq = journal_lease(s, "grant", l, why);
	if (l->seq == 0) {
		*lost = 1;
		log_warnx("%s: lease %s of pool \"%s\" could not be journaled (out of memory)%s",
		    why, l->id, p->name, p->own ? "; the handback is tried again" :
		    "; held in memory, its record is in the mirror");
		if (p->own) {
			lease_unlink(s, l);
			free(l);
		}
		return 0;
	}
	return l->seq;
}

uint64_t
store_takeover(struct store *s, struct pool *p)
{
	uint64_t seq = 0, q;
	const char *id;
	json_t *v;
	int n = 0, lost = 0;

	pthread_mutex_lock(&s->lock);
	/* The promise to the Primary and the decision are taken under one
	 * hold of the lock: a fence request cannot slip in between. */
	if (p->status != POOL_WARM || util_mono_ms() < p->fenced_until_ms) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	json_object_foreach(p->mirror, id, v) {
		json_t *rec = mirror_lease_json(v);
		if (rec == NULL) {
			/* out of memory: the mirror on disk holds it */
			log_warnx("takeover: lease %s of pool \"%s\" not adopted (out of memory)",
			    id, p->name);
			continue;
		}
		if ((q = adopt_lease(s, p, rec, &lost)) > 0) {
			seq = q;
			n++;
		}
		json_decref(rec);
	}
	p->status = POOL_HOT_RETRY;
	pthread_mutex_unlock(&s->lock);
	usage_event("takeover", json_pack("{s:s, s:s, s:i}", "pool", p->name, "by", s->name,
	    "leases", n));
	char since[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", gmtime_r(&now, &tm));
	/* In words first: what an operator looking at the log wants to know. */
	log_warnx("\"%s\" is down: \"%s\" serves its licenses since %s UTC", p->name,
	    s->name, since);
	log_info("took over pool \"%s\" from %s: %d lease%s adopted", p->name, p->primary_url, n,
	    n == 1 ? "" : "s");
	return seq;
}

json_t *
store_handback_prepare(struct store *s, struct pool *p, enum handback_by by)
{
	json_t *leases = json_array();

	pthread_mutex_lock(&s->lock);
	/* Not served here: nothing to stop, and no commit will clear it. */
	if (p->status == POOL_HOT_RETRY)
		p->handing |= by;
	for (struct lease *l = s->head; l != NULL; l = l->next)
		if (l->lic->pool == p && l->tomb_until_ms == 0)
			json_array_append_new(leases, lease_record_json(l));
	json_t *payload = json_pack("{s:s, s:s, s:o, s:o, s:o}", "pool", p->name, "from", s->name,
	    "leases", leases, "released", p->released ? json_deep_copy(p->released) : json_array(),
	    "refused", p->refused ? json_deep_copy(p->refused) : json_array());
	pthread_mutex_unlock(&s->lock);
	return payload;
}

uint64_t
store_handback_commit(struct store *s, struct pool *p, enum handback_by by)
{
	json_t *mirror = json_object();
	int64_t tomb = now_ms() + HANDBACK_TOMB_MS;
	uint64_t seq = 0;
	int n = 0;

	pthread_mutex_lock(&s->lock);
	if (p->status != POOL_HOT_RETRY || !(p->handing & by)) {
		p->handing &= ~by;
		pthread_mutex_unlock(&s->lock);
		json_decref(mirror);
		return 0;
	}
	/* Relinking moves a lease to the head: take the next one first, or
	 * the walk starts over after every lease. */
	for (struct lease *l = s->head, *next; l != NULL; l = next) {
		next = l->next;
		if (l->lic->pool != p || l->tomb_until_ms > 0)
			continue;
		json_t *rec = lease_record_json(l);
		json_object_set_new(mirror, l->id, mirror_value(rec));
		json_decref(rec);
		lease_unlink(s, l);
		l->tomb_until_ms = tomb;
		l->handed_back = 1;
		lease_link(s, l);
		seq = journal_lease(s, "release", l, "handback");
		n++;
	}
	json_decref(p->released);
	p->released = NULL;
	json_decref(p->refused);
	p->refused = NULL;
	json_decref(p->mirror);
	p->mirror = mirror;
	p->status = POOL_WARM;
	p->handing = 0;		/* handed back: the other handback has nothing left */
	p->failed_polls = 0;
	p->primary_epoch[0] = '\0';	/* resync in full */
	p->primary_seq = 0;
	p->dirty = 1;
	pthread_mutex_unlock(&s->lock);
	usage_event("handback", json_pack("{s:s, s:s, s:i}", "pool", p->name, "by", s->name,
	    "leases", n));
	log_info("handed pool \"%s\" back to %s: %d lease%s", p->name, p->primary_url, n,
	    n == 1 ? "" : "s");
	log_info("\"%s\" is back: it serves its licenses again", p->name);
	return seq;
}

void
store_handback_cancel(struct store *s, struct pool *p, enum handback_by by)
{
	pthread_mutex_lock(&s->lock);
	p->handing &= ~by;
	pthread_mutex_unlock(&s->lock);
}

/* A license for a peer or the mirror file, with the usage policy of its
 * pool: a copy, as the answer is written out after the lock is let go. */
static json_t *
lic_json(struct license def, json_t *policy)
{
	json_t *o = license_to_json(&def);

	if (o != NULL && policy != NULL)
		json_object_set_new(o, "policy", json_deep_copy(policy));
	return o;
}

json_t *
store_pool_state(struct store *s, struct pool *p)
{
	json_t *lics = json_array();

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nlics; i++)
		if (s->lics[i]->pool == p && !s->lics[i]->retired)
			json_array_append_new(lics, lic_json(s->lics[i]->def, p->policy_json));
	/* Copies: the caller writes them out after the lock is released, while
	 * the poller may change the originals. The mirror's leases are shared:
	 * they are replaced, never changed (store_mirror_records). */
	json_t *st = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:I}", "pool", p->name,
	    "licenses", lics, "mirror", p->mirror ? json_copy(p->mirror) : json_object(),
	    "released", p->released ? json_deep_copy(p->released) : json_array(),
	    "refused", p->refused ? json_deep_copy(p->refused) : json_array(),
	    "epoch", p->primary_epoch, "seq", (json_int_t)p->primary_seq);
	p->dirty = 0;
	pthread_mutex_unlock(&s->lock);
	return st;
}

/*
 * State st as JSON text (a base): its mirror's leases as the objects they
 * are, not as the strings that hold their text here. NULL: out of memory,
 * or a lease not kept as text.
 */
char *
store_pool_state_text(json_t *st, size_t *lenp)
{
	json_t *mirror = json_object_get(st, "mirror"), *v;
	const char *id;
	size_t hl, n, cap;
	char *head, *out;

	json_incref(mirror);
	json_object_del(st, "mirror");
	head = js_compact(st, 0, &hl);
	json_object_set_new(st, "mirror", mirror);
	if (head == NULL || hl < 2)
		goto failed;
	/* Every value is a lease's text (mirror_value): one that is not
	 * fails the save, which is tried again, rather than be left out. */
	cap = hl + 16;
	json_object_foreach(mirror, id, v) {
		if (!json_is_string(v))
			goto failed;
		cap += strlen(id) + 4 + json_string_length(v);
	}
	if ((out = malloc(cap)) == NULL)
		goto failed;
	n = hl - 1;	/* without its closing brace */
	memcpy(out, head, n);
	free(head);
	n += (size_t)sprintf(out + n, "%s\"mirror\":{", n > 1 ? "," : "");
	int first = 1;
	json_object_foreach(mirror, id, v) {
		/* Ids are names (util_valid_id): nothing in them to escape. */
		n += (size_t)sprintf(out + n, "%s\"%s\":", first ? "" : ",", id);
		memcpy(out + n, json_string_value(v), json_string_length(v));
		n += json_string_length(v);
		first = 0;
	}
	memcpy(out + n, "}}", 3);
	*lenp = n + 2;
	return out;
failed:
	free(head);
	return NULL;
}

/* The mirror's leases are shared with p->mirror, whose last reference may
 * be let go by another thread: jansson's reference counts do not order
 * one thread's reads before another's free, the store lock does. */
void
store_pool_state_free(struct store *s, json_t *st)
{
	pthread_mutex_lock(&s->lock);
	json_decref(st);
	pthread_mutex_unlock(&s->lock);
}

void
store_pool_restore(struct store *s, struct pool *p, json_t *st)
{
	store_pool_set_licenses(s, p, json_object_get(st, "licenses"));
	pthread_mutex_lock(&s->lock);
	json_t *m = json_object_get(st, "mirror"), *r = json_object_get(st, "released");
	json_t *rf = json_object_get(st, "refused");
	json_decref(p->mirror);
	json_decref(p->released);
	json_decref(p->refused);
	p->mirror = json_object();
	/* A base holds each lease decoded: kept as text (mirror_value). */
	const char *id;
	json_t *v;
	json_object_foreach(m, id, v) {
		if (!util_valid_id(id) || !json_is_object(v))
			continue;	/* not one a base was written with */
		json_t *t = mirror_value(v);
		if (t == NULL || json_object_set_new(p->mirror, id, t) != 0)
			log_warnx("pool \"%s\": out of memory restoring lease %s", p->name, id);
	}
	p->released = json_is_array(r) ? json_incref(r) : json_array();
	p->refused = json_is_array(rf) ? json_incref(rf) : NULL;
	util_strlcpy(p->primary_epoch, js_str(st, "epoch", ""), sizeof(p->primary_epoch));
	p->primary_seq = (uint64_t)js_int(st, "seq", 0);
	pthread_mutex_unlock(&s->lock);
}

int
store_pool_has_leases(struct store *s, struct pool *p)
{
	int found = 0;

	pthread_mutex_lock(&s->lock);
	for (struct lease *l = s->head; l != NULL && !found; l = l->next)
		found = l->lic->pool == p && l->tomb_until_ms == 0;
	pthread_mutex_unlock(&s->lock);
	return found;
}

json_t *
store_own_licenses(struct store *s)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nlics; i++)
		if (s->lics[i]->pool->own && !s->lics[i]->retired)
			json_array_append_new(arr, lic_json(s->lics[i]->def, s->policy_json));
	pthread_mutex_unlock(&s->lock);
	return arr;
}

static int
payload_has_lease(json_t *payload, const char *id)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(payload, "leases"), i, v)
		if (strcmp(js_str(v, "id", ""), id) == 0)
			return 1;
	return 0;
}

uint64_t
store_merge_handback(struct store *s, json_t *payload, int *adopted, int *ended, int *lost)
{
	struct pool *own = s->pools[0];
	uint64_t seq = 0, q;
	json_t *v;
	size_t i;

	*adopted = *ended = *lost = 0;
	pthread_mutex_lock(&s->lock);
	json_array_foreach(json_object_get(payload, "released"), i, v) {
		struct lease *l = json_is_string(v) ? lease_find(s, json_string_value(v)) : NULL;
		if (l != NULL && l->lic->pool == own && l->tomb_until_ms == 0) {
			if ((q = lease_end(s, l, "checkin", json_pack("{s:s}", "via",
			    "handback"))) == 0)
				continue;
			seq = q;
			free(l);
			(*ended)++;
		}
	}
	json_array_foreach(json_object_get(payload, "leases"), i, v) {
		const char *id = js_str(v, "id", NULL);
		if (!util_valid_id(id) || strcmp(js_str(v, "pool", ""), own->name) != 0)
			continue;
		struct lease *l = lease_find(s, id);
		if (adopt_collides(l, own, v, "handback"))
			continue;
		if (l != NULL && l->tomb_until_ms == 0) {
			int64_t e = expiry_resumed(l, js_int(v, "expires_ms", 0), now_ms());
			if (l->expires_ms > 0 && e > l->expires_ms) {
				l->expires_ms = e;
				lease_schedule(s, l);
				if (e > l->journaled_ms)
					lease_journal_expiry(s, l);
				seq = l->journaled_seq;
			}
			continue;
		}
		/* A seat of ours the backup took from its mirror that we no longer
		 * hold ended here (its mirror had not seen that yet): taking it
		 * back would hold a seat nobody has. Unless we lost our state:
		 * we started with none, and it was granted before we started. */
		if (json_is_true(json_object_get(v, "adopted")) &&
		    (s->had_state || js_int(v, "since", 0) >= (long long)s->started))
			continue;
		if ((q = adopt_lease(s, own, v, lost)) > 0) {
			seq = q;
			(*adopted)++;
		}
	}
	/* Grants of ours the backup never knew (we failed before answering)
	 * whose holder asked it again and was told there was no seat. */
	json_array_foreach(json_object_get(payload, "refused"), i, v) {
		struct lease *l = lease_find(s, js_str(v, "id", ""));
		if (l == NULL || l->lic->pool != own || l->tomb_until_ms > 0 ||
		    strcmp(l->client, js_str(v, "client", "")) != 0 ||
		    strcmp(l->user, js_str(v, "user", "")) != 0 ||
		    strcmp(l->host, js_str(v, "host", "")) != 0 ||
		    payload_has_lease(payload, l->id))
			continue;
		log_info("handback: lease %s ends: it was granted here but never answered, and "
		    "its holder was refused by the backup", l->id);
		if ((q = lease_end(s, l, "unanswered", json_pack("{s:s}", "via", "handback"))) == 0)
			continue;
		seq = q;
		free(l);
		(*ended)++;
	}
	pthread_mutex_unlock(&s->lock);
	return seq;
}

uint64_t
store_release_unanswered(struct store *s, const char *id)
{
	struct lease *l;
	uint64_t seq = 0;

	pthread_mutex_lock(&s->lock);
	/* Any pool served: a seat of a Primary's pool taken over is not
	 * granted either when its record was not written. */
	if ((l = lease_find(s, id)) != NULL && l->tomb_until_ms == 0 &&
	    (l->lic->pool->own || l->lic->pool->status == POOL_HOT_RETRY)) {
		if ((seq = lease_end(s, l, "unanswered", NULL)) != 0) {
			s->grants--;
			free(l);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return seq;
}

/* ---- a pool's failover state, read and written for failover.c, poller.c
 * and mirrorlog.c: each function one hold of the store lock ---- */

const char *
store_pool_name(const struct pool *p)
{
	return p->name;		/* set when the pool is made, never changed */
}

struct pool *
store_pool_add(struct store *s, const char *name, const char *url, int *is_new)
{
	pthread_mutex_lock(&s->lock);
	*is_new = store_pool(s, name) == NULL;
	struct pool *p = store_add_pool(s, name, url);
	pthread_mutex_unlock(&s->lock);
	return p;
}

struct pool *
store_pool_find(struct store *s, const char *name, int *own, enum pool_status *status)
{
	pthread_mutex_lock(&s->lock);
	struct pool *p = store_pool(s, name);
	if (own != NULL)
		*own = p != NULL && p->own;
	if (status != NULL)
		*status = p != NULL ? p->status : POOL_WARM;
	pthread_mutex_unlock(&s->lock);
	return p;
}

struct pool *
store_mirror_pool(struct store *s, size_t i, int *dirty)
{
	pthread_mutex_lock(&s->lock);
	/* pools[0] is our own; a pool, once added, keeps its index */
	struct pool *p = i + 1 < s->npools ? s->pools[i + 1] : NULL;
	*dirty = p != NULL && p->dirty;
	pthread_mutex_unlock(&s->lock);
	return p;
}

void
store_pool_view(struct store *s, const struct pool *p, struct pool_view *v)
{
	pthread_mutex_lock(&s->lock);
	v->status = p->status;
	v->dirty = p->dirty;
	v->handing = p->handing;
	v->failed_polls = p->failed_polls;
	v->last_poll_ms = p->last_poll_ms;
	v->fenced_until_ms = p->fenced_until_ms;
	pthread_mutex_unlock(&s->lock);
}

long
store_pool_serving(struct store *s, const struct pool *p, long *ended)
{
	long seats = 0;

	*ended = 0;
	pthread_mutex_lock(&s->lock);
	if (p->status == POOL_HOT_RETRY) {
		for (size_t i = 0; i < s->nlics; i++)
			if (s->lics[i]->pool == p)
				seats += s->lics[i]->in_use;
		if (p->released != NULL)
			*ended = (long)json_array_size(p->released);
	}
	pthread_mutex_unlock(&s->lock);
	return seats;
}

void
store_pool_reset(struct store *s, struct pool *p)
{
	pthread_mutex_lock(&s->lock);
	p->primary_epoch[0] = '\0';	/* backed up again: resync in full */
	p->primary_seq = 0;
	p->failed_polls = 0;
	p->last_poll_ms = 0;
	p->dirty = 0;
	p->status = POOL_WARM;	/* served with no seat left: not any more */
	pthread_mutex_unlock(&s->lock);
}

void
store_pool_set_status(struct store *s, struct pool *p, enum pool_status status)
{
	pthread_mutex_lock(&s->lock);
	p->status = status;
	pthread_mutex_unlock(&s->lock);
}

void
store_own_pool_watched(struct store *s, int watched)
{
	pthread_mutex_lock(&s->lock);
	s->pools[0]->status = watched ? POOL_HOT_WARM : POOL_HOT;
	pthread_mutex_unlock(&s->lock);
}

void
store_pool_fenced_until(struct store *s, struct pool *p, int64_t until_ms)
{
	pthread_mutex_lock(&s->lock);
	p->fenced_until_ms = until_ms;
	pthread_mutex_unlock(&s->lock);
}

int
store_pool_fence(struct store *s, const char *name, int64_t ttl_ms, int *handing)
{
	pthread_mutex_lock(&s->lock);
	struct pool *p = store_pool(s, name);
	int serving = p == NULL || p->own || p->status == POOL_HOT_RETRY;
	/* Handing back: it serves no more unless the handback fails; the
	 * Primary asks again in a moment. */
	*handing = serving && p != NULL && p->handing;
	if (!serving && util_mono_ms() + ttl_ms > p->fenced_until_ms)
		p->fenced_until_ms = util_mono_ms() + ttl_ms;
	pthread_mutex_unlock(&s->lock);
	return serving;
}

int
store_pool_polled(struct store *s, struct pool *p, enum poll_outcome outcome)
{
	pthread_mutex_lock(&s->lock);
	int failed = p->failed_polls;
	if (outcome == POLL_FAILED)
		failed = ++p->failed_polls;
	else
		p->failed_polls = 0;
	if (outcome == POLL_GOOD)
		p->last_poll_ms = util_mono_ms();
	pthread_mutex_unlock(&s->lock);
	return failed;
}

int
store_pool_dirty(struct store *s, const struct pool *p)
{
	pthread_mutex_lock(&s->lock);
	int dirty = p->dirty;
	pthread_mutex_unlock(&s->lock);
	return dirty;
}

void
store_pool_set_dirty(struct store *s, struct pool *p, int dirty)
{
	pthread_mutex_lock(&s->lock);
	p->dirty = dirty;
	pthread_mutex_unlock(&s->lock);
}

int
store_pool_synced(struct store *s, struct pool *p, const char *epoch, uint64_t seq)
{
	pthread_mutex_lock(&s->lock);
	util_strlcpy(p->primary_epoch, epoch, sizeof(p->primary_epoch));
	int moved = p->primary_seq != seq;
	p->primary_seq = seq;
	pthread_mutex_unlock(&s->lock);
	return moved;
}

void
store_pool_add_released(struct store *s, struct pool *p, json_t *ids)
{
	json_t *v;
	size_t i;

	pthread_mutex_lock(&s->lock);
	if (p->released == NULL)
		p->released = json_array();
	json_array_foreach(ids, i, v)
		if (json_is_string(v))
			json_array_append_new(p->released, json_string(json_string_value(v)));
	pthread_mutex_unlock(&s->lock);
}

json_t *
store_pool_take_released(struct store *s, struct pool *p, int appendable, size_t from,
    int *dirty, size_t *n)
{
	json_t *ids = NULL;

	*n = 0;
	pthread_mutex_lock(&s->lock);
	*dirty = p->dirty;
	if (p->released != NULL)
		*n = json_array_size(p->released);
	/* While serving, only p->released changes (lease_end, revoke), and
	 * only at its end. */
	if (*dirty && !(*dirty & 2) && appendable && p->status == POOL_HOT_RETRY &&
	    *n > from) {
		ids = json_array();
		for (size_t i = from; i < *n; i++)
			json_array_append_new(ids, json_string(json_string_value(
			    json_array_get(p->released, i))));
		p->dirty = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ids;
}

void
store_pool_loaded(struct store *s, struct pool *p, int resync, int dirty,
    struct pool_sync *sync)
{
	pthread_mutex_lock(&s->lock);
	if (resync) {
		p->primary_epoch[0] = '\0';
		p->primary_seq = 0;
	}
	p->dirty = dirty;
	util_strlcpy(sync->epoch, p->primary_epoch, sizeof(sync->epoch));
	sync->seq = p->primary_seq;
	sync->released = p->released != NULL ? json_array_size(p->released) : 0;
	pthread_mutex_unlock(&s->lock);
}
