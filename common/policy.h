/* The usage policy: the options file (slserve.conf(5), sl-options(5)). */
#ifndef SL_POLICY_H
#define SL_POLICY_H

#include <stddef.h>

#include <jansson.h>

#include "license.h"
#include "util.h"

/* Who a rule is about: "user:NAME", "host:NAME", "group:NAME",
 * "hostgroup:NAME", "KIND:*" (each NAME of the kind on its own), or "*"
 * (everyone, as one). */
enum policy_kind { POLICY_ALL, POLICY_USER, POLICY_HOST, POLICY_GROUP, POLICY_HOSTGROUP };

struct policy_group {
	char *name;
	char **members;		/* user names (group) or host names (hostgroup) */
	size_t n;
};

struct policy_target {
	enum policy_kind kind;
	int each;			/* KIND:* */
	char *name;			/* NULL for "*" and KIND:* */
	const struct policy_group *group;	/* of group:NAME and hostgroup:NAME */
};

struct policy_rule {
	long n;				/* seats (reserve, max); 0 for include, exclude */
	struct policy_target target;
	char text[300];			/* the rule as the file wrote it */
	int line;
};

/* A product "NAME" or license "ID" section. */
struct policy_entry {
	char name[SL_ID_MAX + 1];
	int is_license;
	struct policy_rule *reserve, *max, *include, *exclude;
	size_t nreserve, nmax, ninclude, nexclude;
	long linger;			/* seconds; 0: none */
	long borrow;			/* longest borrow in seconds; 0: no borrowing */
	int queue;
	int line;
};

struct policy {
	char *file;
	struct policy_group *groups, *hostgroups;
	size_t ngroups, nhostgroups;
	struct policy_entry *entries;
	size_t nentries;
};

/* Parse the options file at path, checking it against the licenses it will
 * govern (every product and license it names must be there, and the seats
 * it reserves must fit their count). On error returns -1 and err holds
 * every problem, one "FILE:LINE: message" per line. */
int policy_load(const char *path, const struct license_set *licenses, struct policy **out,
    char *err, size_t errlen);
void policy_free(struct policy *p);

/* The policy as JSON, and back, for a backup that serves a Primary's pool
 * (the Primary checked it against its licenses). policy_from_json: -1 with
 * err on bad input. */
json_t *policy_to_json(const struct policy *p);
int policy_from_json(json_t *o, struct policy **out, char *err, size_t errlen);

/* The product or license section for name, or NULL. */
const struct policy_entry *policy_product(const struct policy *p, const char *product);
const struct policy_entry *policy_license(const struct policy *p, const char *id);

/* Is user on host one of target's (KIND:* and "*": everyone)? */
int policy_member(const struct policy_target *t, const char *user, const char *host);
int policy_group_has(const struct policy_group *g, const char *name);

#endif
