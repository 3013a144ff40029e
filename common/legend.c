/*
 * legend.c: the words sl shows people for each license status and marker,
 * one table for slctl status -v and the status page.
 */
#include "legend.h"

const struct legend_entry legend_statuses[] = {
	{ "hot", "the Primary serves the license and no backup watches it" },
	{ "hot-warm", "the Primary serves the license and a backup polls it, "
	    "ready to take over" },
	{ "warm", "on a backup: it mirrors the license while the Primary serves it" },
	{ "hot-retry", "on a backup: the Primary is down and the backup serves its "
	    "licenses, within the Primary's counts, while it keeps retrying the Primary" },
};
const size_t legend_nstatuses = sizeof(legend_statuses) / sizeof(legend_statuses[0]);

const struct legend_entry legend_marks[] = {
	{ ",expired", "the license has expired: it grants no seat" },
	{ ",wrong_host", "the license is bound to another host: it grants no seat here" },
	{ ",backup_lost", "the Primary's backup stopped polling: nothing would take "
	    "over if the Primary failed" },
	{ "DENIALS", "checkouts refused since the server started because of this license: "
	    "expired, bound to another host, barred, or its product's only full one "
	    "(sl_license_denials_total in /metrics, denials in slctl report)" },
};
const size_t legend_nmarks = sizeof(legend_marks) / sizeof(legend_marks[0]);
