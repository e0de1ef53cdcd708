/* SPDX-License-Identifier: ISC */
/*
 * floodpace.c: flood_pace, the schedule of a bot's calls to chats within
 * Telegram's published rates.  Each (bot), (bot, chat) and (bot, group)
 * is a GCRA: a burst at once, then one call per interval.  A call gets
 * the earliest time all of its keys allow, and never before an earlier
 * call to the same chat (order is kept per chat).  No I/O: the caller
 * keeps the clock (microseconds, monotonic) and the timers.
 */
#ifndef FLOODPACE_H
#define FLOODPACE_H

#include <stdint.h>

#define FLOODPACE_TABLE_MAX	1024	/* (bot, key) schedules kept */

struct floodpace_rates {
	uint64_t	 fp_chat_us;	/* interval between calls to a chat */
	uint64_t	 fp_group_us;	/* ... to a group or channel */
	uint64_t	 fp_bot_us;	/* ... of a bot, to any chat */
	int		 fp_burst;	/* calls at once before the rates */
};

int	 floodpace_reserve(const struct floodpace_rates *, uint64_t,
	    const char *, uint64_t, uint64_t, uint64_t *);
int	 floodpace_group(const char *);
void	 floodpace_clear(void);

#endif /* FLOODPACE_H */
