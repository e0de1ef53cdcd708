/* SPDX-License-Identifier: ISC */
/*
 * client.c: one bot connection, read through http-parser, one request at
 * a time.  The connections live in a pool their owner (server.c) embeds;
 * the pool's hooks tell the owner what it needs to know.
 */
#ifndef CLIENT_H
#define CLIENT_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/util.h>
#include <http_parser.h>

#include "share.h"

struct bufferevent;
struct config;
struct event;
struct event_base;
struct req;

#define CLIENT_FIELDS_MAX	256	/* fields in a head (and its 431 text) */

struct client;

struct client_pool {
	struct event_base	*cp_base;
	struct config		*cp_cfg;	/* current; requests hold refs */
	int			 cp_clients;	/* open bot connections */
	int			 cp_inflight;	/* requests started upstream */
	int			 cp_draining;
	struct share		 cp_share;	/* in flight per bot */
	TAILQ_HEAD(, client)	 cp_clts;
	void			(*cp_idle)(void *);	/* cp_inflight fell to 0 */
	void			(*cp_gone)(void *);	/* a connection closed */
	void			*cp_arg;	/* for the two hooks */
};

struct client {
	struct client_pool	*clt_pool;
	TAILQ_ENTRY(client)	 clt_entry;	/* cp_clts */
	struct bufferevent	*clt_bev;
	struct event		*clt_kick;
	http_parser		 clt_parser;
	struct req		*clt_req;
	char			 clt_peer[64];
	int			 clt_perr;	/* status for a parser error */
	const char		*clt_pwhy;	/* and its description */
	unsigned int		 clt_nreq;	/* requests begun */
	int			 clt_paused;	/* parser held at a message end */
	int			 clt_closing;	/* close once output is flushed */
	int			 clt_held;	/* EV_READ off: back-pressure */
	struct sockaddr_storage	 clt_ss;	/* the peer, for allow */
	struct event		*clt_head_ev;	/* header_timeout */
	int			 clt_admin;	/* came in on admin_listen */
	size_t			 clt_headlen;	/* headsize.c: head bytes so far */
};

struct client	*client_new(struct client_pool *, evutil_socket_t,
		    struct sockaddr *, int, int);
void		 client_close(struct client *, const char *);
void		 client_drain(struct client_pool *);

#endif /* CLIENT_H */
