/* SPDX-License-Identifier: ISC */
/*
 * A fair share of max_inflight per bot.  Without one, a bot that holds
 * long polls, slow uploads or a flood of calls takes every slot and every
 * other bot on the sidecar gets 503.  The bot over its share gets the 503
 * (with retry_after), the others go on.  Entries live only while a bot
 * has a request in flight, so their number is bounded by max_inflight;
 * a bot is found by a walk of the list, which is as long as the number
 * of bots with requests in flight (a handful on a sidecar).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "metrics.h"
#include "share.h"

/*
 * max_inflight_per_bot, 0 meaning half of max_inflight: a bot over its
 * share leaves at least half of the sidecar to the others, and half of
 * the default 1024 is far more than one bot's long poll and calls need.
 */
int
share_limit(const struct config *cfg)
{
	int	 n = cfg->cfg_max_inflight_per_bot;

	if (n == 0)
		n = cfg->cfg_max_inflight / 2;
	if (n > cfg->cfg_max_inflight)
		n = cfg->cfg_max_inflight;
	return (n < 1 ? 1 : n);
}

/* Is bot at its share?  Then the 503 to refuse it with, counted. */
int
share_full(struct share *sh, const struct config *cfg, const char *bot,
    int *status, const char **why)
{
	if (share_count(sh, bot) < share_limit(cfg))
		return (0);
	metrics_refused(METRICS_REFUSED_BOT_SHARE);
	*status = 503;
	*why = "Service Unavailable: this bot has max_inflight_per_bot "
	    "requests in flight, retry after 1";
	return (1);
}

static struct share_bot *
share_find(struct share *sh, const char *bot)
{
	struct share_bot	*sb;

	if (!sh->sh_init) {
		TAILQ_INIT(&sh->sh_bots);
		sh->sh_init = 1;
	}
	TAILQ_FOREACH(sb, &sh->sh_bots, sb_entry)
		if (strcmp(sb->sb_bot, bot) == 0)
			return (sb);
	return (NULL);
}

int
share_count(struct share *sh, const char *bot)
{
	struct share_bot	*sb = share_find(sh, bot);

	return (sb != NULL ? sb->sb_n : 0);
}

/* One more request of bot in flight; -1 if out of memory. */
int
share_take(struct share *sh, const char *bot)
{
	struct share_bot	*sb;

	if ((sb = share_find(sh, bot)) == NULL) {
		if ((sb = calloc(1, sizeof(*sb))) == NULL)
			return (-1);
		snprintf(sb->sb_bot, sizeof(sb->sb_bot), "%s", bot);
		TAILQ_INSERT_HEAD(&sh->sh_bots, sb, sb_entry);
		sh->sh_nbots++;
	}
	sb->sb_n++;
	return (0);
}

void
share_drop(struct share *sh, const char *bot)
{
	struct share_bot	*sb;

	if ((sb = share_find(sh, bot)) == NULL || --sb->sb_n > 0)
		return;
	TAILQ_REMOVE(&sh->sh_bots, sb, sb_entry);
	sh->sh_nbots--;
	free(sb);
}
