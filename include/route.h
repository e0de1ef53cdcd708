/* SPDX-License-Identifier: ISC */
/*
 * route.c: the request-target read as a Bot API method or file path.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>

#define ROUTE_BOT_MAX	20	/* digits of a bot id, before the colon */
#define ROUTE_FILE_MAX	4096	/* a file path as it goes upstream: PATH_MAX */
#define ROUTE_PATH_MAX	(256 + ROUTE_FILE_MAX)	/* rt_path, with its NUL */
#define ROUTE_PREFIX_MAX	256	/* an upstream's path prefix */
enum route_kind { ROUTE_NONE, ROUTE_METHOD, ROUTE_FILE };

struct route {
	int	 rt_kind;		/* enum route_kind */
	char	 rt_bot[24];		/* digits before the colon */
	char	 rt_method[64];		/* Bot API method, or "file" */
	int	 rt_longpoll;		/* getUpdates */
	int	 rt_readonly;		/* get*: safe to send twice */
	int	 rt_test;		/* /bot<token>/test/<method> */
	/*
	 * Sent upstream: "/bot<token>/[test/]<method>" decoded, or
	 * "/file/bot<token>/" and the file path as the bot sent it; the
	 * upstream's prefix in front once route_prefix() ran.
	 * Allocated by route_parse(), freed by route_clear().
	 */
	char	*rt_path;
};

int	 route_parse(struct route *, const char *, size_t, int *,
	    const char **);
void	 route_clear(struct route *);
const char	*route_prefix_ok(const char *, char *, size_t);
int	 route_prefix(struct route *, const char *);
int	 route_tokenchar(int);
size_t	 route_token_len(const char *, size_t);
int	 route_token_valid(const char *);

#endif /* ROUTE_H */
