/* SPDX-License-Identifier: ISC */
/*
 * The chat a Bot API call names, as the Bot API reads it: chat_id in the
 * query, a JSON object's top-level key, an urlencoded field or a
 * multipart form field.  A body that has not all come yet may still tell
 * (a form field already ended); JSON tells only once it is complete.
 * Whatever cannot be read the Bot API's way is FLOODCHAT_UNKNOWN: the
 * guard then lets the call go, and the Bot API says what is wrong.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "floodchat.h"
#include "util.h"

#define FLOODCHAT_NAME		"chat_id"
#define FLOODCHAT_BOUNDARY_MAX	70	/* RFC 2046 */

/*
 * A chat's key: an id ("-1001234") or "@username" (lowercased: Telegram
 * matches usernames without case).  Printable ASCII, shorter than size.
 */
int
floodchat_key(const char *v, size_t n, char *key, size_t size)
{
	size_t	 i;

	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= size)
		return (FLOODCHAT_UNKNOWN);
	for (i = 0; i < n; i++) {
		if (v[i] < 0x21 || v[i] > 0x7e)
			return (FLOODCHAT_UNKNOWN);
		key[i] = v[0] == '@' ? tolower((unsigned char)v[i]) : v[i];
	}
	key[n] = '\0';
	return (FLOODCHAT_FOUND);
}

/* name=value&...: the last pair is whole only if complete. */
static int
floodchat_form(const char *s, size_t len, int complete, char *key,
    size_t size)
{
	const char	*p = s, *end = s + len, *amp, *pend, *eq;
	char		 name[sizeof(FLOODCHAT_NAME) + 1], val[FLOODCHAT_MAX];
	size_t		 n;

	while (p < end) {
		amp = memchr(p, '&', end - p);
		if (amp == NULL && !complete)
			return (FLOODCHAT_MORE);
		pend = amp != NULL ? amp : end;
		eq = memchr(p, '=', pend - p);
		if (util_urldecode(p, (eq != NULL ? eq : pend) - p, name,
		    sizeof(name), &n, 1) == 0 &&
		    strcmp(name, FLOODCHAT_NAME) == 0) {
			/* A chat we cannot read for sure is not guarded. */
			if (eq == NULL || util_urldecode(eq + 1,
			    pend - eq - 1, val, sizeof(val), &n, 1) == -1)
				return (FLOODCHAT_UNKNOWN);
			return (floodchat_key(val, n, key, size));
		}
		p = pend + 1;
	}
	return (complete ? FLOODCHAT_NONE : FLOODCHAT_MORE);
}

/* The request-target's query, if any. */
int
floodchat_query(const char *target, size_t len, char *key, size_t size)
{
	const char	*q = memchr(target, '?', len), *hash;

	if (q == NULL)
		return (FLOODCHAT_NONE);
	q++;
	len -= q - target;
	if ((hash = memchr(q, '#', len)) != NULL)
		len = hash - q;
	return (floodchat_form(q, len, 1, key, size));
}

/* Is the media type of ctype (parameters after ';') mt? */
static int
floodchat_type(const char *ctype, const char *mt)
{
	size_t	 n = strlen(mt);

	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	if (strncasecmp(ctype, mt, n) != 0)
		return (0);
	ctype += n;
	return (*ctype == '\0' || *ctype == ';' || *ctype == ' ' ||
	    *ctype == '\t');
}

static int
floodchat_json(const char *body, size_t len, int complete, char *key,
    size_t size)
{
	json_t		*o, *v;
	json_error_t	 err;
	char		 num[32];
	int		 rv = FLOODCHAT_UNKNOWN;

	if (!complete)
		return (FLOODCHAT_MORE);
	if ((o = json_loadb(body, len, JSON_DECODE_ANY, &err)) == NULL)
		return (FLOODCHAT_UNKNOWN);
	if (json_is_null(o))
		rv = FLOODCHAT_NONE;	/* telebot's "null": no parameters */
	else if (!json_is_object(o))
		rv = FLOODCHAT_UNKNOWN;
	else if ((v = json_object_get(o, FLOODCHAT_NAME)) == NULL)
		rv = FLOODCHAT_NONE;
	else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		rv = floodchat_key(num, strlen(num), key, size);
	} else if (json_is_string(v))
		rv = floodchat_key(json_string_value(v), json_string_length(v),
		    key, size);
	json_decref(o);
	return (rv);
}

/* The boundary parameter of a multipart Content-Type; its length or 0. */
static size_t
floodchat_boundary(const char *ctype, char *b, size_t size)
{
	const char	*p = ctype, *v;
	size_t		 n;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "boundary=", 9) != 0)
			continue;
		v = p + 9;
		if (*v == '"')
			n = (p = strchr(++v, '"')) != NULL ? (size_t)(p - v) : 0;
		else
			n = strcspn(v, "; \t");
		if (n == 0 || n > FLOODCHAT_BOUNDARY_MAX || n + 3 > size)
			return (0);
		memcpy(b, "--", 2);
		memcpy(b + 2, v, n);
		return (n + 2);
	}
	return (0);
}

/* Does a part's head (its header lines) name the field chat_id? */
static int
floodchat_part_named(const char *h, size_t len)
{
	static const char	 cd[] = "content-disposition:";
	const char		*line = h, *end = h + len, *nl, *p;
	size_t			 n, want = sizeof(FLOODCHAT_NAME) - 1;

	for (; line < end; line = nl + 2) {
		if ((nl = memmem(line, end - line, "\r\n", 2)) == NULL)
			nl = end;
		if ((size_t)(nl - line) < sizeof(cd) - 1 ||
		    strncasecmp(line, cd, sizeof(cd) - 1) != 0)
			continue;
		for (p = line + sizeof(cd) - 1; p + 5 < nl; p++) {
			if (strncasecmp(p, "name=", 5) != 0 ||
			    (p[-1] != ' ' && p[-1] != ';' && p[-1] != '\t'))
				continue;
			p += 5;
			if (*p == '"')
				p++;
			n = strcspn(p, "\"; \t\r");
			return (n == want && p + n <= nl &&
			    memcmp(p, FLOODCHAT_NAME, want) == 0);
		}
	}
	return (0);
}

/* --b CRLF head CRLF CRLF value CRLF --b ... --b--, parts in order. */
static int
floodchat_multipart(const char *ctype, const char *s, size_t len,
    int complete, char *key, size_t size)
{
	char		 delim[FLOODCHAT_BOUNDARY_MAX + 5];
	const char	*end = s + len, *p, *hend, *next;
	size_t		 dl;
	int		 short_rv = complete ? FLOODCHAT_UNKNOWN : FLOODCHAT_MORE;

	memcpy(delim, "\r\n", 2);
	if ((dl = floodchat_boundary(ctype, delim + 2, sizeof(delim) - 2)) == 0)
		return (FLOODCHAT_UNKNOWN);
	if ((p = memmem(s, len, delim + 2, dl)) == NULL)
		return (short_rv);
	for (p += dl;; p = next + 2 + dl) {
		if (end - p < 2)
			return (short_rv);
		if (memcmp(p, "--", 2) == 0)
			return (FLOODCHAT_NONE);	/* the last boundary */
		if (memcmp(p, "\r\n", 2) != 0)
			return (FLOODCHAT_UNKNOWN);
		p += 2;
		if ((hend = memmem(p, end - p, "\r\n\r\n", 4)) == NULL)
			return (short_rv);
		if ((next = memmem(hend + 4, end - hend - 4, delim,
		    dl + 2)) == NULL)
			return (short_rv);
		if (floodchat_part_named(p, hend - p))
			return (floodchat_key(hend + 4, next - hend - 4, key,
			    size));
	}
}

/*
 * The chat of a body of type ctype (NULL: no Content-Type), of which len
 * bytes have come; complete: all of it.
 */
int
floodchat_body(const char *ctype, const char *body, size_t len, int complete,
    char *key, size_t size)
{
	if (len == 0 && complete)
		return (FLOODCHAT_NONE);
	if (ctype == NULL)
		return (FLOODCHAT_UNKNOWN);
	if (floodchat_type(ctype, "application/json"))
		return (floodchat_json(body, len, complete, key, size));
	if (floodchat_type(ctype, "application/x-www-form-urlencoded"))
		return (floodchat_form(body, len, complete, key, size));
	if (floodchat_type(ctype, "multipart/form-data"))
		return (floodchat_multipart(ctype, body, len, complete, key,
		    size));
	return (FLOODCHAT_UNKNOWN);
}
