/* The usage log: one JSON line per grant, checkin, expiry, revoke, denial,
 * takeover and handback, for slctl report. Buffered; flushed every second. */
#ifndef SLSERVE_USAGE_H
#define SLSERVE_USAGE_H

#include <jansson.h>

int usage_open(const char *path, char *err, size_t errlen);
/* Log ev (stolen); "ts" and "event" are added here. */
void usage_event(const char *event, json_t *ev);
void usage_flush(void);
void usage_close(void);

#endif
