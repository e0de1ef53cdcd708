/* SPDX-License-Identifier: ISC */
/*
 * A request on a spare connection (spare.c): libcurl did the proxy step
 * and TLS with CONNECT_ONLY; the sidecar writes the HTTP/1.1 request
 * itself and parses the reply with http-parser, over curl_easy_send()
 * and curl_easy_recv() with the socket watched by the loop.  The reply's
 * head goes through the same checks as a libcurl transfer's (the header
 * hook is upstream.c's header callback), and the end through the same
 * done hook, so the bot cannot tell the two paths apart.  The clocks
 * are upstream_watch.c's rule: no progress for stall_timeout while the
 * request goes out or the answer comes in, upstream_timeout_ms() for the
 * answer to begin once all is sent; time the bot holds us is not counted.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "conf.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "multi.h"
#include "reply.h"
#include "req.h"
#include "spare.h"
#include "tls.h"
#include "trim.h"
#include "upstream.h"
#include "util.h"

#define H1_BODY_MAX	(64 * 1024)	/* larger uploads stream via libcurl */
#define H1_IOSIZE	(16 * 1024)
#define H1_FIELD_MAX	(64 * 1024)	/* one reply header, name and value */

enum h1_hstate { H1_H_NONE, H1_H_FIELD, H1_H_VALUE };

struct upstream_h1 {
	struct req		*h1_req;
	struct upstream_h1_hooks h1_hooks;
	struct event		*h1_rev;
	struct event		*h1_wev;
	struct event		*h1_timer;
	struct evbuffer		*h1_out;	/* request bytes to send */
	char			*h1_wbuf;	/* H1_IOSIZE being sent: TLS */
	size_t			 h1_wlen;	/* wants the same bytes again */
	size_t			 h1_woff;
	int64_t			 h1_body_left;	/* upload still to come */
	http_parser		 h1_parser;
	struct evbuffer		*h1_field;
	struct evbuffer		*h1_value;
	int			 h1_hstate;	/* enum h1_hstate */
	int			 h1_status_sent;	/* this message's */
	int			 h1_failed;	/* a callback refused */
	int			 h1_complete;	/* final reply parsed */
	int			 h1_got;	/* a reply byte came */
	const char		*h1_buf_end;	/* of the bytes being parsed */
	const char		*h1_val_end;	/* of the last value piece */
	struct timespec		 h1_t0;
	int			 h1_phase;	/* enum upstream_phase */
	struct timespec		 h1_since;	/* phase began, bytes moved */
	long			 h1_wait_ms;	/* for the answer to begin */
	uint64_t		 h1_up;		/* body bytes sent */
	uint64_t		 h1_down;	/* answer body bytes read */
};

/* Which requests take a spare: a body that is small and has a length. */
int
upstream_h1_eligible(const struct req *req)
{
	if (req->req_probe || req->req_attempt > 0)
		return (0);
	if (req->req_method != HTTP_GET && req->req_method != HTTP_POST)
		return (0);
	if (!req->req_has_body)
		return (1);
	return (req->req_clen >= 0 && req->req_clen <= H1_BODY_MAX);
}

/* Host as libcurl writes it: the default port left out. */
static void
upstream_h1_host(const struct config *cfg, struct evbuffer *out)
{
	const char	*h = strstr(cfg->cfg_upstream, "://");
	int		 https = strncmp(cfg->cfg_upstream, "https:", 6) == 0;
	size_t		 len;

	h = h != NULL ? h + 3 : cfg->cfg_upstream;
	len = strlen(h);
	if (https && len > 4 && strcmp(h + len - 4, ":443") == 0)
		len -= 4;
	else if (!https && len > 3 && strcmp(h + len - 3, ":80") == 0)
		len -= 3;
	evbuffer_add_printf(out, "Host: %.*s\r\n", (int)len, h);
}

/*
 * The request head: the route's path and query, the forwarded headers
 * (header_upstream(): "Name: v", "Name;" for an empty one, "Name:" for
 * one libcurl must not add), and our own framing.
 */
static int
upstream_h1_head(struct upstream_h1 *h1)
{
	struct req		*req = h1->h1_req;
	const struct config	*cfg = req->req_cfg;
	struct curl_slist	*h;
	struct evbuffer		*out = h1->h1_out;
	const char		*line, *colon;
	size_t			 len;
	int			 accept = 0;

	evbuffer_add_printf(out, "%s %s HTTP/1.1\r\n",
	    http_method_str(req->req_method), req->req_url +
	    strlen(cfg->cfg_upstream));
	upstream_h1_host(cfg, out);
	for (h = req->req_uphdrs; h != NULL; h = h->next) {
		line = h->data;
		len = strlen(line);
		if (len > 0 && line[len - 1] == ';' && strchr(line, ':') ==
		    NULL) {
			evbuffer_add_printf(out, "%.*s:\r\n", (int)len - 1,
			    line);
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL || colon[1] == '\0')
			continue;
		if (colon - line == 6 && strncasecmp(line, "Accept", 6) == 0)
			accept = 1;
		evbuffer_add_printf(out, "%s\r\n", line);
	}
	if (!accept)
		evbuffer_add_printf(out, "Accept: */*\r\n");
	if (req->req_has_body || req->req_method == HTTP_POST)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n",
		    (long long)(req->req_has_body ? req->req_clen : 0));
	return (evbuffer_add_printf(out, "Connection: close\r\n\r\n") < 0 ?
	    -1 : 0);
}

static long
upstream_h1_limit(const struct upstream_h1 *h1)
{
	return (h1->h1_phase == UPH_WAIT ? h1->h1_wait_ms :
	    h1->h1_req->req_cfg->cfg_stall_timeout_ms);
}

/* Bytes moved, or a phase begins: its clock starts over. */
static void
upstream_h1_moved(struct upstream_h1 *h1, int phase)
{
	struct timeval	 tv;
	int		 rearm = phase != h1->h1_phase;

	h1->h1_phase = phase;
	clock_gettime(CLOCK_MONOTONIC, &h1->h1_since);
	if (!rearm)
		return;	/* the timer looks again when it fires */
	util_ms_timeval(upstream_h1_limit(h1), &tv);
	evtimer_add(h1->h1_timer, &tv);
}

/* The attempt ends; the hook may free the request, and with it h1. */
static void
upstream_h1_end(struct upstream_h1 *h1, CURLcode rc, const char *why)
{
	struct req	*req = h1->h1_req;

	struct timespec	 now;
	curl_off_t	 total;

	/* Its phases: no connect or TLS of its own, they were the spare's. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	total = (curl_off_t)(now.tv_sec - h1->h1_t0.tv_sec) * 1000000 +
	    (now.tv_nsec - h1->h1_t0.tv_nsec) / 1000;
	metrics_phases(0, 0, h1->h1_got ? (curl_off_t)(req->req_t_ttfb *
	    1000) : 0, total, req->req_cfg->cfg_proxy[
	    req->req_proxy].px_scheme != PROXY_NONE);
	if (why != NULL && req->req_errbuf[0] == '\0')
		snprintf(req->req_errbuf, sizeof(req->req_errbuf), "%s", why);
	h1->h1_hooks.uh_done(req, rc);
}

/* One line for upstream.c's header callback; -1 if it refused it. */
static int
upstream_h1_line(struct upstream_h1 *h1, char *line, size_t len)
{
	if (h1->h1_hooks.uh_header(line, 1, len, h1->h1_req) != len) {
		h1->h1_failed = 1;
		return (-1);
	}
	return (0);
}

static int
upstream_h1_status(struct upstream_h1 *h1)
{
	char	 line[64];
	int	 n;

	if (h1->h1_status_sent)
		return (0);
	h1->h1_status_sent = 1;
	n = snprintf(line, sizeof(line), "HTTP/1.1 %03u -\r\n",
	    h1->h1_parser.status_code % 1000);
	return (upstream_h1_line(h1, line, n));
}

/* The header gathered so far, as one "Name: value" line. */
static int
upstream_h1_flush(struct upstream_h1 *h1)
{
	char	*line;
	size_t	 len;
	int	 rc;

	if (h1->h1_hstate != H1_H_VALUE)
		return (0);
	evbuffer_add(h1->h1_field, ": ", 2);
	evbuffer_add_buffer(h1->h1_field, h1->h1_value);
	if (evbuffer_add(h1->h1_field, "\r\n", 2) == -1)
		return (-1);
	len = evbuffer_get_length(h1->h1_field);
	line = (char *)evbuffer_pullup(h1->h1_field, -1);
	rc = line != NULL ? upstream_h1_line(h1, line, len) : -1;
	evbuffer_drain(h1->h1_field, len);
	h1->h1_hstate = H1_H_NONE;
	return (rc);
}

static int
upstream_h1_on_begin(http_parser *p)
{
	struct upstream_h1	*h1 = p->data;

	h1->h1_status_sent = 0;
	h1->h1_hstate = H1_H_NONE;
	return (0);
}

static int
upstream_h1_on_field(http_parser *p, const char *at, size_t len)
{
	struct upstream_h1	*h1 = p->data;

	if (upstream_h1_status(h1) == -1 || upstream_h1_flush(h1) == -1)
		return (-1);
	if (evbuffer_get_length(h1->h1_field) + len > H1_FIELD_MAX) {
		h1->h1_req->req_up_bad = "more header bytes than the sidecar "
		    "keeps";
		return (-1);
	}
	h1->h1_hstate = H1_H_FIELD;
	return (evbuffer_add(h1->h1_field, at, len));
}

static int
upstream_h1_on_value(http_parser *p, const char *at, size_t len)
{
	struct upstream_h1	*h1 = p->data;

	if (evbuffer_get_length(h1->h1_field) +
	    evbuffer_get_length(h1->h1_value) + len > H1_FIELD_MAX) {
		h1->h1_req->req_up_bad = "more header bytes than the sidecar "
		    "keeps";
		return (-1);
	}
	/*
	 * http-parser joins an obs-fold continuation to the value: a value
	 * resumed before the end of the bytes is one.  libcurl hands it to
	 * the header callback as a line of its own, which refuses it.
	 */
	if (h1->h1_hstate == H1_H_VALUE && h1->h1_val_end != NULL &&
	    h1->h1_val_end != h1->h1_buf_end) {
		h1->h1_req->req_up_bad = "a header that is not a token and a "
		    "clean value";
		return (-1);
	}
	h1->h1_val_end = at + len;
	h1->h1_hstate = H1_H_VALUE;
	return (evbuffer_add(h1->h1_value, at, len));
}

static int
upstream_h1_on_headers(http_parser *p)
{
	struct upstream_h1	*h1 = p->data;
	char			 end[] = "\r\n";

	if (upstream_h1_status(h1) == -1 || upstream_h1_flush(h1) == -1 ||
	    upstream_h1_line(h1, end, 2) == -1)
		return (-1);
	return (0);
}

static int
upstream_h1_on_body(http_parser *p, const char *at, size_t len)
{
	struct upstream_h1	*h1 = p->data;
	struct req		*req = h1->h1_req;

	switch (longpoll_body(req, at, len)) {
	case 1:
		h1->h1_down += len;	/* held: maybe an empty result */
		return (0);
	case -1:
		h1->h1_failed = 1;
		return (-1);
	}
	if (!req->req_head_sent && reply_head(req, req->req_up_status ?
	    req->req_up_status : 502, NULL, req->req_up_head, -1) == -1) {
		h1->h1_failed = 1;
		return (-1);
	}
	h1->h1_down += len;
	if (reply_body(req, at, len) == -1) {
		h1->h1_failed = 1;	/* ours: the stage is UST_LOCAL */
		return (-1);
	}
	return (0);
}

static int
upstream_h1_on_complete(http_parser *p)
{
	struct upstream_h1	*h1 = p->data;

	if (p->status_code < 200)
		return (0);	/* interim: the real head follows */
	h1->h1_complete = 1;
	http_parser_pause(p, 1);
	return (0);
}

static const http_parser_settings upstream_h1_settings = {
	.on_message_begin = upstream_h1_on_begin,
	.on_header_field = upstream_h1_on_field,
	.on_header_value = upstream_h1_on_value,
	.on_headers_complete = upstream_h1_on_headers,
	.on_body = upstream_h1_on_body,
	.on_message_complete = upstream_h1_on_complete,
};

/* Feed reply bytes (none: the far side closed); 1 when it is whole. */
static int
upstream_h1_parse(struct upstream_h1 *h1, const char *buf, size_t n)
{
	struct req		*req = h1->h1_req;
	enum http_errno		 err;

	h1->h1_buf_end = buf + n;
	h1->h1_val_end = NULL;
	http_parser_execute(&h1->h1_parser, &upstream_h1_settings, buf, n);
	if (h1->h1_complete)
		return (1);
	err = HTTP_PARSER_ERRNO(&h1->h1_parser);
	if (err == HPE_OK)
		return (0);
	if (!h1->h1_failed && req->req_up_bad == NULL)
		req->req_up_bad = "a reply that is not HTTP/1.1";
	return (-1);
}

/* Move upload bytes from the bot to the output, as upstream_read does. */
static void
upstream_h1_body(struct upstream_h1 *h1)
{
	struct req	*req = h1->h1_req;
	size_t		 n;

	n = evbuffer_get_length(req->req_body);
	if (h1->h1_body_left <= 0 || n == 0)
		return;
	if ((int64_t)n > h1->h1_body_left)
		n = h1->h1_body_left;
	if (req->req_replay != NULL)
		evbuffer_add(req->req_replay, evbuffer_pullup(req->req_body,
		    n), n);
	evbuffer_remove_buffer(req->req_body, h1->h1_out, n);
	h1->h1_body_left -= n;
	h1->h1_up += n;		/* queued: at most 16 KiB ahead of the wire */
	if (evbuffer_get_length(req->req_body) < REQ_BODY_HIGH / 2)
		req->req_hooks->rh_kick(req);
}

/*
 * All sent and no answer yet: the connection sits idle (a held long poll
 * spends its life here).  Give back its TLS record buffers (about 17 KiB
 * each way); OpenSSL allocates them again for the next record.
 */
static void
upstream_h1_rest(struct upstream_h1 *h1)
{
	struct req	*req = h1->h1_req;

	if (h1->h1_phase == UPH_WAIT && !h1->h1_got &&
	    tls_release(req->req_easy))
		trim_soon(req->req_base);
}

/* Send what there is; 0, or -1 once the attempt has ended. */
static int
upstream_h1_send(struct upstream_h1 *h1)
{
	struct req	*req = h1->h1_req;
	size_t		 n;
	CURLcode	 rc;

	for (;;) {
		upstream_h1_body(h1);
		if (h1->h1_woff == h1->h1_wlen) {
			if (evbuffer_get_length(h1->h1_out) == 0)
				break;
			/* Only while sending: a held poll keeps none. */
			if (h1->h1_wbuf == NULL &&
			    (h1->h1_wbuf = malloc(H1_IOSIZE)) == NULL) {
				upstream_h1_end(h1, CURLE_OUT_OF_MEMORY, NULL);
				return (-1);
			}
			h1->h1_woff = 0;
			h1->h1_wlen = evbuffer_remove(h1->h1_out,
			    h1->h1_wbuf, H1_IOSIZE);
			if (h1->h1_wlen == (size_t)-1)
				h1->h1_wlen = 0;
		}
		if (h1->h1_wlen == 0)
			break;
		n = 0;
		rc = curl_easy_send(req->req_easy, h1->h1_wbuf + h1->h1_woff,
		    h1->h1_wlen - h1->h1_woff, &n);
		if (rc == CURLE_AGAIN) {
			event_add(h1->h1_wev, NULL);
			return (0);
		}
		if (rc != CURLE_OK) {
			upstream_h1_end(h1, CURLE_SEND_ERROR, NULL);
			return (-1);
		}
		h1->h1_woff += n;
		if (n > 0) {
			req->req_h1_sent = 1;
			upstream_h1_moved(h1, UPH_SEND);
		}
	}
	/* All sent, or the bot's upload is still on its way. */
	event_del(h1->h1_wev);
	free(h1->h1_wbuf);
	h1->h1_wbuf = NULL;
	h1->h1_woff = h1->h1_wlen = 0;
	if (h1->h1_body_left == 0 && h1->h1_phase == UPH_SEND) {
		upstream_h1_moved(h1, UPH_WAIT);
		longpoll_sent(req);
	}
	upstream_h1_rest(h1);
	return (0);
}

static void
upstream_h1_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	upstream_h1_send(arg);
}

/* Read and parse until the socket is empty or the bot is behind. */
static void
upstream_h1_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_h1	*h1 = arg;
	struct req		*req = h1->h1_req;
	char			 buf[H1_IOSIZE];
	size_t			 n;
	CURLcode		 rc;
	int			 r;

	(void)fd;
	(void)what;
	for (;;) {
		if (reply_pending(req) >= REPLY_OUT_HIGH) {
			req->req_recv_paused = 1;
			event_del(h1->h1_rev);
			return;
		}
		n = 0;
		rc = curl_easy_recv(req->req_easy, buf, sizeof(buf), &n);
		if (rc == CURLE_AGAIN) {
			upstream_h1_rest(h1);
			return;
		}
		if (rc != CURLE_OK) {
			upstream_h1_end(h1, h1->h1_got ? CURLE_RECV_ERROR :
			    CURLE_GOT_NOTHING, NULL);
			return;
		}
		if (n > 0)
			upstream_h1_moved(h1, UPH_RECV);
		if (n > 0 && !h1->h1_got) {
			h1->h1_got = 1;
			spare_ok();	/* tickets come before the answer */
			req->req_t_ttfb = util_ms_since(&h1->h1_t0);
		}
		if ((r = upstream_h1_parse(h1, buf, n)) == 1) {
			upstream_h1_end(h1, CURLE_OK, NULL);
			return;
		}
		if (r == -1) {
			upstream_h1_end(h1, CURLE_WRITE_ERROR, NULL);
			return;
		}
		if (n == 0) {
			/* Closed before a whole reply. */
			upstream_h1_end(h1, h1->h1_got ? CURLE_PARTIAL_FILE :
			    CURLE_GOT_NOTHING, h1->h1_got ? "the connection "
			    "closed in the middle of the reply" : "the "
			    "connection closed before any reply");
			return;
		}
	}
}

/* The bot holds us: its upload is slow, or it reads slowly. */
static int
upstream_h1_held(const struct upstream_h1 *h1)
{
	const struct req	*req = h1->h1_req;

	if (h1->h1_phase == UPH_SEND)
		return (h1->h1_body_left > 0 && h1->h1_wlen == h1->h1_woff &&
		    evbuffer_get_length(h1->h1_out) == 0);
	return (h1->h1_phase == UPH_RECV && req->req_recv_paused);
}

static void
upstream_h1_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_h1	*h1 = arg;
	struct timespec		 now;
	struct timeval		 tv;
	long			 idle, limit;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (upstream_h1_held(h1))
		h1->h1_since = now;
	idle = util_ms_between(&h1->h1_since, &now);
	limit = upstream_h1_limit(h1);
	if (idle < limit) {
		util_ms_timeval(limit - idle, &tv);
		evtimer_add(h1->h1_timer, &tv);
		return;
	}
	upstream_h1_end(h1, CURLE_OPERATION_TIMEDOUT, NULL);
}

/* Where the attempt was, for upstream_fail.c's words and rules. */
void
upstream_h1_facts(struct req *req, struct upstream_facts *uf)
{
	struct upstream_h1	*h1 = req->req_h1;

	uf->uf_sent = req->req_h1_sent;
	/* Nothing written yet: as if still connecting, any method retries. */
	uf->uf_phase = req->req_h1_sent ? h1->h1_phase : UPH_CONNECT;
	uf->uf_limit_ms = upstream_h1_limit(h1);
	uf->uf_up = h1->h1_up;
	uf->uf_down = h1->h1_down;
}

/* The multi heard of this handle's end long ago: nothing to do. */
static void
upstream_h1_stray(void *arg, CURLcode rc)
{
	(void)arg;
	log_debug("%s: a spare's transfer ended again (%d)", __func__, rc);
}

/*
 * Send the request on the spare e (owned by req from here on) and read
 * its reply within ms; the end goes to hooks->uh_done.
 */
int
upstream_h1_start(struct req *req, CURL *e, long ms,
    const struct upstream_h1_hooks *hooks)
{
	struct upstream_h1	*h1;
	curl_socket_t		 fd = CURL_SOCKET_BAD;
	struct timeval		 tv;

	req->req_easy = e;
	req->req_spare = 1;
	multi_rehook(e, upstream_h1_stray, NULL);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->req_errbuf);
	if ((h1 = calloc(1, sizeof(*h1))) == NULL)
		return (-1);
	req->req_h1 = h1;
	h1->h1_req = req;
	h1->h1_hooks = *hooks;
	clock_gettime(CLOCK_MONOTONIC, &h1->h1_t0);
	h1->h1_body_left = req->req_has_body ? req->req_clen : 0;
	h1->h1_wait_ms = ms;
	h1->h1_phase = UPH_SEND;
	h1->h1_since = h1->h1_t0;
	http_parser_init(&h1->h1_parser, HTTP_RESPONSE);
	h1->h1_parser.data = h1;
	if (curl_easy_getinfo(e, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK ||
	    fd == CURL_SOCKET_BAD)
		return (-1);
	if ((h1->h1_out = evbuffer_new()) == NULL ||
	    (h1->h1_field = evbuffer_new()) == NULL ||
	    (h1->h1_value = evbuffer_new()) == NULL ||
	    (h1->h1_rev = event_new(req->req_base, fd, EV_READ | EV_PERSIST,
	    upstream_h1_read_cb, h1)) == NULL ||
	    (h1->h1_wev = event_new(req->req_base, fd, EV_WRITE | EV_PERSIST,
	    upstream_h1_write_cb, h1)) == NULL ||
	    (h1->h1_timer = evtimer_new(req->req_base, upstream_h1_timeout_cb,
	    h1)) == NULL)
		return (-1);
	if (upstream_h1_head(h1) == -1)
		return (-1);
	util_ms_timeval(upstream_h1_limit(h1), &tv);
	if (evtimer_add(h1->h1_timer, &tv) == -1 ||
	    event_add(h1->h1_rev, NULL) == -1)
		return (-1);
	/* From the loop: the caller is still setting the attempt up. */
	event_active(h1->h1_wev, EV_WRITE, 0);
	return (0);
}

/* Before the handle goes: no event may fire on its closed socket. */
void
upstream_h1_stop(struct req *req)
{
	struct upstream_h1	*h1 = req->req_h1;

	if (h1 == NULL)
		return;
	if (h1->h1_rev != NULL)
		event_free(h1->h1_rev);
	if (h1->h1_wev != NULL)
		event_free(h1->h1_wev);
	if (h1->h1_timer != NULL)
		event_free(h1->h1_timer);
	if (h1->h1_out != NULL)
		evbuffer_free(h1->h1_out);
	if (h1->h1_field != NULL)
		evbuffer_free(h1->h1_field);
	if (h1->h1_value != NULL)
		evbuffer_free(h1->h1_value);
	free(h1->h1_wbuf);
	free(h1);
	req->req_h1 = NULL;
}

/* From the loop: upload bytes came, or the bot read its reply down. */
void
upstream_h1_resume(struct req *req)
{
	struct upstream_h1	*h1 = req->req_h1;

	if (req->req_recv_paused && reply_pending(req) <= REPLY_OUT_LOW) {
		req->req_recv_paused = 0;
		event_add(h1->h1_rev, NULL);
		/* TLS may hold decrypted bytes the socket no longer shows. */
		event_active(h1->h1_rev, EV_READ, 0);
	}
	/* From the loop too: a failure must not end it inside our caller. */
	if (h1->h1_body_left > 0 && evbuffer_get_length(req->req_body) > 0)
		event_active(h1->h1_wev, EV_WRITE, 0);
}
