/*
 * clientconf.c: slclient.conf, read with libconfuse: the servers a client
 * asks, in order (Primary and Secondary), and its timeouts, each value
 * checked with the file and line at fault.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>
#include <sodium.h>

#include "clientconf.h"
#include "config.h"
#include "util.h"

#define CLIENTCONF_MAX_SERVERS 64

/* Lines where options were seen, recorded by validate callbacks while
 * libconfuse parses (it keeps no line per option). */
struct clientconf_section_lines {
	char title[CLIENTCONF_URL_MAX];
	int line;
	int backup_line;
	int pool_line;
};

struct clientconf_parse {
	const char *path;
	char *err;
	size_t errlen;
	int nerrors;
	int primary_line, secondary_line, connect_timeout_line, timeout_line;
	int dead_ttl_line, token_line, token_file_line, cacert_line;
	struct clientconf_section_lines sections[CLIENTCONF_MAX_SERVERS];
	size_t nsections;
};

/* libconfuse's error callback carries no user pointer; parsing is not reentrant. */
static struct clientconf_parse *clientconf_current;

/*
 * The top-level options whose line is kept (the origin slcheck config
 * shows), and the range of the numbers: seconds (floats) more than min and
 * at most max, counts of seconds (integers) min to max.
 */
static const struct clientconf_option {
	const char *name;
	size_t line;		/* its field in struct clientconf_parse */
	double min, max;
} clientconf_options[] = {
	{ "primary", offsetof(struct clientconf_parse, primary_line), 0, 0 },
	{ "secondary", offsetof(struct clientconf_parse, secondary_line), 0, 0 },
	{ "connect_timeout", offsetof(struct clientconf_parse, connect_timeout_line), 0, 60 },
	{ "timeout", offsetof(struct clientconf_parse, timeout_line), 0, 600 },
	{ "dead_ttl", offsetof(struct clientconf_parse, dead_ttl_line), 0, 86400 },
	{ "token", offsetof(struct clientconf_parse, token_line), 0, 0 },
	{ "token_file", offsetof(struct clientconf_parse, token_file_line), 0, 0 },
	{ "cacert", offsetof(struct clientconf_parse, cacert_line), 0, 0 },
};

static const struct clientconf_option *
clientconf_option(const char *name)
{
	for (size_t i = 0; i < nitems(clientconf_options); i++)
		if (strcmp(clientconf_options[i].name, name) == 0)
			return &clientconf_options[i];
	return NULL;
}

/* The end of a validate callback of a top-level option whose value is
 * good: keep the line it was set on. */
static int
clientconf_seen(cfg_t *cfg, cfg_opt_t *opt)
{
	const struct clientconf_option *o = clientconf_option(opt->name);

	if (o != NULL)
		*(int *)((char *)clientconf_current + o->line) = cfg->line;
	return 0;
}

const char *
clientconf_role_name(enum clientconf_role role)
{
	return role == CLIENTCONF_PRIMARY ? "primary" : "secondary";
}

int
clientconf_normalize_url(const char *s, char *out)
{
	if (util_url_host(s) == NULL)
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (!isgraph(ch) || strchr("\"',+?#\\", ch) != NULL)
			return -1;
	}
	return util_url_with_port(s, out, CLIENTCONF_URL_MAX);
}

/* Keep the first error libconfuse or a validator reports, as FILE:LINE: msg. */
static void
clientconf_confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct clientconf_parse *p = clientconf_current;
	char msg[512];

	if (p == NULL || p->nerrors++ > 0)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->path, cfg != NULL ? cfg->line : 0, msg);
}

static int
clientconf_validate_urls(cfg_t *cfg, cfg_opt_t *opt)
{
	char url[CLIENTCONF_URL_MAX];

	for (unsigned int i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);
		if (clientconf_normalize_url(s, url) == -1) {
			cfg_error(cfg, "%s: \"%.300s\" is not an http:// or https:// URL",
			    opt->name, s);
			return -1;
		}
	}
	return clientconf_seen(cfg, opt);
}

/* A number within its range in clientconf_options. */
static int
clientconf_validate_number(cfg_t *cfg, cfg_opt_t *opt)
{
	const struct clientconf_option *o = clientconf_option(opt->name);

	if (opt->type == CFGT_FLOAT) {
		double v = cfg_opt_getnfloat(opt, 0);
		if (!(v > o->min && v <= o->max)) {
			cfg_error(cfg, "%s: %g is out of range (more than %g, at most %g "
			    "seconds)", opt->name, v, o->min, o->max);
			return -1;
		}
	} else {
		long v = cfg_opt_getnint(opt, 0);
		if (v < o->min || v > o->max) {
			cfg_error(cfg, "%s: %ld is out of range (%g to %g seconds)", opt->name,
			    v, o->min, o->max);
			return -1;
		}
	}
	return clientconf_seen(cfg, opt);
}

static int
clientconf_validate_string(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || *s == '\0') {
		cfg_error(cfg, "%s: empty value", opt->name);
		return -1;
	}
	return clientconf_seen(cfg, opt);
}

static struct clientconf_section_lines *
clientconf_section(cfg_t *sec)
{
	struct clientconf_parse *p = clientconf_current;
	const char *title = cfg_title(sec);

	if (title == NULL)
		return NULL;
	for (size_t i = 0; i < p->nsections; i++)
		if (strcmp(p->sections[i].title, title) == 0)
			return &p->sections[i];
	if (p->nsections == nitems(p->sections))
		return NULL;
	struct clientconf_section_lines *s = &p->sections[p->nsections++];
	util_strlcpy(s->title, title, sizeof(s->title));
	s->line = sec->line;
	return s;
}

/* clientconf_seen for backup and pool, the options of a server section. */
static int
clientconf_section_seen(cfg_t *cfg, cfg_opt_t *opt)
{
	struct clientconf_section_lines *sl = clientconf_section(cfg);

	if (sl != NULL)
		*(strcmp(opt->name, "backup") == 0 ? &sl->backup_line : &sl->pool_line) =
		    cfg->line;
	return 0;
}

static int
clientconf_validate_backup(cfg_t *cfg, cfg_opt_t *opt)
{
	char url[CLIENTCONF_URL_MAX];
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || clientconf_normalize_url(s, url) == -1) {
		cfg_error(cfg, "backup: \"%.300s\" is not an http:// or https:// URL",
		    s ? s : "");
		return -1;
	}
	return clientconf_section_seen(cfg, opt);
}

static int
clientconf_validate_pool(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (!util_valid_id(s)) {
		cfg_error(cfg, "pool: \"%.100s\" is not a server name "
		    "(1 to 64 of A-Z a-z 0-9 . _ -)", s ? s : "");
		return -1;
	}
	return clientconf_section_seen(cfg, opt);
}

static int
clientconf_validate_server(cfg_t *cfg, cfg_opt_t *opt)
{
	char url[CLIENTCONF_URL_MAX];
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *title = cfg_title(sec);
	struct clientconf_section_lines *sl;

	if (title == NULL || clientconf_normalize_url(title, url) == -1) {
		cfg_error(cfg, "server \"%.300s\": the title must be the server's "
		    "http:// or https:// URL", title ? title : "");
		return -1;
	}
	if ((sl = clientconf_section(sec)) == NULL) {
		cfg_error(cfg, "too many server sections (at most %d)", CLIENTCONF_MAX_SERVERS);
		return -1;
	}
	if (sl->line == 0 || sl->line > cfg->line)
		sl->line = cfg->line;
	return 0;
}

static void
clientconf_origin(char *dst, const char *path, int line)
{
	if (line > 0)
		snprintf(dst, CLIENTCONF_ORIGIN_MAX, "%s:%d", path, line);
	else
		snprintf(dst, CLIENTCONF_ORIGIN_MAX, "%s", path);
}

static int
clientconf_add(struct clientconf *cc, const char *url, enum clientconf_role role,
    const char *origin, char *err, size_t errlen)
{
	struct clientconf_server *s;

	for (size_t i = 0; i < cc->nservers; i++) {
		if (strcmp(cc->servers[i].url, url) == 0) {
			util_seterr(err, errlen, "%s: server %s is listed twice", origin, url);
			return -1;
		}
	}
	if (cc->nservers == CLIENTCONF_MAX_SERVERS) {
		util_seterr(err, errlen, "%s: too many servers (at most %d)", origin,
		    CLIENTCONF_MAX_SERVERS);
		return -1;
	}
	s = realloc(cc->servers, (cc->nservers + 1) * sizeof(*s));
	if (s == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	cc->servers = s;
	s = &cc->servers[cc->nservers++];
	memset(s, 0, sizeof(*s));
	util_strlcpy(s->url, url, sizeof(s->url));
	s->role = role;
	util_strlcpy(s->origin, origin, sizeof(s->origin));
	return 0;
}

static int
clientconf_compare_role(const void *a, const void *b)
{
	const struct clientconf_server *x = a, *y = b;

	return (int)x->role - (int)y->role;
}

int
clientconf_parse_servers(struct clientconf *cc, const char *spec, const char *origin,
    char *err, size_t errlen)
{
	enum clientconf_role role = CLIENTCONF_PRIMARY;
	char *copy, *entry, *save = NULL;
	int rc = -1;

	util_vec_free(cc->servers, cc->nservers);
	if ((copy = strdup(spec)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	for (entry = strtok_r(copy, ", \t\n", &save); entry != NULL;
	    entry = strtok_r(NULL, ", \t\n", &save)) {
		char url[CLIENTCONF_URL_MAX], backup[CLIENTCONF_URL_MAX];
		char *plus;

		if (strncmp(entry, "p:", 2) == 0) {
			role = CLIENTCONF_PRIMARY;
			entry += 2;
		} else if (strncmp(entry, "s:", 2) == 0) {
			role = CLIENTCONF_SECONDARY;
			entry += 2;
		}
		backup[0] = '\0';
		if ((plus = strchr(entry, '+')) != NULL) {
			*plus++ = '\0';
			if (clientconf_normalize_url(plus, backup) == -1) {
				util_seterr(err, errlen, "%s: \"%.300s\": the backup is not "
				    "an http:// or https:// URL", origin, plus);
				goto out;
			}
		}
		if (clientconf_normalize_url(entry, url) == -1) {
			util_seterr(err, errlen, "%s: \"%.300s\" is not an http:// or "
			    "https:// URL (entries are [p:|s:]URL[+BACKUP_URL])", origin, entry);
			goto out;
		}
		if (strcmp(url, backup) == 0) {
			util_seterr(err, errlen, "%s: %s is its own backup", origin, url);
			goto out;
		}
		if (clientconf_add(cc, url, role, origin, err, errlen) == -1)
			goto out;
		if (backup[0] != '\0') {
			struct clientconf_server *s = &cc->servers[cc->nservers - 1];
			util_strlcpy(s->backup, backup, sizeof(s->backup));
			util_strlcpy(s->backup_origin, origin, sizeof(s->backup_origin));
		}
	}
	if (cc->nservers == 0) {
		util_seterr(err, errlen, "%s: no server URL given", origin);
		goto out;
	}
	/* Primaries first, each role in the order given (the sort is stable
	 * because entries of one role never compare unequal). */
	for (size_t i = 1; i < cc->nservers; i++) {
		struct clientconf_server tmp = cc->servers[i];
		size_t j = i;
		while (j > 0 && clientconf_compare_role(&cc->servers[j - 1], &tmp) > 0) {
			cc->servers[j] = cc->servers[j - 1];
			j--;
		}
		cc->servers[j] = tmp;
	}
	util_strlcpy(cc->servers_origin, origin, sizeof(cc->servers_origin));
	rc = 0;
out:
	free(copy);
	return rc;
}

const struct clientconf_server *
clientconf_find(const struct clientconf *cc, const char *url)
{
	for (size_t i = 0; i < cc->nservers; i++)
		if (strcmp(cc->servers[i].url, url) == 0)
			return &cc->servers[i];
	return NULL;
}

/* Read a token file: its first line, without surrounding white space. */
static int
clientconf_read_token(struct clientconf *cc, const char *path, const char *where,
    char *err, size_t errlen)
{
	size_t len;
	char *buf = util_read_file_max(path, UTIL_SECRET_MAX, &len);
	char *start, *end;

	if (buf == NULL) {
		util_seterr(err, errlen, "%s: token_file %s: %s", where, path,
		    util_read_strerror(errno));
		return -1;
	}
	start = buf;
	while (isspace((unsigned char)*start))
		start++;
	end = start + strcspn(start, "\r\n");
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	if (*start == '\0') {
		util_seterr(err, errlen, "%s: token_file %s is empty", where, path);
		sodium_memzero(buf, len);
		free(buf);
		return -1;
	}
	cc->token = strdup(start);
	sodium_memzero(buf, len);
	free(buf);
	if (cc->token == NULL) {
		util_seterr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
clientconf_parse_file(struct clientconf *cc, int use_lists, char *err, size_t errlen)
{
	static cfg_opt_t server_opts[] = {
		CFG_STR("backup", NULL, CFGF_NODEFAULT),
		CFG_STR("pool", NULL, CFGF_NODEFAULT),
		CFG_END()
	};
	cfg_opt_t opts[] = {
		CFG_STR_LIST("primary", NULL, CFGF_NODEFAULT),
		CFG_STR_LIST("secondary", NULL, CFGF_NODEFAULT),
		CFG_SEC("server", server_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
		CFG_FLOAT("connect_timeout", 1.0, CFGF_NONE),
		CFG_FLOAT("timeout", 3.0, CFGF_NONE),
		CFG_INT("dead_ttl", 30, CFGF_NONE),
		CFG_STR("token", NULL, CFGF_NODEFAULT),
		CFG_STR("token_file", NULL, CFGF_NODEFAULT),
		CFG_STR("cacert", NULL, CFGF_NODEFAULT),
		CFG_END()
	};
	struct clientconf_parse parse;
	const char *path = cc->file;
	char *text = NULL, *dir = NULL;
	cfg_t *cfg = NULL;
	size_t len;
	int rc = -1;

	memset(&parse, 0, sizeof(parse));
	parse.path = path;
	parse.err = err;
	parse.errlen = errlen;
	if ((text = util_read_file_max(path, UTIL_CONF_MAX, &len)) == NULL) {
		util_seterr(err, errlen, "%s: %s", path, util_read_strerror(errno));
		return -1;
	}
	if (strlen(text) != len) {
		util_seterr(err, errlen, "%s: not a text file (contains NUL bytes)", path);
		goto out;
	}
	conf_blank_comments(text);
	if ((cfg = cfg_init(opts, CFGF_NONE)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto out;
	}
	cfg_set_error_function(cfg, clientconf_confuse_error);
	cfg_set_validate_func(cfg, "primary", clientconf_validate_urls);
	cfg_set_validate_func(cfg, "secondary", clientconf_validate_urls);
	cfg_set_validate_func(cfg, "connect_timeout", clientconf_validate_number);
	cfg_set_validate_func(cfg, "timeout", clientconf_validate_number);
	cfg_set_validate_func(cfg, "dead_ttl", clientconf_validate_number);
	cfg_set_validate_func(cfg, "token", clientconf_validate_string);
	cfg_set_validate_func(cfg, "token_file", clientconf_validate_string);
	cfg_set_validate_func(cfg, "cacert", clientconf_validate_string);
	cfg_set_validate_func(cfg, "server", clientconf_validate_server);
	cfg_set_validate_func(cfg, "server|backup", clientconf_validate_backup);
	cfg_set_validate_func(cfg, "server|pool", clientconf_validate_pool);

	clientconf_current = &parse;
	int prc = cfg_parse_buf(cfg, text);
	clientconf_current = NULL;
	if (prc != CFG_SUCCESS) {
		if (parse.nerrors == 0)
			util_seterr(err, errlen, "%s: cannot parse", path);
		goto out;
	}
	if ((dir = util_dirname(path)) == NULL) {
		util_seterr(err, errlen, "out of memory");
		goto out;
	}

	cc->connect_timeout = cfg_getfloat(cfg, "connect_timeout");
	if (parse.connect_timeout_line > 0)
		clientconf_origin(cc->connect_timeout_origin, path, parse.connect_timeout_line);
	cc->timeout = cfg_getfloat(cfg, "timeout");
	if (parse.timeout_line > 0)
		clientconf_origin(cc->timeout_origin, path, parse.timeout_line);
	cc->dead_ttl = cfg_getint(cfg, "dead_ttl");
	if (parse.dead_ttl_line > 0)
		clientconf_origin(cc->dead_ttl_origin, path, parse.dead_ttl_line);

	if (cfg_size(cfg, "token") > 0 && cfg_size(cfg, "token_file") > 0) {
		util_seterr(err, errlen, "%s:%d: token and token_file are both set",
		    path, parse.token_line > parse.token_file_line ?
		    parse.token_line : parse.token_file_line);
		goto out;
	}
	if (cfg_size(cfg, "token") > 0) {
		if ((cc->token = strdup(cfg_getstr(cfg, "token"))) == NULL) {
			util_seterr(err, errlen, "out of memory");
			goto out;
		}
		clientconf_origin(cc->token_origin, path, parse.token_line);
	} else if (cfg_size(cfg, "token_file") > 0) {
		char where[CLIENTCONF_ORIGIN_MAX];
		char *tf = util_path_join(dir, cfg_getstr(cfg, "token_file"));
		clientconf_origin(where, path, parse.token_file_line);
		if (tf == NULL || clientconf_read_token(cc, tf, where, err, errlen) == -1) {
			free(tf);
			goto out;
		}
		snprintf(cc->token_origin, sizeof(cc->token_origin), "%.400s (token_file %.150s)",
		    where, tf);
		free(tf);
	}
	if (cfg_size(cfg, "cacert") > 0) {
		char *ca = util_path_join(dir, cfg_getstr(cfg, "cacert"));
		if (ca == NULL || strlen(ca) >= sizeof(cc->cacert)) {
			util_seterr(err, errlen, "%s:%d: cacert: path too long", path,
			    parse.cacert_line);
			free(ca);
			goto out;
		}
		util_strlcpy(cc->cacert, ca, sizeof(cc->cacert));
		free(ca);
		clientconf_origin(cc->cacert_origin, path, parse.cacert_line);
	}

	if (use_lists) {
		static const struct {
			const char *name;
			enum clientconf_role role;
		} lists[] = {
			{ "primary", CLIENTCONF_PRIMARY },
			{ "secondary", CLIENTCONF_SECONDARY },
		};
		for (size_t l = 0; l < nitems(lists); l++) {
			int line = lists[l].role == CLIENTCONF_PRIMARY ?
			    parse.primary_line : parse.secondary_line;
			char origin[CLIENTCONF_ORIGIN_MAX];
			clientconf_origin(origin, path, line);
			for (unsigned int i = 0; i < cfg_size(cfg, lists[l].name); i++) {
				char url[CLIENTCONF_URL_MAX];
				clientconf_normalize_url(cfg_getnstr(cfg, lists[l].name, i), url);
				if (clientconf_add(cc, url, lists[l].role, origin, err, errlen) == -1)
					goto out;
			}
		}
		clientconf_origin(cc->servers_origin, path, 0);
	}

	for (unsigned int i = 0; i < cfg_size(cfg, "server"); i++) {
		cfg_t *sec = cfg_getnsec(cfg, "server", i);
		struct clientconf_section_lines *sl = NULL;
		struct clientconf_server *s = NULL;
		char url[CLIENTCONF_URL_MAX];

		clientconf_normalize_url(cfg_title(sec), url);
		for (size_t k = 0; k < parse.nsections; k++)
			if (strcmp(parse.sections[k].title, cfg_title(sec)) == 0)
				sl = &parse.sections[k];
		for (size_t k = 0; k < cc->nservers; k++)
			if (strcmp(cc->servers[k].url, url) == 0)
				s = &cc->servers[k];
		if (s == NULL) {
			if (!use_lists)
				continue;	/* -s or SL_SERVERS chose other servers */
			util_seterr(err, errlen, "%s:%d: server \"%s\" is not listed in "
			    "primary or secondary", path, sl ? sl->line : 0, url);
			goto out;
		}
		if (cfg_size(sec, "backup") > 0 && s->backup[0] == '\0') {
			clientconf_normalize_url(cfg_getstr(sec, "backup"), s->backup);
			if (strcmp(s->backup, s->url) == 0) {
				util_seterr(err, errlen, "%s:%d: server \"%s\" is its own "
				    "backup", path, sl ? sl->backup_line : 0, url);
				goto out;
			}
			clientconf_origin(s->backup_origin, path, sl ? sl->backup_line : 0);
		}
		if (cfg_size(sec, "pool") > 0) {
			util_strlcpy(s->pool, cfg_getstr(sec, "pool"), sizeof(s->pool));
			clientconf_origin(s->pool_origin, path, sl ? sl->pool_line : 0);
		}
	}
	rc = 0;
out:
	if (cfg != NULL)
		cfg_free(cfg);
	free(dir);
	free(text);
	return rc;
}

int
clientconf_load(struct clientconf *cc, const char *file, const char *servers,
    int need_servers, char *err, size_t errlen)
{
	const char *servers_origin = "-s";
	const char *env;
	int rc = -1;

	memset(cc, 0, sizeof(*cc));
	cc->connect_timeout = 1.0;
	cc->timeout = 3.0;
	cc->dead_ttl = 30;
	strcpy(cc->connect_timeout_origin, "default");
	strcpy(cc->timeout_origin, "default");
	strcpy(cc->dead_ttl_origin, "default");
	strcpy(cc->token_origin, "default");
	strcpy(cc->cacert_origin, "default");
	strcpy(cc->servers_origin, "default");

	if (servers == NULL && (env = getenv("SL_SERVERS")) != NULL && *env != '\0') {
		servers = env;
		servers_origin = "SL_SERVERS";
	}
	if (file != NULL) {
		strcpy(cc->file_origin, "-f");
	} else if ((env = getenv("SL_CONFIG")) != NULL && *env != '\0') {
		file = env;
		strcpy(cc->file_origin, "SL_CONFIG");
	} else {
		file = CLIENTCONF_DEFAULT_FILE;
		strcpy(cc->file_origin, "default");
	}
	if (strlen(file) >= sizeof(cc->file)) {
		util_seterr(err, errlen, "%.100s...: file name too long", file);
		goto out;
	}
	util_strlcpy(cc->file, file, sizeof(cc->file));

	/* Lists from -s or SL_SERVERS first: the file then only adds what it
	 * says about those servers (backup, pool) and the other settings. */
	if (servers != NULL &&
	    clientconf_parse_servers(cc, servers, servers_origin, err, errlen) == -1)
		goto out;
	if (strcmp(cc->file_origin, "default") == 0 && access(file, F_OK) == -1 &&
	    errno == ENOENT) {
		cc->file_missing = 1;
		if (need_servers && servers == NULL) {
			util_seterr(err, errlen, "%s: %s (name servers with -s URL, "
			    "SL_SERVERS or -f FILE)", file, strerror(ENOENT));
			goto out;
		}
	} else if (clientconf_parse_file(cc, servers == NULL, err, errlen) == -1) {
		goto out;
	}
	if (need_servers && cc->nservers == 0) {
		util_seterr(err, errlen, "%s: no primary or secondary server configured",
		    cc->file);
		goto out;
	}
	if ((env = getenv("SL_TOKEN")) != NULL && *env != '\0') {
		if (cc->token != NULL) {
			sodium_memzero(cc->token, strlen(cc->token));
			free(cc->token);
		}
		if ((cc->token = strdup(env)) == NULL) {
			util_seterr(err, errlen, "out of memory");
			goto out;
		}
		strcpy(cc->token_origin, "SL_TOKEN");
	}
	rc = 0;
out:
	if (rc == -1)
		clientconf_free(cc);
	return rc;
}

void
clientconf_free(struct clientconf *cc)
{
	util_vec_free(cc->servers, cc->nservers);
	if (cc->token != NULL) {
		sodium_memzero(cc->token, strlen(cc->token));
		free(cc->token);
		cc->token = NULL;
	}
}
