/* SPDX-License-Identifier: ISC */
/*
 * Header fields as the sidecar understands them: names checked as RFC
 * 9110 tokens and values as field-values before anything is decided on
 * them, since Debian's http-parser is lenient (it takes "Name : value"
 * and treats "Transfer-Encoding :" as the real thing).  Then what each
 * name means here, and the list of the bot's headers that goes upstream.
 * Hop-by-hop headers (RFC 9110 7.6.1) describe one connection, and each
 * side has its own.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/buffer.h>

#include "header.h"
#include "req.h"

static const struct {
	const char	*hn_name;
	int		 hn_kind;	/* enum header_kind */
} header_names[] = {
	{ "Host",		HEADER_HOST },
	{ "Content-Length",	HEADER_CONTENT_LENGTH },
	{ "Content-Type",	HEADER_CONTENT_TYPE },
	{ "Expect",		HEADER_EXPECT },
	{ "Connection",		HEADER_CONNECTION },
	{ "Transfer-Encoding",	HEADER_TRANSFER_ENCODING },
	{ "Keep-Alive",		HEADER_HOP },
	{ "Proxy-Authenticate",	HEADER_HOP },
	{ "Proxy-Authorization", HEADER_HOP },
	{ "Proxy-Connection",	HEADER_HOP },
	{ "TE",			HEADER_HOP },
	{ "Trailer",		HEADER_HOP },
	{ "Trailers",		HEADER_HOP },
	{ "Upgrade",		HEADER_HOP },
	{ "HTTP2-Settings",	HEADER_HOP },	/* RFC 9113 3.2.1 */
	{ NULL,			HEADER_OTHER }
};

/* tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", DIGIT, ALPHA */
static int
header_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return (1);
	return (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Is it a token: one or more tchar, nothing else? */
int
header_token(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0)
		return (0);
	for (i = 0; i < len; i++)
		if (!header_tchar((unsigned char)s[i]))
			return (0);
	return (1);
}

/* A field-value holds VCHAR, obs-text, SP and HTAB: never CR, LF, NUL. */
int
header_value_ok(const char *s, size_t len)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return (0);
	}
	return (1);
}

/* Is the header name (not NUL-terminated) equal to s, ignoring case? */
int
header_is(const char *name, size_t len, const char *s)
{
	return (strlen(s) == len && strncasecmp(name, s, len) == 0);
}

/* What a name, already checked as a token, means to the sidecar. */
int
header_kind(const char *name, size_t len)
{
	int	 i;

	for (i = 0; header_names[i].hn_name != NULL; i++)
		if (header_is(name, len, header_names[i].hn_name))
			return (header_names[i].hn_kind);
	return (HEADER_OTHER);
}

int
header_hop(const char *name, size_t len)
{
	switch (header_kind(name, len)) {
	case HEADER_CONNECTION:
	case HEADER_TRANSFER_ENCODING:
	case HEADER_HOP:
		return (1);
	default:
		return (0);
	}
}

/* Does a Connection header value name this header as hop-by-hop too? */
int
header_listed(const char *connection, const char *name, size_t len)
{
	const char	*p = connection, *tok;
	size_t		 n;

	if (connection == NULL)
		return (0);
	while (*p != '\0') {
		p += strspn(p, " \t,");
		tok = p;
		n = strcspn(p, " \t,");
		if (n > 0 && n == len && strncasecmp(tok, name, len) == 0)
			return (1);
		p += n;
	}
	return (0);
}

/*
 * Does every Upgrade header offer h2c and nothing else?  RFC 9110 7.8's
 * list ("h2c, websocket" asks for either): each member, compared without
 * case, must be "h2c"; an empty list offers nothing we may ignore.
 */
int
header_upgrade_h2c(const struct curl_slist *hdrs)
{
	const char	*p, *q, *end, *tok;
	size_t		 nlen, vlen, len;
	int		 seen = 0;

	for (; hdrs != NULL; hdrs = hdrs->next) {
		if (header_split(hdrs->data, strlen(hdrs->data), &nlen, &p,
		    &vlen) == -1 || !header_is(hdrs->data, nlen, "Upgrade"))
			continue;
		for (end = p + vlen; p < end; p = q + 1) {
			for (q = p; q < end && *q != ','; q++)
				;
			tok = p;
			len = q - p;
			header_trim(&tok, &len);
			if (len > 0 && !header_is(tok, len, "h2c"))
				return (0);
			seen += len > 0;
		}
	}
	return (seen > 0);
}

/* Strip the optional whitespace around a field-value. */
void
header_trim(const char **value, size_t *len)
{
	while (*len > 0 && (**value == ' ' || **value == '\t')) {
		(*value)++;
		(*len)--;
	}
	while (*len > 0 && ((*value)[*len - 1] == ' ' ||
	    (*value)[*len - 1] == '\t'))
		(*len)--;
}

/* A Content-Length value, trimmed: 1 to 18 digits (RFC 9110 8.6), or -1. */
int64_t
header_clen(const char *value, size_t len)
{
	int64_t		 n = 0;
	size_t		 i;

	if (len == 0 || len > 18)
		return (-1);
	for (i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return (-1);
		n = n * 10 + (value[i] - '0');
	}
	return (n);
}

/*
 * Append a value to a comma-separated list held in *list (NULL: empty),
 * as several fields of one name combine (RFC 9110 5.3): every Connection
 * header counts, not only the last.
 */
int
header_list_add(char **list, const char *value, size_t len)
{
	char	*c;

	if (asprintf(&c, "%s%s%.*s", *list != NULL ? *list : "",
	    *list != NULL ? ", " : "", (int)len, value) == -1)
		return (-1);
	free(*list);
	*list = c;
	return (0);
}

/*
 * Split one header line (no line end) into a checked name and a trimmed
 * value.  -1 if the name is not a token or the value has a CTL in it.
 */
int
header_split(const char *line, size_t len, size_t *nlen, const char **value,
    size_t *vlen)
{
	const char	*colon;

	if ((colon = memchr(line, ':', len)) == NULL)
		return (-1);
	*nlen = colon - line;
	*value = colon + 1;
	*vlen = len - *nlen - 1;
	if (!header_token(line, *nlen) || !header_value_ok(*value, *vlen))
		return (-1);
	header_trim(value, vlen);
	return (0);
}

static int
header_add(struct curl_slist **list, const char *line)
{
	struct curl_slist	*l;

	if ((l = curl_slist_append(*list, line)) == NULL)
		return (-1);
	*list = l;
	return (0);
}

/*
 * The bot's end-to-end headers, as libcurl is to send them; libcurl owns
 * the framing ones.  req_hdrs holds "Name: value" lines whose names
 * client.c has checked, so the first colon ends the name.
 */
int
header_upstream(struct req *req)
{
	struct curl_slist	*h;
	const char		*line, *value;
	char			*buf;
	size_t			 nlen, vlen;
	int			 kind, ctype = 0, rc;

	for (h = req->req_hdrs; h != NULL; h = h->next) {
		line = h->data;
		if (header_split(line, strlen(line), &nlen, &value,
		    &vlen) == -1)
			return (-1);
		kind = header_kind(line, nlen);
		if ((kind != HEADER_OTHER && kind != HEADER_CONTENT_TYPE) ||
		    header_listed(req->req_connection, line, nlen))
			continue;
		if (kind == HEADER_CONTENT_TYPE)
			ctype = 1;
		/* libcurl reads "Name:" as "remove"; "Name;" sends it empty. */
		if (vlen == 0)
			rc = asprintf(&buf, "%.*s;", (int)nlen, line);
		else
			rc = asprintf(&buf, "%.*s: %.*s", (int)nlen, line,
			    (int)vlen, value);
		if (rc == -1)
			return (-1);
		rc = header_add(&req->req_uphdrs, buf);
		free(buf);
		if (rc == -1)
			return (-1);
	}
	/* No 100-continue round trip, and no invented Content-Type. */
	if (header_add(&req->req_uphdrs, "Expect:") == -1)
		return (-1);
	if (!ctype && header_add(&req->req_uphdrs, "Content-Type:") == -1)
		return (-1);
	return (0);
}

/* Keep what the sidecar itself acts on; every check is on a token. */
static int
header_note(struct req *req, int kind, const char *value,
    size_t vlen)
{
	if (kind == HEADER_TRANSFER_ENCODING) {
		req->req_hte++;
		req->req_hte_chunked = header_is(value, vlen, "chunked");
	} else if (kind == HEADER_CONTENT_LENGTH) {
		req->req_hcl++;
		req->req_hclen = header_clen(value, vlen);
	} else if (kind == HEADER_EXPECT && vlen == 12 &&
	    strncasecmp(value, "100-continue", 12) == 0)
		req->req_expect = 1;
	else if (kind == HEADER_CONNECTION)
		return (header_list_add(&req->req_connection, value, vlen));
	return (0);
}

/*
 * Complete the header gathered so far as one "Name: value" line.  An
 * empty value is still a header: the next name must not join this one.
 * -1 with *why for a header the bot must be told of, with *why NULL when
 * out of memory.
 */
int
header_commit(struct req *req, const char **why)
{
	struct curl_slist	*l;
	size_t			 nlen = evbuffer_get_length(req->req_hname);
	size_t			 vlen = evbuffer_get_length(req->req_hvalue);
	const char		*name, *value;
	char			*line;

	if (req->req_hstate == REQ_H_NONE)
		return (0);
	req->req_hstate = REQ_H_NONE;
	name = nlen ? (char *)evbuffer_pullup(req->req_hname, -1) : "";
	value = vlen ? (char *)evbuffer_pullup(req->req_hvalue, -1) : "";
	if (!header_token(name, nlen)) {
		*why = "Bad Request: a header name is not a token";
		return (-1);
	}
	if (!header_value_ok(value, vlen)) {
		*why = "Bad Request: a header value holds a control character";
		return (-1);
	}
	header_trim(&value, &vlen);
	if (header_note(req, header_kind(name, nlen), value,
	    vlen) == -1)
		return (-1);
	if (asprintf(&line, "%.*s: %.*s", (int)nlen, name, (int)vlen,
	    value) == -1)
		return (-1);
	l = curl_slist_append(req->req_hdrs, line);
	free(line);
	if (l == NULL)
		return (-1);
	req->req_hdrs = l;
	evbuffer_drain(req->req_hname, nlen);
	evbuffer_drain(req->req_hvalue, evbuffer_get_length(req->req_hvalue));
	return (0);
}

/*
 * How much of a piece of request head (n of its len bytes) may go to
 * http-parser: up to a CR that no LF follows (*bare), or up to a CR whose
 * next byte has not come yet.  Built lenient, http-parser takes a CR and
 * any byte for a line end in places, and so reads another head than the
 * bot wrote ("X: \r1\nContent-Length: 5" ends the head at the 1).
 */
size_t
header_piece(struct evbuffer *in, const char *p, size_t n, size_t len,
    int *bare)
{
	struct evbuffer_ptr	 pos;
	const char		*cr;
	char			 next;
	size_t			 i = 0;

	*bare = 0;
	while (i < n && (cr = memchr(p + i, '\r', n - i)) != NULL) {
		i = cr - p;
		if (i + 1 < len)
			next = p[i + 1];
		else if (evbuffer_ptr_set(in, &pos, i + 1,
		    EVBUFFER_PTR_SET) == -1 ||
		    evbuffer_copyout_from(in, &pos, &next, 1) != 1)
			return (i);	/* wait for the byte after it */
		if (next != '\n') {
			*bare = 1;
			return (i);
		}
		i += 2;
	}
	return (n);
}
