/* SPDX-License-Identifier: ISC */
/*
 * multi.c: libcurl's multi_socket API driven by the libevent loop, for
 * the tunnels libcurl makes (conn.c).  A transfer's owner hands in the
 * hook that hears of its end, so multi.c names no one above it.
 */
#ifndef MULTI_H
#define MULTI_H

#include <curl/curl.h>

struct event_base;

/* Called from the loop when a transfer added with multi_add() ended. */
typedef void	(*multi_done_fn)(void *, CURLcode);

int	 multi_init(struct event_base *);
void	 multi_free(void);
int	 multi_add(CURL *, multi_done_fn, void *);
void	 multi_remove(CURL *);

#endif /* MULTI_H */
