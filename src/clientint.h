/* SPDX-License-Identifier: ISC */
/*
 * Private to client.c and client_local.c, the two halves of one bot
 * connection: the parse loop and request life (client.c), and what is
 * answered or held without the upstream (client_local.c).
 */
#ifndef CLIENTINT_H
#define CLIENTINT_H

struct client;
struct req;

/* client.c */
int	 client_start(struct client *);
void	 client_fail(struct client *, int, const char *);
void	 client_refuse(struct client *, int, const char *);
void	 client_req_done(struct req *);
void	 client_schedule(struct client *);

/* client_local.c */
int	 client_admin(struct client *);
int	 client_flood_head(struct client *);
void	 client_flood_step(struct client *);

#endif /* CLIENTINT_H */
