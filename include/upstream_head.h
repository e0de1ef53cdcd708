/* SPDX-License-Identifier: ISC */
/*
 * upstream_head.c: the reply's head checked, field by field, and handed
 * to the bot framed our way.  Each returns -1 if the reply is refused
 * (rp_bad says why) or cannot be handed on.
 */
#ifndef UPSTREAM_HEAD_H
#define UPSTREAM_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

struct evbuffer;
struct req;

/*
 * What an attempt's reply head set: one per attempt (upstream_h1.c),
 * read through req_reply while the attempt lives, dropped with it.
 */
struct upstream_reply {
	int		 rp_status;	/* of the message being read; 0: none */
	int64_t		 rp_clen;	/* -1: unknown */
	int		 rp_chunked;	/* Transfer-Encoding: chunked */
	char		*rp_connection;	/* its Connection: list */
	struct evbuffer	*rp_head;	/* checked fields, as the bot gets them */
	size_t		 rp_headlen;	/* head bytes, interim heads too */
	const char	*rp_bad;	/* why the reply is refused, or NULL */
};

int	 upstream_head_init(struct upstream_reply *);
void	 upstream_head_clear(struct upstream_reply *);

int	 upstream_head_bytes(struct req *, size_t);
int	 upstream_head_status(struct req *, unsigned int);
int	 upstream_head_field(struct req *, const char *, size_t, const char *,
	    size_t);
int	 upstream_head_end(struct req *);
const char *upstream_head_parse_why(enum http_errno);

#endif /* UPSTREAM_HEAD_H */
