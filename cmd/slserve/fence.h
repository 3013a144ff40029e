/* Fencing, Primary side: grant seats of our own pool only while every
 * backup has promised not to take it over (see fence.c). */
#ifndef SLSERVE_FENCE_H
#define SLSERVE_FENCE_H

#include <stddef.h>

#include <jansson.h>

struct server;
struct fence;

struct fence *fence_new(struct server *srv);
/* A backup polls us from url (its poll, or backups.json at start). */
void fence_note_backup(struct fence *f, const char *name, const char *url);
/* A backup handed our pool back: ask it again for its promise. */
void fence_handed_back(struct fence *f, const char *name);
/* Ask every known backup once, then keep asking from a thread. */
int fence_start(struct fence *f);
void fence_free(struct fence *f);
/* 1: a seat of our pool may be granted now; 0: not, and why says which
 * backup is in the way. May wait up to 1.5 s for the backups' answer. */
int fence_may_grant(struct fence *f, char *why, size_t len);
/* [{"name","url","fence","fence_left"?}] for /v1/health. */
json_t *fence_json(struct fence *f);

#endif
