/* The fields of the request bodies that api.c and failover.c decode, which
 * the request fuzzer (test/fuzz/fuzz_request.c) decodes too. */
#ifndef SLSERVE_API_FIELDS_H
#define SLSERVE_API_FIELDS_H

#include "json.h"

extern const struct js_field api_checkout_fields[];	/* POST /v1/checkout */
extern const struct js_field api_revoke_fields[];	/* POST /v1/leases/ID/revoke */
extern const struct js_field api_failover_fields[];	/* PUT /v1/admin/failover */
extern const struct js_field api_handback_fields[];	/* POST /v1/peer/handback|release */
extern const struct js_field api_fence_fields[];	/* POST /v1/peer/fence */

#endif
