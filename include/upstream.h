/* SPDX-License-Identifier: ISC */
/*
 * upstream.c: one libcurl transfer per request, on a connection never
 * used before or after; upstream_fail.c: what a failed attempt means.
 * Both finish a request through its hooks (req.h).
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct req;
struct upstream_facts;

int	 upstream_start(struct req *);
int	 upstream_probe(struct req *);
void	 upstream_stop(struct req *);
void	 upstream_resume(struct req *);
CURL	*upstream_easy(struct req *);
size_t	 upstream_header(char *, size_t, size_t, void *);

/* upstream_h1.c: a request on a spare connection, framed by us. */
struct upstream_h1_hooks {
	void	(*uh_done)(void *, CURLcode);	/* the attempt ended */
	size_t	(*uh_header)(char *, size_t, size_t, void *);	/* a line */
};

int	 upstream_h1_eligible(const struct req *);
int	 upstream_h1_start(struct req *, CURL *, long,
	    const struct upstream_h1_hooks *);
void	 upstream_h1_stop(struct req *);
void	 upstream_h1_resume(struct req *);
void	 upstream_h1_facts(struct req *, struct upstream_facts *);

/* upstream_fail.c */
enum upstream_stage {
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
	UST_BROKEN,		/* sent, and the connection broke */
	UST_UPSTREAM,		/* sent, and the upstream failed otherwise */
	UST_REPLY,		/* a reply the sidecar cannot frame */
	UST_DNS,		/* direct: the upstream's name did not resolve */
	UST_PROXY_DNS,		/* the first hop's own name did not resolve */
	UST_SOCKS_DNS,		/* socks5:// left us a name we cannot resolve */
	UST_SOCKS_REPLY		/* the SOCKS hop could not reach its target */
};

/* What libcurl got done before a failure: read once, judged by a table. */
struct upstream_facts {
	CURLcode	 uf_rc;
	long		 uf_connect_code;	/* the proxy's CONNECT answer */
	int		 uf_sent;		/* pretransfer reached */
	int		 uf_fds;		/* EMFILE or ENFILE */
	int		 uf_refused;		/* our callback refused the reply */
	int		 uf_scheme;		/* enum proxy_scheme in use */
	long		 uf_pxcode;		/* CURLINFO_PROXY_ERROR */
	int		 uf_phase;		/* enum upstream_phase */
	long		 uf_limit_ms;		/* the clock of that phase */
	int		 uf_longpoll;		/* its wait is the poll's own */
	uint64_t	 uf_up;			/* body bytes the hop took */
	int64_t		 uf_up_total;		/* 0: no body, -1: chunked */
	uint64_t	 uf_down;		/* answer body bytes received */
	int64_t		 uf_down_total;		/* -1: unknown */
};

/* What the path that ran an attempt adds to libcurl's facts. */
typedef void	(*upstream_facts_fn)(struct req *, struct upstream_facts *);

enum upstream_stage upstream_fail_stage(const struct upstream_facts *);
int	 upstream_fail_judge(struct req *, CURLcode, upstream_facts_fn,
	    enum upstream_stage *);
int	 upstream_fail_retryable(struct req *, enum upstream_stage);
const char *upstream_fail_why(struct req *, CURLcode);
int	 upstream_fail_clock(const struct upstream_facts *, char *, size_t);

/*
 * upstream_watch.c: the clocks of an attempt.  Connecting is libcurl's
 * (connect_timeout); from the request on, the phase picks the clock.
 */
enum upstream_phase {
	UPH_CONNECT,		/* proxy, tunnel, TLS: connect_timeout */
	UPH_SEND,		/* the body goes out: stall_timeout */
	UPH_WAIT,		/* all sent, no answer: upstream_timeout */
	UPH_RECV		/* the answer comes in: stall_timeout */
};

int	 upstream_watch_start(struct req *, CURL *, long,
	    void (*)(struct req *));
void	 upstream_watch_stop(struct req *);
void	 upstream_watch_answer(struct req *);
int	 upstream_watch_phase(const struct req *);
void	 upstream_watch_facts(struct req *, struct upstream_facts *);

#endif /* UPSTREAM_H */
