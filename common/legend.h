/* The words sl shows people: what each license status and marker means,
 * in one place for slctl status -v and the status page. */
#ifndef SL_LEGEND_H
#define SL_LEGEND_H

#include <stddef.h>

struct legend_entry {
	const char *name;	/* "hot", ",expired", "DENIALS" */
	const char *meaning;	/* one sentence, no trailing period */
};

/* The four statuses, in the order a takeover goes through them. */
extern const struct legend_entry legend_statuses[];
extern const size_t legend_nstatuses;
/* The markers after a status, and the DENIALS column. */
extern const struct legend_entry legend_marks[];
extern const size_t legend_nmarks;

#endif
