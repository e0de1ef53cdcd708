/* SPDX-License-Identifier: ISC */
/*
 * share.c: a bot's share of max_inflight, and the count of its requests
 * in flight.
 */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "log.h"
#include "share.h"
#include "tap.h"

static const struct {
	int		 max, per_bot, limit;
	const char	*what;
} limits[] = {
	{ 1024, 0, 512, "default: half of max_inflight" },
	{ 2, 0, 1, "max_inflight 2: 1 each" },
	{ 1, 0, 1, "max_inflight 1: never 0" },
	{ 1024, 4, 4, "set: as set" },
	{ 64, 100, 64, "over max_inflight: max_inflight (no share)" },
};

int
main(void)
{
	struct config	 cfg;
	struct share	 sh;
	size_t		 i;
	int		 k;

	log_init(LOG_LEVEL_WARN);
	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		cfg.cfg_max_inflight = limits[i].max;
		cfg.cfg_max_inflight_per_bot = limits[i].per_bot;
		is_int(share_limit(&cfg), limits[i].limit, "%s", limits[i].what);
	}

	memset(&sh, 0, sizeof(sh));
	is_int(share_count(&sh, "1"), 0, "a bot never seen: 0");
	for (k = 0; k < 3; k++)
		share_take(&sh, "1");
	share_take(&sh, "2");
	ok(share_count(&sh, "1") == 3 && share_count(&sh, "2") == 1 &&
	    sh.sh_nbots == 2, "counted per bot");
	share_drop(&sh, "2");
	ok(share_count(&sh, "2") == 0 && sh.sh_nbots == 1,
	    "a bot with nothing in flight has no entry");
	share_drop(&sh, "9");
	ok(sh.sh_nbots == 1, "dropping an unknown bot changes nothing");
	for (k = 0; k < 3; k++)
		share_drop(&sh, "1");
	ok(sh.sh_nbots == 0 && TAILQ_EMPTY(&sh.sh_bots), "all gone: empty");
	return (done_testing());
}
