/* SPDX-License-Identifier: ISC */
/*
 * share.c: requests in flight per bot, so that one bot cannot hold all
 * of max_inflight (max_inflight_per_bot).
 */
#ifndef SHARE_H
#define SHARE_H

#include <sys/queue.h>

struct config;

struct share_bot {
	TAILQ_ENTRY(share_bot)	 sb_entry;
	char			 sb_bot[24];	/* bot id, as route.c reads it */
	int			 sb_n;		/* its requests in flight */
};

/* Only bots with a request in flight have an entry: at most max_inflight. */
struct share {
	TAILQ_HEAD(, share_bot)	 sh_bots;
	int			 sh_init;
	int			 sh_nbots;
};

int	 share_limit(const struct config *);
int	 share_full(struct share *, const struct config *, const char *, int *,
	    const char **);
int	 share_count(struct share *, const char *);
int	 share_take(struct share *, const char *);
void	 share_drop(struct share *, const char *);

#endif /* SHARE_H */
