/*
 * store.c: the store's tables in memory and their lock: leases (by id in a
 * hash, by when they may end in an expiry heap, counted per holder and per
 * address), licenses by pool, id and product, the pools, and the store's
 * life (store_new, store_free, licenses and policy installed, expiry). Its
 * lock guards everything in struct store. The checkout policy is
 * checkout.c's, the JSON of records and answers record.c's, snapshots and
 * replay snapshot.c's, failover's pools pool.c's.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "json.h"
#include "log.h"
#include "policy.h"
#include "rules.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

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

int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

#define FNV_BASIS 2166136261u

/* FNV-1a of h carried on over s; with nul, over its NUL as well. */
static uint32_t
fnv1a(uint32_t h, const char *s, int nul)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return nul ? h * 16777619u : h;	/* h ^ 0 == h */
}

static uint32_t
hash_id(const char *s)
{
	return fnv1a(FNV_BASIS, s, 0);
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
	/* the three, NULs included: ("ab", "") and ("a", "b") differ */
	return fnv1a(fnv1a(fnv1a(FNV_BASIS, client, 1), user, 1), host, 1);
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

long
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

long
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
store_set_journal(struct store *s, struct journal *j)
{
	pthread_mutex_lock(&s->lock);
	s->journal = j;
	pthread_mutex_unlock(&s->lock);
}

void
store_set_limits(struct store *s, long per_client, long per_ip, long total,
    int64_t confirm_timeout_ms)
{
	pthread_mutex_lock(&s->lock);
	s->max_leases_per_client = per_client;
	s->max_leases_per_ip = per_ip;
	s->max_leases = total;
	s->confirm_timeout_ms = confirm_timeout_ms;
	pthread_mutex_unlock(&s->lock);
}

void
store_set_started(struct store *s, int had_state, time_t now)
{
	pthread_mutex_lock(&s->lock);
	s->had_state = had_state;
	s->started = now;
	pthread_mutex_unlock(&s->lock);
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
	void *owned[] = { s->lics, s->lic_index, s->product_index, s->pools, s->buckets,
	    s->heap, s->bans, s->product_denials };
	util_free_all(owned, nitems(owned));
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

/* A generation counter of the store (free_gen, lic_gen), read under its
 * lock. */
static uint64_t
gen_read(struct store *s, const uint64_t *gen)
{
	pthread_mutex_lock(&s->lock);
	uint64_t v = *gen;
	pthread_mutex_unlock(&s->lock);
	return v;
}

uint64_t
store_free_gen(struct store *s)
{
	return gen_read(s, &s->free_gen);
}

uint64_t
store_licenses_gen(struct store *s)
{
	return gen_read(s, &s->lic_gen);
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
