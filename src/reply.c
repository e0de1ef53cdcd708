/* SPDX-License-Identifier: ISC */
/*
 * HTTP/1.1 framing of what goes back to the bot: the status line and
 * headers, the body (Content-Length when known, chunked otherwise), and
 * the Bot API-shaped JSON errors the sidecar makes itself.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>
#include <http_parser.h>

#include "apierror.h"
#include "flood.h"
#include "log.h"
#include "reply.h"
#include "req.h"

static int
reply_no_body(int status)
{
	return (status < 200 || status == 204 || status == 304);
}

/* Out of memory mid-reply: the bot can only be told by a close. */
static void
reply_broken(struct req *req, const char *func)
{
	log_warnx("%s: cannot queue the reply", func);
	req->req_keepalive = 0;
}

/* hdrs holds complete "Name: value\r\n" lines; it is drained. */
int
reply_head(struct req *req, int status, const char *reason,
    struct evbuffer *hdrs, int64_t clen)
{
	struct evbuffer	*out = req->req_out;

	if (reply_no_body(status))
		clen = -2;
	else if (clen < 0 && req->req_method == HTTP_HEAD)
		;	/* no body follows: no framing to end it */
	else if (clen < 0 && req->req_http11)
		req->req_chunked = 1;
	else if (clen < 0)
		req->req_keepalive = 0;	/* the close ends the body */
	req->req_clen_out = clen;
	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    reason != NULL && *reason != '\0' ? reason :
	    apierror_reason(status)) == -1)
		return (-1);
	if (hdrs != NULL && evbuffer_add_buffer(out, hdrs) == -1)
		return (-1);
	if (clen >= 0 &&
	    evbuffer_add_printf(out, "Content-Length: %" PRId64 "\r\n",
	    clen) == -1)
		return (-1);
	if (req->req_chunked &&
	    evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n") == -1)
		return (-1);
	if (!req->req_keepalive)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (!req->req_http11)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	req->req_status = status;
	req->req_head_sent = 1;
	flood_reply_head(req, status);
	return (evbuffer_add(out, "\r\n", 2));
}

/*
 * Never more than the head declared: a byte past it would be read by the
 * bot as the start of its next reply.
 */
int
reply_body(struct req *req, const char *data, size_t len)
{
	struct evbuffer	*out = req->req_out;

	if (len == 0)
		return (0);
	if (req->req_clen_out == -2 || (req->req_clen_out >= 0 &&
	    req->req_bytes_out + len > (uint64_t)req->req_clen_out))
		return (-1);
	req->req_bytes_out += len;
	if (req->req_chunked &&
	    evbuffer_add_printf(out, "%zx\r\n", len) == -1)
		return (-1);
	if (evbuffer_add(out, data, len) == -1)
		return (-1);
	if (req->req_chunked && evbuffer_add(out, "\r\n", 2) == -1)
		return (-1);
	flood_reply_body(req, data, len);
	return (0);
}

/* A body shorter than declared leaves the bot waiting: close after it. */
void
reply_end(struct req *req)
{
	flood_reply_end(req);
	if (req->req_clen_out >= 0 &&
	    req->req_bytes_out != (uint64_t)req->req_clen_out)
		req->req_keepalive = 0;
	else if (req->req_chunked &&
	    evbuffer_add(req->req_out, "0\r\n\r\n", 5) == -1)
		reply_broken(req, __func__);
}

/* A 100 Continue tells a bot that waits for it to send its body. */
void
reply_continue(struct req *req)
{
	if (evbuffer_add_printf(req->req_out,
	    "HTTP/1.1 100 Continue\r\n\r\n") == -1)
		reply_broken(req, __func__);
}

/* The Bot API's JSON error body; its length. */
static int
reply_apierror(char *body, size_t size, int status, const char *desc)
{
	int	 len;

	/* Every 503 of ours says Retry-After: 1, in the body too. */
	if (status == 503) {
		if ((len = apierror_retry(body, size, status, desc,
		    REPLY_RETRY_AFTER)) == -1)
			len = apierror_retry(body, size, status,
			    apierror_reason(status), REPLY_RETRY_AFTER);
	} else if ((len = apierror_body(body, size, status, desc)) == -1)
		len = apierror_body(body, size, status,
		    apierror_reason(status));
	return (len == -1 ? 0 : len);	/* the reason always fits */
}

/* An error of the sidecar's own, as the Bot API shapes them. */
void
reply_error(struct req *req, int status, const char *desc)
{
	char	 body[1024];
	int	 len = reply_apierror(body, sizeof(body), status, desc);

	reply_full(req, status, "application/json", body, len);
}

/*
 * The same for bytes no request began with (the bot sent garbage): the
 * connection is closed after it.
 */
void
reply_reject(struct evbuffer *out, int status, const char *desc)
{
	char	 body[1024];
	int	 len = reply_apierror(body, sizeof(body), status, desc);

	if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %d\r\nConnection: close\r\n\r\n%.*s",
	    status, apierror_reason(status), len, len, body) == -1)
		log_warnx("%s: cannot queue the reply", __func__);
}

/* A whole reply of the sidecar's own, with a known length. */
void
reply_full(struct req *req, int status, const char *ctype, const char *data,
    size_t len)
{
	struct evbuffer	*hdrs;
	int		 rc = -1;

	if ((hdrs = evbuffer_new()) == NULL)
		goto fail;
	if (evbuffer_add_printf(hdrs, "Content-Type: %s\r\n", ctype) == -1 ||
	    (status == 405 && req->req_allow != NULL &&
	    evbuffer_add_printf(hdrs, "Allow: %s\r\n",
	    req->req_allow) == -1) ||
	    (status == 503 &&
	    evbuffer_add_printf(hdrs, "Retry-After: %d\r\n",
	    REPLY_RETRY_AFTER) == -1))
		goto fail;
	rc = reply_head(req, status, NULL, hdrs, (int64_t)len);
	evbuffer_free(hdrs);
	hdrs = NULL;
	if (rc == -1)
		goto fail;
	if (req->req_method == HTTP_HEAD)
		return;		/* the length, never the body */
	req->req_bytes_out += len;
	if (evbuffer_add(req->req_out, data, len) == -1)
		goto fail;
	return;
 fail:
	if (hdrs != NULL)
		evbuffer_free(hdrs);
	reply_broken(req, __func__);
}

/* The flood guard's 429: the Bot API's body, and Retry-After. */
void
reply_retry(struct req *req, long secs)
{
	struct evbuffer	*hdrs;
	char		 body[256];
	int		 len, rc;

	if ((len = apierror_429(body, sizeof(body), secs)) == -1 ||
	    (hdrs = evbuffer_new()) == NULL)
		goto fail;
	rc = evbuffer_add_printf(hdrs, "Content-Type: application/json\r\n"
	    "Retry-After: %ld\r\n", secs) == -1 ? -1 :
	    reply_head(req, 429, NULL, hdrs, (int64_t)len);
	evbuffer_free(hdrs);
	if (rc == -1)
		goto fail;
	if (req->req_method == HTTP_HEAD)
		return;
	req->req_bytes_out += len;
	if (evbuffer_add(req->req_out, body, len) == -1)
		goto fail;
	return;
 fail:
	reply_broken(req, __func__);
}

/* Reply bytes the bot has not read yet. */
size_t
reply_pending(const struct req *req)
{
	return (evbuffer_get_length(req->req_out));
}
