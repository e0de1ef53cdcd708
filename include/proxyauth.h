/* SPDX-License-Identifier: ISC */
/*
 * proxyauth.c: what libcurl is given for proxy authentication beyond a
 * user and password (Negotiate from the Kerberos ticket cache), and the
 * words for a 407 that a missing ticket explains.
 */
#ifndef PROXYAUTH_H
#define PROXYAUTH_H

#include <stddef.h>
#include <curl/curl.h>

struct config;
struct proxy;

const char	*proxyauth_userpwd(const struct config *, const struct proxy *);
void		 proxyauth_hint(const struct config *, long, long, char *,
		    size_t);

#endif /* PROXYAUTH_H */
