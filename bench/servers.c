/*
 * The slserve processes under test: the licenses and tokens they share,
 * each one's directory and configuration, starting one and waiting for its
 * health, stopping it, and killing what is left when loadgen stops.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#include "loadgen.h"

char admin_token[80];
char peer_token[80];

static pid_t children[16];
static int nchildren;

void
kill_children(void)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
}


void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		fatal("%s: %s", path, strerror(errno));
}


static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		fatal("cannot find a free port: %s", strerror(errno));
	close(fd);
	return ntohs(sa.sin_port);
}


/* slserve refuses to run as root unless told; an older one does not know
 * the setting. Asked once, of slserve -n. */
static const char *
root_option(void)
{
	static const char *opt;
	char text[1024], *path, *exe;
	int st;
	pid_t pid;

	if (opt != NULL)
		return opt;
	opt = "";
	if (geteuid() != 0)
		return opt;
	path = path_in(tmpdir, "probe.conf");
	snprintf(text, sizeof(text), "name = \"probe\"\nlisten = \"127.0.0.1:1\"\n"
	    "state_dir = \"probe-state\"\nlicenses = \"%s/licenses.conf\"\n"
	    "allow_root = true\n", tmpdir);
	write_file(path, text);
	exe = path_in(bindir, "slserve");
	if ((pid = fork()) == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(exe, "slserve", "-n", "-f", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		opt = "allow_root = true\n";
	unlink(path);
	free(path);
	free(exe);
	return opt;
}

void
srv_init(struct slsrv *s, const char *name, const char *tag, const char *extra)
{
	srv_init_with(s, name, tag, strcmp(name, "benchA") == 0 ? "licenses.conf" :
	    "licenses-b.conf", extra);
}

void
srv_init_with(struct slsrv *s, const char *name, const char *tag, const char *licenses,
    const char *extra)
{
	char text[4096];

	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->dir, sizeof(s->dir), "%s/%s-%s", tmpdir, name, tag);
	snprintf(s->conf, sizeof(s->conf), "%s/slserve.conf", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/slserve.log", s->dir);
	if (mkdir(s->dir, 0700) != 0)
		fatal("%s: %s", s->dir, strerror(errno));
	s->port = free_port();
	s->pid = -1;
	snprintf(text, sizeof(text),
	    "# written by loadgen\n"
	    "name = \"%s\"\n"
	    "listen = \"127.0.0.1:%d\"\n"
	    "state_dir = \"state\"\n"
	    "licenses = \"%s/%s\"\n"
	    "admin_token_file = \"%s/admin.token\"\n"
	    "peer_token_file = \"%s/peer.token\"\n"
	    /* every client of the bench is 127.0.0.1 */
	    "max_connections_per_ip = 0\n"
	    "max_leases_per_ip = 0\n"
	    "%s%s",
	    name, s->port, tmpdir, licenses, tmpdir, tmpdir, extra ? extra : "", root_option());
	write_file(s->conf, text);
}

static void
srv_forget(pid_t pid)
{
	for (int i = 0; i < nchildren; i++)
		if (children[i] == pid)
			children[i] = -1;
}

/* Start slserve and wait (bounded) until /v1/health answers 200.
 * Returns the milliseconds from fork to the first 200. */
double
srv_start(struct slsrv *s)
{
	char *exe = path_in(bindir, "slserve");
	uint64_t t0 = now_ns();
	pid_t pid;

	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		execl(exe, "slserve", "-d", "-f", s->conf, (char *)NULL);
		_exit(127);
	}
	free(exe);
	s->pid = pid;
	if (nchildren < (int)nitems(children))
		children[nchildren++] = pid;
	struct bconn b = BCONN_INIT(s->port);
	struct hresp r;
	while (now_ns() - t0 < 60ull * 1000000000ull) {
		if (bhttp(&b, "GET", "/v1/health", NULL, NULL, &r, 1000) == 0 &&
		    r.status == 200) {
			double ms = ns_ms(now_ns() - t0);
			bconn_free(&b);
			return ms;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			srv_forget(pid);
			s->pid = -1;
			fatal("slserve %s exited at start; see %s", s->name, s->log);
		}
		sleep_ms(1);
	}
	fatal("slserve %s did not answer within 60 s; see %s", s->name, s->log);
	return -1;
}

/* SIGTERM and wait (bounded); returns the milliseconds it took. */
double
srv_stop(struct slsrv *s)
{
	uint64_t t0 = now_ns();
	int st;

	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &st, WNOHANG) != s->pid) {
		if (now_ns() - t0 > 20ull * 1000000000ull) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &st, 0);
			fprintf(stderr, "loadgen: %s did not stop within 20 s; killed\n", s->name);
			break;
		}
		sleep_ms(1);
	}
	srv_forget(s->pid);
	s->pid = -1;
	return ns_ms(now_ns() - t0);
}

static void
write_tmp_file(const char *name, const char *text)
{
	char *path = path_in(tmpdir, name);

	write_file(path, text);
	free(path);
}

void
write_licenses(void)
{
	char tok[100];
	size_t cap = NLICENSES * 160 + 256;
	char *text = malloc(cap);

	if (text == NULL)
		fatal("out of memory");
	for (int k = 0; k < 2; k++) {
		size_t len = (size_t)snprintf(text, cap, "# written by loadgen\n");
		for (int i = 0; i < NLICENSES; i++)
			len += (size_t)snprintf(text + len, cap - len,
			    "license \"bench-%02d\" { product = \"p%02d\" count = %d expires = "
			    "\"never\" host = \"any\" timeout = %d }\n", i, i,
			    k == 0 ? SEATS : MIRROR_SEATS, LEASE_TIMEOUT);
		write_tmp_file(k == 0 ? "licenses.conf" : "licenses-m.conf", text);
	}
	free(text);
	write_tmp_file("licenses-b.conf", "license \"b-own\" { product = \"bown\" count = 5 expires = \"never\" "
	    "host = \"any\" timeout = 300 }\n");
	util_random_hex(peer_token, 32);
	util_random_hex(admin_token, 32);
	snprintf(tok, sizeof(tok), "%s\n", peer_token);
	write_tmp_file("peer.token", tok);
	snprintf(tok, sizeof(tok), "%s\n", admin_token);
	write_tmp_file("admin.token", tok);
}

/* The journal records the last start of a server replayed, from its log. */
long
replayed_records(const struct slsrv *s)
{
	char line[1024];
	long n = -1;
	FILE *f = fopen(s->log, "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *p = strstr(line, "state: snapshot at seq");
		unsigned long long seq;
		long r;
		if (p != NULL && sscanf(p, "state: snapshot at seq %llu, %ld journal", &seq, &r) == 2)
			n = r;
	}
	if (f != NULL)
		fclose(f);
	return n;
}
