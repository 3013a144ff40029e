/*
 * The checkout queue (queue.c): a checkout with "wait" of a product whose
 * usage policy has queue = true waits, its request held, in one FIFO per
 * pool and product until a seat the policy lets it take frees, or its wait
 * is over. Lock order: locks.h (the store never calls the queue).
 */
#ifndef SLSERVE_QUEUE_H
#define SLSERVE_QUEUE_H

#include <jansson.h>

#include "server.h"
#include "store.h"

/* Serve the checkout cr of request r, waiting up to wait_ms in the queue
 * when the policy allows and no seat is free for it now. Returns 1 when r
 * is held (answered later, by queue_serve or queue_stop), 0 when r->reply
 * holds the answer to send now. */
int queue_checkout(struct req *r, const struct checkout_req *cr, int64_t wait_ms);
/* Give freed seats to the waiters in order, answer those whose wait is
 * over or whose client went away. From the main loop, and after a seat
 * is let go. */
void queue_serve(struct server *srv);
/* Answer every waiter (503 stopping): before the HTTP daemon stops. */
void queue_stop(struct server *srv);
/* Add "queued" (waiters for its pool and product) to each license of
 * /v1/licenses. */
void queue_annotate(json_t *licenses);
/* The same for the views: each license's queued, under one hold. */
void queue_count_views(struct lic_view *lics, size_t n);
/* All waiters. */
long queue_length(void);

#endif
