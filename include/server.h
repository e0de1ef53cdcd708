/* SPDX-License-Identifier: ISC */
/*
 * server.c: the listeners, signals, drain and reload.  It owns the pool
 * of bot connections and the current config.
 */
#ifndef SERVER_H
#define SERVER_H

#include <time.h>

#include "client.h"
#include "trustmark.h"

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
	struct event		*srv_reload_ev;	/* a coalesced SIGHUP */
	int			 srv_reload_pending;
	struct timespec		 srv_reload_last;	/* the last one ended */
	struct trustmark	 srv_trust;	/* the store was read from */
};

int	 server_init(struct server *, struct config *, int, char **);
int	 server_run(struct server *);
void	 server_free(struct server *);

#endif /* SERVER_H */
