/* SPDX-License-Identifier: ISC */
/*
 * multi.c: libcurl's multi_socket API driven by the libevent loop.  A
 * transfer's owner hands in the hook that hears of its end, so multi.c
 * names no one above it.
 */
#ifndef MULTI_H
#define MULTI_H

#include <curl/curl.h>

struct event_base;

/* Called from the loop when a transfer added with multi_add() ended. */
typedef void	(*multi_done_fn)(void *, CURLcode);
/* Called from the loop when libcurl waits only to read: see multi.c. */
typedef void	(*multi_reading_fn)(void *);

int	 multi_init(struct event_base *);
void	 multi_free(void);
int	 multi_add(CURL *, multi_done_fn, void *);
void	 multi_remove(CURL *);
void	 multi_rehook(CURL *, multi_done_fn, void *);
void	 multi_reading(CURL *, multi_reading_fn);

#endif /* MULTI_H */
