/* exitcode.c: the exit codes slctl and slcheck share, and their names in --json. */
#include "exitcode.h"

const char *
sl_exit_name(int rc)
{
	switch (rc) {
	case SL_EXIT_NO_SEAT:
		return "no_seat";
	case SL_EXIT_UNREACHABLE:
		return "unreachable";
	case SL_EXIT_REFUSED:
		return "refused";
	case SL_EXIT_BAD_ANSWER:
		return "bad_answer";
	case SL_EXIT_LOST:
		return "lost";
	case SL_EXIT_USAGE:
		return "usage";
	case SL_EXIT_AUTH:
		return "unauthorized";
	case SL_EXIT_CONFIG:
		return "config";
	default:
		return "failed";
	}
}
