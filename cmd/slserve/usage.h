/* The usage log: one JSON line per grant, checkin, expiry, revoke, denial,
 * takeover and handback, for slctl report. Buffered; flushed every second;
 * reopened on SIGHUP. */
#ifndef SLSERVE_USAGE_H
#define SLSERVE_USAGE_H

#include <jansson.h>

int usage_open(const char *path, char *err, size_t errlen);
/* Log ev (stolen); "ts" and "event" are added here. */
void usage_event(const char *event, json_t *ev);
/* Reopen the file at its path (log rotation); keeps the old one on error. */
int usage_reopen(char *err, size_t errlen);
void usage_flush(void);
void usage_close(void);

#endif
