/* SPDX-License-Identifier: ISC */
/*
 * proxy.c: a proxy URL read into its parts; credentials kept apart from
 * the URL that is logged.
 */
#ifndef PROXY_H
#define PROXY_H

#include <stddef.h>
#include <time.h>

enum proxy_scheme {
	PROXY_NONE = 0,		/* direct */
	PROXY_HTTP,
	PROXY_HTTPS,
	PROXY_SOCKS5,
	PROXY_SOCKS5H,
	PROXY_SOCKS4A
};

/*
 * longpoll.c: how long an upstream long poll through this proxy may sit
 * idle before the proxy forgets its tunnel, as learned.
 */
struct proxy_slice {
	long		 ps_secs;	/* a poll's timeout at most, 0: any */
	unsigned int	 ps_ok;		/* polls answered at ps_secs since */
	struct timespec	 ps_since;	/* ps_secs last changed */
};

/*
 * longpoll.c: a bot whose poll through this proxy was swallowed, and the
 * slice its own polls get.  The shared px_slice changes only when a
 * second bot's poll is swallowed too (one bot's request shape must not
 * change what other bots get).
 */
#define PROXY_WITNESSES	4
struct proxy_witness {
	char			 pw_bot[24];	/* bot id; "" unused */
	struct timespec		 pw_last;	/* its last swallowed poll */
	struct proxy_slice	 pw_slice;	/* its own polls' slice */
};

struct proxy {
	int	 px_scheme;	/* enum proxy_scheme */
	char	*px_url;	/* "scheme://host:port", no credentials */
	int	 px_port;
	char	*px_user;	/* percent-decoded, or NULL */
	char	*px_pass;	/* percent-decoded, or NULL */
	struct timespec	 px_failed;	/* failover.c: last failure, or 0 */
	struct timespec	 px_reached;	/* failover.c: last answer, or 0 */
	long		 px_tls_ms;	/* failover.c: a TLS handshake through
					   it takes (moving average), 0: none */
	int		 px_trying;	/* failover.c: connections no bot waits
					   for, judging it (spare.c) */
	struct proxy_slice	 px_slice;	/* longpoll.c */
	struct proxy_witness	 px_wit[PROXY_WITNESSES];	/* longpoll.c */
};

int	 proxy_parse(struct proxy *, const char *, char *, size_t);
int	 proxy_is_socks(const struct proxy *);
void	 proxy_clear(struct proxy *);
int	 proxy_from_env(struct proxy *, char **, char *, size_t);

#endif /* PROXY_H */
