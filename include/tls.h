/* SPDX-License-Identifier: ISC */
/*
 * tls.c: the sidecar's TLS with the upstream, on one SSL_CTX and one
 * trust store, with a session cache keyed by host and port.
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>

#include <curl/curl.h>

struct config;
struct ssl_st;

int	 tls_init(const struct config *);
void	 tls_free(void);
void	 tls_flush(void);
struct ssl_st	*tls_client(const char *, const char *, int);
int	 tls_why(struct ssl_st *, int, char *, size_t);
int	 tls_release_ssl(struct ssl_st *);
void	 tls_setopts(CURL *);

#endif /* TLS_H */
