/* SPDX-License-Identifier: ISC */
/*
 * upstream_req.c: the request's head on the wire, for every connection.
 */
#ifndef UPSTREAM_REQ_H
#define UPSTREAM_REQ_H

struct evbuffer;
struct req;

int	 upstream_req_head(struct req *, struct evbuffer *);

#endif /* UPSTREAM_REQ_H */
