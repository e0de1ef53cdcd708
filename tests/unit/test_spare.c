/* SPDX-License-Identifier: ISC */
/*
 * spare_target(): how many spare connections to keep, from prewarm,
 * prewarm_max, the recent concurrency and a getUpdates hint;
 * spare_learn() and spare_wait_ms(): whether a request waits for a spare
 * being built, and how long at most.
 */
#include <stddef.h>

#include "spare.h"
#include "sparehint.h"
#include "tap.h"

struct target_case {
	const char	*tc_name;
	int		 tc_prewarm;
	int		 tc_max;
	int		 tc_recent;
	int		 tc_hint;
	int		 tc_want;
};

static const struct target_case target_cases[] = {
	{ "defaults, one bot at a time", 1, 8, 1, 0, 1 },
	{ "defaults, idle so far", 1, 8, 0, 0, 1 },
	{ "prewarm 0 turns it all off", 0, 8, 5, 9, 0 },
	{ "prewarm 0 with max 0", 0, 0, 0, 0, 0 },
	{ "grows toward the recent concurrency", 1, 8, 3, 0, 3 },
	{ "never above prewarm_max", 1, 8, 20, 0, 8 },
	{ "a getUpdates hint of 5 updates", 1, 8, 1, 5, 5 },
	{ "a hint above prewarm_max", 1, 8, 1, 100, 8 },
	{ "the larger of hint and concurrency", 2, 8, 6, 4, 6 },
	{ "prewarm is the floor", 4, 8, 1, 2, 4 },
	{ "prewarm equal to the max", 8, 8, 0, 0, 8 },
	{ "a negative hint counts for nothing", 1, 8, 0, -3, 1 },
};

/* The estimate of a build: est, then a build of ms. */
static const struct {
	long		 est, ms, want;
	const char	*what;
} learns[] = {
	{ 0, 120, 120, "the first build is the estimate" },
	{ 0, 0, 1, "a build under 1 ms still counts as one" },
	{ 100, 100, 100, "the same again: unchanged" },
	{ 100, 500, 200, "a slower build moves it a quarter of the way" },
	{ 400, 0, 301, "a faster one too" },
};

/* How long a request waits for a spare begun elapsed ms ago. */
static const struct {
	long		 est, elapsed, want;
	const char	*what;
} waits[] = {
	{ 0, 10, -1, "none built yet: nothing to go by, go fresh" },
	{ 200, 0, 400, "just begun: until it is late by a whole build" },
	{ 200, 150, 250, "nearly done: the same end" },
	{ 200, 250, 150, "late, but by less than a build" },
	{ 200, 400, -1, "late by a whole build: likely stuck, go fresh" },
	{ 200, -5, -1, "a clock that went back: go fresh" },
};

/* How many to keep: bots active (a call within prewarm_linger) or not. */
static const struct {
	int		 prewarm, max, recent, hint, active, want;
	const char	*what;
} keeps[] = {
	{ 1, 8, 0, 0, 0, 0, "only polls, no hint: none (an idle poller)" },
	{ 1, 8, 3, 0, 0, 0, "not active: the old concurrency counts not" },
	{ 1, 8, 0, 4, 0, 4, "not active, a hint of 4: 4" },
	{ 1, 8, 0, 20, 0, 8, "not active, a hint above prewarm_max" },
	{ 4, 8, 0, 1, 0, 1, "not active: prewarm is no floor" },
	{ 1, 8, 0, -2, 0, 0, "not active, a negative hint: none" },
	{ 0, 8, 0, 4, 0, 0, "prewarm 0: a hint opens none" },
	{ 0, 8, 2, 4, 1, 0, "prewarm 0, active: none" },
	{ 1, 8, 0, 0, 1, 1, "active: prewarm" },
	{ 1, 8, 3, 5, 1, 5, "active: spare_target()" },
};

/* A wait for a build begun elapsed ms ago ran out: the next estimate. */
static const struct {
	long		 est, elapsed, want;
	const char	*what;
} lates[] = {
	{ 50, 100, 100, "late by a whole build: the build takes that long" },
	{ 50, 1000, 1000, "a proxy slowed down: at once to what was seen" },
	{ 200, 150, 200, "a shorter wait changes nothing" },
	{ 0, 30, 30, "none yet: what was seen" },
};

/* A hint's worth after the last one of its bot (trust out of 8). */
static const struct {
	int		 trust, announced, calls, want;
	const char	*what;
} trusts[] = {
	{ 8, 8, 0, 4, "8 announced, no call: halved" },
	{ 4, 8, 0, 2, "again: halved" },
	{ 2, 8, 0, 1, "again" },
	{ 1, 8, 0, 0, "again: down to nothing" },
	{ 0, 8, 0, 0, "stays at nothing while unused" },
	{ 0, 1, 1, 4, "a call came after all: halfway back" },
	{ 4, 3, 3, 6, "all came: halfway back again" },
	{ 7, 2, 2, 8, "reaches whole" },
	{ 8, 8, 8, 8, "whole stays whole" },
	{ 8, 8, 20, 8, "more calls than announced count as all" },
	{ 8, 4, 2, 6, "half came: halfway toward half" },
	{ 5, 0, 0, 5, "no hint before: unchanged" },
};

static const struct {
	int		 n, trust, want;
	const char	*what;
} scales[] = {
	{ 8, 8, 8, "trusted whole: all" },
	{ 8, 4, 4, "half" },
	{ 8, 1, 1, "an eighth of 8" },
	{ 3, 1, 1, "rounded up" },
	{ 8, 0, 0, "no trust: none" },
	{ 0, 8, 0, "no updates: none" },
	{ 100, 9, 100, "trust above whole counts as whole" },
};

static void
test_cost(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++)
		is_int(spare_keep(keeps[i].prewarm, keeps[i].max,
		    keeps[i].recent, keeps[i].hint, keeps[i].active),
		    keeps[i].want, "spare_keep: %s", keeps[i].what);
	for (i = 0; i < sizeof(lates) / sizeof(lates[0]); i++)
		is_int(spare_late_est(lates[i].est, lates[i].elapsed),
		    lates[i].want, "spare_late_est: %s", lates[i].what);
	for (i = 0; i < sizeof(trusts) / sizeof(trusts[0]); i++)
		is_int(sparehint_trust(trusts[i].trust, trusts[i].announced,
		    trusts[i].calls), trusts[i].want, "sparehint_trust: %s",
		    trusts[i].what);
	for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++)
		is_int(sparehint_scale(scales[i].n, scales[i].trust),
		    scales[i].want, "sparehint_scale: %s", scales[i].what);
	/* One bot's unused hints cost it trust, not another bot's. */
	is_int(sparehint_note("111", 8), 8, "a bot's first hint counts whole");
	is_int(sparehint_note("111", 8), 4, "unused: its next counts half");
	is_int(sparehint_note("222", 8), 8, "another bot's counts whole");
	sparehint_call("111");
	is_int(sparehint_note("111", 8), 2, "one call of 8 announced: 2");
}

int
main(void)
{
	size_t	 i;

	test_cost();
	for (i = 0; i < sizeof(learns) / sizeof(learns[0]); i++)
		is_int(spare_learn(learns[i].est, learns[i].ms), learns[i].want,
		    "spare_learn: %s", learns[i].what);
	for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		is_int(spare_wait_ms(waits[i].est, waits[i].elapsed),
		    waits[i].want, "spare_wait_ms: %s", waits[i].what);

	for (i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++) {
		const struct target_case *tc = &target_cases[i];

		is_int(spare_target(tc->tc_prewarm, tc->tc_max, tc->tc_recent,
		    tc->tc_hint), tc->tc_want, "%s", tc->tc_name);
	}
	return (done_testing());
}
