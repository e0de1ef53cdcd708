/* SPDX-License-Identifier: ISC */
/*
 * trim.c: freed heap memory handed back to the system soon after a burst.
 */
#ifndef TRIM_H
#define TRIM_H

struct event_base;

void	 trim_soon(struct event_base *);
void	 trim_free(void);

#endif /* TRIM_H */
