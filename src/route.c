/* SPDX-License-Identifier: ISC */
/*
 * Map a raw request-target onto the two Bot API URL shapes we forward:
 *
 *	/bot<TOKEN>/<METHOD>[?query]
 *	/bot<TOKEN>/test/<METHOD>[?query]	(the test environment)
 *	/file/bot<TOKEN>/<FILE_PATH>[?query]
 *
 * Anything else is refused before it gets near libcurl.  A method path is
 * strict: no method needs '%', '\' or dot-segments.  A file path is named
 * by the server, with any character in it, so it goes upstream as sent;
 * only what could steer the request out of /file/bot<TOKEN>/ is refused.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"

#define ROUTE_SECRET_MAX	128
#define ROUTE_METHOD_MAX	63

#define ROUTE_NOT_FOUND		"Not Found"

#define ROUTE_STR(x)		#x
#define ROUTE_XSTR(x)		ROUTE_STR(x)

static int
route_fail(int *status, const char **why, int code, const char *msg)
{
	*status = code;
	*why = msg;
	return (-1);
}

static int
route_is(int c, const char *extra)
{
	return (isascii(c) && (isalnum(c) || (c != '\0' &&
	    strchr(extra, c) != NULL)));
}

/* Any "." or ".." segment in p[0..len), which starts with '/'. */
static int
route_dotsegment(const char *p, size_t len)
{
	size_t	 i, s, n;

	for (i = 0; i < len; i = s + n) {
		s = i + 1;	/* skip the '/' */
		for (n = 0; s + n < len && p[s + n] != '/'; n++)
			;
		if ((n == 1 && p[s] == '.') ||
		    (n == 2 && p[s] == '.' && p[s + 1] == '.'))
			return (1);
	}
	return (0);
}

/* A byte of a token's secret part. */
int
route_tokenchar(int c)
{
	return (route_is(c, "_-"));
}

/*
 * The one shape of a bot token, "<digits>:<[A-Za-z0-9_-]+>" as @BotFather
 * hands them out: the length of the one p[0..len) starts with, or 0.
 */
size_t
route_token_len(const char *p, size_t len)
{
	size_t	 d, s;

	for (d = 0; d < len && isdigit((unsigned char)p[d]); d++)
		;
	if (d == 0 || d > ROUTE_BOT_MAX || d >= len || p[d] != ':')
		return (0);
	for (s = d + 1; s < len && route_tokenchar((unsigned char)p[s]); s++)
		;
	if (s == d + 1 || s - d - 1 > ROUTE_SECRET_MAX)
		return (0);
	return (s);
}

/* A whole string that is a token and nothing else. */
int
route_token_valid(const char *tok)
{
	size_t	 n = route_token_len(tok, strlen(tok));

	return (n != 0 && tok[n] == '\0');
}

/*
 * Parse "<token>/" at p; return the length up to and including the
 * slash, or 0 if the token is malformed.
 */
static size_t
route_token(const char *p, size_t len, struct route *rt)
{
	size_t	 s, d;

	if ((s = route_token_len(p, len)) == 0 || s >= len || p[s] != '/')
		return (0);
	d = (const char *)memchr(p, ':', s) - p;
	memcpy(rt->rt_bot, p, d);
	rt->rt_bot[d] = '\0';
	return (s + 1);
}

static int
route_method(const char *p, size_t len, struct route *rt)
{
	size_t	 i;

	if (len == 0 || len > ROUTE_METHOD_MAX)
		return (-1);
	for (i = 0; i < len; i++)
		if (!route_is((unsigned char)p[i], "_"))
			return (-1);
	memcpy(rt->rt_method, p, len);
	rt->rt_method[len] = '\0';
	rt->rt_kind = ROUTE_METHOD;
	rt->rt_longpoll = strcasecmp(rt->rt_method, "getUpdates") == 0;
	/* Only get* methods may be sent twice: a duplicate send* is worse. */
	rt->rt_readonly = strncasecmp(rt->rt_method, "get", 3) == 0;
	return (0);
}

static int
route_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * Decode a method path, or a file path's prefix, into out.  Libraries
 * escape the token's colon (%3A), so escapes of unreserved characters and
 * ':' are undone; any other one (a slash, a NUL, a '%') could smuggle a
 * different URL and is refused.  The decoded path is what goes upstream.
 */
static int
route_decode(const char *p, size_t len, char *out, size_t outlen)
{
	size_t	 i, o = 0;
	int	 hi, lo, c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c == '%') {
			if (i + 2 >= len || (hi = route_hex(p[i + 1])) == -1 ||
			    (lo = route_hex(p[i + 2])) == -1)
				return (-1);
			c = hi * 16 + lo;
			if (!route_is(c, ":._~-"))
				return (-1);
			i += 2;
		}
		if (o + 1 >= outlen)
			return (-2);	/* longer than any route */
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (0);
}

/*
 * The raw length of the "/file/bot<token>/" that p[0..len) starts with,
 * decoded into rt_path; 0 if it starts with something else.  The prefix
 * ends at the third raw slash, as route_decode() decodes none.
 */
static size_t
route_file_prefix(const char *p, size_t len, struct route *rt, char *path)
{
	size_t	 r, n;
	int	 slashes = 0;

	for (r = 0; r < len; r++)
		if (p[r] == '/' && ++slashes == 3)
			break;
	if (r == len ||
	    route_decode(p, r + 1, path, ROUTE_PATH_MAX) != 0)
		return (0);
	n = strlen(path);
	if (n <= 9 || strncmp(path, "/file/bot", 9) != 0 ||
	    route_token(path + 9, n - 9, rt) != n - 9)
		return (0);
	return (r + 1);
}

/*
 * Why the file path p[0..len) may not go upstream, or NULL.  Escapes
 * stay as sent, so only these are refused: a malformed escape; an
 * escaped control character (CR, LF, NUL: a header of its own once
 * decoded); a backslash, raw or escaped, or an escaped slash, which some
 * servers split segments at; any dot-segment, its dots raw or escaped, and "..;x" too,
 * as some servers drop a segment's parameters.  Every dot-segment, not
 * just those that climb, as whether one climbs depends on where the
 * upstream splits and whether it merges slashes; no server hands out a
 * path with one.
 */
static const char *
route_file_bad(const char *p, size_t len)
{
	size_t	 i, dots = 0;
	int	 hi, lo, c, other = 0, param = 0;

	for (i = 0; i <= len; i++) {
		if (i == len || p[i] == '/') {
			if (!other && (dots == 1 || dots == 2))
				return ("path not allowed: a dot-segment");
			dots = other = param = 0;
			continue;
		}
		if ((c = (unsigned char)p[i]) == '\\')
			return ("path not allowed: a backslash");
		if (c == '%') {
			if (i + 2 >= len || (hi = route_hex(p[i + 1])) == -1 ||
			    (lo = route_hex(p[i + 2])) == -1)
				return ("path not allowed: a malformed escape");
			c = hi * 16 + lo;
			if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
				return ("path not allowed: an escaped control "
				    "character, slash or backslash");
			i += 2;
		}
		if (c == ';')
			param = 1;
		else if (!param && c == '.')
			dots++;
		else if (!param)
			other = 1;
	}
	return (NULL);
}

/*
 * Append the file path p[0..len) to the prefix in path.  Raw bytes
 * past ASCII are escaped (libcurl 7.88 would, in lower case); nothing
 * else is touched.  -1 if that makes it longer than ROUTE_FILE_MAX.
 */
static int
route_file_copy(const char *p, size_t len, char *path)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out = path + strlen(path);
	size_t			 i, o = 0;
	int			 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (o + (c >= 0x80 ? 3 : 1) > ROUTE_FILE_MAX)
			return (-1);
		if (c >= 0x80) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return (0);
}

static int
route_file(const char *p, size_t len, struct route *rt, char *path,
    int *status, const char **why)
{
	const char	*msg;
	int		 code = 400;

	if (len == 0) {
		code = 404;
		msg = ROUTE_NOT_FOUND;
		goto fail;
	}
	if ((msg = route_file_bad(p, len)) != NULL)
		goto fail;
	if (route_file_copy(p, len, path) == -1) {
		code = 414;
		msg = "URI Too Long: a file path over "
		    ROUTE_XSTR(ROUTE_FILE_MAX) " bytes";
		goto fail;
	}
	rt->rt_kind = ROUTE_FILE;
	rt->rt_readonly = 1;
	memcpy(rt->rt_method, "file", sizeof("file"));
	return (0);
 fail:
	memset(rt, 0, sizeof(*rt));
	return (route_fail(status, why, code, msg));
}

static int
route_parse_path(struct route *rt, char *path, const char *target,
    size_t len, int *status, const char **why)
{
	const char	*q;
	size_t		 i, plen, n;

	memset(rt, 0, sizeof(*rt));
	rt->rt_kind = ROUTE_NONE;

	if (len == 0)
		return (route_fail(status, why, 400, "empty request target"));
	for (i = 0; i < len; i++)
		if ((unsigned char)target[i] <= 0x20 ||
		    (unsigned char)target[i] == 0x7f)
			return (route_fail(status, why, 400,
			    "invalid character in request target"));
	if (target[0] != '/')
		return (route_fail(status, why, 400,
		    "absolute-form request targets are not accepted"));
	if (memchr(target, '#', len) != NULL)
		return (route_fail(status, why, 400,
		    "fragment not allowed in request target"));

	q = memchr(target, '?', len);
	plen = q != NULL ? (size_t)(q - target) : len;
	if ((n = route_file_prefix(target, plen, rt, path)) != 0)
		return (route_file(target + n, plen - n, rt, path, status,
		    why));
	switch (route_decode(target, plen, path, ROUTE_PATH_MAX)) {
	case -1:
		return (route_fail(status, why, 400, "path not allowed"));
	case -2:
		memset(rt, 0, sizeof(*rt));
		return (route_fail(status, why, 404, ROUTE_NOT_FOUND));
	}
	target = path;
	plen = strlen(path);
	if (memchr(target, '\\', plen) != NULL ||
	    route_dotsegment(target, plen))
		return (route_fail(status, why, 400, "path not allowed"));

	if (plen > 4 && strncmp(target, "/bot", 4) == 0 &&
	    (n = route_token(target + 4, plen - 4, rt)) != 0) {
		n += 4;
		/* The test environment: its method is the last segment. */
		if (plen - n > 5 && strncmp(target + n, "test/", 5) == 0) {
			rt->rt_test = 1;
			n += 5;
		}
		if (route_method(target + n, plen - n, rt) == 0)
			return (0);
	}
	memset(rt, 0, sizeof(*rt));
	return (route_fail(status, why, 404, ROUTE_NOT_FOUND));
}

/*
 * Read a request-target.  The path is built on the stack, up to
 * ROUTE_PATH_MAX, and kept at its own size: a request waiting upstream
 * (a held long poll) holds a few dozen bytes, not the whole bound.
 * route_clear() frees it.
 */
int
route_parse(struct route *rt, const char *target, size_t len, int *status,
    const char **why)
{
	char	 path[ROUTE_PATH_MAX];

	path[0] = '\0';
	if (route_parse_path(rt, path, target, len, status, why) == -1) {
		rt->rt_path = NULL;
		return (-1);
	}
	if ((rt->rt_path = strdup(path)) == NULL) {
		memset(rt, 0, sizeof(*rt));
		return (route_fail(status, why, 500, "out of memory"));
	}
	return (0);
}

void
route_clear(struct route *rt)
{
	free(rt->rt_path);
	rt->rt_path = NULL;
}

/*
 * An upstream URL's path, as written, made a prefix for every route in
 * out: "" for none ("" or "/"), else "/seg[/seg...]" with one trailing
 * slash dropped.  The rules a method path has, and stricter: segments of
 * letters, digits and "-._~" only (no escape, so nothing encoded hides
 * in it), none empty, "." or "..", and not ending in "/bot", which is
 * the sidecar's to add.  NULL, or why it is refused.
 */
const char *
route_prefix_ok(const char *path, char *out, size_t outlen)
{
	size_t	 len = strlen(path), i;

	out[0] = '\0';
	if (len > 0 && path[len - 1] == '/')
		len--;
	if (len == 0)
		return (NULL);
	if (path[0] != '/' || len >= outlen || len > ROUTE_PREFIX_MAX)
		return ("a path prefix is at most "
		    ROUTE_XSTR(ROUTE_PREFIX_MAX) " bytes");
	for (i = 0; i < len; i++)
		if (path[i] != '/' && !route_is((unsigned char)path[i],
		    "-._~"))
			return ("a path prefix holds only letters, digits, "
			    "\"-._~\" and \"/\"");
	for (i = 0; i < len; i++)
		if (path[i] == '/' && (i + 1 == len || path[i + 1] == '/'))
			return ("a path prefix has no empty segment");
	if (route_dotsegment(path, len))
		return ("a path prefix has no \".\" or \"..\" segment");
	if (len >= 4 && strncasecmp(path + len - 4, "/bot", 4) == 0)
		return ("a path prefix does not end in /bot: the sidecar adds "
		    "/bot<token>/<method>");
	memcpy(out, path, len);
	out[len] = '\0';
	return (NULL);
}

/* Put the upstream's prefix (route_prefix_ok()) in front of rt_path. */
int
route_prefix(struct route *rt, const char *prefix)
{
	char	*p;

	if (prefix == NULL || *prefix == '\0' || rt->rt_path == NULL)
		return (0);
	if (asprintf(&p, "%s%s", prefix, rt->rt_path) == -1)
		return (-1);
	free(rt->rt_path);
	rt->rt_path = p;
	return (0);
}
