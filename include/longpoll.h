/* SPDX-License-Identifier: ISC */
/*
 * longpoll.c: a getUpdates long poll through a proxy that forgets idle
 * tunnels.  A swallowed upstream poll is noticed and sent again, and the
 * bot's poll is sliced into upstream polls short enough for that proxy.
 *
 * client.c calls longpoll_read() with the head, and again with the whole
 * body: req_poll_secs and lp_arg are the timeout as the Bot API reads it.
 * An upstream path calls, per attempt: longpoll_prepare() before it
 * builds the request (req_url, req_body, req_clen and req_poll_secs may
 * change), longpoll_sent() when the request has gone out,
 * longpoll_hold() at the end of the reply's head (1: do not answer the
 * bot yet), longpoll_body() with each piece of its body (1: held), at
 * its end longpoll_again() (1: start the next attempt now) and else
 * longpoll_unhold(), and longpoll_stop() when the attempt is dropped.
 * longpoll_updates(): the updates the answer carried, whichever path.
 */
#ifndef LONGPOLL_H
#define LONGPOLL_H

#include <stddef.h>
#include <time.h>

#include <event2/event_struct.h>

#include "pollarg.h"

struct proxy;
struct proxy_slice;
struct req;

#define LONGPOLL_HELD_MAX	128	/* an empty result, with room */
#define LONGPOLL_CTYPE_MAX	256	/* a Content-Type we read */
#define LONGPOLL_OWN		1	/* the bot's own slice changed */
#define LONGPOLL_SHARED		2	/* the proxy's, every bot's */

struct longpoll {
	struct event	 lp_ev;		/* the swallowed-poll check */
	struct pollarg	 lp_arg;	/* its timeout, as the Bot API reads it */
	void		(*lp_again)(struct req *);	/* owner's re-poll */
	int		 lp_on;		/* a long poll we may send again */
	long		 lp_bot;	/* the bot's own timeout, s */
	long		 lp_secs;	/* this upstream poll's timeout, s */
	int		 lp_polls;	/* upstream polls started */
	int		 lp_swallowed;	/* one of them got no answer */
	int		 lp_hold;	/* an empty answer is not the bot's */
	int		 lp_updates;	/* in this answer: calls will follow */
	int		 lp_key;	/* longpoll_count()'s state */
	struct timespec	 lp_begun;	/* this upstream poll started */
	size_t		 lp_heldlen;
	char		 lp_held[LONGPOLL_HELD_MAX];
};

int	 longpoll_is_empty(const char *, size_t);
int	 longpoll_count(int *, const char *, size_t);
long	 longpoll_secs(long, long, long, int, int, int *);
int	 longpoll_learn_swallowed(struct proxy_slice *, long,
	    const struct timespec *);
int	 longpoll_learn_ok(struct proxy_slice *, long,
	    const struct timespec *);
int	 longpoll_learn_witness(struct proxy *, const char *, long,
	    const struct timespec *);
int	 longpoll_learn_answered(struct proxy *, const char *, long,
	    const struct timespec *);
long	 longpoll_slice_of(struct proxy *, const char *);

void	 longpoll_read(struct req *, int);

int	 longpoll_start(struct req *, void (*)(struct req *));
int	 longpoll_prepare(struct req *);
void	 longpoll_sent(struct req *);
void	 longpoll_stop(struct req *);
int	 longpoll_hold(struct req *);
int	 longpoll_body(struct req *, const char *, size_t);
int	 longpoll_unhold(struct req *);
int	 longpoll_again(struct req *);
int	 longpoll_updates(const struct req *);

#endif /* LONGPOLL_H */
