/* SPDX-License-Identifier: ISC */
/*
 * The reply's head as the bot will get it.  The framer (upstream_h1.c)
 * hands in each message's status and each field as http-parser read it;
 * only checked names and clean values pass, and the framing and
 * hop-by-hop fields are ours to write (reply.c).  A reply that cannot be
 * framed for the bot without guessing is refused: rp_bad says why,
 * and the bot gets a 502 of our own.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <http_parser.h>

#include "header.h"
#include "longpoll.h"
#include "reply.h"
#include "req.h"
#include "upstream_head.h"

#define UPSTREAM_HEAD_MAX	(64 * 1024)	/* reply head bytes, all told */

/* The reply's state, for an attempt that begins (0) or ends. */
int
upstream_head_init(struct upstream_reply *rp)
{
	memset(rp, 0, sizeof(*rp));
	rp->rp_clen = -1;
	return ((rp->rp_head = evbuffer_new()) == NULL ? -1 : 0);
}

void
upstream_head_clear(struct upstream_reply *rp)
{
	if (rp->rp_head != NULL)
		evbuffer_free(rp->rp_head);
	free(rp->rp_connection);
	memset(rp, 0, sizeof(*rp));
}

static int
upstream_head_refuse(struct req *req, const char *why)
{
	req->req_reply->rp_bad = why;
	return (-1);
}

/*
 * Count head bytes against what the sidecar keeps: interim messages
 * count too, so a stream of 1xx cannot be endless.
 */
int
upstream_head_bytes(struct req *req, size_t n)
{
	req->req_reply->rp_headlen += n;
	if (req->req_reply->rp_headlen > UPSTREAM_HEAD_MAX)
		return (upstream_head_refuse(req, "more header bytes than the "
		    "sidecar keeps"));
	return (0);
}

/* A message begins, interim (1xx) or final: its head starts over. */
int
upstream_head_status(struct req *req, unsigned int status)
{
	if (status < 100 || status > 599)
		return (upstream_head_refuse(req, "a status code that is not "
		    "100 to 599"));
	if (status == 101)
		return (upstream_head_refuse(req, "a protocol switch (101) "
		    "the sidecar did not ask for"));
	req->req_reply->rp_status = status;
	req->req_reply->rp_clen = -1;
	req->req_reply->rp_chunked = 0;
	free(req->req_reply->rp_connection);
	req->req_reply->rp_connection = NULL;
	evbuffer_drain(req->req_reply->rp_head, evbuffer_get_length(req->req_reply->rp_head));
	return (0);
}

/* The reply's length, from its framing fields; -1 if it is unsafe. */
static int
upstream_head_length(struct req *req, int kind, const char *value,
    size_t vlen)
{
	int64_t		 clen;

	if (kind == HEADER_TRANSFER_ENCODING) {
		/* http-parser decodes chunked, and nothing else. */
		if (!header_is(value, vlen, "chunked") || req->req_reply->rp_chunked ||
		    req->req_reply->rp_clen >= 0)
			return (-1);
		req->req_reply->rp_chunked = 1;
		return (0);
	}
	/* Two Content-Lengths, even equal: RFC 9112 6.3 lets us refuse. */
	if (req->req_reply->rp_chunked || req->req_reply->rp_clen >= 0 ||
	    (clen = header_clen(value, vlen)) < 0)
		return (-1);
	req->req_reply->rp_clen = clen;
	return (0);
}

/* One field of the head; -1 if the reply is refused. */
int
upstream_head_field(struct req *req, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	int	 kind;

	if (!header_token(name, nlen) || !header_value_ok(value, vlen))
		return (upstream_head_refuse(req, "a header that is not a "
		    "token and a clean value"));
	header_trim(&value, &vlen);
	kind = header_kind(name, nlen);
	/*
	 * http-parser 2.9 takes any name that begins so for the framing
	 * field and frames by it (a 204 read to the close); a bot's parser
	 * may too.  No such field passes.
	 */
	if (kind != HEADER_TRANSFER_ENCODING && nlen > 17 &&
	    strncasecmp(name, "transfer-encoding", 17) == 0)
		return (upstream_head_refuse(req, "a Content-Length or "
		    "Transfer-Encoding that cannot be framed safely"));
	if (kind == HEADER_TRANSFER_ENCODING ||
	    kind == HEADER_CONTENT_LENGTH) {
		if (upstream_head_length(req, kind, value, vlen) == -1)
			return (upstream_head_refuse(req, "a Content-Length "
			    "or Transfer-Encoding that cannot be framed "
			    "safely"));
		return (0);
	}
	if (kind == HEADER_CONNECTION)
		return (header_list_add(&req->req_reply->rp_connection, value, vlen));
	if (kind == HEADER_HOP)
		return (0);
	if (evbuffer_add(req->req_reply->rp_head, name, nlen) == -1 ||
	    evbuffer_add_printf(req->req_reply->rp_head, ": %.*s\r\n", (int)vlen,
	    value) == -1)
		return (-1);
	return (0);
}

/* Drop the reply fields that its Connection field names as hop-by-hop. */
static int
upstream_head_unlisted(struct req *req)
{
	struct evbuffer	*kept;
	char		*line, *colon;
	size_t		 len;

	if (req->req_reply->rp_connection == NULL)
		return (0);
	if ((kept = evbuffer_new()) == NULL)
		return (-1);
	while ((line = evbuffer_readln(req->req_reply->rp_head, &len,
	    EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		colon = strchr(line, ':');
		if (colon == NULL || !header_listed(req->req_reply->rp_connection,
		    line, colon - line))
			evbuffer_add_printf(kept, "%s\r\n", line);
		free(line);
	}
	evbuffer_drain(req->req_reply->rp_head, evbuffer_get_length(req->req_reply->rp_head));
	evbuffer_add_buffer(req->req_reply->rp_head, kept);
	evbuffer_free(kept);
	return (0);
}

/*
 * The final head is complete: hand it to the bot, framed our way (a
 * long poll's maybe-empty answer waits); reply_head() knows that 204
 * and 304 carry no body (RFC 9110 6.4.1), whatever their fields say.
 */
int
upstream_head_end(struct req *req)
{
	int64_t	 clen = req->req_reply->rp_chunked ? -1 : req->req_reply->rp_clen;

	if (upstream_head_unlisted(req) == -1)
		return (-1);
	/* The bot still uploads: the stream is out of step after this. */
	if (!req->req_body_done)
		req->req_keepalive = 0;
	if (longpoll_hold(req))
		return (0);
	return (reply_head(req, req->req_reply->rp_status, NULL, req->req_reply->rp_head,
	    clen));
}

/* http-parser's error, in the words of the rule the reply broke. */
const char *
upstream_head_parse_why(enum http_errno err)
{
	switch (err) {
	case HPE_INVALID_CONTENT_LENGTH:
	case HPE_UNEXPECTED_CONTENT_LENGTH:
	case HPE_INVALID_TRANSFER_ENCODING:
		return ("a Content-Length or Transfer-Encoding that cannot be "
		    "framed safely");
	case HPE_INVALID_HEADER_TOKEN:
	case HPE_LF_EXPECTED:
		return ("a header that is not a token and a clean value");
	case HPE_HEADER_OVERFLOW:
		return ("more header bytes than the sidecar keeps");
	case HPE_INVALID_CHUNK_SIZE:
		return ("a chunked body that is not framed as RFC 9112 7.1 "
		    "says");
	default:
		return ("a reply that is not HTTP/1.1");
	}
}
