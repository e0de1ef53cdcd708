/* SPDX-License-Identifier: ISC */
/*
 * pollarg.c: a getUpdates "timeout" read as the Bot API reads it (the
 * query over the body; a JSON body's top-level key only, \u escapes
 * decoded; urlencoded and multipart bodies by their Content-Type), and
 * rewritten where the Bot API reads it, nowhere else.
 */
#ifndef POLLARG_H
#define POLLARG_H

#include <stddef.h>
#include <sys/types.h>

#define POLLARG_MAX	50	/* s: the Bot API holds a poll no longer */

/* Where the Bot API takes the timeout from. */
enum pollarg_src {
	POLLARG_NONE,		/* nowhere: the Bot API's default, 0 */
	POLLARG_QUERY,
	POLLARG_FORM,		/* application/x-www-form-urlencoded */
	POLLARG_JSON,		/* application/json */
	POLLARG_MULTIPART	/* multipart/form-data */
};

/* How sure the reading is. */
enum pollarg_state {
	POLLARG_ABSENT,		/* no timeout: a short poll */
	POLLARG_SURE,		/* read as the Bot API reads it */
	POLLARG_DOUBT		/* it may read it otherwise: never sliced */
};

struct pollarg {
	int	 pa_src;	/* enum pollarg_src */
	int	 pa_state;	/* enum pollarg_state */
	long	 pa_secs;	/* 0..POLLARG_MAX; POLLARG_MAX in doubt */
};

void	 pollarg_read(struct pollarg *, const char *, size_t, const char *,
	    const char *, ssize_t);
int	 pollarg_value(const char *, size_t, long *);
int	 pollarg_rewrite(int, const char *, const char *, size_t, long,
	    char **, size_t *);

#endif /* POLLARG_H */
