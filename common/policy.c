/*
 * policy.c: the usage policy, the options file (sl-options(5)): groups,
 * host groups and rules, loaded with the file and line at fault, and its
 * JSON form, which a Primary hands its backups.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <confuse.h>

#include "config.h"
#include "policy.h"

#define POLICY_LINGER_MAX 86400L		/* a day */
#define POLICY_BORROW_MAX (366L * 86400)	/* a year */

static cfg_opt_t group_opts[] = {
	CFG_STR_LIST("members", "{}", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t entry_opts[] = {
	CFG_STR_LIST("reserve", "{}", CFGF_NONE),
	CFG_STR_LIST("max", "{}", CFGF_NONE),
	CFG_STR_LIST("include", "{}", CFGF_NONE),
	CFG_STR_LIST("exclude", "{}", CFGF_NONE),
	CFG_INT("linger", 0, CFGF_NONE),
	CFG_STR("borrow", "", CFGF_NONE),
	CFG_BOOL("queue", cfg_false, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t policy_opts[] = {
	CFG_SEC("group", group_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("hostgroup", group_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("product", entry_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("license", entry_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

static const char *const tracked[] = { "group|members", "hostgroup|members",
    "product|reserve", "product|max", "product|include", "product|exclude",
    "product|linger", "product|borrow", "product|queue",
    "license|reserve", "license|max", "license|include", "license|exclude",
    "license|linger", "license|borrow", "license|queue", NULL };

/* An error about option opt of section kind "title": FILE:LINE, the line
 * the option was set on (or the section's). */
static void
entry_error(struct conf_errors *e, const char *path, const char *kind, const char *title,
    const char *opt, int dflt, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
entry_error(struct conf_errors *e, const char *path, const char *kind, const char *title,
    const char *opt, int dflt, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_error(e, "%s:%d: %s", path, conf_line_in(kind, title, opt, dflt), msg);
}

/* A user, host or group name: printable, no blanks, quotes or colons. */
static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return 0;
	for (; *s != '\0'; s++)
		if (!isgraph((unsigned char)*s) || *s == '"' || *s == ':' || *s == '\\')
			return 0;
	return 1;
}

static const struct policy_group *
group_find(const struct policy_group *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static int
load_groups(cfg_t *cfg, const char *kind, const char *path, struct policy_group **vp,
    size_t *np, struct conf_errors *e)
{
	size_t n = cfg_size(cfg, kind);
	struct policy_group *v = calloc(n + 1, sizeof(*v));

	*vp = v;
	*np = 0;
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		cfg_t *g = cfg_getnsec(cfg, kind, (unsigned)i);
		const char *t = cfg_title(g);
		struct policy_group *pg = &v[(*np)++];
		size_t m = cfg_size(g, "members");
		if (!valid_name(t))
			entry_error(e, path, kind, t, NULL, g->line, "%s \"%.64s\": invalid name "
			    "(no blanks, quotes or colons)", kind, t);
		pg->name = strdup(t);
		pg->members = calloc(m + 1, sizeof(char *));
		if (pg->name == NULL || pg->members == NULL)
			return -1;
		for (size_t j = 0; j < m; j++) {
			const char *mem = cfg_getnstr(g, "members", (unsigned)j);
			if (!valid_name(mem)) {
				entry_error(e, path, kind, t, "members", g->line, "%s \"%.64s\": "
				    "invalid member \"%.64s\"", kind, t, mem);
				continue;
			}
			if (policy_group_has(pg, mem))
				continue;	/* counted once */
			if ((pg->members[pg->n++] = strdup(mem)) == NULL)
				return -1;
		}
	}
	return 0;
}

/* Parse "TARGET" into t. Returns NULL, or what is wrong with it. */
static const char *
parse_target(const struct policy *p, const char *s, struct policy_target *t)
{
	static const struct { const char *prefix; enum policy_kind kind; } kinds[] = {
		{ "user:", POLICY_USER }, { "host:", POLICY_HOST },
		{ "group:", POLICY_GROUP }, { "hostgroup:", POLICY_HOSTGROUP },
	};
	static char why[400];
	const char *name = NULL;

	memset(t, 0, sizeof(*t));
	if (strcmp(s, "*") == 0) {
		t->kind = POLICY_ALL;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);
		if (strncmp(s, kinds[i].prefix, n) == 0) {
			t->kind = kinds[i].kind;
			name = s + n;
			break;
		}
	}
	if (name == NULL)
		return "want user:NAME, host:NAME, group:NAME, hostgroup:NAME, KIND:* or *";
	if (strcmp(name, "*") == 0) {
		t->each = 1;
		return NULL;
	}
	if (!valid_name(name))
		return "invalid name (no blanks, quotes or colons)";
	if (t->kind == POLICY_GROUP &&
	    (t->group = group_find(p->groups, p->ngroups, name)) == NULL) {
		snprintf(why, sizeof(why), "no group \"%.64s\" in this file", name);
		return why;
	}
	if (t->kind == POLICY_HOSTGROUP &&
	    (t->group = group_find(p->hostgroups, p->nhostgroups, name)) == NULL) {
		snprintf(why, sizeof(why), "no hostgroup \"%.64s\" in this file", name);
		return why;
	}
	/* "host:lab" where lab is a hostgroup is a slip for hostgroup:lab, and
	 * would quietly match nobody: say so rather than guess. */
	if (t->kind == POLICY_HOST && group_find(p->hostgroups, p->nhostgroups, name) != NULL) {
		snprintf(why, sizeof(why), "\"%.64s\" is a hostgroup: write hostgroup:%.64s",
		    name, name);
		return why;
	}
	if (t->kind == POLICY_USER && group_find(p->groups, p->ngroups, name) != NULL) {
		snprintf(why, sizeof(why), "\"%.64s\" is a group: write group:%.64s", name, name);
		return why;
	}
	if ((t->name = strdup(name)) == NULL)
		return "out of memory";
	return NULL;
}

/* Parse one rule of option opt ("reserve", "max": "N TARGET"; "include",
 * "exclude": "TARGET") into r. Returns NULL, or what is wrong with it. */
static const char *
parse_rule(const struct policy *p, const char *opt, const char *s, struct policy_rule *r)
{
	int counted = strcmp(opt, "reserve") == 0 || strcmp(opt, "max") == 0;
	const char *target = s, *why;

	memset(r, 0, sizeof(*r));
	if (strlen(s) >= sizeof(r->text))
		return "too long";
	if (counted) {
		char *end;
		errno = 0;
		long k = strtol(s, &end, 10);
		if (!isdigit((unsigned char)s[0]) || errno != 0 || k > INT_MAX ||
		    (*end != ' ' && *end != '\t'))
			return "want \"N TARGET\" with N a whole number of seats";
		if (k == 0 && strcmp(opt, "reserve") == 0)
			return "reserves no seat";
		r->n = k;
		for (target = end; *target == ' ' || *target == '\t'; target++)
			;
	}
	if ((why = parse_target(p, target, &r->target)) != NULL)
		return why;
	if (strcmp(opt, "reserve") == 0 && (r->target.each || r->target.kind == POLICY_ALL)) {
		free(r->target.name);
		r->target.name = NULL;
		return "seats are reserved for a user, host, group or hostgroup by name";
	}
	util_strlcpy(r->text, s, sizeof(r->text));
	return NULL;
}

/* Parse one list option of a section into *vp. */
static int
load_rules(const struct policy *p, cfg_t *sec, const char *kind, const char *opt,
    const char *path, struct policy_rule **vp, size_t *np, struct conf_errors *e)
{
	const char *title = cfg_title(sec);
	size_t n = cfg_size(sec, opt);
	struct policy_rule *v = calloc(n + 1, sizeof(*v));
	int line = conf_line_in(kind, title, opt, sec->line);

	*vp = v;
	*np = 0;
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *s = cfg_getnstr(sec, opt, (unsigned)i);
		const char *why = parse_rule(p, opt, s, &v[*np]);
		if (why != NULL) {
			conf_error(e, "%s:%d: %s \"%.64s\": %s \"%.100s\": %s", path, line, kind,
			    title, opt, s, why);
			continue;
		}
		v[(*np)++].line = line;
	}
	return 0;
}

/* The seats of a product, or of one license; -1: unlimited; -2: none. */
static long
seats_of(const struct license_set *set, const char *name, int is_license)
{
	long total = -2;

	for (size_t i = 0; i < set->n; i++) {
		const struct license *l = &set->v[i];
		if (strcmp(is_license ? l->id : l->product, name) != 0)
			continue;
		if (l->count == LICENSE_UNLIMITED)
			return -1;
		total = (total < 0 ? 0 : total) + l->count;
	}
	return total;
}

static int
load_entry(struct policy *p, cfg_t *sec, const char *kind, const char *path,
    const struct license_set *licenses, struct policy_entry *pe, struct conf_errors *e)
{
	const char *t = cfg_title(sec);
	const char *s;

	pe->is_license = strcmp(kind, "license") == 0;
	pe->line = conf_line_in(kind, t, NULL, sec->line);
	util_strlcpy(pe->name, t, sizeof(pe->name));
	if (load_rules(p, sec, kind, "reserve", path, &pe->reserve, &pe->nreserve, e) != 0 ||
	    load_rules(p, sec, kind, "max", path, &pe->max, &pe->nmax, e) != 0 ||
	    load_rules(p, sec, kind, "include", path, &pe->include, &pe->ninclude, e) != 0 ||
	    load_rules(p, sec, kind, "exclude", path, &pe->exclude, &pe->nexclude, e) != 0)
		return -1;
	long seats = licenses ? seats_of(licenses, t, pe->is_license) : -1;
	if (seats == -2) {
		conf_error(e, "%s:%d: %s \"%.64s\": no such %s in the licenses file", path,
		    pe->line, kind, t, kind);
	} else if (seats >= 0) {
		long reserved = 0;
		for (size_t i = 0; i < pe->nreserve; i++)
			reserved += pe->reserve[i].n;
		if (reserved > seats)
			entry_error(e, path, kind, t, "reserve", pe->line, "%s \"%.64s\": reserve "
			    "asks for %ld seats; it has %ld", kind, t, reserved, seats);
	}
	pe->linger = cfg_getint(sec, "linger");
	if (pe->linger < 0 || pe->linger > POLICY_LINGER_MAX)
		entry_error(e, path, kind, t, "linger", pe->line, "%s \"%.64s\": linger must be "
		    "0 to %ld seconds", kind, t, POLICY_LINGER_MAX);
	s = cfg_getstr(sec, "borrow");
	if (s[0] != '\0' && ((pe->borrow = util_parse_duration(s)) <= 0 ||
	    pe->borrow > POLICY_BORROW_MAX))
		entry_error(e, path, kind, t, "borrow", pe->line, "%s \"%.64s\": borrow \"%.32s\": "
		    "want a duration of 1 second to 366 days (90s, 30m, 12h, 7d)", kind, t, s);
	pe->queue = cfg_getbool(sec, "queue") == cfg_true;
	return 0;
}

int
policy_load(const char *path, const struct license_set *licenses, struct policy **out,
    char *err, size_t errlen)
{
	struct conf_errors e;
	struct policy *p;
	cfg_t *cfg;
	int rc = -1;

	*out = NULL;
	conf_errors_init(&e, err, errlen);
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->file = strdup(path)) == NULL ||
	    (cfg = cfg_init(policy_opts, CFGF_NONE)) == NULL) {
		conf_error(&e, "%s: out of memory", path);
		policy_free(p);
		return -1;
	}
	conf_track_lines(cfg, tracked);
	if (conf_parse_all(&cfg, policy_opts, tracked, path, &e) < 0)
		goto out;
	if (load_groups(cfg, "group", path, &p->groups, &p->ngroups, &e) != 0 ||
	    load_groups(cfg, "hostgroup", path, &p->hostgroups, &p->nhostgroups, &e) != 0)
		goto nomem;
	size_t np = cfg_size(cfg, "product"), nl = cfg_size(cfg, "license");
	if ((p->entries = calloc(np + nl + 1, sizeof(*p->entries))) == NULL)
		goto nomem;
	for (size_t i = 0; i < np + nl; i++) {
		const char *kind = i < np ? "product" : "license";
		cfg_t *sec = cfg_getnsec(cfg, kind, (unsigned)(i < np ? i : i - np));
		if (load_entry(p, sec, kind, path, licenses, &p->entries[p->nentries++], &e) != 0)
			goto nomem;
	}
	if (e.count == 0)
		rc = 0;
	goto out;
nomem:
	conf_error(&e, "%s: out of memory", path);
out:
	conf_lines_reset();
	cfg_free(cfg);
	if (rc == 0)
		*out = p;
	else
		policy_free(p);
	return rc;
}

static void
rules_free(struct policy_rule *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i].target.name);
	free(v);
}

static void
groups_free(struct policy_group *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++) {
		for (size_t j = 0; j < v[i].n; j++)
			free(v[i].members[j]);
		free(v[i].members);
		free(v[i].name);
	}
	free(v);
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nentries; i++) {
		struct policy_entry *pe = &p->entries[i];
		rules_free(pe->reserve, pe->nreserve);
		rules_free(pe->max, pe->nmax);
		rules_free(pe->include, pe->ninclude);
		rules_free(pe->exclude, pe->nexclude);
	}
	free(p->entries);
	groups_free(p->groups, p->ngroups);
	groups_free(p->hostgroups, p->nhostgroups);
	free(p->file);
	free(p);
}

static const struct policy_entry *
entry_find(const struct policy *p, const char *name, int is_license)
{
	for (size_t i = 0; p != NULL && i < p->nentries; i++)
		if (p->entries[i].is_license == is_license && strcmp(p->entries[i].name, name) == 0)
			return &p->entries[i];
	return NULL;
}

const struct policy_entry *
policy_product(const struct policy *p, const char *product)
{
	return entry_find(p, product, 0);
}

const struct policy_entry *
policy_license(const struct policy *p, const char *id)
{
	return entry_find(p, id, 1);
}

int
policy_group_has(const struct policy_group *g, const char *name)
{
	for (size_t i = 0; g != NULL && i < g->n; i++)
		if (strcmp(g->members[i], name) == 0)
			return 1;
	return 0;
}

int
policy_member(const struct policy_target *t, const char *user, const char *host)
{
	if (t->kind == POLICY_ALL || t->each)
		return 1;
	switch (t->kind) {
	case POLICY_USER: return strcmp(t->name, user) == 0;
	case POLICY_HOST: return strcmp(t->name, host) == 0;
	case POLICY_GROUP: return policy_group_has(t->group, user);
	case POLICY_HOSTGROUP: return policy_group_has(t->group, host);
	default: return 0;
	}
}

/*
 * The policy as JSON, for a backup that serves its Primary's pool:
 * {"file", "groups": {NAME: [MEMBER...]}, "hostgroups": {...},
 *  "entries": [{"name", "license", "line", "reserve": [[TEXT, LINE]...],
 *  "max", "include", "exclude", "linger", "borrow", "queue"}]}.
 */
static json_t *
groups_json(const struct policy_group *v, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array();
		for (size_t j = 0; j < v[i].n; j++)
			json_array_append_new(m, json_string(v[i].members[j]));
		json_object_set_new(o, v[i].name, m);
	}
	return o;
}

static json_t *
rules_json(const struct policy_rule *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("[s, i]", v[i].text, v[i].line));
	return a;
}

json_t *
policy_to_json(const struct policy *p)
{
	json_t *entries = json_array();

	for (size_t i = 0; i < p->nentries; i++) {
		const struct policy_entry *pe = &p->entries[i];
		json_array_append_new(entries, json_pack("{s:s, s:b, s:i, s:o, s:o, s:o, s:o, "
		    "s:I, s:I, s:b}", "name", pe->name, "license", pe->is_license, "line", pe->line,
		    "reserve", rules_json(pe->reserve, pe->nreserve),
		    "max", rules_json(pe->max, pe->nmax),
		    "include", rules_json(pe->include, pe->ninclude),
		    "exclude", rules_json(pe->exclude, pe->nexclude),
		    "linger", (json_int_t)pe->linger, "borrow", (json_int_t)pe->borrow,
		    "queue", pe->queue));
	}
	return json_pack("{s:s, s:o, s:o, s:o}", "file", p->file,
	    "groups", groups_json(p->groups, p->ngroups),
	    "hostgroups", groups_json(p->hostgroups, p->nhostgroups), "entries", entries);
}

static int
groups_from_json(json_t *o, struct policy_group **vp, size_t *np, char *err, size_t errlen)
{
	const char *name;
	json_t *m;

	*np = 0;
	if ((*vp = calloc(json_object_size(o) + 1, sizeof(**vp))) == NULL)
		goto nomem;
	json_object_foreach(o, name, m) {
		struct policy_group *g = &(*vp)[(*np)++];
		json_t *v;
		size_t i;
		if (!valid_name(name) || !json_is_array(m)) {
			snprintf(err, errlen, "policy: invalid group \"%.64s\"", name);
			return -1;
		}
		if ((g->name = strdup(name)) == NULL ||
		    (g->members = calloc(json_array_size(m) + 1, sizeof(char *))) == NULL)
			goto nomem;
		json_array_foreach(m, i, v) {
			const char *s = json_string_value(v);
			if (s == NULL || !valid_name(s)) {
				snprintf(err, errlen, "policy: group \"%.64s\": invalid member", name);
				return -1;
			}
			if (policy_group_has(g, s))
				continue;
			if ((g->members[g->n++] = strdup(s)) == NULL)
				goto nomem;
		}
	}
	return 0;
nomem:
	snprintf(err, errlen, "policy: out of memory");
	return -1;
}

static int
rules_from_json(const struct policy *p, json_t *a, const char *opt, struct policy_rule **vp,
    size_t *np, char *err, size_t errlen)
{
	json_t *v;
	size_t i;

	*np = 0;
	if ((*vp = calloc(json_array_size(a) + 1, sizeof(**vp))) == NULL) {
		snprintf(err, errlen, "policy: out of memory");
		return -1;
	}
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(json_array_get(v, 0)), *why;
		if (s == NULL || (why = parse_rule(p, opt, s, &(*vp)[*np])) != NULL) {
			snprintf(err, errlen, "policy: %s \"%.100s\": %s", opt, s ? s : "",
			    s ? why : "not a string");
			return -1;
		}
		(*vp)[(*np)++].line = (int)json_integer_value(json_array_get(v, 1));
	}
	return 0;
}

int
policy_from_json(json_t *o, struct policy **out, char *err, size_t errlen)
{
	static const char *const opts[] = { "reserve", "max", "include", "exclude" };
	struct policy *p = calloc(1, sizeof(*p));
	json_t *entries = json_object_get(o, "entries"), *v;
	size_t i;

	*out = NULL;
	if (p == NULL || (p->file = strdup(json_string_value(json_object_get(o, "file")) ?
	    json_string_value(json_object_get(o, "file")) : "(peer)")) == NULL) {
		snprintf(err, errlen, "policy: out of memory");
		goto fail;
	}
	if (groups_from_json(json_object_get(o, "groups"), &p->groups, &p->ngroups, err,
	    errlen) != 0 || groups_from_json(json_object_get(o, "hostgroups"),
	    &p->hostgroups, &p->nhostgroups, err, errlen) != 0)
		goto fail;
	if ((p->entries = calloc(json_array_size(entries) + 1, sizeof(*p->entries))) == NULL) {
		snprintf(err, errlen, "policy: out of memory");
		goto fail;
	}
	json_array_foreach(entries, i, v) {
		struct policy_entry *pe = &p->entries[p->nentries++];
		const char *name = json_string_value(json_object_get(v, "name"));
		if (!util_valid_id(name)) {
			snprintf(err, errlen, "policy: an entry without a valid name");
			goto fail;
		}
		util_strlcpy(pe->name, name, sizeof(pe->name));
		pe->is_license = json_is_true(json_object_get(v, "license"));
		pe->line = (int)json_integer_value(json_object_get(v, "line"));
		struct policy_rule **vp[] = { &pe->reserve, &pe->max, &pe->include, &pe->exclude };
		size_t *np[] = { &pe->nreserve, &pe->nmax, &pe->ninclude, &pe->nexclude };
		for (size_t k = 0; k < 4; k++)
			if (rules_from_json(p, json_object_get(v, opts[k]), opts[k], vp[k], np[k],
			    err, errlen) != 0)
				goto fail;
		pe->linger = (long)json_integer_value(json_object_get(v, "linger"));
		pe->borrow = (long)json_integer_value(json_object_get(v, "borrow"));
		pe->queue = json_is_true(json_object_get(v, "queue"));
		if (pe->linger < 0 || pe->linger > POLICY_LINGER_MAX || pe->borrow < 0 ||
		    pe->borrow > POLICY_BORROW_MAX) {
			snprintf(err, errlen, "policy: %s \"%s\": invalid linger or borrow",
			    pe->is_license ? "license" : "product", name);
			goto fail;
		}
	}
	*out = p;
	return 0;
fail:
	policy_free(p);
	return -1;
}
