/* SPDX-License-Identifier: ISC */
/*
 * access.c: the end of a request as operators see it: one access-log
 * line (text or JSON) and its count in metrics.
 */
#ifndef ACCESS_H
#define ACCESS_H

struct req;

void	 access_log(const struct req *, const char *, const char *);

#endif /* ACCESS_H */
