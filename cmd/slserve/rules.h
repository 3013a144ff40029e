/* The usage policy at checkout (rules.c); called with the store lock held. */
#ifndef SLSERVE_RULES_H
#define SLSERVE_RULES_H

#include "policy.h"
#include "store.h"

/* Why the policy refuses a checkout. */
struct refusal {
	unsigned status;		/* 403, 409 */
	const char *code;		/* "excluded", "max_reached", "reserved" */
	char message[700];
	char rule[400];			/* the rule at fault: exclude "user:mallory" */
	int line;			/* its line in the options file */
};

/* include and exclude of section pe: 1 (f filled) when req may not use it. */
int rules_admit(const struct policy *pol, const struct policy_entry *pe,
    const struct checkout_req *req, struct refusal *f);
/* max and reserve of section pe (of policy pol) over the seats it governs in pool p: of
 * license lic (a license section), or of every license of its product (lic
 * NULL). 1 (f filled) when a new seat for req would break them. */
int rules_max(struct store *s, const struct policy *pol, struct pool *p, struct lic *lic,
    const struct policy_entry *pe, const struct checkout_req *req, struct refusal *f);
int rules_reserve(struct store *s, const struct policy *pol, struct pool *p, struct lic *lic,
    const struct policy_entry *pe, const struct checkout_req *req, struct refusal *f);

/* The longest borrow of lic's seats in policy pol, from its license
 * section or else its product's; 0: no borrowing. */
long rules_borrow_seconds(const struct policy *pol, const struct lic *lic);

/* Lingering seats (rules.c). The linger of lic, from its license section
 * or else its product's, in the policy of its pool; 0: none. */
long rules_linger_seconds(const struct store *s, const struct lic *lic);
/* Keep the seat of lease l, just checked in, for its holder. */
void rules_linger_add(struct store *s, const struct lease *l, long seconds);
/* Let go of the lingers past their time (all: every one). */
void rules_linger_sweep(struct store *s, int all);
/* req's holder asks again for a product whose seat lingers for it in pool
 * p: let the seat go for req to take. 1 when there was one. */
int rules_linger_take(struct store *s, const struct pool *p, const struct checkout_req *req);

#endif
