/* SPDX-License-Identifier: ISC */
/*
 * util.c: small pure helpers both programs use.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>

struct timeval;
struct timespec;
struct sockaddr;
void	 util_ms_timeval(long, struct timeval *);
long	 util_ms_between(const struct timespec *, const struct timespec *);
long	 util_learn_ms(long, long);
double	 util_ms_since(const struct timespec *);
void	 util_peer_str(const struct sockaddr *, char *, size_t);
int	 util_sockaddr_host(const struct sockaddr *, char *, size_t);
int	 util_json_escape(char *, size_t, const char *, size_t *);
int	 util_urldecode(const char *, size_t, char *, size_t, size_t *,
	    int);

#endif /* UTIL_H */
