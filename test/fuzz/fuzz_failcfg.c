/* The runtime failover file (STATE_DIR/failover.ini): failcfg_parse, and
 * every entry it accepts must validate. */
#include <stdlib.h>

#include "failcfg.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct failcfg cfg;
	char err[512];

	if (failcfg_parse((const char *)data, size, "failover.ini", &cfg, err, sizeof(err)) != 0)
		return 0;
	for (size_t i = 0; i < cfg.n; i++) {
		if (failcfg_validate(&cfg.v[i], err, sizeof(err)) != 0)
			abort();	/* parsed, yet invalid */
		if (failcfg_find(&cfg, cfg.v[i].name) == NULL)
			abort();
	}
	failcfg_free(&cfg);
	return 0;
}
