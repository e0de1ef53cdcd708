/* SPDX-License-Identifier: ISC */
/*
 * reply.c: HTTP/1.1 framing of what goes back to the bot, written to the
 * request's req_out.
 */
#ifndef REPLY_H
#define REPLY_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct req;

#define REPLY_OUT_HIGH		(256 * 1024)	/* unsent: pause the upstream */
#define REPLY_OUT_LOW		(64 * 1024)	/* resume the upstream */
#define REPLY_RETRY_AFTER	1	/* s, in every 503 of ours */

int	 reply_head(struct req *, int, const char *, struct evbuffer *,
	    int64_t);
int	 reply_body(struct req *, const char *, size_t);
void	 reply_end(struct req *);
void	 reply_error(struct req *, int, const char *);
void	 reply_reject(struct evbuffer *, int, const char *);
void	 reply_full(struct req *, int, const char *, const char *, size_t);
void	 reply_continue(struct req *);
void	 reply_retry(struct req *, long);
size_t	 reply_pending(const struct req *);

#endif /* REPLY_H */
