/* slctl: the admin console of sl, shared declarations. */
#ifndef SLCTL_H
#define SLCTL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "cmd.h"
#include "exitcode.h"
#include "http.h"

/* Exit codes: the table slctl(8) and slcheck(1) share (exitcode.h). */
#define EXIT_OP		SL_EXIT_FAILURE
#define EXIT_UNREACH	SL_EXIT_UNREACHABLE
#define EXIT_REFUSED	SL_EXIT_REFUSED
#define EXIT_USAGE	SL_EXIT_USAGE
#define EXIT_AUTH	SL_EXIT_AUTH
#define EXIT_CONFIG	SL_EXIT_CONFIG

/* What a command needs; the dispatcher sets it up before calling it. */
#define CMD_SERVERS	0x01	/* the server list (-s, SL_SERVERS, slclient.conf) */
#define CMD_ADMIN	0x02	/* the admin token */
#define CMD_LOCAL	0x04	/* may work on -D STATE_DIR without a server */
#define CMD_NOSERVER	0x08	/* never talks to a server (license tools) */

struct ctl_server {
	char *url;			/* base URL without a trailing slash */
};

struct ctl {
	const char *client_conf;	/* -f, SL_CONFIG */
	const char *server_conf;	/* -c; NULL: the default, if it exists */
	const char *state_dir;		/* -D */
	const char *token_file;		/* --token-file */
	char *cacert;			/* --cacert, or slclient.conf's cacert */
	int servers_given;		/* -s or SL_SERVERS named the servers */
	int json;			/* --json given before the command */
	long timeout_ms;

	struct ctl_server *servers;
	size_t nservers;
	char *token;			/* admin token, or NULL */
	char token_hint[512];		/* why there is no token, for a 401 */
	struct http_client *http;
	const struct cmd_entry *cmd;	/* the command running */
};

struct ctl_reply {
	long status;			/* 0: no answer (error says why) */
	json_t *json;			/* parsed body, or NULL */
	char *body;
	char error[256];
};

/* main.c */
extern const char *ctl_progname;
void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int ctl_command_usage(const char *cmd);
int ctl_operands(const char *cmd, int n, char **v);
const struct cmd_entry *ctl_subcommand(const char *cmd, const struct cmd_table *t,
    int argc, char **argv);
int ctl_sub_operands(const char *cmd, const struct cmd_entry *sub, int n, char **v);
int ctl_getopt(struct ctl *ctl, int argc, char **argv, int *json);
int ctl_json_options(struct ctl *ctl, int argc, char **argv, int *json);
int ctl_parse_seconds(const char *s, double *out);
void ctl_print_json(json_t *j);
void ctl_set_error_code(const char *code);

/* server.c: talking to servers and finding the admin token */
int ctl_servers_setup(struct ctl *ctl);
int ctl_add_server(struct ctl *ctl, const char *url);
int ctl_token_setup(struct ctl *ctl);
int ctl_http_setup(struct ctl *ctl);
int ctl_call(struct ctl *ctl, const struct ctl_server *srv, const char *method,
    const char *path, json_t *body, struct ctl_reply *reply);
void ctl_reply_clear(struct ctl_reply *reply);
int ctl_fail(struct ctl *ctl, const struct ctl_server *srv,
    const struct ctl_reply *reply, const char *what);
int ctl_need_one_server(struct ctl *ctl, const char *cmd);
int ctl_state_offline(const char *state_dir, int *lockfd, char *err, size_t errlen);
const char *ctl_json_str(json_t *obj, const char *key, const char *dflt);
char *ctl_url_escape(const char *s);

/* table.c: aligned text tables */
struct table;
struct table *table_new(size_t ncols, const char *const *headers);
void table_right(struct table *t, size_t col);
int table_add(struct table *t, const char *const *cells);
int table_print(struct table *t, FILE *f);
void table_free(struct table *t);
size_t table_rows(const struct table *t);
void fmt_time(char *buf, size_t size, double unixtime);
int fmt_list_add(char *buf, size_t size, size_t *off, const char *sep,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void fmt_list_end(char *buf, size_t size);

/* the commands */
int cmd_servers(void *, int, char **);
int cmd_status(void *, int, char **);
int cmd_leases(void *, int, char **);
int cmd_revoke(void *, int, char **);
int cmd_remove(void *, int, char **);
int cmd_reload(void *, int, char **);
int cmd_license(void *, int, char **);
int cmd_report(void *, int, char **);
int cmd_failover(void *, int, char **);
int cmd_help(void *, int, char **);
int cmd_version(void *, int, char **);

#endif
