/* SPDX-License-Identifier: ISC */
/*
 * A getUpdates answer that carries n updates says n calls will follow,
 * and spare.c opens spares for them.  A bot that reads and never answers
 * makes that guess wrong every poll, and each wrong guess costs
 * connections that carry nothing.  So each guess is checked against what
 * followed: a bot's hint is judged at its next one by whether any call
 * (not a long poll) of that bot came between.  Trust is a moving average
 * of that outcome: halved by an unused hint, back halfway to whole by a
 * used one; a hint opens n scaled by it.  At trust 0 a hint opens none,
 * but a call that still follows one restores it.
 *
 * Bots are keyed by their id (the digits before the token's colon: no
 * secret), SPAREHINT_SOURCES of them, the least recent forgotten.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "sparehint.h"

struct sparehint_src {
	char		 sh_bot[24];	/* "": a free slot */
	int		 sh_trust;	/* 0 .. SPAREHINT_FULL */
	int		 sh_announced;	/* its last hint's n; 0: none */
	int		 sh_calls;	/* calls since */
	unsigned long	 sh_seq;	/* last seen, for eviction */
};

static struct sparehint_src	sh_src[SPAREHINT_SOURCES];
static unsigned long		sh_seq;

/*
 * The next trust from trust, a hint of announced calls and the calls that
 * came: halfway toward the share that came, rounded away from trust so
 * that it reaches both 0 and whole.  Pure, for the unit test.
 */
int
sparehint_trust(int trust, int announced, int calls)
{
	int	 seen;

	if (announced <= 0)
		return (trust);
	if (calls > announced)
		calls = announced;
	if (calls < 0)
		calls = 0;
	seen = SPAREHINT_FULL * calls / announced;
	if (seen >= trust)
		return ((trust + seen + 1) / 2);
	return ((trust + seen) / 2);
}

/* The spares a hint of n is worth at trust: n scaled, rounded up. */
int
sparehint_scale(int n, int trust)
{
	if (n <= 0 || trust <= 0)
		return (0);
	if (trust > SPAREHINT_FULL)
		trust = SPAREHINT_FULL;
	return ((n * trust + SPAREHINT_FULL - 1) / SPAREHINT_FULL);
}

/* bot's slot; make: a new one, trusted whole, in the least recent's. */
static struct sparehint_src *
sparehint_find(const char *bot, int make)
{
	struct sparehint_src	*s, *old = &sh_src[0];
	size_t			 i;

	for (i = 0; i < SPAREHINT_SOURCES; i++) {
		s = &sh_src[i];
		if (s->sh_bot[0] != '\0' && strcmp(s->sh_bot, bot) == 0)
			goto found;
		if (s->sh_seq < old->sh_seq)
			old = s;
	}
	if (!make)
		return (NULL);
	s = old;
	memset(s, 0, sizeof(*s));
	snprintf(s->sh_bot, sizeof(s->sh_bot), "%s", bot);
	s->sh_trust = SPAREHINT_FULL;
 found:
	s->sh_seq = ++sh_seq;
	return (s);
}

/*
 * A getUpdates answer of bot's carried n updates: its last hint is
 * judged, and this one is worth what is returned, in spares.
 */
int
sparehint_note(const char *bot, int n)
{
	struct sparehint_src	*s;
	int			 trust;

	if (n <= 0 || bot == NULL)
		return (0);
	s = sparehint_find(bot, 1);
	if (s->sh_announced > 0) {
		metrics_spare_hint(s->sh_calls > 0 ? METRICS_HINT_USED :
		    METRICS_HINT_UNUSED);
		trust = sparehint_trust(s->sh_trust, s->sh_announced,
		    s->sh_calls);
		if (trust != s->sh_trust)
			log_info("getUpdates hints of bot %s now count %d/%d: "
			    "%d of %d announced calls came", bot, trust,
			    SPAREHINT_FULL, s->sh_calls, s->sh_announced);
		s->sh_trust = trust;
	}
	s->sh_announced = n;
	s->sh_calls = 0;
	return (sparehint_scale(n, s->sh_trust));
}

/* A call (not a long poll) of bot's began: its hint came true. */
void
sparehint_call(const char *bot)
{
	struct sparehint_src	*s;

	if (bot != NULL && (s = sparehint_find(bot, 0)) != NULL)
		s->sh_calls++;
}
