/* SPDX-License-Identifier: ISC */
/*
 * Which proxy of the list the next fresh connection goes through.  A
 * proxy that failed is skipped for proxy_fail_timeout; when all of them
 * are failing, the one that failed longest ago gets the next try.
 *
 * The state lives in each struct proxy of the refcounted config, so a
 * request marks the proxy it really used, even after a reload changed
 * the list.  A reload carries it over to the same proxy in the new list.
 */
#include "config.h"

#include <string.h>

#include "conf.h"
#include "failover.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "util.h"

/* Bumped whenever a proxy starts or stops failing, or the list changes. */
static unsigned long	 failover_gen;

static int
failover_is_set(const struct timespec *ts)
{
	return (ts->tv_sec != 0 || ts->tv_nsec != 0);
}

int
failover_pick(const struct config *cfg)
{
	const struct proxy	*px = cfg->cfg_proxy;
	struct timespec		 now;
	int			 i, oldest = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < cfg->cfg_nproxy; i++) {
		if (!failover_is_set(&px[i].px_failed) || util_ms_between(
		    &px[i].px_failed, &now) >= cfg->cfg_proxy_fail_timeout_ms)
			return (i);
		if (util_ms_between(&px[i].px_failed, &now) >
		    util_ms_between(&px[oldest].px_failed, &now))
			oldest = i;
	}
	return (oldest);
}

void
failover_fail(struct config *cfg, int i, const char *why)
{
	struct proxy	*px = &cfg->cfg_proxy[i];
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Log when it starts being skipped, not at every probe of it. */
	if (!failover_is_set(&px->px_failed) || util_ms_between(
	    &px->px_failed, &now) >= cfg->cfg_proxy_fail_timeout_ms) {
		metrics_failover();
		failover_gen++;
		if (cfg->cfg_nproxy > 1)
			log_warnx("proxy %s failed, skipping it for %ld ms: %s",
			    px->px_url, cfg->cfg_proxy_fail_timeout_ms, why);
	}
	px->px_failed = now;
	memset(&px->px_reached, 0, sizeof(px->px_reached));
}

/* A proxy reached within window_ms and not failed since, or -1. */
int
failover_ready(const struct config *cfg, long window_ms)
{
	struct timespec	 now;
	int		 i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < cfg->cfg_nproxy; i++)
		if (failover_is_set(&cfg->cfg_proxy[i].px_reached) &&
		    util_ms_between(&cfg->cfg_proxy[i].px_reached, &now) <
		    window_ms)
			return (i);
	return (-1);
}

/* The proxy (or, direct, the upstream) answered. */
void
failover_ok(struct config *cfg, int i)
{
	struct proxy	*px = &cfg->cfg_proxy[i];

	clock_gettime(CLOCK_MONOTONIC, &px->px_reached);
	if (!failover_is_set(&px->px_failed))
		return;
	if (cfg->cfg_nproxy > 1)
		log_info("proxy %s works again", px->px_url);
	memset(&px->px_failed, 0, sizeof(px->px_failed));
	failover_gen++;
}

static int
failover_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/*
 * The same proxy reached the same way: URL, credentials (a reload that
 * fixes a password gives the proxy a fresh start) and pre-proxy.
 */
static int
failover_same(const struct config *a, const struct proxy *pa,
    const struct config *b, const struct proxy *pb)
{
	return (pa->px_scheme == pb->px_scheme &&
	    failover_streq(pa->px_url, pb->px_url) &&
	    failover_streq(pa->px_user, pb->px_user) &&
	    failover_streq(pa->px_pass, pb->px_pass) &&
	    failover_streq(a->cfg_pre_proxy.px_url, b->cfg_pre_proxy.px_url) &&
	    failover_streq(a->cfg_upstream, b->cfg_upstream));
}

/* On a reload: a proxy still in the list keeps what we know of it. */
void
failover_inherit(struct config *cfg, const struct config *old)
{
	int	 i, j;

	failover_gen++;
	for (i = 0; i < cfg->cfg_nproxy; i++)
		for (j = 0; j < old->cfg_nproxy; j++)
			if (failover_same(cfg, &cfg->cfg_proxy[i], old,
			    &old->cfg_proxy[j])) {
				cfg->cfg_proxy[i].px_failed =
				    old->cfg_proxy[j].px_failed;
				cfg->cfg_proxy[i].px_reached =
				    old->cfg_proxy[j].px_reached;
				cfg->cfg_proxy[i].px_slice =
				    old->cfg_proxy[j].px_slice;
				memcpy(cfg->cfg_proxy[i].px_wit,
				    old->cfg_proxy[j].px_wit,
				    sizeof(cfg->cfg_proxy[i].px_wit));
				break;
			}
}

/* Changes with every verdict that could change what /readyz says. */
unsigned long
failover_generation(void)
{
	return (failover_gen);
}
