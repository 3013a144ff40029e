/* Replies waiting for the backups' acknowledgement (see ackwait.c). */
#ifndef SLSERVE_ACKWAIT_H
#define SLSERVE_ACKWAIT_H

#include <stdint.h>

struct server;

/* With synchronous_backup, while some backup polls us and holds less than
 * seq: 1, and resume(arg) is called once every such backup holds it (or
 * none polls any more, or at stop); otherwise 0. */
int ackwait_wait(struct server *srv, uint64_t seq, void (*resume)(void *), void *arg);
/* Take back ackwait_wait(.., resume, arg): 1 when it still waited (resume
 * will not be called), 0 when it has been let go already. */
int ackwait_unwait(void (*resume)(void *), void *arg);
/* What the backups hold: watched, whether any polls us; seq, what every one
 * of those holds; stop: let every waiter go and hold no more. */
void ackwait_update(int watched, uint64_t seq, int stop);

#endif
