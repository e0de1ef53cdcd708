/* SPDX-License-Identifier: ISC */
/*
 * A getUpdates "timeout" read as the Bot API (telegram-bot-api over tdlib)
 * reads it, so no request shape makes the sidecar and the server disagree
 * on how long a poll lasts:
 *
 * - the query over the body: the server takes the first "timeout" of its
 *   argument list, and the query's come first;
 * - the body by its Content-Type: urlencoded, multipart/form-data, or a
 *   JSON object, of which only the top-level keys count, escapes decoded
 *   (jansson); a "timeout" nested in another object is not the poll's;
 * - the value is read as an integer, a fraction cut off ("3.0" is 3),
 *   below 0 is 0, over POLLARG_MAX is POLLARG_MAX.
 *
 * Whatever the server might read otherwise is in doubt rather than
 * guessed: a key given twice, a value that is not a plain number (an
 * object, "1e3", " 5", ten digits or more), a body unread or of another
 * Content-Type, bad JSON.  A poll in doubt goes upstream as sent, is
 * given the longest timeout, and is never sliced nor learned from.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "pollarg.h"
#include "util.h"

#define POLLARG_DIGITS	9	/* more may wrap in the server's int32 */
#define POLLARG_VALMAX	64	/* a decoded value we read, at most */
#define POLLARG_BOUNDARY_MAX	70	/* RFC 2046 */

static const char	 pollarg_key[] = "timeout";

/*
 * A value as text: 0 and *secs, or -1 if in doubt.  Empty is the
 * server's default, 0.  Digits, then maybe a fraction it ignores.
 */
int
pollarg_value(const char *s, size_t len, long *secs)
{
	size_t	 i = 0, d;
	long	 v = 0;
	int	 neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i++;
	}
	for (d = i; i < len && isdigit((unsigned char)s[i]); i++)
		if (i - d < POLLARG_DIGITS)	/* more: in doubt anyway */
			v = v * 10 + (s[i] - '0');
	if ((i == d && len > 0) || i - d > POLLARG_DIGITS)
		return (-1);
	if (i < len && s[i] == '.')
		for (i++; i < len && isdigit((unsigned char)s[i]); i++)
			;
	if (i != len)
		return (-1);
	if (neg)
		v = 0;
	*secs = v > POLLARG_MAX ? POLLARG_MAX : v;
	return (0);
}

/*
 * The "timeout" pairs of a query or an urlencoded body: their number,
 * the first one's value at *at, *vlen bytes long (raw); *has 0 if it has
 * no '=' (a key alone: an empty value).
 */
static int
pollarg_form_find(const char *p, size_t len, size_t *at, size_t *vlen,
    int *has)
{
	char		 key[sizeof(pollarg_key)];
	const char	*amp, *eq;
	size_t		 i, end, klen, n;
	int		 count = 0;

	for (i = 0; i <= len; i = end + 1) {
		amp = memchr(p + i, '&', len - i);
		end = amp != NULL ? (size_t)(amp - p) : len;
		eq = memchr(p + i, '=', end - i);
		klen = (eq != NULL ? (size_t)(eq - p) : end) - i;
		if (util_urldecode(p + i, klen, key, sizeof(key), &n, 0) == -1 ||
		    n != sizeof(key) - 1 ||
		    memcmp(key, pollarg_key, n) != 0)
			continue;
		if (count++ == 0) {
			*at = eq != NULL ? (size_t)(eq - p) + 1 : end;
			*vlen = end - *at;
			*has = eq != NULL;
		}
	}
	return (count);
}

/* A query or an urlencoded body; the return as pollarg_value()'s. */
static int
pollarg_form(struct pollarg *pa, const char *p, size_t len)
{
	char	 v[POLLARG_VALMAX];
	size_t	 at, vlen, n;
	int	 has, count = pollarg_form_find(p, len, &at, &vlen, &has);

	if (count == 0)
		return (0);
	pa->pa_state = POLLARG_DOUBT;
	if (count > 1 || util_urldecode(p + at, vlen, v, sizeof(v), &n, 0) == -1 ||
	    pollarg_value(v, n, &pa->pa_secs) == -1)
		return (-1);
	pa->pa_state = POLLARG_SURE;
	return (0);
}

/* Does a number with an exponent stand anywhere outside the strings? */
static int
pollarg_json_exponent(const char *p, size_t len)
{
	size_t	 i;
	int	 instr = 0;

	for (i = 0; i < len; i++) {
		if (instr) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				instr = 0;
		} else if (p[i] == '"')
			instr = 1;
		else if ((p[i] == 'e' || p[i] == 'E') && i > 0 &&
		    (isdigit((unsigned char)p[i - 1]) || p[i - 1] == '.'))
			return (1);
	}
	return (0);
}

/*
 * A JSON body's top-level "timeout".  The server reads a number by its
 * text: "3e1" is 3 to it and 30 to jansson, so a real is read only when
 * no number of the body has an exponent.
 */
static int
pollarg_json(struct pollarg *pa, const char *p, size_t len)
{
	json_t		*root, *v;
	json_error_t	 err;
	double		 d;
	json_int_t	 i;
	int		 rc = -1;

	pa->pa_state = POLLARG_DOUBT;
	if ((root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &err)) == NULL)
		return (-1);
	if (!json_is_object(root))
		goto out;
	if ((v = json_object_get(root, pollarg_key)) == NULL) {
		pa->pa_state = POLLARG_ABSENT;
		rc = 0;
		goto out;
	}
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		if (i < -2147483647LL || i > 2147483647LL)
			goto out;
		pa->pa_secs = i < 0 ? 0 : i > POLLARG_MAX ? POLLARG_MAX : i;
	} else if (json_is_real(v)) {
		d = json_real_value(v);
		if (d <= -2147483647.0 || d >= 2147483647.0 ||
		    pollarg_json_exponent(p, len))
			goto out;
		pa->pa_secs = d < 0 ? 0 : d > POLLARG_MAX ? POLLARG_MAX :
		    (long)d;
	} else if (!json_is_string(v) || pollarg_value(json_string_value(v),
	    json_string_length(v), &pa->pa_secs) == -1)
		goto out;
	pa->pa_state = POLLARG_SURE;
	rc = 0;
 out:
	json_decref(root);
	return (rc);
}

/* The boundary of a multipart Content-Type, or -1. */
static int
pollarg_boundary(const char *ctype, char *b, size_t size)
{
	const char	*s;
	size_t		 n;

	for (s = ctype; *s != '\0'; s++)
		if (strncasecmp(s, "boundary=", 9) == 0 &&
		    (s == ctype || s[-1] == ';' || s[-1] == ' '))
			break;
	if (*s == '\0')
		return (-1);
	s += 9;
	if (*s == '"') {
		s++;
		n = strcspn(s, "\"");
		if (s[n] != '"')
			return (-1);
	} else
		n = strcspn(s, "; \t");
	if (n == 0 || n > POLLARG_BOUNDARY_MAX || n + 3 > size)
		return (-1);
	snprintf(b, size, "--%.*s", (int)n, s);
	return (0);
}

/* Is this part's head one with form-data; name="timeout"? */
static int
pollarg_part_named(const char *h, size_t hlen)
{
	static const char	 cd[] = "content-disposition:";
	static const char	 nm[] = "name=\"timeout\"";
	const char		*line = h, *eol, *s, *end = h + hlen;

	for (; line < end; line = eol + 2) {
		if ((eol = memmem(line, end - line, "\r\n", 2)) == NULL)
			eol = end;
		if ((size_t)(eol - line) < sizeof(cd) - 1 ||
		    strncasecmp(line, cd, sizeof(cd) - 1) != 0)
			continue;
		for (s = line; s + sizeof(nm) - 1 <= eol; s++)
			if (memcmp(s, nm, sizeof(nm) - 1) == 0 &&
			    (s[-1] == ' ' || s[-1] == ';'))
				return (1);
		return (0);
	}
	return (0);
}

/*
 * The "timeout" parts of a multipart body: their number, the first one's
 * content at *at, *vlen long; -1 if the body is not well formed.
 */
static int
pollarg_multipart_find(const char *ctype, const char *p, size_t len,
    size_t *at, size_t *vlen)
{
	char		 b[POLLARG_BOUNDARY_MAX + 8];
	const char	*s, *h, *next, *end = p + len;
	size_t		 blen;
	int		 count = 0;

	if (pollarg_boundary(ctype, b, sizeof(b)) == -1)
		return (-1);
	blen = strlen(b);
	if (len < blen || memcmp(p, b, blen) != 0)
		return (-1);
	for (s = p + blen;;) {
		if (end - s >= 2 && memcmp(s, "--", 2) == 0)
			return (count);
		if (end - s < 2 || memcmp(s, "\r\n", 2) != 0)
			return (-1);
		h = s + 2;
		if ((s = memmem(h, end - h, "\r\n\r\n", 4)) == NULL)
			return (-1);
		s += 4;
		for (next = s; (next = memmem(next, end - next, b,
		    blen)) != NULL; next++)
			if (next - s >= 2 && memcmp(next - 2, "\r\n", 2) == 0)
				break;
		if (next == NULL)
			return (-1);
		if (pollarg_part_named(h, s - 4 - h) && count++ == 0) {
			*at = s - p;
			*vlen = next - 2 - s;
		}
		s = next + blen;
	}
}

static int
pollarg_multipart(struct pollarg *pa, const char *ctype, const char *p,
    size_t len)
{
	size_t	 at, vlen;
	int	 count = pollarg_multipart_find(ctype, p, len, &at, &vlen);

	if (count == 0)
		return (0);
	pa->pa_state = POLLARG_DOUBT;
	if (count != 1 || pollarg_value(p + at, vlen, &pa->pa_secs) == -1)
		return (-1);
	pa->pa_state = POLLARG_SURE;
	return (0);
}

/* What the server makes of a body, by its Content-Type (as tdlib: a part). */
static int
pollarg_kind(const char *ctype)
{
	if (ctype == NULL)
		return (POLLARG_NONE);
	if (strcasestr(ctype, "multipart/form-data") != NULL)
		return (POLLARG_MULTIPART);
	if (strcasestr(ctype, "application/x-www-form-urlencoded") != NULL)
		return (POLLARG_FORM);
	if (strcasestr(ctype, "application/json") != NULL)
		return (POLLARG_JSON);
	return (POLLARG_NONE);
}

/*
 * Read a poll's timeout: q[0..qlen) the query (after '?', may be empty),
 * ctype the Content-Type or NULL, body[0..blen) the body; blen -1: there
 * is a body, not read.
 */
void
pollarg_read(struct pollarg *pa, const char *q, size_t qlen,
    const char *ctype, const char *body, ssize_t blen)
{
	int	 kind = pollarg_kind(ctype);

	memset(pa, 0, sizeof(*pa));
	pa->pa_src = POLLARG_QUERY;
	pollarg_form(pa, q, qlen);
	if (pa->pa_state != POLLARG_ABSENT)
		goto out;
	pa->pa_src = kind;
	if (blen == 0)
		goto out;
	if (blen < 0 || kind == POLLARG_NONE)
		pa->pa_state = POLLARG_DOUBT;
	else if (kind == POLLARG_FORM)
		pollarg_form(pa, body, blen);
	else if (kind == POLLARG_JSON)
		pollarg_json(pa, body, blen);
	else if (pollarg_multipart(pa, ctype, body, blen) == -1 &&
	    pa->pa_state == POLLARG_ABSENT)
		pa->pa_state = POLLARG_DOUBT;
 out:
	if (pa->pa_state == POLLARG_DOUBT)
		pa->pa_secs = POLLARG_MAX;
	if (pa->pa_state == POLLARG_ABSENT)
		pa->pa_src = POLLARG_NONE;
}

/* The JSON body with its top-level timeout set to secs. */
static int
pollarg_json_set(const char *p, size_t len, long secs, char **out,
    size_t *outlen)
{
	json_t	*root;
	int	 rc = -1;

	if ((root = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return (-1);
	if (!json_is_object(root) ||
	    json_object_get(root, pollarg_key) == NULL ||
	    json_object_set_new(root, pollarg_key, json_integer(secs)) == -1)
		goto out;
	if (out == NULL) {
		rc = 0;
		goto out;
	}
	if ((*out = json_dumps(root, JSON_COMPACT)) != NULL) {
		*outlen = strlen(*out);
		rc = 0;
	}
 out:
	json_decref(root);
	return (rc);
}

/*
 * p[0..len) (a query after '?', or a body of kind src) with the timeout
 * the server reads, and no other, set to secs, in a new string in *out
 * (NUL-terminated, *outlen long).  With out NULL only checks.  -1 if
 * there is no one such timeout to set.
 */
int
pollarg_rewrite(int src, const char *ctype, const char *p, size_t len,
    long secs, char **out, size_t *outlen)
{
	char	 num[24], *o;
	size_t	 at, vlen, nlen;
	int	 count, has = 1;

	if (src == POLLARG_JSON)
		return (pollarg_json_set(p, len, secs, out, outlen));
	if (src == POLLARG_QUERY || src == POLLARG_FORM)
		count = pollarg_form_find(p, len, &at, &vlen, &has);
	else if (src == POLLARG_MULTIPART && ctype != NULL)
		count = pollarg_multipart_find(ctype, p, len, &at, &vlen);
	else
		return (-1);
	if (count != 1)
		return (-1);
	if (out == NULL)
		return (0);
	/* A key alone gets its '=' with the value. */
	nlen = snprintf(num, sizeof(num), "%s%ld", has ? "" : "=", secs);
	if ((o = malloc(len - vlen + nlen + 1)) == NULL)
		return (-1);
	memcpy(o, p, at);
	memcpy(o + at, num, nlen);
	memcpy(o + at + nlen, p + at + vlen, len - at - vlen);
	*outlen = len - vlen + nlen;
	o[*outlen] = '\0';
	*out = o;
	return (0);
}
