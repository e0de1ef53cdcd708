/* SPDX-License-Identifier: ISC */
/*
 * flood_pace: when may a bot's call to a chat go, so that it stays within
 * Telegram's limits (about 1 message a second to a chat, 20 a minute to a
 * group, about 30 a second in all; short bursts allowed).  Each limit is a
 * GCRA (the virtual-scheduling form of a token bucket): its theoretical
 * arrival time (tat) moves on by one interval per call sent, and a call
 * may go once tat is less than burst - 1 intervals ahead of it.
 *
 * Module state, like the flood guard's table: bounded, the schedule that
 * would end first evicted, kept across reloads.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "floodchat.h"
#include "floodpace.h"

enum floodpace_kind { FLOODPACE_BOT, FLOODPACE_CHAT, FLOODPACE_GROUP };

struct floodpace_entry {
	uint64_t	 pe_bot;
	int		 pe_kind;	/* enum floodpace_kind */
	uint64_t	 pe_tat;	/* us; past: the slot is free */
	uint64_t	 pe_last;	/* us: the last call's time (chats) */
	char		 pe_chat[FLOODCHAT_MAX];
};

static struct floodpace_entry	 floodpace[FLOODPACE_TABLE_MAX];

/* Groups, supergroups and channels have negative ids or a @username. */
int
floodpace_group(const char *chat)
{
	return (chat[0] == '-' || chat[0] == '@');
}

/*
 * The schedule of (bot, kind, chat), or a new one (tat now) in a free slot
 * or the one that ends first; never one of the call's others (keep).
 */
static struct floodpace_entry *
floodpace_find(uint64_t bot, int kind, const char *chat, uint64_t now,
    const struct floodpace_entry *keep0, const struct floodpace_entry *keep1)
{
	struct floodpace_entry	*pe, *free_pe = NULL, *old = NULL;
	size_t			 i;

	for (i = 0; i < FLOODPACE_TABLE_MAX; i++) {
		pe = &floodpace[i];
		if (pe->pe_bot == bot && pe->pe_kind == kind &&
		    pe->pe_tat != 0 && strcmp(pe->pe_chat, chat) == 0)
			return (pe);
		if (pe == keep0 || pe == keep1)
			continue;
		if (pe->pe_tat < now && pe->pe_last < now) {
			if (free_pe == NULL)
				free_pe = pe;
		} else if (old == NULL || pe->pe_tat < old->pe_tat)
			old = pe;
	}
	pe = free_pe != NULL ? free_pe : old;
	memset(pe, 0, sizeof(*pe));
	pe->pe_bot = bot;
	pe->pe_kind = kind;
	pe->pe_tat = now;
	snprintf(pe->pe_chat, sizeof(pe->pe_chat), "%s", chat);
	return (pe);
}

/* The earliest time this limit lets a call go. */
static uint64_t
floodpace_allowed(const struct floodpace_entry *pe, uint64_t iv, int burst,
    uint64_t now)
{
	uint64_t	 ahead = (uint64_t)(burst > 1 ? burst - 1 : 0) * iv;

	if (pe->pe_tat <= now + ahead)
		return (now);
	return (pe->pe_tat - ahead);
}

static void
floodpace_commit(struct floodpace_entry *pe, uint64_t iv, uint64_t t)
{
	pe->pe_tat = (pe->pe_tat > t ? pe->pe_tat : t) + iv;
	pe->pe_last = t;
}

/*
 * A call of bot to chat at now: *wait is how long it must wait (us).
 * Returns 0 and books its time, or -1 if that is beyond max_wait (then
 * nothing is booked and *wait says how long it would have been).
 */
int
floodpace_reserve(const struct floodpace_rates *r, uint64_t bot,
    const char *chat, uint64_t now, uint64_t max_wait, uint64_t *wait)
{
	struct floodpace_entry	*b, *c, *g = NULL;
	uint64_t		 t, a;

	/* now + 1: a tat of 0 means a free slot. */
	now++;
	b = floodpace_find(bot, FLOODPACE_BOT, "", now, NULL, NULL);
	c = floodpace_find(bot, FLOODPACE_CHAT, chat, now, b, NULL);
	t = floodpace_allowed(b, r->fp_bot_us, r->fp_burst, now);
	if ((a = floodpace_allowed(c, r->fp_chat_us, r->fp_burst, now)) > t)
		t = a;
	if (floodpace_group(chat)) {
		g = floodpace_find(bot, FLOODPACE_GROUP, chat, now, b, c);
		if ((a = floodpace_allowed(g, r->fp_group_us, r->fp_burst,
		    now)) > t)
			t = a;
	}
	/* Never before an earlier call to the chat still waiting. */
	if (c->pe_last > now && t <= c->pe_last)
		t = c->pe_last + 1;
	*wait = t - now;
	if (*wait > max_wait)
		return (-1);
	floodpace_commit(b, r->fp_bot_us, t);
	floodpace_commit(c, r->fp_chat_us, t);
	if (g != NULL)
		floodpace_commit(g, r->fp_group_us, t);
	return (0);
}

void
floodpace_clear(void)
{
	memset(floodpace, 0, sizeof(floodpace));
}
