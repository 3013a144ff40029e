/*
 * slserve.conf: its options come from the options table (options.c), from
 * which the libconfuse option lists, the lines followed for errors and the
 * range checks are made. Also the libconfuse plumbing every config file
 * shares: error collection, comment blanking, parsing past the first error
 * and the line each option was set on.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "options.h"

static __thread struct conf_errors *current_errors;
static __thread const char *current_path;
static __thread int current_error_line;	/* of libconfuse's last message */

void
conf_errors_init(struct conf_errors *e, char *buf, size_t len)
{
	e->buf = buf;
	e->len = len;
	e->used = 0;
	e->count = 0;
	if (buf != NULL && len > 0)
		buf[0] = '\0';
}

static void
conf_verror(struct conf_errors *e, const char *fmt, va_list ap)
{
	e->count++;
	if (e->buf == NULL || e->used + 2 >= e->len)
		return;
	if (e->used > 0)
		e->buf[e->used++] = '\n';
	int n = vsnprintf(e->buf + e->used, e->len - e->used, fmt, ap);
	if (n > 0)
		e->used += (size_t)n < e->len - e->used ? (size_t)n : e->len - e->used - 1;
}

void
conf_error(struct conf_errors *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verror(e, fmt, ap);
	va_end(ap);
}

static void
conf_confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[512];

	if (current_errors == NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	current_error_line = cfg != NULL ? cfg->line : 0;
	if (cfg != NULL && current_path != NULL)
		conf_error(current_errors, "%s:%d: %s", current_path, cfg->line, msg);
	else
		conf_error(current_errors, "%s", msg);
}

/*
 * Blank out comments, keeping every newline, so that libconfuse counts lines
 * right: the 3.3 lexer counts extra lines for each "#", "//" and C comment,
 * and error messages would name the wrong line. Quoted strings are kept as
 * they are, so a "#" inside a URL is not a comment.
 */
void
conf_blank_comments(char *s)
{
	char quote = 0;

	for (char *p = s; *p != '\0'; p++) {
		if (quote != 0) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == quote)
				quote = 0;
			continue;
		}
		if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (*p == '#' || (*p == '/' && p[1] == '/')) {
			for (; *p != '\0' && *p != '\n'; p++)
				*p = ' ';
			if (*p == '\0')
				break;
		} else if (*p == '/' && p[1] == '*') {
			char *end = strstr(p + 2, "*/");
			char *stop = end != NULL ? end + 2 : p + strlen(p);
			for (; p < stop; p++)
				if (*p != '\n')
					*p = ' ';
			p--;
		}
	}
}

/*
 * What the text leaves open at its end, which libconfuse would not say: a
 * file cut short must not pass for a good one. Comments are blanked out
 * already. One pass, quoted strings skipped as libconfuse reads them:
 *
 * *quote_line: where a quoted string opens that the text never closes, or
 * 0. libconfuse drops such a string at the end of a file without a word
 * (and echoes a backslash before the end to stdout). A quote left open on
 * one line closes on a later one and the string that really stays open
 * starts further down: the first string that runs over a line end is then
 * the one at fault.
 *
 * *brace_line: the line of a "{" never closed, or 0 (libconfuse takes the
 * end of the file for the end of an open section); meant for a text whose
 * quotes are all closed.
 */
static void
conf_open_lines(const char *s, int *quote_line, int *brace_line)
{
	char quote = 0;
	int line = 1, opened = 0, first_multiline = 0, depth = 0, lines[64];

	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\n') {
			if (quote != 0 && first_multiline == 0)
				first_multiline = opened;
			line++;
		}
		if (quote != 0) {
			if (*p == '\\' && p[1] != '\0') {
				if (*++p == '\n')
					line++;
			} else if (*p == quote) {
				quote = 0;
			}
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
			opened = line;
		} else if (*p == '{') {
			if (depth < 64)
				lines[depth] = line;
			depth++;
		} else if (*p == '}' && depth > 0) {
			depth--;
		}
	}
	*quote_line = quote == 0 ? 0 : first_multiline != 0 ? first_multiline : opened;
	*brace_line = depth > 0 ? lines[depth - 1 < 64 ? depth - 1 : 63] : 0;
}

/* Blank out line n (1-based) of s, unless it opens or closes a section:
 * returns whether it did. */
static int
conf_blank_line(char *s, int n)
{
	char *p = s, *end;

	for (int line = 1; line < n && p != NULL; line++)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p == NULL)
		return 0;
	end = p + strcspn(p, "\n");
	if (memchr(p, '{', (size_t)(end - p)) != NULL || memchr(p, '}', (size_t)(end - p)) != NULL)
		return 0;
	memset(p, ' ', (size_t)(end - p));
	return 1;
}

/*
 * conf_parse, and with opts (those *cfgp was made with) the errors after
 * libconfuse's first one as well. When the text parses without the lines
 * at fault, *cfgp is replaced by that parse (its lines tracked as tracked
 * says) and 1 returned: the caller can check the values that are left.
 */
static int
conf_parse_opts(cfg_t **cfgp, cfg_opt_t *opts, const char *const *tracked, const char *path,
    struct conf_errors *e)
{
	cfg_t *cfg = *cfgp;
	int recovered = 0;
	char *text;
	int rc;

	if ((text = util_read_file_max(path, UTIL_CONF_MAX, NULL)) == NULL) {
		conf_error(e, "%s: %s", path, util_read_strerror(errno));
		return -1;
	}
	conf_blank_comments(text);
	int quote_line, brace_line;
	conf_open_lines(text, &quote_line, &brace_line);
	if (quote_line > 0 || brace_line > 0) {
		if (quote_line > 0)
			conf_error(e, "%s:%d: unterminated string constant", path, quote_line);
		else
			conf_error(e, "%s:%d: \"{\" not closed before the end of the file",
			    path, brace_line);
		free(text);
		return -1;
	}
	cfg_set_error_function(cfg, conf_confuse_error);
	current_errors = e;
	current_path = path;
	current_error_line = 0;
	rc = cfg_parse_buf(cfg, text);
	/*
	 * libconfuse stops at the first error: parse again without its line,
	 * in a scratch cfg, to report the errors after it too (an error on a
	 * line that opens or closes a section would only bring false ones).
	 */
	for (int pass = 0; rc != CFG_SUCCESS && opts != NULL && pass < 20 &&
	    current_error_line > 0 && conf_blank_line(text, current_error_line); pass++) {
		cfg_t *scratch = cfg_init(opts, cfg->flags);
		if (scratch == NULL)
			break;
		if (tracked != NULL)
			conf_track_lines(scratch, tracked);
		cfg_set_error_function(scratch, conf_confuse_error);
		current_error_line = 0;
		if (cfg_parse_buf(scratch, text) == CFG_SUCCESS) {
			cfg_free(*cfgp);
			*cfgp = scratch;
			recovered = 1;
			break;
		}
		cfg_free(scratch);
	}
	current_errors = NULL;
	current_path = NULL;
	free(text);
	if (rc != CFG_SUCCESS) {
		if (e->count == 0)
			conf_error(e, "%s: parse error", path);
		return recovered ? 1 : -1;
	}
	return 0;
}

int
conf_parse(cfg_t *cfg, const char *path, struct conf_errors *e)
{
	return conf_parse_opts(&cfg, NULL, NULL, path, e) == 0 ? 0 : -1;
}

int
conf_parse_all(cfg_t **cfgp, cfg_opt_t *opts, const char *const *tracked, const char *path,
    struct conf_errors *e)
{
	return conf_parse_opts(cfgp, opts, tracked, path, e);
}

struct optline {
	char section[32];		/* the kind of section: "product", "group" */
	char title[SL_ID_MAX + 1];
	char opt[32];
	int line;
};
static __thread struct optline *optlines;
static __thread size_t noptlines;

static int
conf_note_line(cfg_t *sec, cfg_opt_t *opt)
{
	struct optline *n = realloc(optlines, (noptlines + 1) * sizeof(*n));
	const char *title = cfg_title(sec);

	if (n != NULL) {
		optlines = n;
		util_strlcpy(n[noptlines].section, sec->name ? sec->name : "", sizeof(n->section));
		util_strlcpy(n[noptlines].title, title ? title : "", sizeof(n->title));
		util_strlcpy(n[noptlines].opt, opt->name, sizeof(n->opt));
		n[noptlines++].line = sec->line;
	}
	return 0;
}

void
conf_track_lines(cfg_t *cfg, const char *const *names)
{
	conf_lines_reset();
	for (; *names != NULL; names++)
		cfg_set_validate_func(cfg, *names, conf_note_line);
}

int
conf_line(const char *title, const char *opt, int dflt)
{
	return conf_line_in(NULL, title, opt, dflt);
}

int
conf_line_in(const char *section, const char *title, const char *opt, int dflt)
{
	int best = 0;

	for (size_t i = 0; i < noptlines; i++) {
		if (strcmp(optlines[i].title, title) != 0 ||
		    (section != NULL && strcmp(optlines[i].section, section) != 0))
			continue;
		if (opt != NULL && strcmp(optlines[i].opt, opt) == 0)
			best = optlines[i].line;
		else if (opt == NULL && (best == 0 || optlines[i].line < best))
			best = optlines[i].line;
	}
	return best > 0 ? best : dflt;
}

void
conf_lines_reset(void)
{
	util_vec_free(optlines, noptlines);
}

/* Whether o is an option (not a section) of section (NULL: the top level). */
static int
conf_in_section(const struct option_def *o, const char *section)
{
	if (section == NULL || o->section == NULL)
		return section == o->section;
	return strcmp(section, o->section) == 0;
}

static void
conf_opts_free(cfg_opt_t *v)
{
	for (cfg_opt_t *p = v; p != NULL && p->name != NULL; p++)
		if (p->type == CFGT_SEC)
			conf_opts_free(p->subopts);
	free(v);
}

/*
 * The libconfuse options of section (NULL: the top level) of
 * slserve.conf, made from the options table, with those of the sections
 * in it. malloc'd, for conf_opts_free; NULL when out of memory.
 */
static cfg_opt_t *
conf_opts(const char *section)
{
	size_t n = 0, k = 0;
	cfg_opt_t *v;

	for (size_t i = 0; i < noption_defs; i++)
		n += conf_in_section(&option_defs[i], section);
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return NULL;
	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		cfg_flag_t flags = o->flags & OPTION_NODEFAULT ? CFGF_NODEFAULT : CFGF_NONE;
		cfg_opt_t *sub;

		if (!conf_in_section(o, section))
			continue;
		switch (o->type) {
		case OPTION_STRING:
			v[k++] = (cfg_opt_t)CFG_STR(o->name, o->string, flags);
			break;
		case OPTION_LIST:
			v[k++] = (cfg_opt_t)CFG_STR_LIST(o->name, (char *)o->string, flags);
			break;
		case OPTION_INT:
			v[k++] = (cfg_opt_t)CFG_INT(o->name, (long)o->number, flags);
			break;
		case OPTION_FLOAT:
			v[k++] = (cfg_opt_t)CFG_FLOAT(o->name, o->number, flags);
			break;
		case OPTION_BOOL:
			v[k++] = (cfg_opt_t)CFG_BOOL(o->name, o->number != 0 ? cfg_true :
			    cfg_false, flags);
			break;
		case OPTION_SECTION:
			if ((sub = conf_opts(o->name)) == NULL) {
				conf_opts_free(v);
				return NULL;
			}
			v[k++] = (cfg_opt_t)CFG_SEC(o->name, sub, o->flags & OPTION_MULTI ?
			    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES : CFGF_NONE);
			break;
		}
	}
	v[k] = (cfg_opt_t)CFG_END();
	return v;
}

/* The names conf_track_lines follows in slserve.conf: every option of the
 * table, "section|name" in a section. One malloc'd block; NULL when out of
 * memory. */
static const char **
conf_tracked(void)
{
	size_t n = 0, bytes = 0;
	const char **v;
	char *p;

	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		if (o->type == OPTION_SECTION)
			continue;
		n++;
		bytes += (o->section ? strlen(o->section) + 1 : 0) + strlen(o->name) + 1;
	}
	if ((v = malloc((n + 1) * sizeof(*v) + bytes)) == NULL)
		return NULL;
	p = (char *)(v + n + 1);
	n = 0;
	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		if (o->type == OPTION_SECTION)
			continue;
		v[n++] = p;
		p += sprintf(p, "%s%s%s", o->section ? o->section : "", o->section ? "|" : "",
		    o->name) + 1;
	}
	v[n] = NULL;
	return v;
}

static char *
conf_path(const struct server_config *c, const char *value)
{
	return value != NULL && value[0] != '\0' ? util_path_join(c->dir, value) : NULL;
}

/* The one rule (util_valid_http_url): a scheme, a host, nothing blank
 * or non-ASCII; and no quote, since it is written into JSON and logs. */
static int
valid_url(const char *u)
{
	return u != NULL && util_valid_http_url(u) && strlen(u) < 500 && strchr(u, '"') == NULL;
}

/* An error about option opt of the section titled title ("" for the top
 * level): "FILE:LINE: message", the line where the option was set. */
static void
opt_error(struct conf_errors *e, const char *path, const char *title, const char *opt,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
opt_error(struct conf_errors *e, const char *path, const char *title, const char *opt,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int line = conf_line(title, opt, 0);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		conf_error(e, "%s:%d: %s", path, line, msg);
	else
		conf_error(e, "%s: %s", path, msg);
}

/* A section of slserve.conf that config_load_files reads numbers from. */
struct conf_reader {
	struct conf_errors *e;
	const char *path;
	cfg_t *sec;
	const char *section;	/* its name in the options table; NULL: top level */
	const char *title;	/* its title; "" at the top level */
	char prefix[96];	/* what its errors start with: "failover \"A\": " */
};

/*
 * Whether the value v of option name of r's section is within the options
 * table's range; if not, an error at the option's line: "NAME must be MIN
 * to MAX UNIT", "must be at least MIN" or "must not be negative".
 */
static int
conf_in_range(const struct conf_reader *r, const char *name, double v)
{
	const struct option_def *o = option_find(r->section, name);
	char range[96];

	if (o == NULL) {
		conf_error(r->e, "%s: %s: not in the options table", r->path, name);
		return 0;
	}
	if ((o->flags & OPTION_OWN_RANGE) || option_in_range(o, v))
		return 1;
	if (isfinite(o->max)) {
		option_range(o, 1, range, sizeof(range));
		opt_error(r->e, r->path, r->title, name, "%s%s must be %s", r->prefix, name,
		    range);
	} else if (o->min != 0) {
		option_format(o, o->min, range, sizeof(range));
		opt_error(r->e, r->path, r->title, name, "%s%s must be at least %s", r->prefix,
		    name, range);
	} else {
		opt_error(r->e, r->path, r->title, name, "%s%s must not be negative", r->prefix,
		    name);
	}
	return 0;
}

/* The integer option name of r's section into *v; whether it is in range. */
static int
conf_int(const struct conf_reader *r, const char *name, long *v)
{
	*v = cfg_getint(r->sec, name);
	return conf_in_range(r, name, (double)*v);
}

/* The number option name of r's section into *v; whether it is in range. */
static int
conf_float(const struct conf_reader *r, const char *name, double *v)
{
	*v = cfg_getfloat(r->sec, name);
	return conf_in_range(r, name, *v);
}

static int config_check_files(const struct server_config *c, struct conf_errors *e);

/* config_load, and with check_files what a start needs of the files. */
static int
config_load_files(const char *path, struct server_config *c, int check_files, char *err,
    size_t errlen)
{
	struct conf_errors e;
	struct conf_reader top;
	cfg_opt_t *opts = conf_opts(NULL);
	const char **tracked = conf_tracked();
	cfg_t *cfg = NULL;
	const char *s;
	double seconds;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	conf_errors_init(&e, err, errlen);
	c->file = strdup(path);
	/* Relative paths in the file start at its directory, made absolute so
	 * they still hold after the daemon changes directory. */
	char *dir = util_dirname(path);
	c->dir = dir ? realpath(dir, NULL) : NULL;
	if (c->dir == NULL)
		c->dir = dir;
	else
		free(dir);
	if (opts == NULL || tracked == NULL || (cfg = cfg_init(opts, CFGF_NONE)) == NULL) {
		conf_error(&e, "%s: out of memory", path);
		goto out;
	}
	conf_track_lines(cfg, tracked);
	/* After a syntax error, the values of the other lines are checked
	 * too: every problem in one run. */
	if (conf_parse_opts(&cfg, opts, tracked, path, &e) < 0)
		goto out;
	top = (struct conf_reader){ &e, path, cfg, NULL, "", "" };

	s = cfg_getstr(cfg, "name");
	if (s == NULL) {
		conf_error(&e, "%s: missing name (the server's name, which is also its pool)", path);
	} else if (!util_valid_id(s)) {
		opt_error(&e, path, "", "name", "invalid name \"%.64s\" (use 1-64 of A-Z a-z 0-9 . _ -)", s);
	} else {
		util_strlcpy(c->name, s, sizeof(c->name));
	}
	s = cfg_getstr(cfg, "listen");
	util_strlcpy(c->listen, s, sizeof(c->listen));
	if (util_parse_hostport(s, c->listen_host, sizeof(c->listen_host), &c->listen_port) != 0)
		opt_error(&e, path, "", "listen", "listen: want host:port or [v6addr]:port, not \"%.100s\"", s);

	s = cfg_getstr(cfg, "url");
	if (s[0] != '\0' && !valid_url(s))
		opt_error(&e, path, "", "url", "url must be http://HOST:PORT or https://HOST:PORT");
	util_strlcpy(c->url, s, sizeof(c->url));

	c->line.state_dir = conf_line("", "state_dir", 0);
	c->line.admin_token_file = conf_line("", "admin_token_file", 0);
	c->line.peer_token_file = conf_line("", "peer_token_file", 0);
	c->line.tls_cert = conf_line("", "cert", 0);	/* tls has no title */
	c->line.tls_key = conf_line("", "key", 0);
	c->state_dir = conf_path(c, cfg_getstr(cfg, "state_dir"));
	c->licenses = conf_path(c, cfg_getstr(cfg, "licenses"));
	c->options = conf_path(c, cfg_getstr(cfg, "options"));
	c->line.options = conf_line("", "options", 0);
	c->admin_token_file = conf_path(c, cfg_getstr(cfg, "admin_token_file"));
	c->peer_token_file = conf_path(c, cfg_getstr(cfg, "peer_token_file"));
	if (c->admin_token_file == NULL)
		c->admin_token_file = util_path_join(c->state_dir, "admin.token");
	if (c->peer_token_file == NULL)
		c->peer_token_file = util_path_join(c->state_dir, "peer.token");
	if (c->state_dir == NULL || c->licenses == NULL)
		conf_error(&e, "%s: state_dir and licenses must not be empty", path);

	c->ntrusted_keys = cfg_size(cfg, "trusted_keys");
	c->trusted_keys = calloc(c->ntrusted_keys + 1, sizeof(char *));
	for (size_t i = 0; c->trusted_keys != NULL && i < c->ntrusted_keys; i++)
		c->trusted_keys[i] = conf_path(c, cfg_getnstr(cfg, "trusted_keys", (unsigned)i));

	util_strlcpy(c->hostname, cfg_getstr(cfg, "hostname"), sizeof(c->hostname));
	conf_int(&top, "max_body", &c->max_body);
	conf_int(&top, "max_connections", &c->max_connections);
	/* Unset: 64, or max_connections if that is less (slserve.conf(5)). */
	if (cfg_size(cfg, "max_connections_per_ip") == 0)
		c->max_connections_per_ip = c->max_connections < 64 ? c->max_connections : 64;
	else
		c->max_connections_per_ip = cfg_getint(cfg, "max_connections_per_ip");
	if (c->max_connections_per_ip < 0 || c->max_connections_per_ip > c->max_connections)
		opt_error(&e, path, "", "max_connections_per_ip", "max_connections_per_ip must be "
		    "0 (no limit) to max_connections");
	conf_int(&top, "connection_timeout", &c->connection_timeout);
	conf_int(&top, "request_timeout", &c->request_timeout);
	conf_int(&top, "max_leases_per_client", &c->max_leases_per_client);
	conf_int(&top, "max_leases_per_ip", &c->max_leases_per_ip);
	conf_int(&top, "max_leases", &c->max_leases);
	conf_int(&top, "queue_max_wait", &c->queue_max_wait);
	c->fsync = cfg_getbool(cfg, "fsync") == cfg_true;
	c->synchronous_backup = cfg_getbool(cfg, "synchronous_backup") == cfg_true;
	conf_int(&top, "compact_after", &c->compact_after);
	if (conf_float(&top, "min_sync_interval", &seconds))
		c->min_sync_us = (long)(seconds * 1e6 + 0.5);
	if (conf_float(&top, "handback_wait", &seconds))
		c->handback_wait_ms = (long)(seconds * 1000);
	if (conf_float(&top, "confirm_timeout", &seconds))
		c->confirm_timeout_ms = (long)(seconds * 1000);

	cfg_t *tls = cfg_getsec(cfg, "tls");
	if (tls != NULL && (cfg_getstr(tls, "cert") != NULL || cfg_getstr(tls, "key") != NULL)) {
		c->tls_cert = conf_path(c, cfg_getstr(tls, "cert"));
		c->tls_key = conf_path(c, cfg_getstr(tls, "key"));
		if (c->tls_cert == NULL || c->tls_key == NULL)
			conf_error(&e, "%s:%d: tls needs both cert and key", path, tls->line);
	}

	s = cfg_getstr(cfg, "user");
	if (strlen(s) >= sizeof(c->user))
		opt_error(&e, path, "", "user", "user name too long");
	else if (s[0] != '\0' && getpwnam(s) == NULL)
		opt_error(&e, path, "", "user", "user \"%.64s\": no such user", s);
	else
		util_strlcpy(c->user, s, sizeof(c->user));
	c->allow_root = cfg_getbool(cfg, "allow_root") == cfg_true;
	c->public_status = cfg_getbool(cfg, "public_status") == cfg_true;
	c->public_leases = cfg_getbool(cfg, "public_leases") == cfg_true;

	c->ca = conf_path(c, cfg_getstr(cfg, "ca"));
	if (c->ca != NULL && access(c->ca, R_OK) != 0)
		opt_error(&e, path, "", "ca", "ca %s: %s", c->ca, strerror(errno));

	if (c->url[0] == '\0') {
		/* Peers cannot reach a wildcard address: name this host instead. */
		const char *h = c->listen_host;
		char name[256];
		if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || h[0] == '\0') {
			if (gethostname(name, sizeof(name)) != 0)
				util_strlcpy(name, "localhost", sizeof(name));
			name[sizeof(name) - 1] = '\0';
			h = name;
		}
		snprintf(c->url, sizeof(c->url), "%s://%s%s%s:%d", c->tls_cert ? "https" : "http",
		    strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", c->listen_port);
	}

	c->nfailover = cfg_size(cfg, "failover");
	c->failover = calloc(c->nfailover + 1, sizeof(*c->failover));
	for (size_t i = 0; c->failover != NULL && i < c->nfailover; i++) {
		cfg_t *f = cfg_getnsec(cfg, "failover", (unsigned)i);
		struct failover_conf *fc = &c->failover[i];
		const char *t = cfg_title(f);
		fc->line = conf_line(t, NULL, f->line);
		if (!util_valid_id(t))
			conf_error(&e, "%s:%d: failover \"%.64s\": invalid name", path, fc->line, t);
		else if (strcmp(t, c->name) == 0)
			conf_error(&e, "%s:%d: failover \"%s\": a server cannot back up itself",
			    path, fc->line, t);
		util_strlcpy(fc->name, t, sizeof(fc->name));
		s = cfg_getstr(f, "url");
		if (!valid_url(s))
			opt_error(&e, path, t, "url", "failover \"%.64s\": url must be "
			    "http://HOST:PORT or https://HOST:PORT", t);
		else
			util_strlcpy(fc->url, s, sizeof(fc->url));
		struct conf_reader fr = { &e, path, f, "failover", t, "" };
		snprintf(fr.prefix, sizeof(fr.prefix), "failover \"%.64s\": ", t);
		conf_float(&fr, "poll_interval", &fc->poll_interval);
		long fail_after;
		conf_int(&fr, "fail_after", &fail_after);
		fc->fail_after = (int)fail_after;
		s = cfg_getstr(f, "witness");
		if (s[0] != '\0' && !valid_url(s))
			opt_error(&e, path, t, "witness", "failover \"%.64s\": witness must be "
			    "a URL", t);
		util_strlcpy(fc->witness, s, sizeof(fc->witness));
	}
	if (check_files && c->state_dir != NULL && c->licenses != NULL)
		config_check_files(c, &e);
	if (e.count == 0)
		rc = 0;
out:
	conf_lines_reset();
	if (cfg != NULL)
		cfg_free(cfg);
	conf_opts_free(opts);
	free(tracked);
	if (rc != 0) {
		config_free(c);
		memset(c, 0, sizeof(*c));
	}
	return rc;
}

/* An error about the file an option names: "FILE:LINE: " when the option
 * was set, "FILE: " for a default. */
static void
file_error(struct conf_errors *e, const struct server_config *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
file_error(struct conf_errors *e, const struct server_config *c, int line, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		conf_error(e, "%s:%d: %s", c->file, line, msg);
	else
		conf_error(e, "%s: %s", c->file, msg);
}

static void
check_token_file(struct conf_errors *e, const struct server_config *c, const char *opt,
    const char *path, int line, const char *default_name)
{
	char *dflt = util_path_join(c->state_dir, default_name);
	int is_default = dflt != NULL && strcmp(dflt, path) == 0;
	char *text;

	free(dflt);
	if (line == 0 && is_default)
		line = c->line.state_dir;	/* where the file comes from */
	if ((text = util_read_file_max(path, UTIL_SECRET_MAX, NULL)) == NULL) {
		if (errno == ENOENT && is_default)
			return;		/* created at the first start */
		file_error(e, c, line, "%s %s: %s", opt, path, util_read_strerror(errno));
		return;
	}
	text[strcspn(text, "\r\n")] = '\0';
	if (strlen(text) < CONFIG_TOKEN_MIN)
		file_error(e, c, line, "%s %s: token shorter than %d characters", opt, path,
		    CONFIG_TOKEN_MIN);
	memset(text, 0, strlen(text));
	free(text);
}

/*
 * What a start needs of the files the configuration names: token files
 * there and long enough (the default ones in the state directory may be
 * missing: a start creates them), TLS certificate and key readable, the
 * state directory writable or creatable. Each problem goes to e.
 */
static int
config_check_files(const struct server_config *c, struct conf_errors *e)
{
	struct stat st;
	int before = e->count;
	if (lstat(c->state_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			file_error(e, c, c->line.state_dir, "state_dir %s: not a directory",
			    c->state_dir);
		else if (faccessat(AT_FDCWD, c->state_dir, W_OK | X_OK, AT_EACCESS) != 0)
			file_error(e, c, c->line.state_dir, "state_dir %s: not writable (%s)",
			    c->state_dir, strerror(errno));
	} else {
		/* A start creates it (not its parents). */
		char *parent = util_dirname(c->state_dir);
		int saved = errno;
		if (saved != ENOENT)
			file_error(e, c, c->line.state_dir, "state_dir %s: %s", c->state_dir,
			    strerror(saved));
		else if (parent == NULL ||
		    faccessat(AT_FDCWD, parent, W_OK | X_OK, AT_EACCESS) != 0)
			file_error(e, c, c->line.state_dir, "state_dir %s: missing, and %s "
			    "cannot be written to create it (%s)", c->state_dir,
			    parent ? parent : "its directory", strerror(errno));
		free(parent);
	}
	check_token_file(e, c, "admin_token_file", c->admin_token_file,
	    c->line.admin_token_file, "admin.token");
	check_token_file(e, c, "peer_token_file", c->peer_token_file,
	    c->line.peer_token_file, "peer.token");
	if (c->tls_cert != NULL && faccessat(AT_FDCWD, c->tls_cert, R_OK, AT_EACCESS) != 0)
		file_error(e, c, c->line.tls_cert, "tls cert %s: %s", c->tls_cert,
		    strerror(errno));
	if (c->tls_key != NULL && faccessat(AT_FDCWD, c->tls_key, R_OK, AT_EACCESS) != 0)
		file_error(e, c, c->line.tls_key, "tls key %s: %s", c->tls_key, strerror(errno));
	return e->count - before;
}

int
config_load(const char *path, struct server_config *c, char *err, size_t errlen)
{
	return config_load_files(path, c, 0, err, errlen);
}

int
config_check(const char *path, struct server_config *c, char *err, size_t errlen)
{
	return config_load_files(path, c, 1, err, errlen);
}

void
config_free(struct server_config *c)
{
	for (size_t i = 0; c->trusted_keys != NULL && i < c->ntrusted_keys; i++)
		free(c->trusted_keys[i]);
	void *owned[] = { c->file, c->dir, c->state_dir, c->licenses, c->options,
	    c->admin_token_file, c->peer_token_file, c->trusted_keys, c->tls_cert,
	    c->tls_key, c->ca, c->failover };
	util_free_all(owned, nitems(owned));
	memset(c, 0, sizeof(*c));
}
