/* SPDX-License-Identifier: ISC */
/*
 * Header names that must not cross the sidecar: hop-by-hop headers
 * (RFC 9110 7.6.1) describe one connection, and each side has its own.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "tgsidecar.h"

static const char *header_hops[] = {
	"Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Proxy-Connection", "TE", "Trailer",
	"Trailers", "Transfer-Encoding", "Upgrade", NULL
};

/* Is the header name (not NUL-terminated) equal to s, ignoring case? */
int
header_is(const char *name, size_t len, const char *s)
{
	return strlen(s) == len && strncasecmp(name, s, len) == 0;
}

int
header_hop(const char *name, size_t len)
{
	int	 i;

	for (i = 0; header_hops[i] != NULL; i++)
		if (header_is(name, len, header_hops[i]))
			return 1;
	return 0;
}

/* Does a Connection header value name this header as hop-by-hop too? */
int
header_listed(const char *connection, const char *name, size_t len)
{
	const char	*p = connection, *tok;
	size_t		 n;

	if (connection == NULL)
		return 0;
	while (*p != '\0') {
		p += strspn(p, " \t,");
		tok = p;
		n = strcspn(p, " \t,");
		if (n > 0 && n == len && strncasecmp(tok, name, len) == 0)
			return 1;
		p += n;
	}
	return 0;
}
