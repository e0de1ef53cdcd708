/* SPDX-License-Identifier: ISC */
/*
 * health.c: /healthz, /readyz (one shared probe) and /metrics.  A waiting
 * /readyz request is finished through its hooks when the probe ends.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stddef.h>

struct req;

enum health_path { HEALTH_NONE, HEALTH_LIVE, HEALTH_READY, HEALTH_METRICS };

int	 health_route(const char *, size_t);
void	 health_serve(struct req *, int, int, int);
void	 health_forget(struct req *);
void	 health_free(void);

#endif /* HEALTH_H */
