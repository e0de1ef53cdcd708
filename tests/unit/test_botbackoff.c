/* SPDX-License-Identifier: ISC */
/*
 * botbackoff: the wait grows from the base to the cap by doubling, and
 * each one lies in [cur / 2, cur] whatever the random number.
 */
#include <stdint.h>

#include "bot/bot.h"
#include "tap.h"

int
main(void)
{
	static const long	 want[] = { 1000, 2000, 4000, 8000, 16000,
				    32000, 60000, 60000, 60000 };
	static const uint32_t	 rnds[] = { 0, 1, 499, 500, 501, 12345,
				    UINT32_MAX - 1, UINT32_MAX };
	struct botbackoff	 bb;
	size_t			 i, j;
	long			 ms, lo = 0, hi = 0;
	int			 inside;

	/* Growth and cap, read off the top of the jitter range. */
	botbackoff_init(&bb, BOTBACKOFF_BASE_MS, BOTBACKOFF_CAP_MS);
	is_int(bb.bb_cur_ms, 0, "fresh: no failure yet");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		botbackoff_next(&bb, 0);
		is_int(bb.bb_cur_ms, want[i], "failure %zu: %ld ms", i + 1,
		    want[i]);
	}

	/* Jitter bounds at every step, for many random numbers. */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		inside = 1;
		for (j = 0; j < sizeof(rnds) / sizeof(rnds[0]); j++) {
			botbackoff_init(&bb, BOTBACKOFF_BASE_MS,
			    BOTBACKOFF_CAP_MS);
			for (ms = 0; bb.bb_cur_ms != want[i] ||
			    ms == 0; )
				ms = botbackoff_next(&bb, rnds[j]);
			if (ms < (want[i] + 1) / 2 || ms > want[i])
				inside = 0;
		}
		ok(inside, "step %ld ms: waits within [%ld, %ld]", want[i],
		    (want[i] + 1) / 2, want[i]);
	}
	botbackoff_init(&bb, BOTBACKOFF_BASE_MS, BOTBACKOFF_CAP_MS);
	is_int(botbackoff_next(&bb, 0), 500, "rnd 0: the low end");
	botbackoff_init(&bb, BOTBACKOFF_BASE_MS, BOTBACKOFF_CAP_MS);
	is_int(botbackoff_next(&bb, 500), 1000, "rnd 500: the high end");

	/* The jitter really spreads: 1000 draws at the cap. */
	while (bb.bb_cur_ms < BOTBACKOFF_CAP_MS)
		botbackoff_next(&bb, 0);
	for (i = 0; i < 1000; i++) {
		ms = botbackoff_next(&bb, (uint32_t)(i * 2654435761u));
		if (i == 0 || ms < lo)
			lo = ms;
		if (i == 0 || ms > hi)
			hi = ms;
	}
	ok(lo >= 30000 && hi <= 60000, "at the cap: within [30, 60] s");
	ok(hi - lo > 20000, "at the cap: spread over most of it (%ld ms)",
	    hi - lo);

	/* Reset starts over; odd parameters are tamed. */
	botbackoff_reset(&bb);
	botbackoff_next(&bb, 0);
	is_int(bb.bb_cur_ms, 1000, "reset: back to the base");
	botbackoff_init(&bb, 0, -1);
	ms = botbackoff_next(&bb, 7);
	ok(ms >= 1 && bb.bb_cur_ms >= 1, "base 0 and cap -1: still waits");
	botbackoff_init(&bb, 300, 1000);
	for (i = 0; i < 5; i++)
		botbackoff_next(&bb, 0);
	is_int(bb.bb_cur_ms, 1000, "cap that is not a power of two is hit");
	return (done_testing());
}
