/* SPDX-License-Identifier: ISC */
/*
 * spare.c: connections opened ahead (conn.c: proxy step and TLS done, no
 * request sent), each handed to one request and never back.
 */
#ifndef SPARE_H
#define SPARE_H

#include <stddef.h>

struct config;
struct conn;
struct event_base;

struct spare;

/* A waiting request's spare: its connection, or NULL: go fresh now. */
typedef void	 (*spare_got_fn)(void *, struct conn *);

int	 spare_init(struct event_base *);
void	 spare_free(void);
void	 spare_config(struct config *);
void	 spare_begin(const struct config *);
void	 spare_busy(int);
void	 spare_ok(void);
void	 spare_hint(int);
struct conn	*spare_take(const struct config *, int);
struct spare	*spare_wait(const struct config *, int, spare_got_fn, void *);
void	 spare_unwait(struct spare *);
int	 spare_adopt(struct conn *);
void	 spare_waiting(const struct spare *, char *, size_t);
long	 spare_learn(long, long);
long	 spare_wait_ms(long, long);
int	 spare_target(int, int, int, int);
int	 spare_count(void);
void	 spare_request(const struct config *, const char *, int);
void	 spare_hint_from(const char *, int);
int	 spare_keep(int, int, int, int, int);
long	 spare_late_est(long, long);

#endif /* SPARE_H */
