/* SPDX-License-Identifier: ISC */
/*
 * server.c: the listeners, signals, drain and reload.  It owns the pool
 * of bot connections and the current config.
 */
#ifndef SERVER_H
#define SERVER_H

#include "client.h"

struct evconnlistener;
struct event;
struct event_base;
struct config;

struct server {
	struct event_base	*srv_base;
	struct evconnlistener	*srv_listener;
	struct evconnlistener	*srv_admin;
	struct event		*srv_sigint;
	struct event		*srv_sigterm;
	struct event		*srv_sighup;
	struct event		*srv_drain_timer;
	struct client_pool	 srv_pool;	/* cp_cfg: the current config */
	int			 srv_argc;	/* for a reload */
	char			**srv_argv;
};

int	 server_init(struct server *, struct config *, int, char **);
int	 server_run(struct server *);
void	 server_free(struct server *);

#endif /* SERVER_H */
