/* SPDX-License-Identifier: ISC */
/*
 * spare_target(): how many spare connections to keep, from prewarm,
 * prewarm_max, the recent concurrency and a getUpdates hint;
 * spare_learn() and spare_wait_ms(): whether a request waits for a spare
 * being built, and how long at most.
 */
#include <stddef.h>

#include "spare.h"
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

int
main(void)
{
	size_t	 i;

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
