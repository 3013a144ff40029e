/* A backup's mirror of a Primary's pool on disk (see mirrorlog.c). */
#ifndef SLSERVE_MIRRORLOG_H
#define SLSERVE_MIRRORLOG_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct server;
struct pool;

/* Once, before any other call (reads the test hook SL_TEST_MIRROR_LOG_MIN). */
void mirror_init(void);
/* At start: restore pool p's mirror from disk. */
void mirror_load(struct server *srv, struct pool *p);
/*
 * Take in a good sync answer o while warm: the licenses (their generation
 * into lic_gen) and the records or full copy into memory, good(arg) once
 * they are there, then the records appended to the journal (raw, rawlen:
 * their text in the answer, or NULL), or *base set
 * when the whole mirror is to be saved (mirror_persist). Returns 1 when it
 * brought news.
 */
int mirror_apply(struct server *srv, struct pool *p, json_t *o, const char *raw, size_t rawlen,
    int *base, char *lic_gen, size_t lic_gen_len, void (*good)(void *), void *arg);
/* What a poll may acknowledge: the Primary's epoch and sequence on disk. */
uint64_t mirror_durable(const struct pool *p, char *epoch, size_t len);
/* Save what changed (p->dirty); wait unset: give up when a save is under way. */
void mirror_persist(struct server *srv, struct pool *p, int wait);
/* Save the whole mirror as a new base (full sync, takeover, handback). */
void mirror_save(struct server *srv, struct pool *p);
/* A Primary no longer backed up: its mirror files go. */
void mirror_remove(struct server *srv, struct pool *p);
/* At stop: wait for bases being written, close the journals. */
void mirror_close_all(void);

#endif
