/* SPDX-License-Identifier: ISC */
/*
 * spare_target(): how many spare connections to keep, from prewarm,
 * prewarm_max, the recent concurrency and a getUpdates hint.
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

int
main(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++) {
		const struct target_case *tc = &target_cases[i];

		is_int(spare_target(tc->tc_prewarm, tc->tc_max, tc->tc_recent,
		    tc->tc_hint), tc->tc_want, "%s", tc->tc_name);
	}
	return (done_testing());
}
