/* slclient.conf: the servers a client asks, in order, and its timeouts. */
#ifndef SL_CLIENTCONF_H
#define SL_CLIENTCONF_H

#include <stddef.h>

#define CLIENTCONF_DEFAULT_FILE "/etc/sl/slclient.conf"
#define CLIENTCONF_URL_MAX 256		/* a server's base URL, NUL included */
#define CLIENTCONF_ORIGIN_MAX 600	/* "FILE:LINE", "SL_SERVERS", "-s", "default" */

enum clientconf_role {
	CLIENTCONF_PRIMARY,
	CLIENTCONF_SECONDARY,
};

struct clientconf_server {
	char url[CLIENTCONF_URL_MAX];		/* no trailing slash */
	enum clientconf_role role;
	char backup[CLIENTCONF_URL_MAX];	/* configured backup, "" if none */
	char pool[72];				/* configured pool name, "" if none */
	char origin[CLIENTCONF_ORIGIN_MAX];	/* where url came from */
	char backup_origin[CLIENTCONF_ORIGIN_MAX];
	char pool_origin[CLIENTCONF_ORIGIN_MAX];
};

struct clientconf {
	struct clientconf_server *servers;	/* primaries first, then secondaries */
	size_t nservers;

	char file[512];			/* config file read, "" if none was */
	char file_origin[64];		/* "-f", "SL_CONFIG", "default" */
	int file_missing;		/* the default file does not exist */

	double connect_timeout;		/* seconds */
	double timeout;			/* seconds, per request */
	long dead_ttl;			/* seconds a dead server is skipped; 0 = never */
	char *token;			/* NULL if none */
	char cacert[512];		/* "" if none */
	char servers_origin[CLIENTCONF_ORIGIN_MAX];	/* where the lists came from */
	char connect_timeout_origin[CLIENTCONF_ORIGIN_MAX];
	char timeout_origin[CLIENTCONF_ORIGIN_MAX];
	char dead_ttl_origin[CLIENTCONF_ORIGIN_MAX];
	char token_origin[CLIENTCONF_ORIGIN_MAX];
	char cacert_origin[CLIENTCONF_ORIGIN_MAX];
};

/*
 * Load the client configuration. file is the -f argument or NULL (then
 * $SL_CONFIG, then CLIENTCONF_DEFAULT_FILE); servers is the -s argument or
 * NULL (then $SL_SERVERS, then the file's lists). Both -s and SL_SERVERS use
 * the syntax of clientconf_parse_servers(). The default file may be missing
 * when servers come from -s or SL_SERVERS, or when need_servers is 0.
 * SL_TOKEN overrides the file's token. Returns 0, or -1 with err set to a
 * message naming the file and line at fault.
 */
int clientconf_load(struct clientconf *cc, const char *file, const char *servers,
    int need_servers, char *err, size_t errlen);
void clientconf_free(struct clientconf *cc);

/*
 * Parse a server list: entries separated by commas or white space, each
 * [p:|s:]URL[+BACKUP_URL]; "p:" starts the Primaries, "s:" the Secondaries,
 * and an entry without a prefix has the role of the one before it (the
 * first is a Primary). Replaces cc's lists; origin names the source.
 */
int clientconf_parse_servers(struct clientconf *cc, const char *spec, const char *origin,
    char *err, size_t errlen);

/* The configured server with this URL, or NULL. */
const struct clientconf_server *clientconf_find(const struct clientconf *cc, const char *url);

/* Is s an http:// or https:// base URL we accept? Trailing slashes are
 * removed and the default port 7070 added when none is given, into out
 * (size CLIENTCONF_URL_MAX). */
int clientconf_normalize_url(const char *s, char *out);

const char *clientconf_role_name(enum clientconf_role role);

#endif
