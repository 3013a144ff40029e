/*
 * store_view.c: what other modules read of the store at one instant, each
 * under one hold of its lock, so that none takes the lock itself: the
 * start of a compaction's image with the journal's sequence it matches,
 * and the counters /metrics shows.
 */
#include <pthread.h>
#include <stdint.h>

#include "journal.h"
#include "store.h"
#include "store_int.h"

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
