/* SPDX-License-Identifier: ISC */
/*
 * spare.c: connections opened ahead (proxy step and TLS done, no
 * request sent), each handed to one request and never back.
 */
#ifndef SPARE_H
#define SPARE_H

#include <curl/curl.h>

struct config;
struct event_base;
struct req;

struct spare;

/* upstream_easy(): a handle the way a request's goes, from its owner. */
typedef CURL	*(*spare_easy_fn)(struct req *);
/* A waiting request's spare: its handle, or NULL: go fresh now. */
typedef void	 (*spare_got_fn)(void *, CURL *);

int	 spare_init(struct event_base *, spare_easy_fn);
void	 spare_free(void);
void	 spare_config(struct config *);
void	 spare_begin(const struct config *);
void	 spare_busy(int);
void	 spare_ok(void);
void	 spare_hint(int);
CURL	*spare_take(const struct config *, int);
struct spare *spare_wait(const struct config *, int, spare_got_fn, void *);
void	 spare_unwait(struct spare *);
long	 spare_learn(long, long);
long	 spare_wait_ms(long, long);
int	 spare_target(int, int, int, int);
int	 spare_count(void);

#endif /* SPARE_H */
