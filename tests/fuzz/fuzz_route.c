/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for route_parse(): the request-target as it comes off
 * the wire, in a buffer of exactly its length (no NUL), so an over-read
 * is an ASan report.  A target that routes must satisfy what upstream.c
 * and the access log rely on; above all its decoded rt_path, which is
 * what goes upstream, must stay inside /bot... or /file/bot...
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_ok(const struct route *rt, const char *t, size_t len)
{
	const char	*p = rt->rt_path, *q;
	size_t		 i, blen = strnlen(rt->rt_bot, sizeof(rt->rt_bot));
	size_t		 mlen = strnlen(rt->rt_method, sizeof(rt->rt_method));
	size_t		 plen, rawlen = len;

	if (blen == 0 || blen >= sizeof(rt->rt_bot) || mlen == 0 ||
	    mlen >= sizeof(rt->rt_method))
		abort();
	for (i = 0; i < blen; i++)
		if (!isdigit((unsigned char)rt->rt_bot[i]))
			abort();
	if (rt->rt_kind == ROUTE_FILE && strcmp(rt->rt_method, "file") != 0)
		abort();
	if (rt->rt_kind != ROUTE_METHOD && rt->rt_kind != ROUTE_FILE)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] == 0x7f)
			abort();
	if (memchr(t, '#', len) != NULL)
		abort();

	/*
	 * The decoded path goes upstream: it must not leave the Bot API's
	 * two trees, and without a '%' it is the path as sent.
	 */
	if ((plen = strnlen(p, sizeof(rt->rt_path))) >= sizeof(rt->rt_path))
		abort();
	if ((q = memchr(t, '?', len)) != NULL)
		rawlen = (size_t)(q - t);
	if (memchr(t, '%', rawlen) == NULL &&
	    (plen != rawlen || memcmp(p, t, rawlen) != 0))
		abort();
	if (strstr(p, "/../") != NULL || strstr(p, "/./") != NULL ||
	    (plen >= 3 && strcmp(p + plen - 3, "/..") == 0) ||
	    (plen >= 2 && strcmp(p + plen - 2, "/.") == 0) ||
	    strchr(p, '%') != NULL || strchr(p, '\\') != NULL ||
	    strchr(p, '?') != NULL || strstr(p, "//") != NULL)
		abort();
	if (strncmp(p, "/bot", 4) != 0 && strncmp(p, "/file/bot", 9) != 0)
		abort();
	for (i = 0; i < plen; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route	 rt;
	const char	*why = NULL;
	char		*t;
	int		 status = 0, rv;

	/* malloc(0) may return NULL; keep one byte so t is always valid. */
	if ((t = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(t, data, size);
	rv = route_parse(&rt, t, size, &status, &why);
	if (rv == 0)
		check_ok(&rt, t, size);
	else if (rv != -1 || (status != 400 && status != 404) ||
	    why == NULL || rt.rt_kind != ROUTE_NONE)
		abort();
	free(t);
	return 0;
}
