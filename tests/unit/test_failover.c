/* SPDX-License-Identifier: ISC */
/*
 * failover.c: the pick order, and what a reload carries over.  The state
 * lives in each config's struct proxy, so a failure marked in one config
 * never shows in another.
 */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "failover.h"
#include "log.h"
#include "proxy.h"
#include "tap.h"

static void
cfg_with(struct config *cfg, const char *list)
{
	char	 err[TGS_ERRLEN], buf[512], *p, *s;
	int	 n = 0;

	config_init(cfg);
	snprintf(buf, sizeof(buf), "%s", list);
	for (s = buf; (p = strsep(&s, ",")) != NULL; n++) {
		proxy_clear(&cfg->cfg_proxy[n]);
		if (proxy_parse(&cfg->cfg_proxy[n], p, err, sizeof(err)) == -1)
			diag("%s: %s", p, err);
	}
	cfg->cfg_nproxy = n;
	cfg->cfg_proxy_fail_timeout_ms = 60 * 1000L;
}

int
main(void)
{
	struct config	 a, b, c;

	log_init(LOG_LEVEL_WARN);
	cfg_with(&a, "http://p0:3128,http://p1:3128,http://p2:3128");
	is_int(failover_pick(&a), 0, "nothing failed: the first proxy");
	failover_fail(&a, 0, "test");
	is_int(failover_pick(&a), 1, "the first failed: the second");
	failover_fail(&a, 1, "test");
	failover_fail(&a, 2, "test");
	is_int(failover_pick(&a), 0, "all failed: the one that failed "
	    "longest ago");
	failover_ok(&a, 0);
	is_int(failover_pick(&a), 0, "the first works again");
	is_int(failover_ready(&a, 30000), 0, "and it was reached just now");

	/* A new list, as a reload makes it: p1 moved, p3 is new. */
	cfg_with(&b, "http://p1:3128,http://p3:3128,http://p0:3128");
	failover_inherit(&b, &a);
	is_int(failover_pick(&b), 1, "reload: p1 is still failed at its new "
	    "place, p3 is picked");
	is_int(failover_ready(&b, 30000), 2, "reload: p0 is still reached, "
	    "at its new place");
	failover_fail(&a, 0, "test");
	is_int(failover_ready(&b, 30000), 2, "a failure marked in the old "
	    "config does not reach the new one");

	/* New credentials: a fresh start for that proxy. */
	cfg_with(&c, "http://u:pw@p1:3128,http://p3:3128");
	failover_inherit(&c, &a);
	is_int(failover_pick(&c), 0, "reload with new credentials for p1: "
	    "it is tried again");
	config_free(&a);
	config_free(&b);
	config_free(&c);
	return done_testing();
}
