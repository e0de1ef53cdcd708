/* SPDX-License-Identifier: ISC */
/*
 * upstream_head.c: the reply's head checked, field by field, and handed
 * to the bot framed our way.  Each returns -1 if the reply is refused
 * (req_up_bad says why) or cannot be handed on.
 */
#ifndef UPSTREAM_HEAD_H
#define UPSTREAM_HEAD_H

#include <stddef.h>

#include <http_parser.h>

struct req;

int	 upstream_head_bytes(struct req *, size_t);
int	 upstream_head_status(struct req *, unsigned int);
int	 upstream_head_field(struct req *, const char *, size_t, const char *,
	    size_t);
int	 upstream_head_end(struct req *);
const char *upstream_head_parse_why(enum http_errno);

#endif /* UPSTREAM_HEAD_H */
