/* SPDX-License-Identifier: ISC */
/*
 * tls.c: one trust store and TLS session cache for every handle.
 */
#ifndef TLS_H
#define TLS_H

#include <curl/curl.h>

struct config;
struct ssl_st;

int	 tls_init(const struct config *);
void	 tls_free(void);
void	 tls_setopts(CURL *);
CURLSH	*tls_sessions(void);
int	 tls_release(CURL *);
int	 tls_release_ssl(struct ssl_st *);

#endif /* TLS_H */
