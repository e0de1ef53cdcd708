/* SPDX-License-Identifier: ISC */
/*
 * failover.c: which proxy a new connection goes through, and what is
 * known of each proxy of a config.
 */
#ifndef FAILOVER_H
#define FAILOVER_H

#include <time.h>

struct config;

/* A TLS handshake through a proxy may take this many times its usual. */
#define FAILOVER_TLS_TIMES	4
#define FAILOVER_TLS_FLOOR_MS	1000

enum failover_who { FAILOVER_REQUEST, FAILOVER_SPARE, FAILOVER_PROBE };

int	 failover_pick(const struct config *);
int	 failover_pick_for(const struct config *, enum failover_who);
int	 failover_choose(const struct config *, enum failover_who,
	    const struct timespec *);
int	 failover_doubtful(const struct config *, int);
void	 failover_trying(struct config *, int, int);
void	 failover_tls_learned(struct config *, int, long);
long	 failover_tls_learn(long, long);
long	 failover_tls_clock(long, long);
void	 failover_fail(struct config *, int, const char *);
void	 failover_ok(struct config *, int);
void	 failover_inherit(struct config *, const struct config *);
int	 failover_ready(const struct config *, long);
unsigned long	 failover_generation(void);

#endif /* FAILOVER_H */
