/* SPDX-License-Identifier: ISC */
/*
 * One bot connection: a bufferevent read through http-parser, one
 * request at a time (pipelined ones wait their turn in the input), and
 * client_close() as the only way a connection dies.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/util.h>

#include "tgsidecar.h"

#define CLIENT_PARSE_MAX	(64 * 1024)	/* bytes per parser call */
#define CLIENT_POLL_BODY_MAX	4096	/* a getUpdates body we wait for */

static int	client_on_begin(http_parser *);
static int	client_on_url(http_parser *, const char *, size_t);
static int	client_on_hfield(http_parser *, const char *, size_t);
static int	client_on_hvalue(http_parser *, const char *, size_t);
static int	client_on_headers(http_parser *);
static int	client_on_body(http_parser *, const char *, size_t);
static int	client_on_complete(http_parser *);
static void	client_pump(struct client *);

static const http_parser_settings client_settings = {
	.on_message_begin = client_on_begin,
	.on_url = client_on_url,
	.on_header_field = client_on_hfield,
	.on_header_value = client_on_hvalue,
	.on_headers_complete = client_on_headers,
	.on_body = client_on_body,
	.on_message_complete = client_on_complete,
};

static const struct config *
client_cfg(struct client *clt)
{
	return (clt->clt_srv->srv_cfg);
}

static void
client_timeouts(struct client *clt)
{
	const struct config	*cfg = client_cfg(clt);
	struct timeval		 tv, *rd = &tv;

	util_ms_timeval(cfg->cfg_idle_timeout_ms, &tv);
	/* A bot waiting for its reply may be silent for as long as it likes. */
	if (clt->clt_req != NULL && clt->clt_req->req_body_done)
		rd = NULL;
	bufferevent_set_timeouts(clt->clt_bev, rd, &tv);
}

/*
 * header_timeout runs from accept for the first request and from the first
 * byte of each later head.  It is a deadline, not an idle timer, so a head
 * that trickles in a byte at a time cannot hold the connection longer.
 */
static void
client_head_start(struct client *clt)
{
	const struct config	*cfg = client_cfg(clt);
	struct timeval		 tv;

	util_ms_timeval(cfg->cfg_header_timeout_ms, &tv);
	evtimer_add(clt->clt_head_ev, &tv);
}

/* What an access line says, in either format. */
struct client_access {
	const char	*ca_method;
	const char	*ca_api;
	const char	*ca_bot;
	const char	*ca_error;	/* or NULL */
	int		 ca_status;
	double		 ca_ms;
};

static void
client_log_text(struct req *req, const struct client_access *a, char *line,
    size_t len)
{
	snprintf(line, len, "access %s %s %s bot=%s status=%d "
	    "in=%" PRIu64 " out=%" PRIu64 " ms=%.1f connect=%.1f tls=%.1f "
	    "ttfb=%.1f retries=%d%s%s%s", req->req_clt->clt_peer, a->ca_method,
	    a->ca_api, a->ca_bot, a->ca_status, req->req_bytes_in,
	    req->req_bytes_out, a->ca_ms, req->req_t_connect, req->req_t_tls,
	    req->req_t_ttfb, req->req_attempt,
	    a->ca_error != NULL ? " error=\"" : "",
	    a->ca_error != NULL ? a->ca_error : "",
	    a->ca_error != NULL ? "\"" : "");
}

static void
client_log_json(struct req *req, const struct client_access *a, char *line,
    size_t len)
{
	char	 err[1024];

	if (a->ca_error == NULL ||
	    apierror_string(err, sizeof(err), a->ca_error) == -1)
		snprintf(err, sizeof(err), "null");
	snprintf(line, len, "\"msg\":\"access\",\"peer\":\"%s\","
	    "\"http_method\":\"%s\",\"method\":\"%s\",\"bot\":\"%s\","
	    "\"status\":%d,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	    ",\"ms\":%.1f,\"connect_ms\":%.1f,\"tls_ms\":%.1f,"
	    "\"ttfb_ms\":%.1f,\"retries\":%d%s%s",
	    req->req_clt->clt_peer, a->ca_method, a->ca_api, a->ca_bot,
	    a->ca_status, req->req_bytes_in, req->req_bytes_out, a->ca_ms,
	    req->req_t_connect, req->req_t_tls, req->req_t_ttfb,
	    req->req_attempt, a->ca_error != NULL ? ",\"error\":" : "",
	    a->ca_error != NULL ? err : "");
}

static void
client_log(struct req *req, const char *why)
{
	struct client_access	 a;
	struct timespec		 now;
	char			 line[2048];
	/* Probes come every few seconds: keep them out of the way. */
	int			 level = req->req_admin ? LOG_LEVEL_DEBUG :
				    LOG_LEVEL_INFO;

	a.ca_status = req->req_status;
	if (a.ca_status == 0) {
		a.ca_status = 499;	/* the bot left before any reply */
		metrics_error(METRICS_STAGE_CLIENT_ABORT);
	}
	metrics_request(req, a.ca_status, req->req_admin);
	if (!log_wants(level))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	a.ca_ms = (now.tv_sec - req->req_start.tv_sec) * 1e3 +
	    (now.tv_nsec - req->req_start.tv_nsec) / 1e6;
	a.ca_method = req->req_method >= 0 ?
	    http_method_str(req->req_method) : "-";
	a.ca_api = req->req_route.rt_method[0] != '\0' ?
	    req->req_route.rt_method : "-";
	a.ca_bot = req->req_route.rt_bot[0] != '\0' ? req->req_route.rt_bot :
	    "-";
	a.ca_error = req->req_errdesc[0] != '\0' ? req->req_errdesc : why;
	if (log_is_json())
		client_log_json(req, &a, line, sizeof(line));
	else
		client_log_text(req, &a, line, sizeof(line));
	log_access(level, line);
}

/* The one destructor of a request. */
static void
client_req_free(struct req *req, const char *why)
{
	if (req == NULL)
		return;
	if (req->req_easy != NULL)
		upstream_stop(req);
	health_forget(req);
	client_log(req, why);
	if (req->req_clt->clt_req == req)
		req->req_clt->clt_req = NULL;
	if (req->req_target != NULL)
		evbuffer_free(req->req_target);
	if (req->req_hname != NULL)
		evbuffer_free(req->req_hname);
	if (req->req_hvalue != NULL)
		evbuffer_free(req->req_hvalue);
	if (req->req_body != NULL)
		evbuffer_free(req->req_body);
	if (req->req_up_head != NULL)
		evbuffer_free(req->req_up_head);
	if (req->req_replay != NULL)
		evbuffer_free(req->req_replay);
	if (req->req_retry_ev != NULL)
		event_free(req->req_retry_ev);
	curl_slist_free_all(req->req_hdrs);
	curl_slist_free_all(req->req_uphdrs);
	free(req->req_connection);
	free(req->req_up_connection);
	free(req->req_url);
	config_unref(req->req_cfg);
	free(req);
}

/* A request got its whole reply; the connection goes on or winds down. */
void
client_req_done(struct req *req)
{
	struct client	*clt = req->req_clt;

	/* An unread body leaves the stream out of step: end it there. */
	if (!req->req_keepalive || !req->req_body_done ||
	    clt->clt_srv->srv_draining)
		clt->clt_closing = 1;
	client_req_free(req, NULL);
	/* client_parse() unpauses the parser: never from inside its callback. */
	if (!clt->clt_closing)
		clt->clt_paused = 0;
	client_timeouts(clt);
	client_schedule(clt);
}

/*
 * Fail the request in hand with a status of our own.  If the reply has
 * begun there is no way left to say so but to close.
 */
static void
client_fail(struct client *clt, int status, const char *desc)
{
	struct req	*req = clt->clt_req;

	clt->clt_closing = 1;
	/* http-parser aborts if a parser in error state is paused. */
	if (HTTP_PARSER_ERRNO(&clt->clt_parser) == HPE_OK)
		http_parser_pause(&clt->clt_parser, 1);
	if (req == NULL) {
		/* Bytes no request began with: still a reply to count. */
		metrics_request(NULL, status, 0);
		reply_error(clt, NULL, status, desc);
		return;
	}
	if (req->req_easy != NULL)
		upstream_stop(req);
	if (req->req_head_sent) {
		client_req_free(req, desc);
		return;
	}
	req->req_keepalive = 0;
	snprintf(req->req_errdesc, sizeof(req->req_errdesc), "%s", desc);
	reply_error(clt, req, status, desc);
	client_req_free(req, NULL);
}

static struct client *
client_of(http_parser *p)
{
	return (p->data);
}

static int
client_on_begin(http_parser *p)
{
	struct client	*clt = client_of(p);
	struct req	*req;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		return (-1);
	req->req_clt = clt;
	req->req_seq = ++clt->clt_nreq;
	req->req_cfg = config_ref(clt->clt_srv->srv_cfg);
	req->req_method = -1;
	clt->clt_req = req;
	/* The first head's deadline has run since accept. */
	if (!evtimer_pending(clt->clt_head_ev, NULL))
		client_head_start(clt);
	clock_gettime(CLOCK_MONOTONIC, &req->req_start);
	if ((req->req_target = evbuffer_new()) == NULL ||
	    (req->req_hname = evbuffer_new()) == NULL ||
	    (req->req_hvalue = evbuffer_new()) == NULL ||
	    (req->req_body = evbuffer_new()) == NULL)
		return (-1);
	return (0);
}

static int
client_on_url(http_parser *p, const char *at, size_t len)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;

	req->req_method = p->method;
	/* client_parse() keeps the whole head within max_header_size. */
	return (evbuffer_add(req->req_target, at, len));
}

/* A bad request head: the status and words client_parse_error() gives. */
static int
client_head_bad(struct client *clt, const char *why)
{
	clt->clt_perr = 400;
	clt->clt_pwhy = why;
	return (-1);
}

/* Keep what the sidecar itself acts on; every check is on a token. */
static int
client_header_note(struct req *req, int kind, const char *value,
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
 */
static int
client_header_commit(struct client *clt)
{
	struct req		*req = clt->clt_req;
	struct curl_slist	*l;
	size_t			 nlen = evbuffer_get_length(req->req_hname);
	size_t			 vlen = evbuffer_get_length(req->req_hvalue);
	const char		*name, *value;
	char			*line;

	if (req->req_hstate == CLIENT_H_NONE)
		return (0);
	req->req_hstate = CLIENT_H_NONE;
	name = nlen ? (char *)evbuffer_pullup(req->req_hname, -1) : "";
	value = vlen ? (char *)evbuffer_pullup(req->req_hvalue, -1) : "";
	if (!header_token(name, nlen))
		return (client_head_bad(clt, "Bad Request: a header name is "
		    "not a token"));
	if (!header_value_ok(value, vlen))
		return (client_head_bad(clt, "Bad Request: a header value "
		    "holds a control character"));
	header_trim(&value, &vlen);
	if (client_header_note(req, header_kind(name, nlen), value,
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

static int
client_header_room(struct client *clt, size_t len)
{
	struct req	*req = clt->clt_req;

	/* Trailers too: never kept, but no more than a head. */
	req->req_hdrlen += len;
	if (req->req_hdrlen > req->req_cfg->cfg_max_header_size) {
		clt->clt_perr = 431;
		return (-1);
	}
	return (0);
}

/*
 * http-parser calls this one or more times per name, and the value
 * callback zero or more times per value: a name that follows a value,
 * even an empty one, starts a new header.
 */
static int
client_on_hfield(http_parser *p, const char *at, size_t len)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;

	if (client_header_room(clt, len) == -1)
		return (-1);
	if (req->req_hstate == CLIENT_H_DONE)
		return (0);	/* a trailer: never forwarded */
	/* Each one kept costs more than its bytes: bound their number. */
	if (req->req_hstate != CLIENT_H_FIELD &&
	    ++req->req_nfields > CLIENT_FIELDS_MAX) {
		clt->clt_perr = 431;
		clt->clt_pwhy = "Request Header Fields Too Large: more than "
		    "256 header fields";
		return (-1);
	}
	if (req->req_hstate == CLIENT_H_VALUE &&
	    client_header_commit(clt) == -1)
		return (-1);
	req->req_hstate = CLIENT_H_FIELD;
	return (evbuffer_add(req->req_hname, at, len));
}

static int
client_on_hvalue(http_parser *p, const char *at, size_t len)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;

	if (client_header_room(clt, len) == -1)
		return (-1);
	if (req->req_hstate == CLIENT_H_DONE)
		return (0);
	req->req_hstate = CLIENT_H_VALUE;
	return (evbuffer_add(req->req_hvalue, at, len));
}

/*
 * The body's framing, from the headers as the sidecar checked them, must
 * be what lenient http-parser made of it ("chunked\t" is not chunked to
 * it), or the two would read different requests from one stream.
 */
static int
client_framing(struct client *clt)
{
	struct req	*req = clt->clt_req;
	http_parser	*p = &clt->clt_parser;
	int		 chunked = (p->flags & F_CHUNKED) != 0;
	int		 clen = (p->flags & F_CONTENTLENGTH) != 0;

	if (req->req_hte > 1 || (req->req_hte == 1 && (!req->req_hte_chunked ||
	    req->req_hcl > 0)) || chunked != (req->req_hte == 1))
		return (client_head_bad(clt, "Bad Request: a Transfer-Encoding "
		    "other than one \"chunked\""));
	if (req->req_hcl > 1 || (req->req_hcl == 1 && (req->req_hclen < 0 ||
	    !clen || p->content_length != (uint64_t)req->req_hclen)) ||
	    (clen && req->req_hcl == 0))
		return (client_head_bad(clt, "Bad Request: a Content-Length "
		    "that is not one number"));
	return (0);
}

/* allow, under the config the request holds: a reload may change it. */
static int
client_peer_allowed(struct client *clt)
{
	return (acl_peer_allowed(clt->clt_req->req_cfg,
	    (struct sockaddr *)&clt->clt_ss));
}

/* Decide what to do with a request once its head is known. */
static int
client_check(struct client *clt, int *status, const char **why)
{
	struct req		*req = clt->clt_req;
	const struct config	*cfg = req->req_cfg;
	http_parser		*p = &clt->clt_parser;
	size_t			 len = evbuffer_get_length(req->req_target);
	const char		*target;

	target = (const char *)evbuffer_pullup(req->req_target, -1);
	if (!client_peer_allowed(clt)) {
		/* Nothing more to say to this peer: close after the 403. */
		req->req_keepalive = 0;
		*status = 403;
		*why = "Forbidden: this address may not use the sidecar";
		return (-1);
	}
	if (p->http_major != 1) {
		*status = 400;
		*why = "Bad Request: only HTTP/1.0 and HTTP/1.1 are served";
		return (-1);
	}
	if (p->method == HTTP_CONNECT || p->upgrade) {
		*status = 400;
		*why = "CONNECT and protocol upgrades are not accepted";
		return (-1);
	}
	if (route_parse(&req->req_route, target != NULL ? target : "", len,
	    status, why) == -1)
		return (-1);
	if (!acl_bot_allowed(cfg, req->req_route.rt_bot)) {
		*status = 403;
		*why = "Forbidden: this bot may not use the sidecar";
		return (-1);
	}
	if (p->method != HTTP_GET && p->method != HTTP_POST) {
		req->req_allow = "GET, POST";
		*status = 405;
		*why = "Method Not Allowed: use GET or POST";
		return (-1);
	}
	if (req->req_route.rt_kind == ROUTE_FILE && req->req_has_body) {
		*status = 400;
		*why = "Bad Request: a file download takes no body";
		return (-1);
	}
	if (req->req_has_body && req->req_clen >= 0 &&
	    (uint64_t)req->req_clen > cfg->cfg_max_body) {
		*status = 413;
		*why = "Request Entity Too Large";
		return (-1);
	}
	if (clt->clt_srv->srv_inflight >= cfg->cfg_max_inflight) {
		*status = 503;
		*why = "Service Unavailable: too many requests in flight, "
		    "retry after 1";
		return (-1);
	}
	return (0);
}

static int
client_start(struct client *clt)
{
	if (upstream_start(clt->clt_req) == -1) {
		client_fail(clt, 500, "Internal Server Error: cannot start the "
		    "upstream transfer");
		return (-1);
	}
	client_timeouts(clt);
	return (0);
}

/*
 * A request refused at its head.  Without a body the connection stays in
 * step and alive; with one we answer at once and close, unread.
 */
static void
client_refuse(struct client *clt, int status, const char *why)
{
	struct req	*req = clt->clt_req;

	metrics_error(METRICS_STAGE_REFUSED);
	if (req->req_has_body) {
		client_fail(clt, status, why);
		return;
	}
	snprintf(req->req_errdesc, sizeof(req->req_errdesc), "%s", why);
	reply_error(clt, req, status, why);
	req->req_refused = 1;
}

static long
client_query_timeout(struct req *req)
{
	const char	*t = (const char *)evbuffer_pullup(req->req_target, -1);
	size_t		 len = evbuffer_get_length(req->req_target);
	const char	*q = memchr(t, '?', len);

	return (q != NULL ? route_timeout(q, len - (q - t)) : -1);
}

/*
 * /healthz, /readyz and /metrics: on admin_listen when it is set, on the
 * one listener otherwise.  Returns 1 if the request was taken.
 */
static int
client_admin(struct client *clt)
{
	struct req	*req = clt->clt_req;
	const char	*t = (const char *)evbuffer_pullup(req->req_target, -1);
	size_t		 len = evbuffer_get_length(req->req_target);
	int		 which = t != NULL ? health_route(t, len) : 0;

	if (!client_peer_allowed(clt))
		return (0);	/* client_check() refuses it */
	if (which == 0 || (req->req_cfg->cfg_admin_listen != NULL &&
	    !clt->clt_admin)) {
		if (!clt->clt_admin)
			return (0);
		client_refuse(clt, 404, "Not Found: this is the admin listener");
		return (1);
	}
	if (req->req_method != HTTP_GET) {
		req->req_allow = "GET";
		client_refuse(clt, 405, "Method Not Allowed: use GET");
	} else if (req->req_has_body)
		client_refuse(clt, 400, "Bad Request: no body expected");
	else
		health_serve(req, which);
	return (1);
}

static int
client_on_headers(http_parser *p)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;
	const char	*why = NULL;
	int		 status = 0;

	if (client_header_commit(clt) == -1 || client_framing(clt) == -1)
		return (-1);
	evtimer_del(clt->clt_head_ev);
	req->req_hstate = CLIENT_H_DONE;
	req->req_method = p->method;
	req->req_http11 = p->http_major > 1 ||
	    (p->http_major == 1 && p->http_minor >= 1);
	req->req_keepalive = http_should_keep_alive(p) &&
	    !clt->clt_srv->srv_draining;
	if (p->flags & F_CHUNKED) {
		req->req_has_body = 1;
		req->req_clen = -1;
	} else if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0) {
		req->req_has_body = 1;
		req->req_clen = p->content_length > INT64_MAX ? INT64_MAX :
		    (int64_t)p->content_length;
	}
	if (client_admin(clt))
		return (0);
	if (client_check(clt, &status, &why) == -1) {
		client_refuse(clt, status, why);
		return (0);
	}
	req->req_poll_secs = -1;
	if (req->req_route.rt_longpoll) {
		req->req_poll_secs = client_query_timeout(req);
		/* Its timeout may be in the (small) body: wait for it. */
		if (req->req_has_body && req->req_clen >= 0 &&
		    req->req_clen <= CLIENT_POLL_BODY_MAX) {
			req->req_held = 1;
			if (req->req_expect && req->req_http11)
				reply_continue(req);
			return (0);
		}
	}
	if (client_start(clt) == -1)
		return (0);
	if (req->req_expect && req->req_has_body && req->req_http11)
		reply_continue(req);
	return (0);
}

static int
client_on_body(http_parser *p, const char *at, size_t len)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;

	req->req_bytes_in += len;
	if (req->req_bytes_in > req->req_cfg->cfg_max_body) {
		metrics_error(METRICS_STAGE_REFUSED);
		client_fail(clt, 413, "Request Entity Too Large");
		return (0);
	}
	return (evbuffer_add(req->req_body, at, len));
}

/*
 * Draining: a long poll would hold the exit for up to 50 s.  An empty
 * result loses nothing (updates are confirmed by the next offset), and
 * the bot simply polls again after the restart.
 */
static void
client_poll_empty(struct req *req)
{
	static const char	 empty[] = "{\"ok\":true,\"result\":[]}";

	if (req->req_easy != NULL)
		upstream_stop(req);
	reply_full(req, 200, "application/json", empty, sizeof(empty) - 1);
	client_req_done(req);
}

static int
client_on_complete(http_parser *p)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;

	/* Hold the next pipelined request until this one is answered. */
	clt->clt_paused = 1;
	http_parser_pause(p, 1);
	if (req == NULL)
		return (0);
	req->req_body_done = 1;
	if (req->req_refused) {
		client_req_done(req);
		return (0);
	}
	if (req->req_held) {
		/* A long poll held back for its body's timeout. */
		long t = route_timeout((const char *)evbuffer_pullup(
		    req->req_body, -1), evbuffer_get_length(req->req_body));

		req->req_held = 0;
		if (t >= 0)
			req->req_poll_secs = t;
		if (clt->clt_srv->srv_draining)
			client_poll_empty(req);
		else
			client_start(clt);
		return (0);
	}
	client_timeouts(clt);
	return (0);
}

static const char *
client_parse_error(struct client *clt, int *status)
{
	enum http_errno	 e = HTTP_PARSER_ERRNO(&clt->clt_parser);

	*status = clt->clt_perr ? clt->clt_perr : 400;
	if (clt->clt_pwhy != NULL)
		return (clt->clt_pwhy);
	switch (*status) {
	case 431:
		return ("Request Header Fields Too Large");
	}
	if (e == HPE_INVALID_METHOD)
		return ("Bad Request: unknown HTTP method");
	return ("Bad Request: malformed HTTP request");
}

/* Is the parser before or in a request head, where a CR ends a line? */
static int
client_in_head(struct client *clt)
{
	return (clt->clt_req == NULL ||
	    clt->clt_req->req_hstate != CLIENT_H_DONE);
}

/*
 * How much of a piece of request head (n of its len bytes) may go to
 * http-parser: up to a CR that no LF follows (*bare), or up to a CR whose
 * next byte has not come yet.  Built lenient, http-parser takes a CR and
 * any byte for a line end in places, and so reads another head than the
 * bot wrote ("X: \r1\nContent-Length: 5" ends the head at the 1).
 */
static size_t
client_head_piece(struct evbuffer *in, const char *p, size_t n, size_t len,
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

/*
 * Stop reading the bot while what it sent cannot be taken: libevent
 * otherwise runs the read callback on every loop turn with the input at
 * its high-water mark, a busy loop for a peer that never reads.
 */
static void
client_hold(struct client *clt, int hold)
{
	if (clt->clt_held == hold)
		return;
	if (hold)
		bufferevent_disable(clt->clt_bev, EV_READ);
	else
		bufferevent_enable(clt->clt_bev, EV_READ);
	clt->clt_held = hold;
}

/* Feed buffered input to the parser while there is room to take it. */
static void
client_parse(struct client *clt)
{
	struct evbuffer		*in = bufferevent_get_input(clt->clt_bev);
	struct evbuffer_iovec	 v;
	const char		*why;
	char			 over[160];
	size_t			 n, done;
	int			 status, bare = 0, head;

	while (!clt->clt_closing && !clt->clt_paused &&
	    evbuffer_get_length(in) > 0) {
		/*
		 * Every reply, proxied or our own, ends up in one output
		 * buffer: while the bot leaves it unread, take no new request
		 * from it.  client_write_cb() resumes us below the low mark.
		 */
		if (clt->clt_req == NULL &&
		    reply_pending(clt) >= CLIENT_OUT_HIGH) {
			client_hold(clt, 1);	/* client_write_cb() resumes */
			break;
		}
		if (clt->clt_req != NULL &&
		    evbuffer_get_length(clt->clt_req->req_body) >=
		    CLIENT_BODY_HIGH) {
			client_hold(clt, 1);	/* the upstream kicks us */
			break;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		/* Held at the last message's end, which is now answered. */
		if (HTTP_PARSER_ERRNO(&clt->clt_parser) == HPE_PAUSED)
			http_parser_pause(&clt->clt_parser, 0);
		n = v.iov_len < CLIENT_PARSE_MAX ? v.iov_len : CLIENT_PARSE_MAX;
		if ((head = client_in_head(clt)) &&
		    (n = headsize_room(clt, n)) == 0) {
			status = headsize_over(clt, over, sizeof(over));
			metrics_error(METRICS_STAGE_REFUSED);
			client_fail(clt, status, over);
			break;
		}
		if (head && (n = client_head_piece(in,
		    v.iov_base, n, v.iov_len, &bare)) == 0 && !bare)
			break;	/* a CR, and nothing after it yet */
		/* Never 0 bytes: that tells http-parser the input ended. */
		done = n > 0 ? http_parser_execute(&clt->clt_parser,
		    &client_settings, v.iov_base, n) : 0;
		evbuffer_drain(in, done);
		headsize_count(clt, head, HTTP_PARSER_ERRNO(&clt->clt_parser) ==
		    HPE_PAUSED || !client_in_head(clt), done);
		if (HTTP_PARSER_ERRNO(&clt->clt_parser) == HPE_PAUSED)
			continue;
		if (HTTP_PARSER_ERRNO(&clt->clt_parser) != HPE_OK ||
		    done != n) {
			why = client_parse_error(clt, &status);
			metrics_error(METRICS_STAGE_REFUSED);
			client_fail(clt, status, why);
			break;
		}
		if (bare && client_in_head(clt)) {
			client_fail(clt, 400, "Bad Request: a CR without LF in "
			    "the request head");
			break;
		}
	}
}

/*
 * Everything that moves a connection along, run from the loop: parse
 * more input, wake a paused transfer, and close once all is flushed.
 */
static void
client_pump(struct client *clt)
{
	client_hold(clt, 0);
	client_parse(clt);
	if (clt->clt_req != NULL && clt->clt_req->req_easy != NULL)
		upstream_resume(clt->clt_req);
	if (clt->clt_closing && clt->clt_req == NULL &&
	    reply_pending(clt) == 0)
		client_close(clt, NULL);
}

static void
client_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_pump(arg);
}

/* Safe from inside libcurl callbacks: the work happens from the loop. */
void
client_schedule(struct client *clt)
{
	event_active(clt->clt_kick, EV_TIMEOUT, 0);
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_pump(arg);
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_pump(arg);
}

static void
client_head_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client	*clt = arg;

	(void)fd;
	(void)what;
	if (clt->clt_req == NULL) {
		client_close(clt, NULL);	/* not a byte of a request */
		return;
	}
	client_fail(clt, 408, "Request Timeout: the request head took longer "
	    "than header_timeout");
	client_schedule(clt);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client	*clt = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF)
		client_close(clt, clt->clt_req != NULL ?
		    "bot closed the connection" : NULL);
	else if (what & BEV_EVENT_TIMEOUT)
		client_close(clt, "bot connection timed out");
	else if (what & BEV_EVENT_ERROR)
		client_close(clt, clt->clt_req != NULL ?
		    "bot connection failed" : NULL);
}

struct client *
client_new(struct server *srv, evutil_socket_t fd, struct sockaddr *sa,
    int salen, int admin)
{
	struct client	*clt;
	char		 host[INET6_ADDRSTRLEN];
	int		 port = 0;

	if ((clt = calloc(1, sizeof(*clt))) == NULL) {
		log_warn("%s: calloc", __func__);
		evutil_closesocket(fd);
		return (NULL);
	}
	clt->clt_srv = srv;
	clt->clt_admin = admin;
	/* Who may ask is decided per request, under its config. */
	if (salen > 0 && (size_t)salen <= sizeof(clt->clt_ss))
		memcpy(&clt->clt_ss, sa, salen);
	http_parser_init(&clt->clt_parser, HTTP_REQUEST);
	/*
	 * Its own count (a global) must not end a head before ours does; it
	 * may also hold the trailers of the request before.
	 */
	http_parser_set_max_header_size(2 * CONFIG_HEAD_MAX);
	clt->clt_parser.data = clt;
	host[0] = '\0';
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		evutil_inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(clt->clt_peer, sizeof(clt->clt_peer), "%s:%d", host,
		    port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, host,
		    sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(clt->clt_peer, sizeof(clt->clt_peer), "[%s]:%d", host,
		    port);
	}
	clt->clt_bev = bufferevent_socket_new(srv->srv_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (clt->clt_bev == NULL) {
		evutil_closesocket(fd);
		goto fail;
	}
	if ((clt->clt_kick = event_new(srv->srv_base, -1, 0, client_kick_cb,
	    clt)) == NULL ||
	    (clt->clt_head_ev = evtimer_new(srv->srv_base, client_head_cb,
	    clt)) == NULL)
		goto fail;
	bufferevent_setcb(clt->clt_bev, client_read_cb, client_write_cb,
	    client_event_cb, clt);
	/* Bounded input: a bot that floods us is simply read slower. */
	bufferevent_setwatermark(clt->clt_bev, EV_READ, 0, CLIENT_BODY_HIGH);
	bufferevent_setwatermark(clt->clt_bev, EV_WRITE, CLIENT_OUT_LOW, 0);
	client_timeouts(clt);
	client_head_start(clt);
	if (bufferevent_enable(clt->clt_bev, EV_READ | EV_WRITE) == -1)
		goto fail;
	TAILQ_INSERT_HEAD(&srv->srv_clts, clt, clt_entry);
	srv->srv_clients++;
	return (clt);
 fail:
	log_warnx("%s: cannot set up a bot connection", __func__);
	if (clt->clt_head_ev != NULL)
		event_free(clt->clt_head_ev);
	if (clt->clt_kick != NULL)
		event_free(clt->clt_kick);
	if (clt->clt_bev != NULL)
		bufferevent_free(clt->clt_bev);
	free(clt);
	return (NULL);
}

/* The only way a bot connection dies; it takes its request with it. */
void
client_close(struct client *clt, const char *why)
{
	struct server	*srv = clt->clt_srv;

	client_req_free(clt->clt_req, why);
	TAILQ_REMOVE(&srv->srv_clts, clt, clt_entry);
	event_free(clt->clt_kick);
	event_free(clt->clt_head_ev);
	bufferevent_free(clt->clt_bev);
	free(clt);
	srv->srv_clients--;
	server_client_gone(srv);
}

/*
 * Shutting down: a connection with no request in flight, or only part of
 * a head, goes now.  A request in flight goes on streaming both ways (its
 * body is still read) and its connection closes after the reply.
 */
void
client_drain(struct server *srv)
{
	struct client	*clt, *next;
	struct req	*req;

	for (clt = TAILQ_FIRST(&srv->srv_clts); clt != NULL; clt = next) {
		next = TAILQ_NEXT(clt, clt_entry);
		if ((req = clt->clt_req) != NULL &&
		    req->req_hstate != CLIENT_H_DONE)
			client_req_free(req, "sidecar shutting down");
		if ((req = clt->clt_req) == NULL) {
			clt->clt_closing = 1;
			if (reply_pending(clt) == 0)
				client_close(clt, NULL);
			continue;
		}
		req->req_keepalive = 0;
		if (req->req_route.rt_longpoll && !req->req_head_sent &&
		    req->req_body_done && (req->req_easy != NULL ||
		    req->req_retry_ev != NULL))
			client_poll_empty(req);
	}
}
