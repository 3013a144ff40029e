/*
 * snapshot.c: the store's leases as a snapshot image (a copy taken under
 * the store lock, made into text without it, for snapshot.json and a
 * backup's full sync), and the way back: snapshots and journal records
 * replayed into the store.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <pthread.h>

#include "journal.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "store_int.h"
#include "usage.h"
#include "util.h"

/* A copy of every lease for a snapshot: taken under the store lock with a
 * memory copy per lease, turned into text without it, so that the lock is
 * held for a copy, not for building a JSON tree of every lease (which
 * would stall every request meanwhile and take far more memory). */
struct image_lease {
	size_t size;		/* of this entry, a multiple of 8 */
	long pid;
	time_t since;
	int64_t expires_ms, tomb_until_ms, borrowed_until_ms;
	int handed_back;
	int adopted;
	char text[];		/* id, license, product, pool, client, user, host, addr */
};
#define IMAGE_STRINGS	8

struct store_image {
	char *buf;		/* struct image_lease entries, back to back */
	size_t len, cap;
	size_t n;		/* leases in it */
	json_t *bans;
};

static size_t
image_entry_size(const struct lease *l)
{
	const char *v[IMAGE_STRINGS] = { l->id, l->lic->def.id, l->product,
	    l->lic->pool->name, l->client, l->user, l->host, l->addr };
	size_t n = sizeof(struct image_lease);

	for (int i = 0; i < IMAGE_STRINGS; i++)
		n += strlen(v[i]) + 1;
	return (n + 7) & ~(size_t)7;
}

/* Is the lease in the image: for a snapshot, all; for a peer, the live
 * leases of our own pool granted up to upto. */
static int
image_wants(const struct lease *l, int peer, uint64_t upto)
{
	return !peer || (l->lic->pool->own && l->tomb_until_ms == 0 && l->seq <= upto);
}

/*
 * Room in an image for about the leases the store holds, its pages
 * touched, made without the store lock: 20 MB at 100,000 leases, some ms
 * of page faults, spent by the compactor, not the committer. (Sizing the
 * buffer in a first pass under the lock cost 6-12 ms of the 45-51 ms a
 * compaction held the lock, when it copied every lease at once.)
 */
static int
image_room(struct store *s, struct store_image *img)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->nleases, avg = s->image_avg ? s->image_avg : 192;
	pthread_mutex_unlock(&s->lock);
	img->cap = (n + n / 8 + 64) * avg;
	if ((img->buf = malloc(img->cap)) == NULL) {
		img->cap = 0;
		return -1;
	}
	memset(img->buf, 0, img->cap);
	return 0;
}

struct store_image *
store_image_new(void)
{
	return calloc(1, sizeof(struct store_image));
}

struct store_image *
store_image_reserve(struct store *s)
{
	struct store_image *img = store_image_new();

	if (img != NULL && image_room(s, img) != 0) {
		free(img);
		return NULL;
	}
	return img;
}

/* Copy leases into img (from store_image_reserve), with the store lock
 * held, from *from on: all of them, or (max > 0) up to max, leaving *from
 * at the first one not copied. img grows if the store did. -1 when out of
 * memory. */
static int
image_take(struct store *s, struct store_image *img, struct lease **from, size_t max,
    int peer, uint64_t upto)
{
	struct lease *l;
	size_t walked = 0;

	for (l = *from; l != NULL && (max == 0 || walked < max); l = l->next, walked++) {
		if (!image_wants(l, peer, upto))
			continue;
		size_t size = image_entry_size(l);
		if (img->len + size > img->cap) {
			size_t ncap = img->cap * 2 + size;
			char *nb = realloc(img->buf, ncap);
			if (nb == NULL)
				return -1;
			img->buf = nb;
			img->cap = ncap;
		}
		struct image_lease *e = (struct image_lease *)(img->buf + img->len);
		const char *v[IMAGE_STRINGS] = { l->id, l->lic->def.id, l->product,
		    l->lic->pool->name, l->client, l->user, l->host, l->addr };
		char *p = e->text;
		e->size = size;
		e->pid = l->pid;
		e->since = l->since;
		e->expires_ms = l->journaled_ms;
		e->tomb_until_ms = l->tomb_until_ms;
		e->borrowed_until_ms = l->borrowed_until_ms;
		e->handed_back = l->handed_back;
		e->adopted = l->adopted;
		for (int i = 0; i < IMAGE_STRINGS; i++)
			text_put(&p, v[i], strlen(v[i]));
		img->len += e->size;
		img->n++;
	}
	*from = l;
	if (img->n > 0)
		s->image_avg = img->len / img->n + 1;
	return 0;
}

/*
 * A compaction's image is taken a slice at a time: at 100,000 leases the
 * walk holds the store lock for 40 ms, and every request waits that long.
 * store_image_take copies the bans and sets a cursor at the newest lease
 * (the caller reads the journal's sequence, S, under the same hold of the
 * lock); store_image_more copies the next slice, taking the lock for that
 * slice alone. A lease that ends while the cursor is on it moves the cursor
 * on (lease_unlink); new leases go in at the head, before the cursor.
 *
 * So the image is fuzzy: each lease as it was when its slice was copied,
 * at S or later, and leases granted after S are missing. That is enough
 * because every change after S is a journal record after S, which a
 * start replays over the snapshot, and replaying is idempotent: a grant or
 * revoke replaces the lease of its id, a release removes it if it is
 * there. The bans are copied at S exactly (a ban record appends).
 */
int
store_image_take(struct store *s, struct store_image *img)
{
	if ((img->bans = json_array()) == NULL)
		return -1;
	s->img_cursor = s->head;
	for (size_t i = 0; i < s->nbans; i++) {
		const struct ban *b = &s->bans[i];
		json_array_append_new(img->bans, json_pack("{s:s, s:s, s:s, s:s, s:I}",
		    "license", b->license, "client", b->client, "user", b->user,
		    "host", b->host, "until_ms", (json_int_t)b->until_ms));
	}
	return 0;
}

int
store_image_more(struct store *s, struct store_image *img, size_t max)
{
	if (img->buf == NULL && image_room(s, img) != 0)
		return -1;
	pthread_mutex_lock(&s->lock);
	int rc = image_take(s, img, &s->img_cursor, max, 0, 0);
	if (rc != 0)
		s->img_cursor = NULL;
	else if (s->img_cursor != NULL)
		rc = 1;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Append len bytes to a growing buffer. */
static int
buf_add(char **buf, size_t *len, size_t *cap, const char *text, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 1 << 16;
		while (ncap < *len + n + 1)
			ncap *= 2;
		char *nb = realloc(*buf, ncap);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, text, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* A run of an image's entries made into comma-separated records. */
struct image_part {
	const struct store_image *img;
	size_t from, to;	/* byte offsets of entries in img->buf */
	char *out;
	size_t len, cap;
	int rc;
};

static void *
image_part_text(void *arg)
{
	struct image_part *ip = arg;

	for (size_t off = ip->from; ip->rc == 0 && off < ip->to; ) {
		const struct image_lease *e = (const struct image_lease *)(ip->img->buf + off);
		const char *p = e->text;
		const char *v[IMAGE_STRINGS];
		for (int i = 0; i < IMAGE_STRINGS; i++) {
			v[i] = p;
			p += strlen(p) + 1;
		}
		struct lease_text t = { v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] };
		json_t *rec = record_json(&t, e->pid, e->since, e->expires_ms, e->tomb_until_ms,
		    e->handed_back);
		if (rec != NULL && e->adopted)
			json_object_set_new(rec, "adopted", json_true());
		if (rec != NULL && e->borrowed_until_ms > 0)
			json_object_set_new(rec, "borrowed_until_ms",
			    json_integer(e->borrowed_until_ms));
		char *one = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
		json_decref(rec);
		if (one == NULL || (off > ip->from && buf_add(&ip->out, &ip->len, &ip->cap, ",",
		    1) != 0) || buf_add(&ip->out, &ip->len, &ip->cap, one, strlen(one)) != 0)
			ip->rc = -1;
		free(one);
		off += e->size;
	}
	return NULL;
}

/* The image's leases as a JSON array in text, appended to out. Making the
 * text is most of a snapshot's and a full sync's time (0.5 s at 100,000
 * leases), so a large image is split between threads, one a core. */
static int
image_array(const struct store_image *img, char **out, size_t *len, size_t *cap, int parallel)
{
	struct image_part parts[4];
	long ncpu = parallel ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	size_t nparts = img->len < (1 << 20) || ncpu < 2 ? 1 : ncpu > 4 ? 4 : (size_t)ncpu;
	size_t off = 0, n = 0;
	int rc;

	memset(parts, 0, sizeof(parts));
	/* Split at entry boundaries near equal byte counts. */
	for (size_t i = 0; i < nparts; i++) {
		size_t want = img->len * (i + 1) / nparts;
		parts[n].img = img;
		parts[n].from = off;
		while (off < img->len && (off < want || off == parts[n].from))
			off += ((const struct image_lease *)(img->buf + off))->size;
		parts[n].to = off;
		if (parts[n].to > parts[n].from || n == 0)
			n++;
	}
	util_run_parallel(image_part_text, parts, sizeof(parts[0]), n);
	rc = buf_add(out, len, cap, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (parts[i].rc != 0)
			rc = -1;
		if (rc == 0 && parts[i].len > 0 && ((i > 0 && buf_add(out, len, cap, ",", 1) != 0) ||
		    buf_add(out, len, cap, parts[i].out, parts[i].len) != 0))
			rc = -1;
		free(parts[i].out);
	}
	return rc == 0 ? buf_add(out, len, cap, "]", 1) : -1;
}

void
store_image_free(struct store_image *img)
{
	json_decref(img->bans);
	free(img->buf);
	free(img);
}

char *
store_image_text(struct store_image *img, uint64_t seq, size_t *lenp, int parallel)
{
	char *out = NULL, *bans = json_dumps(img->bans, JSON_COMPACT), tail[64];
	size_t len = 0, cap = 0;
	int n = snprintf(tail, sizeof(tail), ",\"version\":1,\"seq\":%llu}",
	    (unsigned long long)seq);

	if (bans == NULL || buf_add(&out, &len, &cap, "{\"leases\":", 10) != 0 ||
	    image_array(img, &out, &len, &cap, parallel) != 0 ||
	    buf_add(&out, &len, &cap, ",\"bans\":", 8) != 0 ||
	    buf_add(&out, &len, &cap, bans, strlen(bans)) != 0 ||
	    buf_add(&out, &len, &cap, tail, (size_t)n) != 0) {
		free(out);
		out = NULL;
	}
	free(bans);
	store_image_free(img);
	*lenp = len;
	return out;
}

char *
store_own_leases_text(struct store *s, uint64_t upto, size_t *lenp)
{
	struct store_image *img;
	char *out = NULL;
	size_t len = 0, cap = 0;

	if ((img = store_image_reserve(s)) == NULL)
		return NULL;
	pthread_mutex_lock(&s->lock);
	struct lease *from = s->head;
	int rc = image_take(s, img, &from, 0, 1, upto);
	pthread_mutex_unlock(&s->lock);
	if (rc != 0) {
		store_image_free(img);
		return NULL;
	}
	if (image_array(img, &out, &len, &cap, 1) != 0) {
		free(out);
		out = NULL;
	}
	store_image_free(img);
	*lenp = len;
	return out;
}

/* A lease from its record form, not yet in the store (no lock needed). */
static struct lease *
lease_build(json_t *o)
{
	const char *id = js_str(o, "id", NULL), *product = js_str(o, "product", NULL);
	struct lease *l;

	if (id == NULL || product == NULL || js_str(o, "license", NULL) == NULL ||
	    js_str(o, "pool", NULL) == NULL)
		return NULL;
	if ((l = lease_new(id, product, js_str(o, "client", ""), js_str(o, "user", ""),
	    js_str(o, "host", ""), js_str(o, "addr", ""))) == NULL)
		return NULL;
	l->pid = (long)js_int(o, "pid", 0);
	l->since = (time_t)js_int(o, "since", 0);
	l->expires_ms = l->journaled_ms = js_int(o, "expires_ms", 0);
	l->tomb_until_ms = js_int(o, "tomb_until_ms", 0);
	l->handed_back = json_is_true(json_object_get(o, "handed_back"));
	l->adopted = json_is_true(json_object_get(o, "adopted"));
	if ((l->borrowed_until_ms = js_int(o, "borrowed_until_ms", 0)) > 0)
		l->expires_ms = l->journaled_ms = l->borrowed_until_ms;
	return l;
}

/* Put a built lease into the store under license lic of pool, in place of
 * one with its id. Called with the store lock held; l is freed on failure. */
static int
lease_attach(struct store *s, struct lease *l, const char *pool, const char *lic)
{
	struct pool *p;
	struct lease *old;

	if (((p = store_pool(s, pool)) == NULL && (p = store_add_pool(s, pool, "")) == NULL) ||
	    heap_reserve(s) != 0)
		goto fail;
	if ((old = lease_find(s, l->id)) != NULL) {
		lease_unlink(s, old);
		free(old);
	}
	if ((l->lic = lic_find(s, p, lic)) == NULL &&
	    (l->lic = lic_placeholder(s, p, lic, l->product)) == NULL)
		goto fail;
	lease_link(s, l);
	return 0;
fail:
	free(l);
	return -1;
}

/* Make (or replace) a lease from its record form. */
int
lease_from_record(struct store *s, json_t *o)
{
	struct lease *l = lease_build(o);

	if (l == NULL)
		return -1;
	return lease_attach(s, l, js_str(o, "pool", ""), js_str(o, "license", ""));
}

int
store_apply_leases(struct store *s, json_t **recs, size_t n)
{
	struct lease **built = calloc(n, sizeof(*built));
	int rc = 0;

	if (built == NULL)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		if ((built[i] = lease_build(recs[i])) == NULL)
			rc = -1;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = lease_attach(s, built[i], js_str(recs[i], "pool", ""),
		    js_str(recs[i], "license", ""));
		built[i] = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		free(built[i]);
	free(built);
	return rc;
}

int
store_apply_snapshot(struct store *s, json_t *snap)
{
	json_t *v;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	json_array_foreach(json_object_get(snap, "leases"), i, v)
		if (lease_from_record(s, v) != 0)
			rc = -1;
	json_array_foreach(json_object_get(snap, "bans"), i, v) {
		struct ban *nb = realloc(s->bans, (s->nbans + 1) * sizeof(*nb));
		if (nb == NULL) {
			rc = -1;
			break;
		}
		s->bans = nb;
		struct ban *b = &s->bans[s->nbans++];
		util_strlcpy(b->license, js_str(v, "license", ""), sizeof(b->license));
		util_strlcpy(b->client, js_str(v, "client", ""), sizeof(b->client));
		util_strlcpy(b->user, js_str(v, "user", ""), sizeof(b->user));
		util_strlcpy(b->host, js_str(v, "host", ""), sizeof(b->host));
		b->until_ms = js_int(v, "until_ms", 0);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int
store_apply_record(struct store *s, json_t *rec)
{
	const char *op = js_str(rec, "op", "");
	json_t *lj = json_object_get(rec, "lease");
	int rc = 0;

	if (strcmp(op, "ban") == 0) {
		json_t *bans = json_pack("{s:[O]}", "bans", rec);
		rc = store_apply_snapshot(s, bans);
		json_decref(bans);
		return rc;
	}
	if (!json_is_object(lj))
		return -1;
	pthread_mutex_lock(&s->lock);
	if (strcmp(op, "grant") == 0 || strcmp(op, "revoke") == 0) {
		rc = lease_from_record(s, lj);
	} else if (strcmp(op, "confirm") == 0) {
		struct lease *l = lease_find(s, js_str(lj, "id", ""));
		if (l != NULL && l->tomb_until_ms == 0) {
			l->expires_ms = l->journaled_ms = 0;
			lease_schedule(s, l);
		}
	} else if (strcmp(op, "claim") == 0) {
		struct lease *l = lease_find(s, js_str(lj, "id", ""));
		if (l != NULL)
			l->adopted = 0;
	} else if (strcmp(op, "renew") == 0) {
		/* the latest expiry wins: replay over a fuzzy snapshot */
		struct lease *l = lease_find(s, js_str(lj, "id", ""));
		int64_t e = js_int(lj, "expires_ms", 0);
		if (l != NULL && l->tomb_until_ms == 0 && l->expires_ms > 0 &&
		    e > l->journaled_ms) {
			l->expires_ms = l->journaled_ms = e;
			lease_schedule(s, l);
		}
	} else if (strcmp(op, "release") == 0) {
		struct lease *l = lease_find(s, js_str(lj, "id", ""));
		if (l != NULL) {
			lease_unlink(s, l);
			free(l);
		}
		if (json_is_true(json_object_get(lj, "handed_back")))
			rc = lease_from_record(s, lj);
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}
