/* SPDX-License-Identifier: ISC */
/*
 * upstream.c: a bot's request sent upstream, each attempt on a
 * connection never used before or after.  It finishes the request
 * through its hooks (req.h).
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

struct req;

int	 upstream_start(struct req *);
int	 upstream_running(const struct req *);
void	 upstream_stop(struct req *);
void	 upstream_resume(struct req *);

#endif /* UPSTREAM_H */
