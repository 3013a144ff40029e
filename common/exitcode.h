/* The exit codes slctl(8) and slcheck(1) share, one table for both. */
#ifndef SL_EXITCODE_H
#define SL_EXITCODE_H

enum sl_exit {
	SL_EXIT_OK = 0,
	SL_EXIT_FAILURE = 1,		/* failed: a local failure, or the operation refused */
	SL_EXIT_NO_SEAT = 2,		/* servers answered, none had a free seat */
	SL_EXIT_UNREACHABLE = 3,	/* no server answered */
	SL_EXIT_REFUSED = 4,		/* unknown product, expired, wrong host, revoked */
	SL_EXIT_BAD_ANSWER = 5,		/* an answer that cannot be used (5xx, bad JSON) */
	SL_EXIT_LOST = 6,		/* the lease is gone (unknown, revoked, expired) */
	SL_EXIT_USAGE = 64,		/* bad command line */
	SL_EXIT_AUTH = 77,		/* admin token missing or wrong (401) */
	SL_EXIT_CONFIG = 78,		/* a configuration, key or token file is unusable */
};

/* The "error" of the JSON a failure prints with --json, for an exit status. */
const char *sl_exit_name(int rc);

#endif
