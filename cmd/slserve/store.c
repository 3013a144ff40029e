/*
 * store.c: leases and licenses in memory: the lease tables (hash, expiry
 * heap, per-holder tallies), checkout, heartbeat, checkin, revoke and
 * expiry, each journaled. Its lock guards everything in struct store.
 * Snapshots and replay are snapshot.c's, failover's pools pool.c's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "journal.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "rules.h"
#include "store.h"
#include "store_int.h"
#include "usage.h"

#define TOMBSTONE_MIN_MS (3600 * 1000LL)	/* answer 410 this long after a revoke */

const char *
pool_status_str(enum pool_status s)
{
	switch (s) {
	case POOL_HOT: return "hot";
	case POOL_HOT_WARM: return "hot-warm";
	case POOL_WARM: return "warm";
	case POOL_HOT_RETRY: return "hot-retry";
	}
	return "?";
}

static void lease_confirm(struct store *s, struct lease *l);

int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static uint32_t
hash_id(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct lease *
lease_find(struct store *s, const char *id)
{
	struct lease *l = s->buckets[hash_id(id) & (s->nbuckets - 1)];

	for (; l != NULL; l = l->hnext)
		if (strcmp(l->id, id) == 0)
			return l;
	return NULL;
}

static void
hash_grow(struct store *s)
{
	size_t n = s->nbuckets * 2;
	struct lease **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;		/* keep the longer chains; still correct */
	for (struct lease *l = s->head; l != NULL; l = l->next) {
		uint32_t i = hash_id(l->id) & (n - 1);
		l->hnext = b[i];
		b[i] = l;
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Copy len bytes of src to *pp, NUL-terminate, advance *pp past it. */
const char *
text_put(char **pp, const char *src, size_t len)
{
	char *start = *pp;

	memcpy(start, src, len);
	start[len] = '\0';
	*pp += len + 1;
	return start;
}

#define LEASE_ADDR_MAX	63	/* a numeric IPv6 address with a scope */

/* A lease and its strings in one allocation. Strings longer than a field
 * allows are cut, as the fixed-size fields used to cut them. */
struct lease *
lease_new(const char *id, const char *product, const char *client, const char *user,
    const char *host, const char *addr)
{
	size_t lp = strnlen(product, SL_ID_MAX), lc = strnlen(client, 255);
	size_t lu = strnlen(user, 255), lh = strnlen(host, 255);
	size_t la = strnlen(addr, LEASE_ADDR_MAX);
	struct lease *l = calloc(1, sizeof(*l) + lp + lc + lu + lh + la + 5);
	char *p;

	if (l == NULL)
		return NULL;
	if (id != NULL)
		util_strlcpy(l->id, id, sizeof(l->id));
	p = l->text;
	l->product = text_put(&p, product, lp);
	l->client = text_put(&p, client, lc);
	l->user = text_put(&p, user, lu);
	l->host = text_put(&p, host, lh);
	l->addr = text_put(&p, addr, la);
	return l;
}

/* The expiry heap: leases that may end on their own, by when they may.
 * Heartbeats only push a lease's expiry later, so they leave the heap alone
 * and store_expire moves a renewed lease down when it reaches the top. */

static void
heap_set(struct store *s, size_t i, struct lease *l)
{
	s->heap[i] = l;
	l->heap_pos = i;
}

static void
heap_up(struct store *s, size_t i)
{
	struct lease *l = s->heap[i];

	while (i > 1 && s->heap[i / 2]->due_ms > l->due_ms) {
		heap_set(s, i, s->heap[i / 2]);
		i /= 2;
	}
	heap_set(s, i, l);
}

static void
heap_down(struct store *s, size_t i)
{
	struct lease *l = s->heap[i];

	for (;;) {
		size_t c = 2 * i;
		if (c > s->nheap)
			break;
		if (c + 1 <= s->nheap && s->heap[c + 1]->due_ms < s->heap[c]->due_ms)
			c++;
		if (s->heap[c]->due_ms >= l->due_ms)
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, l);
}

static void
heap_remove(struct store *s, struct lease *l)
{
	size_t i = l->heap_pos;
	struct lease *last = s->heap[s->nheap--];

	l->heap_pos = 0;
	if (last == l)
		return;
	heap_set(s, i, last);
	heap_up(s, i);
	heap_down(s, last->heap_pos);
}

/* Room for one more lease in the heap, taken before a lease is made so
 * that linking it cannot fail. */
int
heap_reserve(struct store *s)
{
	if (s->nleases + 2 <= s->capheap)
		return 0;
	size_t n = s->capheap ? s->capheap * 2 : 1024;
	struct lease **h = realloc(s->heap, n * sizeof(*h));
	if (h == NULL)
		return -1;
	s->heap = h;
	s->capheap = n;
	return 0;
}

/* When a lease may end: its expiry, or a tombstone's end; 0: never. */
static int64_t
lease_due(const struct lease *l)
{
	return l->tomb_until_ms > 0 ? l->tomb_until_ms : l->expires_ms;
}

/* Put the lease in the heap at its due time, move it there, or take it out. */
void
lease_schedule(struct store *s, struct lease *l)
{
	int64_t due = lease_due(l), old = l->due_ms;

	if (due <= 0) {
		if (l->heap_pos != 0)
			heap_remove(s, l);
		return;
	}
	l->due_ms = due;
	if (l->heap_pos == 0) {
		heap_set(s, ++s->nheap, l);
		heap_up(s, s->nheap);
	} else if (due < old) {
		heap_up(s, l->heap_pos);
	} else {
		heap_down(s, l->heap_pos);
	}
}

/* Live leases of one client/user/host, or of one address (its key is the
 * address and two empty strings), so that max_leases_per_client and
 * max_leases_per_ip cost a lookup per checkout instead of a walk over
 * every lease. */
struct holder {
	struct holder *next;
	uint32_t hash;
	long leases;
	char key[];		/* three strings, each NUL-terminated */
};

static uint32_t
holder_hash(const char *client, const char *user, const char *host)
{
	uint32_t h = 2166136261u;	/* FNV-1a over the three, NULs included */
	const char *parts[3] = { client, user, host };

	for (int i = 0; i < 3; i++) {
		const char *p = parts[i];
		do
			h = (h ^ (unsigned char)*p) * 16777619u;
		while (*p++ != '\0');
	}
	return h;
}

static struct holder **
holder_slot(struct tally *t, const char *client, const char *user, const char *host,
    uint32_t hash)
{
	struct holder **pp = &t->buckets[hash & (t->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		const char *k = (*pp)->key;
		if ((*pp)->hash != hash || strcmp(k, client) != 0)
			continue;
		k += strlen(k) + 1;
		if (strcmp(k, user) != 0)
			continue;
		k += strlen(k) + 1;
		if (strcmp(k, host) == 0)
			break;
	}
	return pp;
}

static long
holder_leases(struct tally *t, const char *client, const char *user, const char *host)
{
	struct holder *h;

	if (t->buckets == NULL)
		return 0;
	h = *holder_slot(t, client, user, host, holder_hash(client, user, host));
	return h != NULL ? h->leases : 0;
}

static int
holder_grow(struct tally *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 256;
	struct holder **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return -1;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct holder *h = t->buckets[i], *next; h != NULL; h = next) {
			next = h->next;
			h->next = b[h->hash & (n - 1)];
			b[h->hash & (n - 1)] = h;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

/* Count a live lease in (delta 1) or out (delta -1) of the entry of key. */
static void
holder_count(struct tally *t, const char *client, const char *user, const char *host,
    int delta)
{
	uint32_t hash = holder_hash(client, user, host);
	struct holder **pp, *h;

	if (t->lost || (delta < 0 && t->buckets == NULL))
		return;
	if (t->n + 1 > t->nbuckets && delta > 0 && holder_grow(t) != 0)
		goto lost;
	pp = holder_slot(t, client, user, host, hash);
	if ((h = *pp) == NULL) {
		if (delta < 0)
			return;
		size_t lc = strlen(client) + 1, lu = strlen(user) + 1;
		size_t lh = strlen(host) + 1;
		if ((h = malloc(sizeof(*h) + lc + lu + lh)) == NULL)
			goto lost;
		memcpy(h->key, client, lc);
		memcpy(h->key + lc, user, lu);
		memcpy(h->key + lc + lu, host, lh);
		h->hash = hash;
		h->leases = 0;
		h->next = NULL;
		*pp = h;
		t->n++;
	}
	h->leases += delta;
	if (h->leases <= 0) {
		*pp = h->next;
		free(h);
		t->n--;
	}
	return;
lost:
	/* Counts are wrong from here on: fall back to counting by a scan. */
	log_warnx("out of memory counting leases per client or address; counting by scanning");
	t->lost = 1;
}

static void
holders_free(struct tally *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct holder *h = t->buckets[i], *next; h != NULL; h = next) {
			next = h->next;
			free(h);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->n = t->nbuckets = 0;
}

long
tally_count(struct tally *t, const char *key)
{
	return t->lost ? -1 : holder_leases(t, key, "", "");
}

void
lic_free(struct lic *l)
{
	holders_free(&l->users);
	holders_free(&l->hosts);
	free(l);
}

/* Count a live lease in or out of its holder, its address and the total. */
static void
lease_count(struct store *s, const struct lease *l, int delta)
{
	holder_count(&s->holders, l->client, l->user, l->host, delta);
	if (l->addr[0] != '\0')
		holder_count(&s->addrs, l->addr, "", "", delta);
	s->live += delta;
}

void
lease_link(struct store *s, struct lease *l)
{
	uint32_t i;

	if (s->nleases + 1 > s->nbuckets)
		hash_grow(s);
	i = hash_id(l->id) & (s->nbuckets - 1);
	l->hnext = s->buckets[i];
	s->buckets[i] = l;
	l->prev = NULL;
	l->next = s->head;
	if (s->head != NULL)
		s->head->prev = l;
	s->head = l;
	s->nleases++;
	if (l->tomb_until_ms == 0 && l->lic != NULL) {
		l->lic->in_use++;
		holder_count(&l->lic->users, l->user, "", "", 1);
		holder_count(&l->lic->hosts, l->host, "", "", 1);
		l->lic_prev = NULL;
		l->lic_next = l->lic->live;
		if (l->lic->live != NULL)
			l->lic->live->lic_prev = l;
		l->lic->live = l;
	}
	if (l->tomb_until_ms == 0)
		lease_count(s, l, 1);
	lease_schedule(s, l);
}

void
lease_unlink(struct store *s, struct lease *l)
{
	struct lease **pp = &s->buckets[hash_id(l->id) & (s->nbuckets - 1)];

	while (*pp != NULL && *pp != l)
		pp = &(*pp)->hnext;
	if (*pp == l)
		*pp = l->hnext;
	if (l == s->img_cursor)
		s->img_cursor = l->next;
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		s->head = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	s->nleases--;
	if (l->tomb_until_ms == 0 && l->lic != NULL) {
		l->lic->in_use--;
		s->free_gen++;
		holder_count(&l->lic->users, l->user, "", "", -1);
		holder_count(&l->lic->hosts, l->host, "", "", -1);
		if (l->lic_prev != NULL)
			l->lic_prev->lic_next = l->lic_next;
		else
			l->lic->live = l->lic_next;
		if (l->lic_next != NULL)
			l->lic_next->lic_prev = l->lic_prev;
		l->lic_prev = l->lic_next = NULL;
	}
	if (l->tomb_until_ms == 0)
		lease_count(s, l, -1);
	if (l->heap_pos != 0)
		heap_remove(s, l);
}

struct store *
store_new(const char *name, const char *host_id)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	util_strlcpy(s->name, name, sizeof(s->name));
	util_strlcpy(s->host_id, host_id ? host_id : "", sizeof(s->host_id));
	s->confirm_timeout_ms = 300 * 1000;	/* slserve.conf's default */
	s->nbuckets = 1024;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (s->buckets == NULL || store_add_pool(s, name, "") == NULL) {
		store_free(s);
		return NULL;
	}
	s->pools[0]->own = 1;
	s->pools[0]->status = POOL_HOT;
	return s;
}

void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	rules_linger_sweep(s, 1);	/* they point at licenses */
	for (struct lease *l = s->head, *n; l != NULL; l = n) {
		n = l->next;
		free(l);
	}
	for (size_t i = 0; i < s->nlics; i++)
		lic_free(s->lics[i]);
	for (size_t i = 0; i < s->npools; i++) {
		json_decref(s->pools[i]->mirror);
		json_decref(s->pools[i]->released);
		json_decref(s->pools[i]->refused);
		policy_free(s->pools[i]->policy);
		json_decref(s->pools[i]->policy_json);
		free(s->pools[i]);
	}
	free(s->lics);
	free(s->lic_index);
	free(s->product_index);
	free(s->pools);
	free(s->buckets);
	free(s->heap);
	free(s->bans);
	free(s->product_denials);
	holders_free(&s->holders);
	holders_free(&s->addrs);
	policy_free(s->policy);
	json_decref(s->policy_json);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct pool *
store_pool(struct store *s, const char *name)
{
	if (name == NULL || name[0] == '\0')
		return s->pools[0];
	for (size_t i = 0; i < s->npools; i++)
		if (strcmp(s->pools[i]->name, name) == 0)
			return s->pools[i];
	return NULL;
}

struct pool *
store_add_pool(struct store *s, const char *name, const char *url)
{
	struct pool *p, **np;

	if (s->npools > 0 && (p = store_pool(s, name)) != NULL) {
		util_strlcpy(p->primary_url, url, sizeof(p->primary_url));
		return p;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((np = realloc(s->pools, (s->npools + 1) * sizeof(*np))) == NULL) {
		free(p);
		return NULL;
	}
	s->pools = np;
	util_strlcpy(p->name, name, sizeof(p->name));
	util_strlcpy(p->primary_url, url, sizeof(p->primary_url));
	p->status = POOL_WARM;
	s->pools[s->npools++] = p;
	return p;
}

static size_t
lic_slot(const struct pool *p, const char *id)
{
	return hash_id(id) ^ (size_t)(((uintptr_t)p >> 4) * 2654435761u);
}

/*
 * Licenses are looked up by pool and id (each lease of a snapshot or a sync
 * names one) and by pool and product (each checkout): through two hash
 * indexes, made again when the list or a definition changes, not by a walk
 * over every license. The product index chains the licenses of a bucket in
 * the order of lics. Without memory for the indexes, one chain holds all.
 */
static void
lic_index(struct store *s)
{
	if (s->lic_index_stale || s->lic_index == NULL) {
		size_t n = 16;
		while (n < s->nlics * 2)
			n *= 2;
		struct lic **idx = calloc(n, sizeof(*idx)), **prod = calloc(n, sizeof(*prod));
		free(s->lic_index);
		free(s->product_index);
		s->lic_index = s->product_index = NULL;
		s->nlic_index = 0;
		s->all_lics = NULL;
		if (idx == NULL || prod == NULL) {
			free(idx);
			free(prod);
			for (size_t i = s->nlics; i-- > 0; ) {
				s->lics[i]->prod_next = s->all_lics;
				s->all_lics = s->lics[i];
			}
			return;		/* stale still: tried again next time */
		}
		for (size_t i = 0; i < s->nlics; i++) {
			size_t h = lic_slot(s->lics[i]->pool, s->lics[i]->def.id) & (n - 1);
			while (idx[h] != NULL)
				h = (h + 1) & (n - 1);
			idx[h] = s->lics[i];
		}
		/* Built from the end, each put first: chains in lics order. */
		for (size_t i = s->nlics; i-- > 0; ) {
			struct lic *l = s->lics[i];
			size_t h = lic_slot(l->pool, l->def.product) & (n - 1);
			l->prod_next = prod[h];
			prod[h] = l;
		}
		s->lic_index = idx;
		s->product_index = prod;
		s->nlic_index = n;
		s->lic_index_stale = 0;
	}
}

/* The license id of pool p. */
struct lic *
lic_find(struct store *s, const struct pool *p, const char *id)
{
	lic_index(s);
	if (s->lic_index == NULL) {
		for (size_t i = 0; i < s->nlics; i++)
			if (s->lics[i]->pool == p && strcmp(s->lics[i]->def.id, id) == 0)
				return s->lics[i];
		return NULL;
	}
	for (size_t h = lic_slot(p, id) & (s->nlic_index - 1); s->lic_index[h] != NULL;
	    h = (h + 1) & (s->nlic_index - 1)) {
		struct lic *l = s->lic_index[h];
		if (l->pool == p && strcmp(l->def.id, id) == 0)
			return l;
	}
	return NULL;
}

/* From l on (a chain of lic_index), the next license of pool p for product. */
struct lic *
lic_of_product(struct lic *l, const struct pool *p, const char *product)
{
	while (l != NULL && (l->pool != p || strcmp(l->def.product, product) != 0))
		l = l->prod_next;
	return l;
}

/* The first license of pool p for product, in the order of lics; the next
 * is lic_of_product(l->prod_next, p, product). */
struct lic *
lic_first_of_product(struct store *s, const struct pool *p, const char *product)
{
	lic_index(s);
	return lic_of_product(s->lic_index == NULL ? s->all_lics :
	    s->product_index[lic_slot(p, product) & (s->nlic_index - 1)], p, product);
}

struct lic *
lic_add(struct store *s, struct pool *p, const struct license *def)
{
	struct lic *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (s->nlics == s->caplics) {
		size_t n = s->caplics ? s->caplics * 2 : 16;
		struct lic **nl = realloc(s->lics, n * sizeof(*nl));
		if (nl == NULL) {
			free(l);
			return NULL;
		}
		s->lics = nl;
		s->caplics = n;
	}
	l->def = *def;
	l->pool = p;
	s->lics[s->nlics++] = l;
	s->lic_index_stale = 1;
	return l;
}

/* A license that leases refer to but no file defines (removed while we were
 * down): kept retired so its seats stay counted until they end. */
struct lic *
lic_placeholder(struct store *s, struct pool *p, const char *id, const char *product)
{
	struct license def;

	memset(&def, 0, sizeof(def));
	util_strlcpy(def.id, id, sizeof(def.id));
	util_strlcpy(def.product, product, sizeof(def.product));
	util_strlcpy(def.expires, "never", sizeof(def.expires));
	util_strlcpy(def.host, "any", sizeof(def.host));
	def.expires_day = -1;
	struct lic *l = lic_add(s, p, &def);
	if (l != NULL)
		l->retired = 1;
	return l;
}

void
lic_drop_retired(struct store *s)
{
	size_t o = 0;

	for (size_t i = 0; i < s->nlics; i++) {
		struct lic *l = s->lics[i];
		int referenced = 0;
		if (l->retired && l->in_use == 0 && l->lingering == 0) {
			for (struct lease *x = s->head; x != NULL && !referenced; x = x->next)
				referenced = x->lic == l;
			if (!referenced) {
				lic_free(l);
				continue;
			}
		}
		s->lics[o++] = l;
	}
	if (o != s->nlics)
		s->lic_index_stale = 1;
	s->nlics = o;
}

void
store_set_policy(struct store *s, struct policy *policy)
{
	struct policy *old;

	json_t *pj = policy != NULL ? policy_to_json(policy) : NULL, *old_json;

	pthread_mutex_lock(&s->lock);
	old = s->policy;
	old_json = s->policy_json;
	s->policy = policy;
	s->policy_json = pj;
	/* Backups get the policy with the licenses: make them fetch both. */
	if (!(pj == NULL ? old_json == NULL : old_json != NULL && json_equal(pj, old_json)))
		s->lic_gen++;
	s->free_gen++;
	pthread_mutex_unlock(&s->lock);
	json_decref(old_json);
	policy_free(old);
}

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

uint64_t
store_free_gen(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	uint64_t gen = s->free_gen;
	pthread_mutex_unlock(&s->lock);
	return gen;
}

void
store_set_licenses(struct store *s, const struct license_set *set, json_t **changes)
{
	json_t *added = json_array(), *removed = json_array(), *changed = json_array();
	struct pool *own = s->pools[0];

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nlics; i++) {
		struct lic *l = s->lics[i];
		if (l->pool != own || l->retired)
			continue;
		if (license_find(set, l->def.id) == NULL) {
			l->retired = 1;
			json_array_append_new(removed, json_string(l->def.id));
		}
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct license *def = &set->v[i];
		struct lic *l = lic_find(s, own, def->id);
		if (l == NULL) {
			if (lic_add(s, own, def) == NULL)
				log_warnx("license \"%s\": out of memory; not loaded", def->id);
			else
				json_array_append_new(added, json_string(def->id));
			continue;
		}
		if (l->retired) {
			l->retired = 0;
			json_array_append_new(added, json_string(def->id));
		} else if (l->def.count != def->count) {
			json_array_append_new(changed, json_pack("{s:s, s:I, s:I}", "id", def->id,
			    "old_count", (json_int_t)l->def.count, "new_count", (json_int_t)def->count));
		}
		l->def = *def;
	}
	s->lic_index_stale = 1;		/* a product may have changed */
	lic_drop_retired(s);
	s->lic_gen++;
	s->free_gen++;
	pthread_mutex_unlock(&s->lock);
	if (changes != NULL)
		*changes = json_pack("{s:o, s:o, s:o}", "added", added, "removed", removed,
		    "changed", changed);
	else {
		json_decref(added);
		json_decref(removed);
		json_decref(changed);
	}
}

static void
reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
reply_error(struct reply *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status;
	r->body = json_pack("{s:s, s:s}", "error", code, "message", msg);
	r->wait_seq = 0;
}

static long
heartbeat_interval(long timeout)
{
	if (timeout <= 0)
		return 0;
	return timeout / 3 > 0 ? timeout / 3 : 1;
}

/*
 * The objects a checkout or checkin builds (its answer, its journal record,
 * its usage line) are made member by member without json_pack's format
 * parsing and UTF-8 checks, which were a sixth of a checkout's
 * instructions: every string is an id checked when it came in (request,
 * licenses file) or text jansson itself decoded, valid UTF-8 either way.
 */
static void
set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new_nocheck(o, key, json_string_nocheck(v));
}

static void
set_int(json_t *o, const char *key, json_int_t v)
{
	json_object_set_new_nocheck(o, key, json_integer(v));
}

/* Whole seconds left of a borrow (0 when over). */
static long
borrow_left(const struct lease *l)
{
	int64_t left = l->borrowed_until_ms - now_ms();

	return left > 0 ? (long)((left + 999) / 1000) : 0;
}

static json_t *
lease_grant_json(const struct store *s, const struct lease *l)
{
	json_t *o = json_object();

	set_str(o, "lease", l->id);
	set_str(o, "license", l->lic->def.id);
	set_str(o, "product", l->product);
	set_str(o, "pool", l->lic->pool->name);
	set_str(o, "server", s->name);
	if (l->borrowed_until_ms > 0) {
		/* A borrow needs no heartbeats: it ends at a fixed time. */
		set_int(o, "expires_in", borrow_left(l));
		set_int(o, "heartbeat_interval", 0);
		set_int(o, "borrowed_until", l->borrowed_until_ms / 1000);
		return o;
	}
	set_int(o, "expires_in", l->lic->def.timeout);
	set_int(o, "heartbeat_interval", heartbeat_interval(l->lic->def.timeout));
	return o;
}

/* A lease's strings, as records name them. */
/* The lease as the journal, snapshots and peers see it. Its expiry is the
 * journaled one, not what heartbeats made it since: a snapshot that wrote
 * the longer one would let every restart add half a timeout again. */
json_t *
record_json(const struct lease_text *t, long pid, time_t since, int64_t expires_ms,
    int64_t tomb_until_ms, int handed_back)
{
	json_t *o = json_object();

	set_str(o, "id", t->id);
	set_str(o, "license", t->license);
	set_str(o, "product", t->product);
	set_str(o, "pool", t->pool);
	set_str(o, "client", t->client);
	set_str(o, "user", t->user);
	set_str(o, "host", t->host);
	if (t->addr[0] != '\0')
		set_str(o, "addr", t->addr);
	set_int(o, "pid", pid);
	set_int(o, "since", since);
	set_int(o, "expires_ms", expires_ms);
	if (tomb_until_ms > 0)
		json_object_set_new(o, "tomb_until_ms", json_integer(tomb_until_ms));
	if (handed_back)
		json_object_set_new(o, "handed_back", json_true());
	return o;
}

json_t *
lease_record_json(const struct lease *l)
{
	struct lease_text t = { l->id, l->lic->def.id, l->product, l->lic->pool->name,
	    l->client, l->user, l->host, l->addr };

	json_t *o = record_json(&t, l->pid, l->since, l->journaled_ms, l->tomb_until_ms,
	    l->handed_back);

	if (l->adopted)
		json_object_set_new(o, "adopted", json_true());
	if (l->borrowed_until_ms > 0)
		set_int(o, "borrowed_until_ms", l->borrowed_until_ms);
	return o;
}

static json_t *
usage_json(const struct lease *l)
{
	json_t *o = json_object();

	set_str(o, "license", l->lic->def.id);
	set_str(o, "product", l->product);
	set_str(o, "pool", l->lic->pool->name);
	set_str(o, "lease", l->id);
	set_str(o, "client", l->client);
	set_str(o, "user", l->user);
	set_str(o, "host", l->host);
	set_int(o, "pid", l->pid);
	set_int(o, "in_use", l->lic->in_use);
	set_int(o, "max", l->lic->def.count);
	return o;
}

/* Journal {"op":op,"lease":lease,"why":why}; lease is consumed. */
static uint64_t
journal_record(struct store *s, const char *op, json_t *lease, const char *why)
{
	json_t *rec = json_object();

	set_str(rec, "op", op);
	json_object_set_new_nocheck(rec, "lease", lease);
	if (why != NULL)
		set_str(rec, "why", why);
	uint64_t seq = journal_append(s->journal, rec);
	json_decref(rec);
	return seq;
}

uint64_t
journal_lease(struct store *s, const char *op, const struct lease *l, const char *why)
{
	return journal_record(s, op, lease_record_json(l), why);
}

/* The record of a lease's end: its id and pool are all that replay and a
 * peer's mirror need (a handback's release, a tombstone, carries the whole
 * lease). Half the JSON of a checkin was the whole lease dumped again. */
static uint64_t
journal_release(struct store *s, const struct lease *l, const char *why)
{
	json_t *lj = json_object();

	set_str(lj, "id", l->id);
	set_str(lj, "pool", l->lic->pool->name);
	return journal_record(s, "release", lj, why);
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

static long
client_lease_count(struct store *s, const struct checkout_req *req)
{
	long n = 0;

	if (!s->holders.lost)
		return holder_leases(&s->holders, req->client, req->user, req->host);
	for (const struct lease *l = s->head; l != NULL; l = l->next)
		if (l->tomb_until_ms == 0 && strcmp(l->client, req->client) == 0 &&
		    strcmp(l->user, req->user) == 0 && strcmp(l->host, req->host) == 0)
			n++;
	return n;
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

static long
addr_lease_count(struct store *s, const char *addr)
{
	long n = 0;

	if (!s->addrs.lost)
		return holder_leases(&s->addrs, addr, "", "");
	for (const struct lease *l = s->head; l != NULL; l = l->next)
		if (l->tomb_until_ms == 0 && strcmp(l->addr, addr) == 0)
			n++;
	return n;
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
	set_str(lj, "id", l->id);
	set_str(lj, "pool", l->lic->pool->name);
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

/* Journal a lease's expiry as it is now: {"op":"renew","lease":{"id","pool",
 * "expires_ms"}}. */
void
lease_journal_expiry(struct store *s, struct lease *l)
{
	json_t *lj = json_object();

	set_str(lj, "id", l->id);
	set_str(lj, "pool", l->lic->pool->name);
	set_int(lj, "expires_ms", l->expires_ms);
	l->journaled_ms = l->expires_ms;
	l->journaled_seq = journal_record(s, "renew", lj, NULL);
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
	set_str(lj, "id", l->id);
	set_str(lj, "pool", l->lic->pool->name);
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
		set_str(r->body, "lease", id);
		json_object_set_new_nocheck(r->body, "released", json_true());
		if (linger > 0) {
			rules_linger_add(s, l, linger);
			set_int(r->body, "linger", linger);
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

void
store_list_leases(struct store *s, const char *product, int holders_only, struct reply *r)
{
	json_t *arr = json_array();
	int64_t now = now_ms();

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&s->lock);
	for (struct lease *l = s->head; l != NULL; l = l->next) {
		if (l->tomb_until_ms > 0)
			continue;
		if (product != NULL && strcmp(product, l->product) != 0)
			continue;
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}",
		    "license", l->lic->def.id, "product", l->product, "pool", l->lic->pool->name,
		    "user", l->user, "host", l->host, "since", (json_int_t)l->since);
		if (!holders_only) {
			json_object_set_new(o, "lease", json_string(l->id));
			json_object_set_new(o, "client", json_string(l->client));
			json_object_set_new(o, "pid", json_integer(l->pid));
		}
		if (l->expires_ms > 0)
			json_object_set_new(o, "expires_in", json_integer(
			    (l->expires_ms - now) > 0 ? (l->expires_ms - now + 999) / 1000 : 0));
		else
			json_object_set_new(o, "expires_in", json_null());
		if (l->borrowed_until_ms > 0)
			json_object_set_new(o, "borrowed_until",
			    json_integer(l->borrowed_until_ms / 1000));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&s->lock);
	r->status = 200;
	r->body = json_pack("{s:s, s:o}", "server", s->name, "leases", arr);
}

json_t *
store_licenses_json(struct store *s)
{
	json_t *arr = json_array();
	long *mirrored;

	pthread_mutex_lock(&s->lock);
	/* A warm backup shows the seats its Primary holds, as last mirrored. */
	mirrored = calloc(s->nlics + 1, sizeof(*mirrored));
	for (size_t i = 0; mirrored != NULL && i < s->nlics; i++) {
		struct lic *l = s->lics[i];
		const char *id;
		json_t *v;
		if (l->pool->own || l->pool->status != POOL_WARM || l->pool->mirror == NULL)
			continue;
		json_object_foreach(l->pool->mirror, id, v)
			if (strcmp(json_str(v, "license", ""), l->def.id) == 0)
				mirrored[i]++;
	}
	for (size_t i = 0; i < s->nlics; i++) {
		struct lic *l = s->lics[i];
		if (l->retired)
			continue;
		long in_use = l->in_use + (mirrored != NULL ? mirrored[i] : 0);
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
		    "id", l->def.id, "product", l->def.product,
		    "in_use", (json_int_t)in_use, "max", (json_int_t)l->def.count,
		    "fails", (json_int_t)l->fails,
		    "role", l->pool->own ? "primary" : "backup",
		    "status", pool_status_str(l->pool->status),
		    "served_by", l->pool->status == POOL_WARM ? l->pool->name : s->name,
		    "expires", l->def.expires, "timeout", (json_int_t)l->def.timeout,
		    "pool", l->pool->name, "host", l->def.host);
		if (!l->pool->own) {
			json_object_set_new(o, "primary", json_string(l->pool->name));
			json_object_set_new(o, "last_poll_age", l->pool->last_poll_ms > 0 ?
			    json_real((util_mono_ms() - l->pool->last_poll_ms) / 1000.0) :
			    json_null());
		}
		/* As a checkout would find it (store_checkout): a backup serves
		 * its Primary's licenses whatever host they name. */
		const char *why = license_expired(&l->def) ? "expired" : l->pool->own &&
		    !license_host_matches(&l->def, s->host_id) ? "wrong_host" : NULL;
		if (l->lingering > 0)
			json_object_set_new(o, "lingering", json_integer(l->lingering));
		json_object_set_new(o, "servable", json_boolean(why == NULL));
		if (why != NULL)
			json_object_set_new(o, "why", json_string(why));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&s->lock);
	free(mirrored);
	return arr;
}

void
store_expire(struct store *s)
{
	int64_t now = now_ms();
	size_t o = 0, looked = 0;

	pthread_mutex_lock(&s->lock);
	while (s->nheap > 0 && s->heap[1]->due_ms <= now) {
		struct lease *l = s->heap[1];
		/* When many end at once, let requests in between batches. */
		if (++looked % 256 == 0) {
			pthread_mutex_unlock(&s->lock);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (l->tomb_until_ms > 0 && l->tomb_until_ms <= now) {
			lease_unlink(s, l);
			free(l);
		} else if (lease_due(l) > now || lease_due(l) <= 0) {
			lease_schedule(s, l);	/* renewed since it was scheduled */
		} else if (!l->lic->pool->own && (l->lic->pool->status != POOL_HOT_RETRY ||
		    l->lic->pool->handing)) {
			/* A pool not served here now: look again at the next tick. */
			l->due_ms = now + 250;
			heap_down(s, 1);
		} else if (lease_end(s, l, "expire", NULL) == 0) {
			break;		/* out of memory: the next tick tries again */
		} else {
			s->expiries++;
			free(l);
		}
	}
	for (size_t i = 0; i < s->nbans; i++)
		if (s->bans[i].until_ms > now)
			s->bans[o++] = s->bans[i];
	s->nbans = o;
	if (s->lingers != NULL)
		rules_linger_sweep(s, 0);
	pthread_mutex_unlock(&s->lock);
}

/* A soft lease's expiry resumed from a record of it (a restart, a
 * takeover, a handback): the recorded expiry plus half a timeout, which
 * bounds what any acknowledged heartbeat promised (store_heartbeat), at
 * most a timeout from now, never less than the record. A seat of a license
 * gone from the file with no timeout left gets RETIRED_GRACE_MS from now. */
#define RETIRED_GRACE_MS (300 * 1000LL)

int64_t
expiry_resumed(const struct lease *l, int64_t recorded, int64_t now)
{
	long t = l->lic->def.timeout;
	int64_t e = recorded + t * 500, cap = now + t * 1000;

	if (l->borrowed_until_ms > 0)
		return l->borrowed_until_ms;	/* neither more nor less */
	if (t == 0 && recorded > 0 && l->lic->retired)
		e = cap = now + RETIRED_GRACE_MS;
	else if (recorded == 0)		/* no expiry recorded: a hard lease's */
		e = t > 0 ? cap : 0;
	if (e > cap)
		e = cap;
	return e > recorded ? e : recorded;
}

void
store_grace(struct store *s)
{
	int64_t now = now_ms();

	pthread_mutex_lock(&s->lock);
	for (struct lease *l = s->head; l != NULL; l = l->next) {
		if (l->tomb_until_ms > 0 || l->expires_ms == 0)
			continue;
		l->expires_ms = expiry_resumed(l, l->journaled_ms, now);
		lease_schedule(s, l);
	}
	lic_drop_retired(s);
	pthread_mutex_unlock(&s->lock);
}

