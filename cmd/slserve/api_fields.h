/* The fields of the request bodies that api.c decodes, which the request
 * fuzzer (test/fuzz/fuzz_request.c) decodes too. */
#ifndef SLSERVE_API_FIELDS_H
#define SLSERVE_API_FIELDS_H

#include "json.h"

extern const struct json_field api_checkout_fields[];	/* POST /v1/checkout */
extern const struct json_field api_revoke_fields[];	/* POST /v1/leases/ID/revoke */

#endif
