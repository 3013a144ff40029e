/*
 * The table of slserve.conf's options and failover.ini's keys: the one
 * place where an option's name, type, range and default are written.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "failcfg.h"
#include "options.h"

/* Where an option of failover.ini lives in struct failcfg_entry. */
#define ENTRY(field) .entry_offset = offsetof(struct failcfg_entry, field), \
	.entry_size = sizeof(((struct failcfg_entry *)0)->field)

const struct option_def option_defs[] = {
	{ NULL, "name", OPTION_STRING, .flags = OPTION_NODEFAULT },
	{ NULL, "listen", OPTION_STRING, .string = "127.0.0.1:7070" },
	{ NULL, "url", OPTION_STRING, .string = "" },
	{ NULL, "state_dir", OPTION_STRING, .string = "/var/lib/sl" },
	{ NULL, "licenses", OPTION_STRING, .string = "licenses.conf" },
	{ NULL, "options", OPTION_STRING, .string = "" },
	{ NULL, "admin_token_file", OPTION_STRING, .string = "" },
	{ NULL, "peer_token_file", OPTION_STRING, .string = "" },
	{ NULL, "trusted_keys", OPTION_LIST, .string = "{}" },
	{ NULL, "hostname", OPTION_STRING, .string = "" },
	{ NULL, "max_body", OPTION_INT, .min = 1024, .max = 16 << 20, .number = 65536,
	    .unit = "bytes" },
	{ NULL, "max_connections", OPTION_INT, .min = 4, .max = 1000000, .number = 4096 },
	/* Unset: 64, or max_connections if that is less; at most max_connections. */
	{ NULL, "max_connections_per_ip", OPTION_INT, .flags = OPTION_NODEFAULT | OPTION_OWN_RANGE,
	    .min = 0, .max = INFINITY },
	{ NULL, "connection_timeout", OPTION_INT, .min = 1, .max = 86400, .number = 30,
	    .unit = "seconds" },
	{ NULL, "request_timeout", OPTION_INT, .min = 1, .max = 86400, .number = 10,
	    .unit = "seconds" },
	{ NULL, "max_leases_per_client", OPTION_INT, .min = 0, .max = INFINITY, .number = 0 },
	{ NULL, "max_leases_per_ip", OPTION_INT, .min = 0, .max = INFINITY, .number = 1000 },
	{ NULL, "max_leases", OPTION_INT, .min = 0, .max = INFINITY, .number = 1000000 },
	{ NULL, "queue_max_wait", OPTION_INT, .min = 0, .max = 3600, .number = 300,
	    .unit = "seconds" },
	{ NULL, "fsync", OPTION_BOOL, .number = 1 },
	{ NULL, "synchronous_backup", OPTION_BOOL, .number = 1 },
	{ NULL, "compact_after", OPTION_INT, .min = 10, .max = INFINITY, .number = 100000 },
	{ NULL, "min_sync_interval", OPTION_FLOAT, .min = 0, .max = 0.01, .number = 0.0004,
	    .unit = "seconds" },
	{ NULL, "handback_wait", OPTION_FLOAT, .min = 0, .max = 600, .number = 3,
	    .unit = "seconds" },
	{ NULL, "confirm_timeout", OPTION_FLOAT, .min = 1, .max = 86400, .number = 300,
	    .unit = "seconds" },
	{ NULL, "tls", OPTION_SECTION, .flags = 0 },
	{ "tls", "cert", OPTION_STRING, .flags = OPTION_NODEFAULT },
	{ "tls", "key", OPTION_STRING, .flags = OPTION_NODEFAULT },
	{ NULL, "ca", OPTION_STRING, .string = "" },
	{ NULL, "user", OPTION_STRING, .string = "" },
	{ NULL, "allow_root", OPTION_BOOL, .number = 0 },
	{ NULL, "public_status", OPTION_BOOL, .number = 1 },
	{ NULL, "public_leases", OPTION_BOOL, .number = 0 },
	{ NULL, "failover", OPTION_SECTION, .flags = OPTION_MULTI },
	{ "failover", "url", OPTION_STRING, .flags = OPTION_NODEFAULT | OPTION_INI, ENTRY(url) },
	{ "failover", "poll_interval", OPTION_FLOAT, .flags = OPTION_INI, .min = 0.05, .max = 3600,
	    .number = 1, .unit = "seconds", ENTRY(poll_interval) },
	{ "failover", "fail_after", OPTION_INT, .flags = OPTION_INI, .min = 1, .max = 100, .number = 3,
	    ENTRY(fail_after) },
	{ "failover", "witness", OPTION_STRING, .string = "" },
};

const size_t noption_defs = sizeof(option_defs) / sizeof(option_defs[0]);

const struct option_def *
option_find(const char *section, const char *name)
{
	for (size_t i = 0; i < noption_defs; i++) {
		const struct option_def *o = &option_defs[i];
		if ((section == NULL) != (o->section == NULL))
			continue;
		if ((section == NULL || strcmp(o->section, section) == 0) &&
		    strcmp(o->name, name) == 0)
			return o;
	}
	return NULL;
}

int
option_in_range(const struct option_def *o, double v)
{
	return v >= o->min && v <= o->max;
}

void
option_format(const struct option_def *o, double v, char *buf, size_t len)
{
	if (o->type == OPTION_INT && isfinite(v))
		snprintf(buf, len, "%ld", (long)v);
	else
		snprintf(buf, len, "%g", v);
}

void
option_range(const struct option_def *o, int with_unit, char *buf, size_t len)
{
	char min[32], max[32];

	option_format(o, o->min, min, sizeof(min));
	option_format(o, o->max, max, sizeof(max));
	snprintf(buf, len, "%s to %s%s%s", min, max, with_unit && o->unit ? " " : "",
	    with_unit && o->unit ? o->unit : "");
}
