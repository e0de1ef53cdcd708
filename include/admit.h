/* SPDX-License-Identifier: ISC */
/*
 * admit.c: whether a request, its head read, may go upstream: peer,
 * HTTP version, method, route, bot, body size, requests in flight.
 */
#ifndef ADMIT_H
#define ADMIT_H

#include <http_parser.h>

struct req;
struct sockaddr;

int	 admit_framing(const struct req *, const http_parser *,
	    const char **);
int	 admit_peer(const struct req *, const struct sockaddr *);
int	 admit_request(struct req *, const http_parser *,
	    const struct sockaddr *, int, int *, const char **);

#endif /* ADMIT_H */
