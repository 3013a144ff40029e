/* slserve.conf, and the libconfuse plumbing all config files share. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>

#include <confuse.h>

#include "util.h"

/* Error text gathered while parsing: one "FILE:LINE: message" per line. */
struct conf_errors {
	char *buf;
	size_t len;
	size_t used;
	int count;
};

void conf_errors_init(struct conf_errors *e, char *buf, size_t len);
void conf_error(struct conf_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Blank out comments in a config text, keeping newlines (see config.c). */
void conf_blank_comments(char *s);
/* Parse path into cfg, sending libconfuse's messages to e.
 * Returns 0, or -1 (with e->count > 0). */
int conf_parse(cfg_t *cfg, const char *path, struct conf_errors *e);
/* conf_parse, reporting the errors after libconfuse's first one too: the
 * text is parsed again without each line at fault (*cfgp, made from opts,
 * may be replaced; tracked as for conf_track_lines). Returns 0; 1 when
 * errors were found but the rest parsed into *cfgp (its values can still be
 * checked); -1 when nothing could be parsed. */
int conf_parse_all(cfg_t **cfgp, cfg_opt_t *opts, const char *const *tracked, const char *path,
    struct conf_errors *e);

/* libconfuse keeps only the line where a section ends; errors should name
 * the line an option was set on. conf_track_lines records it for the named
 * options ("opt" or "section|opt") while a file is parsed; conf_line gives
 * it back for an option of the section titled title ("" for the top level),
 * or with opt NULL the first line seen in that section; dflt when unknown.
 * conf_lines_reset forgets them. */
void conf_track_lines(cfg_t *cfg, const char *const *names);
int conf_line(const char *title, const char *opt, int dflt);
/* conf_line for a section of one kind ("product"): titles may repeat
 * across kinds. */
int conf_line_in(const char *section, const char *title, const char *opt, int dflt);
void conf_lines_reset(void);

struct failover_conf {
	char name[SL_ID_MAX + 1];	/* the Primary's name = its pool */
	char url[512];
	double poll_interval;		/* seconds */
	int fail_after;			/* missed polls before takeover */
	char witness[512];		/* optional */
	int line;
};

/* What config_load makes of slserve.conf. An option's name, type, range and
 * default are in the options table (options.c); its field here is filled by
 * config_load_files. */
struct server_config {
	char *file;			/* the config file */
	char *dir;			/* its directory: relative paths start here */
	char name[SL_ID_MAX + 1];
	char listen[300];
	char url[512];			/* how peers reach this server */
	char listen_host[256];
	int listen_port;
	char *state_dir;
	char *licenses;
	char *options;			/* the usage policy file; NULL: none */
	char *admin_token_file;
	char *peer_token_file;
	char **trusted_keys;
	size_t ntrusted_keys;
	char hostname[256];		/* host identity override for host-bound licenses */
	long max_body;
	long max_connections;
	long max_connections_per_ip;	/* 0 = no limit */
	long connection_timeout;
	long request_timeout;		/* seconds for a whole request to arrive */
	long max_leases_per_client;	/* 0 = no limit, here and below */
	long max_leases_per_ip;		/* live leases granted to one address */
	long max_leases;		/* live leases in all */
	long queue_max_wait;		/* seconds a checkout may wait in the queue */
	int fsync;
	int synchronous_backup;		/* a grant is answered once the backups have it */
	long compact_after;		/* journal records before a snapshot */
	long min_sync_us;		/* least time between two journal syncs */
	long handback_wait_ms;		/* bounded wait for backups at start */
	long confirm_timeout_ms;	/* an unconfirmed hard seat ends then */
	char *tls_cert;
	char *tls_key;
	char *ca;			/* CA file to verify https peers and witnesses */
	char user[64];			/* started as root: run as this user; "" none */
	int allow_root;			/* started as root without user: go on as root */
	int public_status;		/* GET /metrics and GET / without the admin token */
	int public_leases;		/* GET /v1/leases holders without the admin token */
	struct failover_conf *failover;
	size_t nfailover;
	struct {			/* where options were set; 0: not set */
		int state_dir, options, admin_token_file, peer_token_file, tls_cert, tls_key;
	} line;
};

/* Tokens shorter than this are refused (slserve.conf(5)). */
#define CONFIG_TOKEN_MIN 16

#define SLSERVE_CONF_DEFAULT "/etc/sl/slserve.conf"

/* Parse and validate slserve.conf. err gets every problem found. */
int config_load(const char *path, struct server_config *c, char *err, size_t errlen);
void config_free(struct server_config *c);
/* config_load (for slserve -n), and what a start needs of the files it
 * names: token files there and long enough, TLS certificate and key
 * readable, the state directory writable; each problem with the FILE:LINE
 * of its option. */
int config_check(const char *path, struct server_config *c, char *err, size_t errlen);

#endif
