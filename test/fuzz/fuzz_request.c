/* The request decoders: a body checked against the field tables of the
 * checkout, revoke, failover and handback calls (the first byte picks the
 * table), then read as the handlers read it. The tables are the server's
 * own (cmd/slserve/api_fields.c). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_fields.h"
#include "fuzz.h"
#include "json.h"
#include "util.h"

static const struct js_field *const tables[] = {
	api_checkout_fields, api_revoke_fields, api_failover_fields, api_handback_fields
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	json_t *o;

	if (size < 1)
		return 0;
	const struct js_field *fields = tables[data[0] % 4];
	/* The server hands the decoder a NUL-terminated copy of the body. */
	char *body = malloc(size);
	if (body == NULL)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	o = js_decode_object(body, size - 1, fields, data[0] & 4, err, sizeof(err));
	if (o != NULL) {
		for (const struct js_field *f = fields; f->name != NULL; f++) {
			const char *s = js_str(o, f->name, NULL);
			if (f->kind == JK_ID && s != NULL && !util_valid_id(s))
				abort();	/* the decoder let a bad id through */
			js_int(o, f->name, 0);
		}
		json_decref(o);
	} else if (err[0] == '\0') {
		abort();		/* a refusal must say why */
	}
	free(body);
	return 0;
}
