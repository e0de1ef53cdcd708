/* SPDX-License-Identifier: ISC */
/*
 * Which proxy of the list the next fresh connection goes through.  A
 * proxy that failed is skipped for proxy_fail_timeout; when all of them
 * are failing, the one that failed longest ago gets the next try.
 */
#include "config.h"

#include <string.h>

#include "tgsidecar.h"

static struct timespec	 failover_failed[CONFIG_PROXY_MAX];
static struct timespec	 failover_reached[CONFIG_PROXY_MAX];

static long
failover_age_ms(const struct timespec *then, const struct timespec *now)
{
	return (now->tv_sec - then->tv_sec) * 1000L +
	    (now->tv_nsec - then->tv_nsec) / 1000000L;
}

static int
failover_is_failed(int i)
{
	return failover_failed[i].tv_sec != 0 || failover_failed[i].tv_nsec != 0;
}

int
failover_pick(const struct config *cfg)
{
	struct timespec	 now;
	int		 i, oldest = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < cfg->cfg_nproxy; i++) {
		if (!failover_is_failed(i) || failover_age_ms(
		    &failover_failed[i], &now) >= cfg->cfg_proxy_fail_timeout_ms)
			return i;
		if (failover_age_ms(&failover_failed[i], &now) >
		    failover_age_ms(&failover_failed[oldest], &now))
			oldest = i;
	}
	return oldest;
}

void
failover_fail(const struct config *cfg, int i, const char *why)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Log when it starts being skipped, not at every probe of it. */
	if (!failover_is_failed(i) || failover_age_ms(&failover_failed[i],
	    &now) >= cfg->cfg_proxy_fail_timeout_ms) {
		metrics_failover();
		if (cfg->cfg_nproxy > 1)
			log_warnx("proxy %s failed, skipping it for %ld ms: %s",
			    cfg->cfg_proxy[i].px_url,
			    cfg->cfg_proxy_fail_timeout_ms, why);
	}
	failover_failed[i] = now;
	memset(&failover_reached[i], 0, sizeof(failover_reached[i]));
}

/* The proxy (or, direct, the upstream) answered: for /readyz. */
void
failover_reached_now(int i)
{
	clock_gettime(CLOCK_MONOTONIC, &failover_reached[i]);
}

/* A proxy reached within window_ms and not failed since, or -1. */
int
failover_ready(const struct config *cfg, long window_ms)
{
	struct timespec	 now;
	int		 i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < cfg->cfg_nproxy; i++)
		if ((failover_reached[i].tv_sec != 0 ||
		    failover_reached[i].tv_nsec != 0) &&
		    failover_age_ms(&failover_reached[i], &now) < window_ms)
			return i;
	return -1;
}

void
failover_ok(const struct config *cfg, int i)
{
	failover_reached_now(i);
	if (!failover_is_failed(i))
		return;
	if (cfg->cfg_nproxy > 1)
		log_info("proxy %s works again", cfg->cfg_proxy[i].px_url);
	memset(&failover_failed[i], 0, sizeof(failover_failed[i]));
}

void
failover_reset(void)
{
	memset(failover_failed, 0, sizeof(failover_failed));
	memset(failover_reached, 0, sizeof(failover_reached));
}
