/*
 * store_view.c: what other modules read of the store at one instant, each
 * under one hold of its lock, so that none takes the lock itself: the
 * start of a compaction's image with the journal's sequence it matches,
 * and the counters and licenses that /metrics and the status page show.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "json.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

int
store_image_start(struct store *s, struct store_image *img, uint64_t *seqp)
{
	pthread_mutex_lock(&s->lock);
	int rc = store_image_take(s, img);
	/* Records are appended under the store lock only (journal_lease):
	 * none comes between the image and this sequence. */
	*seqp = journal_last_seq(s->journal);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void
store_counters(struct store *s, struct store_counters *c)
{
	pthread_mutex_lock(&s->lock);
	c->grants = s->grants;
	c->checkins = s->checkins;
	c->expiries = s->expiries;
	c->revokes = s->revokes;
	c->denials = s->denials;
	for (size_t i = 0; i < 3; i++)
		c->policy_denials[i] = s->policy_denials[i];
	pthread_mutex_unlock(&s->lock);
}

const char *
lic_unservable_str(enum lic_unservable why)
{
	switch (why) {
	case LIC_SERVABLE: return NULL;
	case LIC_EXPIRED: return "expired";
	case LIC_WRONG_HOST: return "wrong_host";
	}
	return NULL;
}

/*
 * The seats of each license's Primary that a warm backup holds in its
 * mirror: what it shows in use. One pass over each mirror, each lease's
 * license looked up: a view used to walk the whole mirror once per
 * license, two seconds at 77,000 mirrored leases of 100 licenses, with
 * the store lock held (the poller, and every request, waited).
 */
void
store_count_mirrored(struct store *s)
{
	const char *id;
	json_t *v;

	for (size_t i = 0; i < s->nlics; i++)
		s->lics[i]->mirrored = 0;
	for (size_t i = 0; i < s->npools; i++) {
		struct pool *p = s->pools[i];
		if (p->own || p->status != POOL_WARM || p->mirror == NULL)
			continue;
		json_object_foreach(p->mirror, id, v) {
			char lic[SL_ID_MAX + 1];
			struct lic *l = mirror_lease_license(v, lic, sizeof(lic)) == 0 ?
			    lic_find(s, p, lic) : NULL;
			if (l != NULL)
				l->mirrored++;
		}
	}
}

/* One license's view; store lock held. */
static void
lic_view_fill(struct store *s, const struct lic *l, struct lic_view *v)
{
	util_strlcpy(v->pool, l->pool->name, sizeof(v->pool));
	util_strlcpy(v->id, l->def.id, sizeof(v->id));
	util_strlcpy(v->product, l->def.product, sizeof(v->product));
	util_strlcpy(v->served_by, l->pool->status == POOL_WARM ? l->pool->name : s->name,
	    sizeof(v->served_by));
	util_strlcpy(v->expires, l->def.expires, sizeof(v->expires));
	v->own = l->pool->own;
	v->status = l->pool->status;
	v->count = l->def.count;
	v->in_use = l->in_use + l->mirrored;
	v->fails = l->fails;
	v->queued = 0;
	/* As a checkout would find it (store_checkout): a backup serves its
	 * Primary's licenses whatever host they name. */
	v->why = license_expired(&l->def) ? LIC_EXPIRED : l->pool->own &&
	    !license_host_matches(&l->def, s->host_id) ? LIC_WRONG_HOST : LIC_SERVABLE;
}

struct lic_view *
store_lic_views(struct store *s, size_t *n)
{
	struct lic_view *v;

	*n = 0;
	pthread_mutex_lock(&s->lock);
	store_count_mirrored(s);
	if ((v = calloc(s->nlics + 1, sizeof(*v))) != NULL)
		for (size_t i = 0; i < s->nlics; i++)
			if (!s->lics[i]->retired)
				lic_view_fill(s, s->lics[i], &v[(*n)++]);
	pthread_mutex_unlock(&s->lock);
	return v;
}
