/* SPDX-License-Identifier: ISC */
/*
 * failover.c: which proxy a new connection goes through, and what is
 * known of each proxy of a config.
 */
#ifndef FAILOVER_H
#define FAILOVER_H

struct config;

int	 failover_pick(const struct config *);
void	 failover_fail(struct config *, int, const char *);
void	 failover_ok(struct config *, int);
void	 failover_inherit(struct config *, const struct config *);
int	 failover_ready(const struct config *, long);
unsigned long	 failover_generation(void);

#endif /* FAILOVER_H */
