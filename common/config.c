#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

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
	free(optlines);
	optlines = NULL;
	noptlines = 0;
}

static cfg_opt_t failover_opts[] = {
	CFG_STR("url", NULL, CFGF_NODEFAULT),
	CFG_FLOAT("poll_interval", 1.0, CFGF_NONE),
	CFG_INT("fail_after", 3, CFGF_NONE),
	CFG_STR("witness", "", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t tls_opts[] = {
	CFG_STR("cert", NULL, CFGF_NODEFAULT),
	CFG_STR("key", NULL, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t server_opts[] = {
	CFG_STR("name", NULL, CFGF_NODEFAULT),
	CFG_STR("listen", "127.0.0.1:7070", CFGF_NONE),
	CFG_STR("url", "", CFGF_NONE),
	CFG_STR("state_dir", "/var/lib/sl", CFGF_NONE),
	CFG_STR("licenses", "licenses.conf", CFGF_NONE),
	CFG_STR("options", "", CFGF_NONE),
	CFG_STR("admin_token_file", "", CFGF_NONE),
	CFG_STR("peer_token_file", "", CFGF_NONE),
	CFG_STR_LIST("trusted_keys", "{}", CFGF_NONE),
	CFG_STR("hostname", "", CFGF_NONE),
	CFG_INT("max_body", 65536, CFGF_NONE),
	CFG_INT("max_connections", 4096, CFGF_NONE),
	CFG_INT("max_connections_per_ip", 0, CFGF_NODEFAULT),
	CFG_INT("connection_timeout", 30, CFGF_NONE),
	CFG_INT("request_timeout", 10, CFGF_NONE),
	CFG_INT("max_leases_per_client", 0, CFGF_NONE),
	CFG_INT("max_leases_per_ip", 1000, CFGF_NONE),
	CFG_INT("max_leases", 1000000, CFGF_NONE),
	CFG_INT("queue_max_wait", 300, CFGF_NONE),
	CFG_BOOL("fsync", cfg_true, CFGF_NONE),
	CFG_BOOL("synchronous_backup", cfg_true, CFGF_NONE),
	CFG_INT("compact_after", 100000, CFGF_NONE),
	CFG_FLOAT("min_sync_interval", 0.0004, CFGF_NONE),
	CFG_FLOAT("handback_wait", 3.0, CFGF_NONE),
	CFG_FLOAT("confirm_timeout", 300.0, CFGF_NONE),
	CFG_SEC("tls", tls_opts, CFGF_NONE),
	CFG_STR("ca", "", CFGF_NONE),
	CFG_STR("user", "", CFGF_NONE),
	CFG_BOOL("allow_root", cfg_false, CFGF_NONE),
	CFG_BOOL("public_status", cfg_true, CFGF_NONE),
	CFG_BOOL("public_leases", cfg_false, CFGF_NONE),
	CFG_SEC("failover", failover_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

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

static int config_check_files(const struct server_config *c, struct conf_errors *e);

/* config_load, and with check_files what a start needs of the files. */
static int
config_load_files(const char *path, struct server_config *c, int check_files, char *err,
    size_t errlen)
{
	struct conf_errors e;
	cfg_t *cfg;
	const char *s;
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
	if ((cfg = cfg_init(server_opts, CFGF_NONE)) == NULL) {
		conf_error(&e, "%s: out of memory", path);
		goto out;
	}
	static const char *const tracked[] = { "name", "listen", "url", "state_dir",
	    "licenses", "options", "admin_token_file", "peer_token_file", "trusted_keys", "hostname",
	    "max_body", "max_connections", "max_connections_per_ip", "connection_timeout",
	    "request_timeout", "max_leases_per_client", "max_leases_per_ip", "max_leases", "queue_max_wait",
	    "fsync", "synchronous_backup", "compact_after", "min_sync_interval", "handback_wait", "confirm_timeout", "failover|url",
	    "failover|poll_interval", "failover|fail_after", "failover|witness",
	    "tls|cert", "tls|key", "ca", "user", "allow_root", "public_status",
	    "public_leases", NULL };
	conf_track_lines(cfg, tracked);
	/* After a syntax error, the values of the other lines are checked
	 * too: every problem in one run. */
	if (conf_parse_opts(&cfg, server_opts, tracked, path, &e) < 0)
		goto out;

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
	c->max_body = cfg_getint(cfg, "max_body");
	if (c->max_body < 1024 || c->max_body > 16L << 20)
		opt_error(&e, path, "", "max_body", "max_body must be 1024 to 16777216 bytes");
	c->max_connections = cfg_getint(cfg, "max_connections");
	if (c->max_connections < 4 || c->max_connections > 1000000)
		opt_error(&e, path, "", "max_connections", "max_connections must be 4 to 1000000");
	/* Unset: 64, or max_connections if that is less (slserve.conf(5)). */
	if (cfg_size(cfg, "max_connections_per_ip") == 0)
		c->max_connections_per_ip = c->max_connections < 64 ? c->max_connections : 64;
	else
		c->max_connections_per_ip = cfg_getint(cfg, "max_connections_per_ip");
	if (c->max_connections_per_ip < 0 || c->max_connections_per_ip > c->max_connections)
		opt_error(&e, path, "", "max_connections_per_ip", "max_connections_per_ip must be "
		    "0 (no limit) to max_connections");
	c->connection_timeout = cfg_getint(cfg, "connection_timeout");
	if (c->connection_timeout < 1 || c->connection_timeout > 86400)
		opt_error(&e, path, "", "connection_timeout", "connection_timeout must be 1 to 86400 seconds");
	c->request_timeout = cfg_getint(cfg, "request_timeout");
	if (c->request_timeout < 1 || c->request_timeout > 86400)
		opt_error(&e, path, "", "request_timeout", "request_timeout must be 1 to 86400 seconds");
	c->max_leases_per_client = cfg_getint(cfg, "max_leases_per_client");
	if (c->max_leases_per_client < 0)
		opt_error(&e, path, "", "max_leases_per_client", "max_leases_per_client must not be negative");
	c->max_leases_per_ip = cfg_getint(cfg, "max_leases_per_ip");
	if (c->max_leases_per_ip < 0)
		opt_error(&e, path, "", "max_leases_per_ip", "max_leases_per_ip must not be negative");
	c->max_leases = cfg_getint(cfg, "max_leases");
	if (c->max_leases < 0)
		opt_error(&e, path, "", "max_leases", "max_leases must not be negative");
	c->queue_max_wait = cfg_getint(cfg, "queue_max_wait");
	if (c->queue_max_wait < 0 || c->queue_max_wait > 3600)
		opt_error(&e, path, "", "queue_max_wait", "queue_max_wait must be 0 to 3600 "
		    "seconds");
	c->fsync = cfg_getbool(cfg, "fsync") == cfg_true;
	c->synchronous_backup = cfg_getbool(cfg, "synchronous_backup") == cfg_true;
	c->compact_after = cfg_getint(cfg, "compact_after");
	if (c->compact_after < 10)
		opt_error(&e, path, "", "compact_after", "compact_after must be at least 10");
	double msi = cfg_getfloat(cfg, "min_sync_interval");
	if (!(msi >= 0 && msi <= 0.01))
		opt_error(&e, path, "", "min_sync_interval",
		    "min_sync_interval must be 0 to 0.01 seconds");
	else
		c->min_sync_us = (long)(msi * 1e6 + 0.5);
	double hw = cfg_getfloat(cfg, "handback_wait");
	if (hw < 0 || hw > 600)
		opt_error(&e, path, "", "handback_wait", "handback_wait must be 0 to 600 seconds");
	c->handback_wait_ms = (long)(hw * 1000);
	double ct = cfg_getfloat(cfg, "confirm_timeout");
	if (!(ct >= 1 && ct <= 86400))
		opt_error(&e, path, "", "confirm_timeout", "confirm_timeout must be 1 to 86400 seconds");
	c->confirm_timeout_ms = (long)(ct * 1000);

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
		fc->poll_interval = cfg_getfloat(f, "poll_interval");
		if (!(fc->poll_interval >= 0.05 && fc->poll_interval <= 3600))
			opt_error(&e, path, t, "poll_interval", "failover \"%.64s\": "
			    "poll_interval must be 0.05 to 3600 seconds", t);
		long fa = cfg_getint(f, "fail_after");
		if (fa < 1 || fa > 100)
			opt_error(&e, path, t, "fail_after", "failover \"%.64s\": fail_after "
			    "must be 1 to 100", t);
		fc->fail_after = (int)fa;
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
	free(c->file);
	free(c->dir);
	free(c->state_dir);
	free(c->licenses);
	free(c->options);
	free(c->admin_token_file);
	free(c->peer_token_file);
	for (size_t i = 0; c->trusted_keys != NULL && i < c->ntrusted_keys; i++)
		free(c->trusted_keys[i]);
	free(c->trusted_keys);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->ca);
	free(c->failover);
	memset(c, 0, sizeof(*c));
}
