/* SPDX-License-Identifier: ISC */
/*
 * upstream_fail.c: what a failed upstream attempt means.  The layer where
 * it failed gathers the facts (conn.c: libcurl's tunnel and our TLS;
 * upstream_h1.c: the request and its reply); one table maps the stage to
 * the bot's status and words, the metrics stage, proxy blame and retry.
 */
#ifndef UPSTREAM_FAIL_H
#define UPSTREAM_FAIL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct config;
struct req;

enum upstream_stage {
	UST_NONE,		/* not decided: read libcurl's result */
	UST_LOCAL,		/* the bot left, or we ran out of memory */
	UST_FDS,		/* we ran out of file descriptors */
	UST_PROXY_CONNECT,	/* no TCP (or no name) for the first hop */
	UST_PROXY_TLS,		/* TLS with an https:// proxy itself */
	UST_PROXY_ANSWER,	/* CONNECT answered, but not with a 2xx */
	UST_PROXY_SOCKS,	/* the SOCKS hop refused */
	UST_TUNNEL,		/* CONNECT, SOCKS or TLS through them failed */
	UST_PROXY_TIMEOUT,	/* ... or not done in connect_timeout */
	UST_CONNECT,		/* direct: no TCP to the upstream */
	UST_CONNECT_TIMEOUT,	/* direct: no connection in connect_timeout */
	UST_TLS_VERIFY,		/* the certificate the upstream showed */
	UST_TLS,		/* the TLS handshake with the upstream */
	UST_SEND_TIMEOUT,	/* the body stopped moving: stall_timeout */
	UST_TIMEOUT,		/* sent, and no answer in upstream_timeout */
	UST_RECV_TIMEOUT,	/* the answer stopped moving: stall_timeout */
	UST_UNSENT,		/* closed before the request went out */
	UST_BROKEN,		/* sent, and the connection broke */
	UST_REPLY,		/* a reply the sidecar cannot frame */
	UST_DNS,		/* direct: the upstream's name did not resolve */
	UST_PROXY_DNS,		/* the first hop's own name did not resolve */
	UST_SOCKS_DNS,		/* socks5:// left us a name we cannot resolve */
	UST_SOCKS_REPLY		/* the SOCKS hop could not reach its target */
};

/* Where an attempt is, each with its clock. */
enum upstream_phase {
	UPH_CONNECT,		/* proxy, tunnel, TLS: connect_timeout */
	UPH_SEND,		/* the request goes out: stall_timeout */
	UPH_WAIT,		/* all sent, no answer: upstream_timeout */
	UPH_RECV		/* the answer comes in: stall_timeout */
};

/* What got done before a failure: gathered once, judged by a table. */
struct upstream_facts {
	CURLcode	 uf_rc;			/* libcurl's, making the tunnel */
	long		 uf_connect_code;	/* the proxy's CONNECT answer */
	int		 uf_fds;		/* EMFILE or ENFILE */
	int		 uf_scheme;		/* enum proxy_scheme in use */
	long		 uf_pxcode;		/* CURLINFO_PROXY_ERROR */
	long		 uf_pxauth;		/* CURLINFO_PROXYAUTH_AVAIL */
	int		 uf_stage;		/* enum upstream_stage */
	const char	*uf_why;		/* words; NULL: libcurl's */
	int		 uf_tunnel;		/* the tunnel was made */
	int		 uf_phase;		/* enum upstream_phase */
	long		 uf_limit_ms;		/* the clock of that phase */
	long		 uf_tls_learned_ms;	/* the TLS handshake's clock
						   was a multiple of this */
	int		 uf_longpoll;		/* its wait is the poll's own */
	uint64_t	 uf_up;			/* body bytes the hop took */
	int64_t		 uf_up_total;		/* 0: no body, -1: chunked */
	uint64_t	 uf_down;		/* answer body bytes received */
	int64_t		 uf_down_total;		/* -1: unknown */
};

enum upstream_stage upstream_fail_stage(const struct upstream_facts *);
int	 upstream_fail_judge(struct config *, int,
	    const struct upstream_facts *, int, char *, size_t,
	    enum upstream_stage *);
int	 upstream_fail_retryable(struct req *, enum upstream_stage);
int	 upstream_fail_clock(const struct upstream_facts *, char *, size_t);

#endif /* UPSTREAM_FAIL_H */
