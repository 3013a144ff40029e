/* The request body fields of api.c's calls; see api_fields.h. */
#include "api_fields.h"

const struct js_field api_checkout_fields[] = {
	{ "product", JK_ID, 1 },
	{ "pool", JK_ID, 0 },
	{ "lease", JK_ID, 0 },
	{ "client", JK_TEXT, 0 },
	{ "user", JK_TEXT, 0 },
	{ "host", JK_TEXT, 0 },
	{ "pid", JK_UINT, 0 },
	{ "borrow", JK_UINT, 0 },
	{ "wait", JK_UINT, 0 },
	{ NULL, 0, 0 }
};

const struct js_field api_failover_fields[] = {
	{ "name", JK_ID, 1 },
	{ "url", JK_TEXT, 1 },
	{ "poll_interval", JK_NUMBER, 0 },
	{ "fail_after", JK_UINT, 0 },
	{ NULL, 0, 0 }
};

const struct js_field api_handback_fields[] = {
	{ "pool", JK_ID, 1 },
	{ "from", JK_ID, 0 },
	{ "leases", JK_ANY, 0 },
	{ "released", JK_ANY, 0 },
	{ "refused", JK_ANY, 0 },
	{ "commit", JK_BOOL, 0 },
	{ NULL, 0, 0 }
};

const struct js_field api_fence_fields[] = {
	{ "pool", JK_ID, 1 },
	{ "epoch", JK_ID, 0 },
	{ "ttl_ms", JK_UINT, 1 },
	{ NULL, 0, 0 }
};

const struct js_field api_revoke_fields[] = {
	{ "for", JK_UINT, 0 },
	{ "reason", JK_TEXT, 0 },
	{ "by", JK_TEXT, 0 },
	{ NULL, 0, 0 }
};
