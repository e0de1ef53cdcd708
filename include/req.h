/* SPDX-License-Identifier: ISC */
/*
 * One request: made and freed by its owner (client.c for a bot's
 * request, health.c for a /readyz answer), handed down to the layers
 * that answer it.  They finish it through the hooks its owner installed
 * (req_hooks), never by naming the owner.
 */
#ifndef REQ_H
#define REQ_H

#include <sys/queue.h>

#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "longpoll.h"
#include "route.h"

struct client;
struct config;
struct event;
struct event_base;
struct flood_req;
struct evbuffer;
struct conn;
struct spare;
struct upstream_h1;
struct upstream_reply;

#define REQ_BODY_HIGH	(256 * 1024)	/* upload bytes held: stop reading */

/* Where the header parser of a request head is. */
enum req_hstate {
	REQ_H_NONE,		/* no header begun */
	REQ_H_FIELD,		/* in a name */
	REQ_H_VALUE,		/* in a value, maybe still empty */
	REQ_H_DONE		/* head complete: trailers are ignored */
};

struct req;

/* Installed by the owner; called by the layers below it. */
struct req_hooks {
	/*
	 * The layer below is done with the request: the reply is queued
	 * on req_out.  The owner
	 * ends the request here, and may free it.
	 */
	void	(*rh_done)(struct req *);
	/*
	 * Upload room again, or output to move along: safe from inside a
	 * libcurl callback, since the owner acts from the loop.
	 */
	void	(*rh_kick)(struct req *);
};

struct req {
	const struct req_hooks	*req_hooks;
	struct client		*req_clt;	/* the owner's, opaque below */
	struct event_base	*req_base;
	struct evbuffer		*req_out;	/* the bot's output, or NULL */
	struct config		*req_cfg;	/* a reference, see config_ref */
	unsigned int		 req_seq;	/* 1, 2, ... on its connection */
	struct route		 req_route;
	struct evbuffer		*req_target;	/* raw request-target */
	struct evbuffer		*req_hname;	/* header being parsed */
	struct evbuffer		*req_hvalue;
	int			 req_hstate;	/* enum req_hstate */
	int			 req_hte;	/* Transfer-Encoding headers */
	int			 req_hte_chunked;	/* its value is "chunked" */
	int			 req_hcl;	/* Content-Length headers */
	int64_t			 req_hclen;	/* its value, -1 if no number */
	struct curl_slist	*req_hdrs;	/* "Name: value", name checked */
	size_t			 req_hdrlen;
	int			 req_nfields;	/* header fields kept */
	char			*req_connection;	/* Connection: values */
	int			 req_refused;	/* answered at its head */
	const char		*req_allow;	/* methods, for a 405's Allow */
	int			 req_admin;	/* a health or metrics request */
	int			 req_counted;	/* in the owner's in-flight count */
	int			 req_waiting;	/* a /readyz waiting for it */
	TAILQ_ENTRY(req)	 req_wait;	/* health.c */
	int			 req_held;	/* long poll waits for its body */
	int			 req_expect;	/* Expect: 100-continue */
	int			 req_method;	/* enum http_method */
	int			 req_http11;
	int			 req_keepalive;
	int			 req_has_body;
	int64_t			 req_clen;	/* -1: chunked */
	int			 req_body_done;	/* message fully read */
	struct evbuffer		*req_body;	/* upload not yet sent */
	uint64_t		 req_bytes_in;
	uint64_t		 req_bytes_out;
	struct timespec		 req_start;

	/* upstream.c */
	int			 req_proxy;	/* index in cfg_proxy */
	int			 req_attempt;
	struct event		*req_retry_ev;
	struct evbuffer		*req_replay;	/* body sent, for a retry */
	long			 req_poll_secs;	/* getUpdates timeout, -1 */
	struct curl_slist	*req_uphdrs;
	char			*req_url;
	struct timespec		 req_attempt_t0;	/* this attempt began */
	double			 req_t_connect;	/* ms, for the access log */
	double			 req_t_tls;
	double			 req_t_ttfb;
	struct conn		*req_conn;	/* being made for it: conn.c */
	struct upstream_reply	*req_reply;	/* the attempt's reply head */
	struct upstream_h1	*req_h1;	/* the attempt: upstream_h1.c */
	int			 req_spare;	/* a spare was taken */
	struct spare		*req_spwait;	/* waiting for it to be built */
	struct timespec		 req_spwait_t0;
	double			 req_t_spwait;	/* ms waited for one, or 0 */
	int			 req_busy;	/* counted in spare_busy() */
	struct longpoll		 req_lp;	/* longpoll.c */

	/* reply.c */
	int			 req_status;	/* sent to the bot */
	int			 req_head_sent;
	int			 req_chunked;
	int64_t			 req_clen_out;	/* declared, or -1 */
	char			 req_errdesc[CURL_ERROR_SIZE + 256];	/* for the access log */

	struct flood_req	*req_flood;	/* flood.c, or NULL */
	char			 req_left_on[320];	/* upstream.c: what a bot
							   that left waited on */
};

#endif /* REQ_H */
