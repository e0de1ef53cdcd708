/* SPDX-License-Identifier: ISC */
/*
 * conn.c: one upstream connection's life.  libcurl makes the tunnel (TCP,
 * HTTP CONNECT with proxy auth, SOCKS, pre_proxy) and no TLS; the sidecar
 * takes the socket, frees libcurl's handle and does the upstream's TLS
 * itself (tls.c).  Its owner (an attempt, the spare pool, the /readyz
 * probe) hears once, through the hook it installed, that the connection
 * is ready or failed; then reads and writes it, and closes it.
 */
#ifndef CONN_H
#define CONN_H

#include <sys/types.h>

struct config;
struct conn;
struct event_base;
struct upstream_facts;

#define CONN_AGAIN	(-2)	/* conn_read/conn_write: wait, see conn_wants */

/* Ready (0) or failed (-1): conn_facts() says where and why. */
typedef void	(*conn_done_fn)(void *, struct conn *, int);

struct conn	*conn_open(struct event_base *, struct config *, int,
		    conn_done_fn, void *);
void		 conn_close(struct conn *);
void		 conn_rehook(struct conn *, conn_done_fn, void *);
int		 conn_proxy(const struct conn *);
struct config	*conn_config(const struct conn *);
int		 conn_fd(const struct conn *);
ssize_t		 conn_read(struct conn *, void *, size_t);
ssize_t		 conn_write(struct conn *, const void *, size_t);
short		 conn_wants(const struct conn *);
int		 conn_unsent(const struct conn *);
int		 conn_release(struct conn *);
int		 conn_alive(struct conn *);
const char	*conn_error(const struct conn *);
void		 conn_facts(const struct conn *, struct upstream_facts *);
void		 conn_waiting(const struct conn *, char *, size_t);
void		 conn_times(const struct conn *, double *, double *);

#endif /* CONN_H */
