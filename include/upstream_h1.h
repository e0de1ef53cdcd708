/* SPDX-License-Identifier: ISC */
/*
 * upstream_h1.c: the HTTP/1.1 framer, one attempt of a request on one
 * connection.  It ends through the hook its owner installed: the facts
 * of a failure, or NULL if the reply was handed on whole.
 */
#ifndef UPSTREAM_H1_H
#define UPSTREAM_H1_H

struct conn;
struct req;
struct timespec;
struct upstream_facts;

typedef void	(*upstream_h1_done_fn)(struct req *,
		    const struct upstream_facts *);

int	 upstream_h1_start(struct req *, struct conn *,
	    const struct timespec *, long, upstream_h1_done_fn);
void	 upstream_h1_stop(struct req *);
void	 upstream_h1_resume(struct req *);

#endif /* UPSTREAM_H1_H */
