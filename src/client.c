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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "access.h"
#include "admit.h"
#include "client.h"
#include "clientint.h"
#include "conf.h"
#include "flood.h"
#include "header.h"
#include "headsize.h"
#include "health.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "reply.h"
#include "req.h"
#include "route.h"
#include "share.h"
#include "upstream.h"
#include "util.h"

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

static void	client_req_kick(struct req *);

/* How the layers below finish a bot's request. */
static const struct req_hooks client_hooks = {
	.rh_done = client_req_done,
	.rh_kick = client_req_kick,
};

/*
 * The config a connection goes by: its request's, or while it has none,
 * the current one, which its next request will take.
 */
static const struct config *
client_cfg(struct client *clt)
{
	if (clt->clt_req != NULL)
		return (clt->clt_req->req_cfg);
	return (clt->clt_pool->cp_cfg);
}

/* Reply bytes the bot has not read yet. */
static size_t
client_pending(struct client *clt)
{
	return (evbuffer_get_length(bufferevent_get_output(clt->clt_bev)));
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

/* The one destructor of a request. */
static void
client_req_free(struct req *req, const char *why)
{
	struct client_pool	*pool;

	if (req == NULL)
		return;
	pool = req->req_clt->clt_pool;
	if (upstream_running(req))
		upstream_stop(req);
	health_forget(req);
	access_log(req, req->req_clt->clt_peer, why);
	flood_req_free(req);
	/* Nothing in flight: the owner may hand memory back. */
	if (req->req_counted)
		share_drop(&pool->cp_share, req->req_route.rt_bot);
	if (req->req_counted && --pool->cp_inflight == 0 &&
	    pool->cp_idle != NULL)
		pool->cp_idle(pool->cp_arg);
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
	if (req->req_replay != NULL)
		evbuffer_free(req->req_replay);
	if (req->req_retry_ev != NULL)
		event_free(req->req_retry_ev);
	curl_slist_free_all(req->req_hdrs);
	curl_slist_free_all(req->req_uphdrs);
	free(req->req_connection);
	free(req->req_url);
	route_clear(&req->req_route);
	config_unref(req->req_cfg);
	free(req);
}

/*
 * The rh_done hook: a request got its whole reply; the connection goes on
 * or winds down.
 */
void
client_req_done(struct req *req)
{
	struct client	*clt = req->req_clt;

	/* An unread body leaves the stream out of step: end it there. */
	if (!req->req_keepalive || !req->req_body_done ||
	    clt->clt_pool->cp_draining)
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
void
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
		reply_reject(bufferevent_get_output(clt->clt_bev), status,
		    desc);
		return;
	}
	if (upstream_running(req))
		upstream_stop(req);
	if (req->req_head_sent) {
		client_req_free(req, desc);
		return;
	}
	req->req_keepalive = 0;
	snprintf(req->req_errdesc, sizeof(req->req_errdesc), "%s", desc);
	if (status == 429 && flood_retry_after(req) > 0)
		reply_retry(req, flood_retry_after(req));	/* the guard's */
	else
		reply_error(req, status, desc);
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
	req->req_hooks = &client_hooks;
	req->req_clt = clt;
	req->req_base = clt->clt_pool->cp_base;
	req->req_out = bufferevent_get_output(clt->clt_bev);
	req->req_seq = ++clt->clt_nreq;
	req->req_cfg = config_ref(clt->clt_pool->cp_cfg);
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

/* Complete the header gathered so far; a bad one fails the head. */
static int
client_header_commit(struct client *clt)
{
	const char	*why = NULL;

	if (header_commit(clt->clt_req, &why) == -1)
		return (why != NULL ? client_head_bad(clt, why) : -1);
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

	if (headsize_field(clt, len, req->req_hstate != REQ_H_FIELD) == -1)
		return (-1);
	if (req->req_hstate == REQ_H_DONE)
		return (0);	/* a trailer: never forwarded */
	if (req->req_hstate == REQ_H_VALUE &&
	    client_header_commit(clt) == -1)
		return (-1);
	req->req_hstate = REQ_H_FIELD;
	return (evbuffer_add(req->req_hname, at, len));
}

static int
client_on_hvalue(http_parser *p, const char *at, size_t len)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;

	if (headsize_field(clt, len, 0) == -1)
		return (-1);
	if (req->req_hstate == REQ_H_DONE)
		return (0);
	req->req_hstate = REQ_H_VALUE;
	return (evbuffer_add(req->req_hvalue, at, len));
}

/* Hand the request upstream; it counts as in flight until it is freed. */
int
client_start(struct client *clt)
{
	if (share_take(&clt->clt_pool->cp_share,
	    clt->clt_req->req_route.rt_bot) == -1) {
		client_fail(clt, 500, "Internal Server Error: out of memory");
		return (-1);
	}
	clt->clt_req->req_counted = 1;
	clt->clt_pool->cp_inflight++;
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
void
client_refuse(struct client *clt, int status, const char *why)
{
	struct req	*req = clt->clt_req;

	metrics_error(METRICS_STAGE_REFUSED);
	if (req->req_has_body) {
		client_fail(clt, status, why);
		return;
	}
	snprintf(req->req_errdesc, sizeof(req->req_errdesc), "%s", why);
	reply_error(req, status, why);
	req->req_refused = 1;
}

static int
client_on_headers(http_parser *p)
{
	struct client	*clt = client_of(p);
	struct req	*req = clt->clt_req;
	const char	*why = NULL;
	int		 status = 0;

	if (client_header_commit(clt) == -1)
		return (-1);
	if (admit_framing(req, p, &why) == -1)
		return (client_head_bad(clt, why));
	evtimer_del(clt->clt_head_ev);
	req->req_hstate = REQ_H_DONE;
	req->req_method = p->method;
	req->req_http11 = p->http_major > 1 ||
	    (p->http_major == 1 && p->http_minor >= 1);
	req->req_keepalive = http_should_keep_alive(p) &&
	    !clt->clt_pool->cp_draining;
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
	if (admit_request(req, p, (struct sockaddr *)&clt->clt_ss,
	    clt->clt_pool->cp_inflight, &status, &why) == -1 ||
	    share_full(&clt->clt_pool->cp_share, req->req_cfg,
	    req->req_route.rt_bot, &status, &why)) {
		client_refuse(clt, status, why);
		return (0);
	}
	req->req_poll_secs = -1;
	if (req->req_route.rt_longpoll) {
		longpoll_read(req, 0);
		/* Its timeout may be in the (small) body: wait for it. */
		if (req->req_has_body && req->req_clen >= 0 &&
		    req->req_clen <= CLIENT_POLL_BODY_MAX) {
			req->req_held = 1;
			if (req->req_expect && req->req_http11)
				reply_continue(req);
			return (0);
		}
	}
	if (client_flood_head(clt))
		return (0);	/* held, or waits for its chat or its time */
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
	if (evbuffer_add(req->req_body, at, len) == -1)
		return (-1);
	if (flood_waiting(req))
		client_flood_step(clt);
	return (0);
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

	if (upstream_running(req))
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
	if (flood_waiting(req)) {
		client_flood_step(clt);
		return (0);
	}
	if (req->req_held) {
		/* A long poll held back for its body's timeout. */
		req->req_held = 0;
		longpoll_read(req, 1);
		if (clt->clt_pool->cp_draining)
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
	    clt->clt_req->req_hstate != REQ_H_DONE);
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
		    client_pending(clt) >= REPLY_OUT_HIGH) {
			client_hold(clt, 1);	/* client_write_cb() resumes */
			break;
		}
		if (clt->clt_req != NULL &&
		    evbuffer_get_length(clt->clt_req->req_body) >=
		    REQ_BODY_HIGH) {
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
		if (head && (n = header_piece(in,
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
	if (clt->clt_req != NULL && upstream_running(clt->clt_req))
		upstream_resume(clt->clt_req);
	if (clt->clt_closing && clt->clt_req == NULL &&
	    client_pending(clt) == 0)
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

/* The rh_kick hook. */
static void
client_req_kick(struct req *req)
{
	client_schedule(req->req_clt);
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
client_new(struct client_pool *pool, evutil_socket_t fd, struct sockaddr *sa,
    int salen, int admin)
{
	struct client	*clt;

	if ((clt = calloc(1, sizeof(*clt))) == NULL) {
		log_warn("%s: calloc", __func__);
		evutil_closesocket(fd);
		return (NULL);
	}
	clt->clt_pool = pool;
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
	util_peer_str(sa, clt->clt_peer, sizeof(clt->clt_peer));
	clt->clt_bev = bufferevent_socket_new(pool->cp_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (clt->clt_bev == NULL) {
		evutil_closesocket(fd);
		goto fail;
	}
	if ((clt->clt_kick = event_new(pool->cp_base, -1, 0, client_kick_cb,
	    clt)) == NULL ||
	    (clt->clt_head_ev = evtimer_new(pool->cp_base, client_head_cb,
	    clt)) == NULL)
		goto fail;
	bufferevent_setcb(clt->clt_bev, client_read_cb, client_write_cb,
	    client_event_cb, clt);
	/* Bounded input: a bot that floods us is simply read slower. */
	bufferevent_setwatermark(clt->clt_bev, EV_READ, 0, REQ_BODY_HIGH);
	bufferevent_setwatermark(clt->clt_bev, EV_WRITE, REPLY_OUT_LOW, 0);
	client_timeouts(clt);
	client_head_start(clt);
	if (bufferevent_enable(clt->clt_bev, EV_READ | EV_WRITE) == -1)
		goto fail;
	TAILQ_INSERT_HEAD(&pool->cp_clts, clt, clt_entry);
	pool->cp_clients++;
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
	struct client_pool	*pool = clt->clt_pool;

	client_req_free(clt->clt_req, why);
	TAILQ_REMOVE(&pool->cp_clts, clt, clt_entry);
	event_free(clt->clt_kick);
	event_free(clt->clt_head_ev);
	bufferevent_free(clt->clt_bev);
	free(clt);
	pool->cp_clients--;
	if (pool->cp_gone != NULL)
		pool->cp_gone(pool->cp_arg);
}

/*
 * Shutting down: a connection with no request in flight, or only part of
 * a head, goes now.  A request in flight goes on streaming both ways (its
 * body is still read) and its connection closes after the reply.
 */
void
client_drain(struct client_pool *pool)
{
	struct client	*clt, *next;
	struct req	*req;

	for (clt = TAILQ_FIRST(&pool->cp_clts); clt != NULL; clt = next) {
		next = TAILQ_NEXT(clt, clt_entry);
		if ((req = clt->clt_req) != NULL &&
		    req->req_hstate != REQ_H_DONE)
			client_req_free(req, "sidecar shutting down");
		if ((req = clt->clt_req) == NULL) {
			clt->clt_closing = 1;
			if (client_pending(clt) == 0)
				client_close(clt, NULL);
			continue;
		}
		req->req_keepalive = 0;
		if (req->req_route.rt_longpoll && !req->req_head_sent &&
		    req->req_body_done && (upstream_running(req) ||
		    req->req_retry_ev != NULL))
			client_poll_empty(req);
	}
}
