/* SPDX-License-Identifier: ISC */
/*
 * Exponential backoff after failures: base, 2 * base, ... up to a cap,
 * and each wait drawn from [cur / 2, cur] ("equal jitter") so that bots
 * restarted together do not hit the sidecar in step.
 */
#include "config.h"

#include "bot.h"

void
botbackoff_init(struct botbackoff *bb, long base_ms, long cap_ms)
{
	bb->bb_base_ms = base_ms > 0 ? base_ms : 1;
	bb->bb_cap_ms = cap_ms >= bb->bb_base_ms ? cap_ms : bb->bb_base_ms;
	bb->bb_cur_ms = 0;
}

void
botbackoff_reset(struct botbackoff *bb)
{
	bb->bb_cur_ms = 0;
}

/* The next wait in ms, given a random number; grows the next one. */
long
botbackoff_next(struct botbackoff *bb, uint32_t rnd)
{
	long	 half;

	if (bb->bb_cur_ms == 0)
		bb->bb_cur_ms = bb->bb_base_ms;
	else if (bb->bb_cur_ms > bb->bb_cap_ms / 2)
		bb->bb_cur_ms = bb->bb_cap_ms;
	else
		bb->bb_cur_ms *= 2;
	half = bb->bb_cur_ms / 2;
	return (bb->bb_cur_ms - half + (long)(rnd % (uint32_t)(half + 1)));
}
