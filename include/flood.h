/* SPDX-License-Identifier: ISC */
/*
 * flood.c: the flood guard.  When the Bot API answers a call of bot B
 * that names chat C with 429 and parameters.retry_after N, B's calls to
 * C are answered here with the same 429 for the next N seconds, without
 * going upstream.  One table for all requests, bounded, oldest evicted;
 * module state, so it outlives a reload.
 *
 * The owner (client.c) asks flood_head() once the head is admitted, and
 * while it answers FLOOD_WAIT, flood_body() as body bytes come; the wait
 * ends by FLOOD_BODY_MAX bytes, the body's end or FLOOD_WAIT_MS, and the
 * hook given to flood_head() is called if the clock ends it.  reply.c
 * hands the reply to flood_reply_*(), where a 429 is learned.
 */
#ifndef FLOOD_H
#define FLOOD_H

#include <stddef.h>
#include <stdint.h>

struct req;

#define FLOOD_TABLE_MAX	1024	/* held (bot, chat) pairs */
#define FLOOD_BODY_MAX	(64 * 1024)	/* body read to find the chat */
#define FLOOD_WAIT_MS	1000	/* ... for at most this long */
#define FLOOD_REPLY_MAX	4096	/* a 429's body, read for retry_after */
#define FLOOD_RETRY_MAX	86400	/* longest retry_after believed, s */

enum flood_verdict {
	FLOOD_GO,		/* send it upstream */
	FLOOD_WAIT,		/* the chat is in body bytes still to come, or
				   flood_pace holds it: the hook starts it */
	FLOOD_HOLD		/* answer 429 here: flood_retry_after() */
};

int	 flood_head(struct req *, void (*)(struct req *));
int	 flood_waiting(const struct req *);
int	 flood_body_all(const struct req *);
int	 flood_body(struct req *);
long	 flood_retry_after(const struct req *);
const char *flood_event(const struct req *);
void	 flood_access(const struct req *, char *, size_t, char *, size_t);
void	 flood_req_free(struct req *);

void	 flood_reply_head(struct req *, int);
void	 flood_reply_body(struct req *, const char *, size_t);
void	 flood_reply_end(struct req *);

/* The table, by the monotonic clock in ms (now), for the unit tests too. */
uint64_t flood_now(void);
uint64_t flood_now_us(void);
void	 flood_table_hold(uint64_t, const char *, uint64_t, uint64_t);
uint64_t flood_table_left(uint64_t, const char *, uint64_t);
int	 flood_table_count(uint64_t);
void	 flood_table_clear(void);

#endif /* FLOOD_H */
