/* SPDX-License-Identifier: ISC */
/*
 * The HTTP/1.1 framer, for every request: the request written by us on a
 * connection of conn.c (a spare, or one made for it), its body streamed
 * from the bot as it comes (Content-Length or chunked, with the bot's
 * back-pressure), and the reply parsed by http-parser, its head checked
 * by upstream_head.c and its body streamed to the bot (reply.c).
 *
 * One clock, by phase: no progress for stall_timeout while the request
 * goes out or the answer's body comes in; upstream_timeout_ms() (a long
 * poll: its own) for the final answer to begin once all is sent.  Time
 * the bot holds us is not counted.  Interim (1xx) answers and head bytes
 * are no progress: only the final status line and body bytes are.
 * "Sent" means taken by the next hop: bytes still in our socket's send
 * queue are not counted, since on a slow link the kernel holds megabytes
 * that take minutes to go.
 *
 * The attempt ends once, through the hook its owner installed, with the
 * facts of a failure (NULL: answered).
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "conf.h"
#include "conn.h"
#include "log.h"
#include "longpoll.h"
#include "reply.h"
#include "req.h"
#include "trim.h"
#include "upstream_fail.h"
#include "upstream_h1.h"
#include "upstream_head.h"
#include "upstream_req.h"
#include "util.h"

#define H1_IOSIZE		(16 * 1024)
#define H1_REPLAY_MAX		(64 * 1024)	/* body kept for a retry */
#define H1_OUT_MAX		(64 * 1024)	/* upload queued ahead of the wire */
#define H1_TICK_MIN		100	/* ms between looks at the send queue */
#define H1_TICK_MAX		1000

enum h1_hstate { H1_H_NONE, H1_H_FIELD, H1_H_VALUE };
/* Where the head scanner is: a line's start is where obs-fold shows. */
enum h1_scan { H1_S_BEGIN, H1_S_LINE, H1_S_LF, H1_S_LFCR, H1_S_BODY };

struct upstream_h1 {
	struct req		*h1_req;
	struct conn		*h1_conn;	/* ours: closed with us */
	upstream_h1_done_fn	 h1_done;
	struct event		*h1_rev;
	struct event		*h1_wev;
	struct event		*h1_timer;
	struct evbuffer		*h1_out;	/* request bytes to send */
	char			*h1_wbuf;	/* being sent: TLS wants the */
	size_t			 h1_wlen;	/* same bytes again */
	size_t			 h1_woff;
	int64_t			 h1_body_left;	/* -1: chunked */
	int			 h1_body_end;	/* all of the body is queued */
	http_parser		 h1_parser;
	struct evbuffer		*h1_field;
	struct evbuffer		*h1_value;
	int			 h1_hstate;	/* enum h1_hstate */
	int			 h1_scan;	/* enum h1_scan */
	int			 h1_status_seen;	/* this message's */
	int			 h1_final;	/* the final head is in */
	int			 h1_complete;	/* the final reply is in */
	int			 h1_got;	/* a reply byte came */
	int			 h1_sent;	/* a request byte went */
	int			 h1_ended;
	int			 h1_phase;	/* enum upstream_phase */
	int			 h1_unsent;	/* in the send queue, last look */
	struct timespec		 h1_t0;		/* the attempt began */
	struct timespec		 h1_since;	/* phase began, bytes moved */
	long			 h1_wait_ms;	/* for the answer to begin */
	uint64_t		 h1_up;		/* body bytes queued */
	uint64_t		 h1_wrote;	/* request bytes written */
	size_t			 h1_headlen;	/* of them, the head */
	uint64_t		 h1_down;	/* answer body bytes read */
	struct upstream_reply	 h1_reply;	/* req_reply while it lives */
	int			 h1_recv_paused;	/* the bot reads slowly */
	int			 h1_stage;	/* a failure: enum upstream_stage */
	const char		*h1_why;
};

static long
upstream_h1_limit(const struct upstream_h1 *h1)
{
	return (h1->h1_phase == UPH_WAIT ? h1->h1_wait_ms :
	    h1->h1_req->req_cfg->cfg_stall_timeout_ms);
}

static void
upstream_h1_arm(struct upstream_h1 *h1, long ms)
{
	struct timeval	 tv;

	util_ms_timeval(ms > 1 ? ms : 1, &tv);
	evtimer_add(h1->h1_timer, &tv);
}

/* Bytes moved, or a phase begins: its clock starts over. */
static void
upstream_h1_moved(struct upstream_h1 *h1, int phase)
{
	int	 rearm = phase != h1->h1_phase;

	h1->h1_phase = phase;
	clock_gettime(CLOCK_MONOTONIC, &h1->h1_since);
	if (rearm)	/* else the timer looks again when it fires */
		upstream_h1_arm(h1, upstream_h1_limit(h1));
}

/*
 * Body bytes the next hop took: written, less the head and what our
 * send queue still holds (chunk framing is counted as body).
 */
static uint64_t
upstream_h1_taken(const struct upstream_h1 *h1)
{
	uint64_t	 n = h1->h1_wrote, held;

	held = h1->h1_headlen + (uint64_t)conn_unsent(h1->h1_conn);
	n = n > held ? n - held : 0;
	return (n < h1->h1_up ? n : h1->h1_up);
}

/* The facts of a failure, for upstream_fail.c's words and rules. */
static void
upstream_h1_facts(const struct upstream_h1 *h1, struct upstream_facts *uf)
{
	const struct req	*req = h1->h1_req;

	memset(uf, 0, sizeof(*uf));
	uf->uf_stage = h1->h1_stage;
	uf->uf_why = h1->h1_why;
	uf->uf_tunnel = 1;
	uf->uf_scheme = req->req_cfg->cfg_proxy[req->req_proxy].px_scheme;
	uf->uf_phase = h1->h1_phase;
	uf->uf_limit_ms = upstream_h1_limit(h1);
	uf->uf_longpoll = req->req_route.rt_longpoll;
	uf->uf_up = upstream_h1_taken(h1);
	uf->uf_up_total = req->req_has_body ? req->req_clen : 0;
	uf->uf_down = h1->h1_down;
	uf->uf_down_total = h1->h1_final && !h1->h1_reply.rp_chunked ?
	    h1->h1_reply.rp_clen : -1;
}

/* The attempt ends; the hook may free the request, and with it h1. */
static void
upstream_h1_end(struct upstream_h1 *h1, int stage, const char *why)
{
	struct upstream_facts	 uf;

	if (h1->h1_ended)
		return;
	h1->h1_ended = 1;
	event_del(h1->h1_rev);
	event_del(h1->h1_wev);
	evtimer_del(h1->h1_timer);
	if (stage == UST_NONE) {
		h1->h1_done(h1->h1_req, NULL);
		return;
	}
	h1->h1_stage = stage;
	h1->h1_why = why;
	upstream_h1_facts(h1, &uf);
	h1->h1_done(h1->h1_req, &uf);
}

/* A refusal of the reply, or our own failure to hand it on. */
static int
upstream_h1_refused(struct upstream_h1 *h1)
{
	h1->h1_stage = h1->h1_reply.rp_bad != NULL ? UST_REPLY : UST_LOCAL;
	return (-1);
}

/* The status of the message being read, once, before its fields. */
static int
upstream_h1_status(struct upstream_h1 *h1)
{
	if (h1->h1_status_seen)
		return (0);
	h1->h1_status_seen = 1;
	if (upstream_head_status(h1->h1_req,
	    h1->h1_parser.status_code) == -1)
		return (upstream_h1_refused(h1));
	return (0);
}

/* The field gathered so far goes to the head's checks. */
static int
upstream_h1_flush(struct upstream_h1 *h1)
{
	size_t	 nlen, vlen;
	char	*name, *value;
	int	 rc;

	if (h1->h1_hstate == H1_H_NONE)
		return (0);
	nlen = evbuffer_get_length(h1->h1_field);
	vlen = evbuffer_get_length(h1->h1_value);
	name = (char *)evbuffer_pullup(h1->h1_field, -1);
	value = (char *)evbuffer_pullup(h1->h1_value, -1);
	rc = upstream_head_field(h1->h1_req, name, nlen, value != NULL ?
	    value : "", vlen);
	evbuffer_drain(h1->h1_field, nlen);
	evbuffer_drain(h1->h1_value, vlen);
	h1->h1_hstate = H1_H_NONE;
	return (rc == -1 ? upstream_h1_refused(h1) : 0);
}

static int
upstream_h1_on_begin(http_parser *p)
{
	struct upstream_h1	*h1 = p->data;

	h1->h1_status_seen = 0;
	h1->h1_hstate = H1_H_NONE;
	return (0);
}

static int
upstream_h1_on_field(http_parser *p, const char *at, size_t len)
{
	struct upstream_h1	*h1 = p->data;

	if (h1->h1_final)
		return (0);	/* trailers: not the bot's */
	if (h1->h1_hstate == H1_H_VALUE && upstream_h1_flush(h1) == -1)
		return (-1);
	if (upstream_h1_status(h1) == -1)
		return (-1);
	h1->h1_hstate = H1_H_FIELD;
	return (evbuffer_add(h1->h1_field, at, len));
}

static int
upstream_h1_on_value(http_parser *p, const char *at, size_t len)
{
	struct upstream_h1	*h1 = p->data;

	if (h1->h1_final)
		return (0);
	h1->h1_hstate = H1_H_VALUE;
	return (evbuffer_add(h1->h1_value, at, len));
}

static int
upstream_h1_on_headers(http_parser *p)
{
	struct upstream_h1	*h1 = p->data;
	struct req		*req = h1->h1_req;

	if (h1->h1_final)
		return (0);	/* the end of the trailers */
	if (upstream_h1_status(h1) == -1 || upstream_h1_flush(h1) == -1)
		return (-1);
	/* Interim: no body whatever its fields say; the real head follows. */
	if (p->status_code < 200)
		return (1);
	h1->h1_final = 1;
	upstream_h1_moved(h1, UPH_RECV);
	if (upstream_head_end(req) == -1)
		return (upstream_h1_refused(h1));
	/*
	 * 1: no body, whatever the fields say: a HEAD's, and a 204's or
	 * 304's (RFC 9110 6.4.1); bytes after them are not the bot's.
	 */
	return (req->req_method == HTTP_HEAD || p->status_code == 204 ||
	    p->status_code == 304 ? 1 : 0);
}

static int
upstream_h1_on_body(http_parser *p, const char *at, size_t len)
{
	struct upstream_h1	*h1 = p->data;
	struct req		*req = h1->h1_req;

	h1->h1_down += len;
	upstream_h1_moved(h1, UPH_RECV);
	switch (longpoll_body(req, at, len)) {
	case 1:
		return (0);	/* held: maybe an empty result */
	case -1:
		h1->h1_stage = UST_LOCAL;
		return (-1);
	}
	if (!req->req_head_sent && reply_head(req, h1->h1_reply.rp_status, NULL,
	    h1->h1_reply.rp_head, -1) == -1) {
		h1->h1_stage = UST_LOCAL;
		return (-1);
	}
	if (reply_body(req, at, len) == -1) {
		h1->h1_stage = UST_LOCAL;
		return (-1);
	}
	return (0);
}

static int
upstream_h1_on_complete(http_parser *p)
{
	struct upstream_h1	*h1 = p->data;

	if (p->status_code < 200) {
		h1->h1_scan = H1_S_BEGIN;	/* another head follows */
		return (0);
	}
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

/*
 * Scan head bytes before http-parser reads them: a line that starts
 * with white space is obs-fold, which Debian's http-parser joins to the
 * value and RFC 9112 5.2 lets us refuse.  The count of head bytes
 * (interim heads too) is bounded.  How many bytes of buf are head, up to
 * its end; -1 if refused.
 */
static ssize_t
upstream_h1_scan(struct upstream_h1 *h1, const char *buf, size_t n)
{
	struct req	*req = h1->h1_req;
	size_t		 i;
	char		 c;

	for (i = 0; i < n && h1->h1_scan != H1_S_BODY; i++) {
		c = buf[i];
		switch (h1->h1_scan) {
		case H1_S_BEGIN:	/* empty lines before a status line */
			if (c != '\r' && c != '\n')
				h1->h1_scan = H1_S_LINE;
			break;
		case H1_S_LINE:
			if (c == '\n')
				h1->h1_scan = H1_S_LF;
			break;
		case H1_S_LF:
			if (c == ' ' || c == '\t') {
				h1->h1_reply.rp_bad = "a header folded over lines "
				    "(obs-fold)";
				return (-1);
			}
			h1->h1_scan = c == '\n' ? H1_S_BODY : c == '\r' ?
			    H1_S_LFCR : H1_S_LINE;
			break;
		case H1_S_LFCR:
			h1->h1_scan = c == '\n' ? H1_S_BODY : H1_S_LINE;
			break;
		}
	}
	if (upstream_head_bytes(req, i) == -1)
		return (-1);
	return (i);
}

/*
 * Feed reply bytes (n == 0: the far side closed): 1 when the reply is
 * whole, 0 for more, -1 refused or failed (h1_stage says which).
 */
static int
upstream_h1_parse(struct upstream_h1 *h1, const char *buf, size_t n)
{
	enum http_errno	 err;
	ssize_t		 k;
	size_t		 done;

	do {
		k = n;
		if (h1->h1_scan != H1_S_BODY &&
		    (k = upstream_h1_scan(h1, buf, n)) == -1)
			return (upstream_h1_refused(h1));
		done = http_parser_execute(&h1->h1_parser,
		    &upstream_h1_settings, buf, k);
		if (h1->h1_complete)
			return (1);
		err = HTTP_PARSER_ERRNO(&h1->h1_parser);
		/* Closed before the framing said the end: the caller's words. */
		if (n == 0 && err == HPE_INVALID_EOF_STATE &&
		    h1->h1_stage == UST_NONE)
			return (0);
		if (err != HPE_OK) {
			if (h1->h1_stage != UST_NONE)
				return (-1);
			if (h1->h1_reply.rp_bad == NULL)
				h1->h1_reply.rp_bad = upstream_head_parse_why(err);
			h1->h1_stage = UST_REPLY;
			return (-1);
		}
		buf += done;
		n -= done;
	} while (n > 0 && done > 0);
	return (0);
}

/*
 * Move upload bytes from the bot to the output, framed: at most
 * H1_OUT_MAX queued, so a slow upstream holds the bot back (client.c
 * stops reading it at REQ_BODY_HIGH).  Bytes that end a wait for the bot
 * restart the clock: that wait was the bot's time.
 */
static void
upstream_h1_body(struct upstream_h1 *h1)
{
	struct req	*req = h1->h1_req;
	size_t		 n = evbuffer_get_length(req->req_body);
	size_t		 queued = evbuffer_get_length(h1->h1_out);

	if (h1->h1_body_end || queued >= H1_OUT_MAX)
		return;
	if (n > H1_OUT_MAX - queued)
		n = H1_OUT_MAX - queued;
	if (h1->h1_body_left >= 0 && (int64_t)n > h1->h1_body_left)
		n = h1->h1_body_left;
	if (n > 0 && queued == 0 && h1->h1_woff == h1->h1_wlen &&
	    h1->h1_phase == UPH_SEND)
		clock_gettime(CLOCK_MONOTONIC, &h1->h1_since);
	if (n > 0 && req->req_replay != NULL) {
		/* What a read-only retry would have to send again. */
		if (evbuffer_get_length(req->req_replay) + n > H1_REPLAY_MAX) {
			evbuffer_free(req->req_replay);
			req->req_replay = NULL;
		} else
			evbuffer_add(req->req_replay,
			    evbuffer_pullup(req->req_body, n), n);
	}
	if (n > 0 && h1->h1_body_left < 0)
		evbuffer_add_printf(h1->h1_out, "%zx\r\n", n);
	evbuffer_remove_buffer(req->req_body, h1->h1_out, n);
	if (n > 0 && h1->h1_body_left < 0)
		evbuffer_add(h1->h1_out, "\r\n", 2);
	if (h1->h1_body_left > 0)
		h1->h1_body_left -= n;
	h1->h1_up += n;
	if (h1->h1_body_left == 0)
		h1->h1_body_end = 1;
	else if (req->req_body_done && evbuffer_get_length(req->req_body) ==
	    0) {
		evbuffer_add(h1->h1_out, "0\r\n\r\n", 5);
		h1->h1_body_end = 1;
	}
	if (n > 0 && evbuffer_get_length(req->req_body) < REQ_BODY_HIGH / 2)
		req->req_hooks->rh_kick(req);
}

/* A look at the send queue while it drains: 1/8 of stall_timeout. */
static long
upstream_h1_tick(const struct upstream_h1 *h1)
{
	long	 tick = h1->h1_req->req_cfg->cfg_stall_timeout_ms / 8;

	return (tick < H1_TICK_MIN ? H1_TICK_MIN : tick > H1_TICK_MAX ?
	    H1_TICK_MAX : tick);
}

/* Everything is written: sent once the next hop has taken it all. */
static void
upstream_h1_written(struct upstream_h1 *h1)
{
	if (h1->h1_phase != UPH_SEND)
		return;
	if ((h1->h1_unsent = conn_unsent(h1->h1_conn)) > 0) {
		upstream_h1_arm(h1, upstream_h1_tick(h1));
		return;
	}
	upstream_h1_moved(h1, UPH_WAIT);
	longpoll_sent(h1->h1_req);
	/* All sent, no answer: a held long poll keeps no TLS buffers. */
	if (!h1->h1_got && conn_release(h1->h1_conn))
		trim_soon(h1->h1_req->req_base);
}

/* The next piece to write, in h1_wbuf; 0 if there is none. */
static int
upstream_h1_next(struct upstream_h1 *h1)
{
	if (h1->h1_woff < h1->h1_wlen)
		return (1);
	if (h1->h1_final)
		return (0);	/* answered early: the rest is not wanted */
	upstream_h1_body(h1);
	if (evbuffer_get_length(h1->h1_out) == 0)
		return (0);
	/* Only while sending: a held poll keeps none. */
	if (h1->h1_wbuf == NULL && (h1->h1_wbuf = malloc(H1_IOSIZE)) == NULL)
		return (-1);
	h1->h1_woff = 0;
	h1->h1_wlen = evbuffer_remove(h1->h1_out, h1->h1_wbuf, H1_IOSIZE);
	if (h1->h1_wlen == (size_t)-1)
		return (-1);
	return (1);
}

/* Send what there is; -1 once the attempt has ended. */
static int
upstream_h1_send(struct upstream_h1 *h1)
{
	ssize_t	 n;
	int	 more;

	while ((more = upstream_h1_next(h1)) == 1) {
		n = conn_write(h1->h1_conn, h1->h1_wbuf + h1->h1_woff,
		    h1->h1_wlen - h1->h1_woff);
		if (n == CONN_AGAIN) {
			if (conn_wants(h1->h1_conn) == EV_WRITE)
				event_add(h1->h1_wev, NULL);
			return (0);
		}
		if (n < 0) {
			upstream_h1_end(h1, h1->h1_got || h1->h1_sent ?
			    UST_BROKEN : UST_UNSENT, conn_error(h1->h1_conn));
			return (-1);
		}
		h1->h1_woff += n;
		h1->h1_wrote += n;
		h1->h1_sent = 1;
		upstream_h1_moved(h1, h1->h1_phase);
	}
	if (more == -1) {
		upstream_h1_end(h1, UST_LOCAL, "out of memory");
		return (-1);
	}
	/* All written, or the bot's upload is still on its way. */
	event_del(h1->h1_wev);
	free(h1->h1_wbuf);
	h1->h1_wbuf = NULL;
	h1->h1_woff = h1->h1_wlen = 0;
	if (h1->h1_body_end)
		upstream_h1_written(h1);
	return (0);
}

static void
upstream_h1_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	upstream_h1_send(arg);
}

/* The reply's first byte: the time to it is the attempt's ttfb. */
static void
upstream_h1_first(struct upstream_h1 *h1)
{
	h1->h1_got = 1;
	h1->h1_req->req_t_ttfb = util_ms_since(&h1->h1_t0);
}

/* Closed before a whole reply: how far it got. */
static void
upstream_h1_closed(struct upstream_h1 *h1)
{
	if (!h1->h1_got)
		upstream_h1_end(h1, h1->h1_sent ? UST_BROKEN : UST_UNSENT,
		    "the connection closed before any reply");
	else
		upstream_h1_end(h1, UST_BROKEN, "the connection closed in the "
		    "middle of the reply");
}

/* Read and parse until the connection is empty or the bot is behind. */
static void
upstream_h1_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_h1	*h1 = arg;
	struct req		*req = h1->h1_req;
	char			 buf[H1_IOSIZE];
	ssize_t			 n;
	int			 r;

	(void)fd;
	(void)what;
	/* TLS may want to read before it can write again. */
	if (h1->h1_woff < h1->h1_wlen && upstream_h1_send(h1) == -1)
		return;
	for (;;) {
		if (reply_pending(req) >= REPLY_OUT_HIGH) {
			h1->h1_recv_paused = 1;
			event_del(h1->h1_rev);
			return;
		}
		n = conn_read(h1->h1_conn, buf, sizeof(buf));
		if (n == CONN_AGAIN)
			return;
		if (n < 0) {
			upstream_h1_end(h1, h1->h1_sent ? UST_BROKEN :
			    UST_UNSENT, conn_error(h1->h1_conn));
			return;
		}
		if (n > 0 && !h1->h1_got)
			upstream_h1_first(h1);
		if ((r = upstream_h1_parse(h1, buf, n)) == 1) {
			upstream_h1_end(h1, UST_NONE, NULL);
			return;
		}
		if (r == -1) {
			upstream_h1_end(h1, h1->h1_stage, h1->h1_reply.rp_bad);
			return;
		}
		if (n == 0) {
			upstream_h1_closed(h1);
			return;
		}
	}
}

/* The bot holds us: its upload is slow, or it reads slowly. */
static int
upstream_h1_held(const struct upstream_h1 *h1)
{
	/*
	 * Nothing of ours left to write: bytes the bot just sent that the
	 * framer has not taken yet end its wait, they are not a stall.
	 */
	if (h1->h1_phase == UPH_SEND)
		return (!h1->h1_body_end && h1->h1_wlen == h1->h1_woff &&
		    evbuffer_get_length(h1->h1_out) == 0);
	return (h1->h1_phase == UPH_RECV && h1->h1_recv_paused);
}

static void
upstream_h1_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_h1	*h1 = arg;
	struct timespec		 now;
	long			 idle, limit;
	int			 unsent;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (upstream_h1_held(h1))
		h1->h1_since = now;
	if (h1->h1_phase == UPH_SEND && h1->h1_body_end &&
	    h1->h1_wlen == h1->h1_woff && evbuffer_get_length(h1->h1_out) == 0) {
		/* Written: the send queue drains, or it is stuck. */
		if ((unsent = conn_unsent(h1->h1_conn)) < h1->h1_unsent)
			h1->h1_since = now;
		h1->h1_unsent = unsent;
		if (unsent == 0) {
			upstream_h1_written(h1);
			return;
		}
	}
	idle = util_ms_between(&h1->h1_since, &now);
	limit = upstream_h1_limit(h1);
	if (idle < limit) {
		upstream_h1_arm(h1, h1->h1_phase == UPH_SEND &&
		    h1->h1_unsent > 0 && limit - idle > upstream_h1_tick(h1) ?
		    upstream_h1_tick(h1) : limit - idle);
		return;
	}
	upstream_h1_end(h1, h1->h1_phase == UPH_SEND ? UST_SEND_TIMEOUT :
	    h1->h1_phase == UPH_RECV ? UST_RECV_TIMEOUT : UST_TIMEOUT, NULL);
}

/*
 * Send the request on cn (ours from here, closed with the attempt) and
 * read its reply, the answer due within wait_ms of all being sent; t0:
 * when the attempt began.  The end goes to done.
 */
int
upstream_h1_start(struct req *req, struct conn *cn,
    const struct timespec *t0, long wait_ms, upstream_h1_done_fn done)
{
	struct upstream_h1	*h1;
	int			 fd = conn_fd(cn);

	if ((h1 = calloc(1, sizeof(*h1))) == NULL) {
		conn_close(cn);
		return (-1);
	}
	req->req_h1 = h1;
	req->req_reply = &h1->h1_reply;
	h1->h1_req = req;
	h1->h1_conn = cn;
	h1->h1_done = done;
	h1->h1_t0 = *t0;
	h1->h1_body_left = !req->req_has_body ? 0 : req->req_clen;
	h1->h1_body_end = !req->req_has_body;
	h1->h1_wait_ms = wait_ms;
	h1->h1_phase = UPH_CONNECT;	/* upstream_h1_moved() arms it */
	http_parser_init(&h1->h1_parser, HTTP_RESPONSE);
	h1->h1_parser.data = h1;
	if (upstream_head_init(&h1->h1_reply) == -1 ||
	    (h1->h1_out = evbuffer_new()) == NULL ||
	    (h1->h1_field = evbuffer_new()) == NULL ||
	    (h1->h1_value = evbuffer_new()) == NULL ||
	    (h1->h1_rev = event_new(req->req_base, fd, EV_READ | EV_PERSIST,
	    upstream_h1_read_cb, h1)) == NULL ||
	    (h1->h1_wev = event_new(req->req_base, fd, EV_WRITE | EV_PERSIST,
	    upstream_h1_write_cb, h1)) == NULL ||
	    (h1->h1_timer = evtimer_new(req->req_base, upstream_h1_timeout_cb,
	    h1)) == NULL || upstream_req_head(h1->h1_req, h1->h1_out) == -1)
		return (-1);
	h1->h1_headlen = evbuffer_get_length(h1->h1_out);
	upstream_h1_moved(h1, UPH_SEND);
	if (event_add(h1->h1_rev, NULL) == -1)
		return (-1);
	/* From the loop: the caller is still setting the attempt up. */
	event_active(h1->h1_wev, EV_WRITE, 0);
	return (0);
}

/* The attempt goes, and its connection closes. */
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
	conn_close(h1->h1_conn);
	free(h1->h1_wbuf);
	upstream_head_clear(&h1->h1_reply);
	req->req_reply = NULL;
	free(h1);
	req->req_h1 = NULL;
}

/* From the loop: upload bytes came, or the bot read its reply down. */
void
upstream_h1_resume(struct req *req)
{
	struct upstream_h1	*h1 = req->req_h1;

	if (h1 == NULL || h1->h1_ended)
		return;
	if (h1->h1_recv_paused && reply_pending(req) <= REPLY_OUT_LOW) {
		h1->h1_recv_paused = 0;
		event_add(h1->h1_rev, NULL);
		/* TLS may hold decrypted bytes the socket no longer shows. */
		event_active(h1->h1_rev, EV_READ, 0);
	}
	/* From the loop too: a failure must not end it inside our caller. */
	if (!h1->h1_body_end && (evbuffer_get_length(req->req_body) > 0 ||
	    req->req_body_done))
		event_active(h1->h1_wev, EV_WRITE, 0);
}
