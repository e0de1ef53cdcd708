/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for route_parse(): the request-target as it comes off
 * the wire, in a buffer of exactly its length (no NUL), so an over-read
 * is an ASan report.  A target that routes must satisfy what upstream.c
 * and the access log rely on; above all its rt_path, which is what goes
 * upstream, must stay inside /bot... or /file/bot<token>/...
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The value of a hex digit, or -1. */
static int
hexval(int c)
{
	if (!isascii(c) || !isxdigit(c))
		return (-1);
	return (isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
}

/* Is dec[0..len) "." or "..", up to a ';' that starts a parameter? */
static int
dot_segment(const char *dec, size_t len)
{
	const char	*semi = memchr(dec, ';', len);

	if (semi != NULL)
		len = (size_t)(semi - dec);
	return ((len == 1 && dec[0] == '.') ||
	    (len == 2 && dec[0] == '.' && dec[1] == '.'));
}

/*
 * A method path goes upstream decoded: it must not leave /bot..., and
 * without a '%' it is the path as sent.
 */
static void
check_method(const char *p, size_t plen, const char *t, size_t rawlen)
{
	if (memchr(t, '%', rawlen) == NULL &&
	    (plen != rawlen || memcmp(p, t, rawlen) != 0))
		abort();
	if (strstr(p, "/../") != NULL || strstr(p, "/./") != NULL ||
	    (plen >= 3 && strcmp(p + plen - 3, "/..") == 0) ||
	    (plen >= 2 && strcmp(p + plen - 2, "/.") == 0) ||
	    strchr(p, '%') != NULL || strchr(p, '\\') != NULL ||
	    strstr(p, "//") != NULL || strncmp(p, "/bot", 4) != 0)
		abort();
}

/*
 * A file path goes upstream as sent after "/file/bot<token>/", with
 * only raw bytes past ASCII escaped: no dot-segment however written, no
 * escaped control, slash or backslash, no backslash.
 */
static void
check_file(const struct route *rt, const char *p, size_t plen,
    const char *t, size_t rawlen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 dec[ROUTE_PATH_MAX];
	size_t			 i, o, d, start, seg, r, slashes = 0;
	int			 c, hi, lo;

	if (strncmp(p, "/file/bot", 9) != 0 ||
	    strncmp(p + 9, rt->rt_bot, strlen(rt->rt_bot)) != 0)
		abort();
	/* Past the third slash of each: the file path, sent and upstream. */
	for (o = 0; o < plen && slashes < 3; o++)
		if (p[o] == '/')
			slashes++;
	for (r = 0, slashes = 0; r < rawlen && slashes < 3; r++)
		if (t[r] == '/')
			slashes++;
	if (slashes != 3 || o == plen || r == rawlen ||
	    plen - o > ROUTE_FILE_MAX)
		abort();
	for (start = o; r < rawlen; r++) {
		c = (unsigned char)t[r];
		if (c < 0x80 ? p[o] != c : p[o] != '%' ||
		    p[o + 1] != hex[c >> 4] || p[o + 2] != hex[c & 0xf])
			abort();
		o += c < 0x80 ? 1 : 3;
	}
	if (o != plen)
		abort();
	/* Decoded in full, no segment is a dot-segment, at any separator. */
	for (i = start, d = 0; i < plen; i++) {
		if ((c = (unsigned char)p[i]) == '\\')
			abort();
		if (c == '%') {
			if (i + 2 >= plen || (hi = hexval(p[i + 1])) == -1 ||
			    (lo = hexval(p[i + 2])) == -1)
				abort();
			c = hi * 16 + lo;
			if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
				abort();
			i += 2;
		}
		dec[d++] = (char)c;
	}
	for (i = seg = 0; i <= d; i++) {
		if (i < d && dec[i] != '/' && dec[i] != '\\')
			continue;
		if (dot_segment(dec + seg, i - seg))
			abort();
		seg = i + 1;
	}
}

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

	/* What goes upstream: after the configured host, a path alone. */
	if ((plen = strnlen(p, ROUTE_PATH_MAX)) >= ROUTE_PATH_MAX)
		abort();
	if ((q = memchr(t, '?', len)) != NULL)
		rawlen = (size_t)(q - t);
	if (p[0] != '/' || strchr(p, '?') != NULL || strchr(p, '#') != NULL)
		abort();
	for (i = 0; i < plen; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			abort();
	if (rt->rt_kind == ROUTE_METHOD)
		check_method(p, plen, t, rawlen);
	else
		check_file(rt, p, plen, t, rawlen);
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
	else if (rv != -1 ||
	    (status != 400 && status != 404 && status != 414) ||
	    why == NULL || rt.rt_kind != ROUTE_NONE || rt.rt_path != NULL)
		abort();
	route_clear(&rt);
	free(t);
	return 0;
}
