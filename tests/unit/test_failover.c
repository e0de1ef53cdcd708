/* SPDX-License-Identifier: ISC */
/*
 * failover.c: the pick order, and what a reload carries over.  The state
 * lives in each config's struct proxy, so a failure marked in one config
 * never shows in another.
 */
#include "config.h"

#include <limits.h>
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

/*
 * Proxy states for the pick rule, one letter each: F fresh, R reached,
 * S failed 1 s ago (skipped), O failed half the skip period ago
 * (skipped, older), D failed two skip periods ago (its skip period
 * over: in doubt), T fresh and being judged (px_trying).
 */
static const struct pick_row {
	const char		*pr_states;
	int			 pr_prewarm;
	enum failover_who	 pr_who;
	int			 pr_want;
	const char		*pr_why;
} pick_rows[] = {
	{ "FFF", 1, FAILOVER_REQUEST, 0, "all fresh: the first" },
	{ "RFF", 1, FAILOVER_REQUEST, 0, "reached: the first" },
	{ "DFF", 1, FAILOVER_REQUEST, 1, "a request skips one in doubt" },
	{ "DFF", 1, FAILOVER_SPARE, 0, "a spare re-tries it" },
	{ "DFF", 1, FAILOVER_PROBE, 0, "the probe re-tries it" },
	{ "DFF", 0, FAILOVER_REQUEST, 0, "prewarm 0: a request re-tries it, "
	    "as before" },
	{ "TFF", 1, FAILOVER_REQUEST, 1, "a request skips one being judged" },
	{ "TFF", 0, FAILOVER_REQUEST, 1, "... with prewarm 0 too" },
	{ "TFF", 1, FAILOVER_SPARE, 1, "a spare skips one being judged" },
	{ "TDF", 1, FAILOVER_SPARE, 1, "a spare re-tries the next in doubt" },
	{ "TDF", 1, FAILOVER_REQUEST, 2, "a request takes the clean one" },
	{ "DSS", 1, FAILOVER_REQUEST, 0, "no other usable: the one in doubt" },
	{ "TSS", 1, FAILOVER_REQUEST, 0, "no other usable: the one judged" },
	{ "SDF", 1, FAILOVER_REQUEST, 2, "skipped, in doubt: the third" },
	{ "SDF", 1, FAILOVER_SPARE, 1, "a spare: the one in doubt" },
	{ "SOS", 1, FAILOVER_REQUEST, 1, "all skipped: the oldest failure" },
	{ "SOS", 1, FAILOVER_SPARE, 1, "... for a spare too" },
};

static void
cfg_states(struct config *cfg, const struct pick_row *r,
    const struct timespec *now)
{
	long	 ago;
	int	 i;

	cfg_with(cfg, "http://p0:3128,http://p1:3128,http://p2:3128");
	cfg->cfg_prewarm = r->pr_prewarm;
	for (i = 0; i < 3; i++) {
		ago = -1;
		switch (r->pr_states[i]) {
		case 'R':
			cfg->cfg_proxy[i].px_reached = *now;
			break;
		case 'S':
			ago = 1000;
			break;
		case 'O':
			ago = cfg->cfg_proxy_fail_timeout_ms / 2;
			break;
		case 'D':
			ago = 2 * cfg->cfg_proxy_fail_timeout_ms;
			break;
		case 'T':
			cfg->cfg_proxy[i].px_trying = 1;
			break;
		}
		if (ago >= 0) {
			cfg->cfg_proxy[i].px_failed = *now;
			cfg->cfg_proxy[i].px_failed.tv_sec -= ago / 1000;
		}
	}
}

static const char	*who_name[] = { "request", "spare", "probe" };

static void
test_pick_rule(void)
{
	struct config	 cfg;
	struct timespec	 now;
	size_t		 i;

	now.tv_sec = 100000;
	now.tv_nsec = 0;
	for (i = 0; i < sizeof(pick_rows) / sizeof(pick_rows[0]); i++) {
		cfg_states(&cfg, &pick_rows[i], &now);
		is_int(failover_choose(&cfg, pick_rows[i].pr_who, &now),
		    pick_rows[i].pr_want, "pick %s, prewarm %d, for a %s: %s",
		    pick_rows[i].pr_states, pick_rows[i].pr_prewarm,
		    who_name[pick_rows[i].pr_who], pick_rows[i].pr_why);
		config_free(&cfg);
	}
}

/* The TLS handshake's clock: learned, times, floor, what is left. */
static const struct clock_row {
	long		 cr_learned;
	long		 cr_left;
	long		 cr_want;
	const char	*cr_why;
} clock_rows[] = {
	{ 0, 30000, 30000, "nothing learned: connect_timeout's rest" },
	{ 5, 30000, 1000, "a 5 ms handshake: the 1 s floor" },
	{ 500, 30000, 2000, "a 500 ms handshake: 4 x" },
	{ 500, 1500, 1500, "never more than what is left" },
	{ 10000, 30000, 30000, "4 x 10 s is over the rest: the rest" },
	{ LONG_MAX / 2, 30000, 30000, "no overflow" },
};

static const struct learn_row {
	long		 lr_est;
	long		 lr_ms;
	long		 lr_want;
	const char	*lr_why;
} learn_rows[] = {
	{ 0, 40, 40, "the first handshake is the estimate" },
	{ 40, 80, 50, "then a moving average: a quarter of the way" },
	{ 40, 0, 31, "a handshake under 1 ms counts as 1 ms" },
	{ 100, 100, 100, "steady" },
};

static void
test_tls_clock(void)
{
	struct config	 cfg;
	size_t		 i;

	for (i = 0; i < sizeof(clock_rows) / sizeof(clock_rows[0]); i++)
		is_int(failover_tls_clock(clock_rows[i].cr_learned,
		    clock_rows[i].cr_left), clock_rows[i].cr_want,
		    "clock(%ld, %ld): %s", clock_rows[i].cr_learned,
		    clock_rows[i].cr_left, clock_rows[i].cr_why);
	for (i = 0; i < sizeof(learn_rows) / sizeof(learn_rows[0]); i++)
		is_int(failover_tls_learn(learn_rows[i].lr_est,
		    learn_rows[i].lr_ms), learn_rows[i].lr_want,
		    "learn(%ld, %ld): %s", learn_rows[i].lr_est,
		    learn_rows[i].lr_ms, learn_rows[i].lr_why);
	cfg_with(&cfg, "http://p0:3128");
	failover_tls_learned(&cfg, 0, 20);
	failover_tls_learned(&cfg, 0, 60);
	is_int(cfg.cfg_proxy[0].px_tls_ms, 30, "a proxy learns its handshakes");
	config_free(&cfg);
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
	a.cfg_proxy[0].px_tls_ms = 42;
	failover_inherit(&b, &a);
	is_int(b.cfg_proxy[2].px_tls_ms, 42, "reload: p0's learned handshake "
	    "time goes with it");
	is_int(b.cfg_proxy[1].px_tls_ms, 0, "... and p3 has learned nothing");
	test_pick_rule();
	test_tls_clock();
	config_free(&a);
	config_free(&b);
	config_free(&c);
	return done_testing();
}
