/* The licenses file parser: license_load on the input as a file, then the
 * canonical form and the JSON a backup receives, back and forth. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "license.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct license_set set;
	char err[4096];

	if (license_load(fuzz_file("licenses.conf", data, size), &set, err, sizeof(err)) != 0)
		return 0;
	for (size_t i = 0; i < set.n; i++) {
		struct license back;
		json_t *o = license_to_json(&set.v[i]);
		if (o == NULL)
			continue;
		if (license_from_json(o, &back, err, sizeof(err)) == 0 &&
		    strcmp(back.id, set.v[i].id) != 0)
			abort();	/* the round trip must keep the license */
		json_decref(o);
		license_expired(&set.v[i]);
		license_host_matches(&set.v[i], "fuzzhost");
	}
	license_set_free(&set);
	return 0;
}
