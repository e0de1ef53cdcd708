/* SPDX-License-Identifier: ISC */
/*
 * A request set up as client.c sets one up for the framer, a socketpair
 * standing for the upstream connection, and a far side that reads the
 * request head, then writes the scripted reply.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "conf.h"
#include "conn.h"
#include "fakeconn.h"
#include "reply.h"
#include "req.h"
#include "replyrun.h"
#include "upstream_fail.h"
#include "upstream_h1.h"

#define REPLYRUN_LIMIT_MS	10000	/* a run that never ends */

struct replyrun_far {
	struct replyrun	*rf_rr;
	struct req	*rf_req;
	int		 rf_fd;		/* the far side's end */
	int		 rf_near;	/* the framer's end */
	struct event	*rf_ev;
	struct event	*rf_wev;
	struct event	*rf_gap;
	struct event	*rf_limit;
	size_t		 rf_reqlen;
	int		 rf_headin;	/* the request head is in */
	int		 rf_piece;
	size_t		 rf_off;
	int		 rf_shut;
	int		 rf_gapdone;
};

static char	 replyrun_url[] = "https://api.telegram.org/bot1:x/getMe";

static void
replyrun_kick(struct req *req)
{
	(void)req;
}

static void
replyrun_reqdone(struct req *req)
{
	(void)req;
}

static const struct req_hooks replyrun_hooks = {
	.rh_done = replyrun_reqdone,
	.rh_kick = replyrun_kick,
};

static void
replyrun_done(struct req *req, const struct upstream_facts *uf)
{
	struct replyrun	*rr = req->req_clt == NULL ? NULL :
			    (struct replyrun *)(void *)req->req_clt;

	rr->rr_ends++;
	if (uf != NULL) {
		rr->rr_stage = uf->uf_stage;
		snprintf(rr->rr_why, sizeof(rr->rr_why), "%s",
		    uf->uf_why != NULL ? uf->uf_why : "");
	} else
		reply_end(req);
	event_base_loopbreak(req->req_base);
}

/* Write the pieces; between two, wait for the framer to read it all. */
static void
replyrun_far_write(struct replyrun_far *rf)
{
	struct replyrun	*rr = rf->rf_rr;
	struct timeval	 tv;
	ssize_t		 n;

	while (rf->rf_piece < rr->rr_npieces) {
		if (rf->rf_off == 0 && rf->rf_piece > 0 && !rf->rf_gapdone) {
			if (!evtimer_pending(rf->rf_gap, NULL)) {
				tv.tv_sec = 0;
				tv.tv_usec = (rr->rr_gap_ms > 0 ?
				    rr->rr_gap_ms : 1) * 1000;
				evtimer_add(rf->rf_gap, &tv);
			}
			return;
		}
		n = send(rf->rf_fd, rr->rr_piece[rf->rf_piece] + rf->rf_off,
		    rr->rr_len[rf->rf_piece] - rf->rf_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(rf->rf_wev, NULL);
			return;
		}
		if (n < 0)
			return;		/* the framer closed: fine */
		rf->rf_off += n;
		if (rf->rf_off == rr->rr_len[rf->rf_piece]) {
			rf->rf_piece++;
			rf->rf_off = 0;
			rf->rf_gapdone = 0;
		}
	}
	event_del(rf->rf_wev);
	if (rr->rr_close && !rf->rf_shut) {
		rf->rf_shut = 1;
		shutdown(rf->rf_fd, SHUT_WR);
	}
}

/* The gap is over once the framer has read all there was. */
static void
replyrun_gap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct replyrun_far	*rf = arg;
	struct timeval		 tv = { 0, 1000 };
	int			 queued = 0;

	(void)fd;
	(void)what;
	if (ioctl(rf->rf_near, FIONREAD, &queued) == 0 && queued > 0) {
		evtimer_add(rf->rf_gap, &tv);
		return;
	}
	rf->rf_gapdone = 1;
	replyrun_far_write(rf);
}

static void
replyrun_limit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct replyrun_far	*rf = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(rf->rf_req->req_base);
}

static void
replyrun_far_wcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	replyrun_far_write(arg);
}

/* The far side: read the request head, then answer; later, drain. */
static void
replyrun_far_cb(evutil_socket_t fd, short what, void *arg)
{
	struct replyrun_far	*rf = arg;
	struct replyrun		*rr = rf->rf_rr;
	char			 buf[4096];
	ssize_t			 n;

	(void)fd;
	(void)what;
	while ((n = recv(rf->rf_fd, buf, sizeof(buf), 0)) > 0) {
		if (rf->rf_reqlen + n < sizeof(rr->rr_request)) {
			memcpy(rr->rr_request + rf->rf_reqlen, buf, n);
			rf->rf_reqlen += n;
		}
	}
	if (n == 0)
		event_del(rf->rf_ev);	/* the framer closed */
	if (!rf->rf_headin && strstr(rr->rr_request, "\r\n\r\n") != NULL) {
		rf->rf_headin = 1;
		replyrun_far_write(rf);
	}
}

static int
replyrun_req(struct req *req, struct event_base *base, struct config *cfg,
    struct replyrun *rr)
{
	memset(req, 0, sizeof(*req));
	req->req_hooks = &replyrun_hooks;
	req->req_clt = (struct client *)(void *)rr;
	req->req_base = base;
	req->req_cfg = cfg;
	req->req_method = rr->rr_method;
	req->req_http11 = 1;
	req->req_keepalive = 1;
	req->req_body_done = 1;
	req->req_clen = 0;
	req->req_poll_secs = -1;
	req->req_clen_out = -1;
	snprintf(req->req_route.rt_method, sizeof(req->req_route.rt_method),
	    "getMe");
	req->req_url = replyrun_url;
	if ((req->req_out = evbuffer_new()) == NULL ||
	    (req->req_body = evbuffer_new()) == NULL)
		return (-1);
	return (0);
}

static void
replyrun_req_free(struct req *req)
{
	if (req->req_out != NULL)
		evbuffer_free(req->req_out);
	if (req->req_body != NULL)
		evbuffer_free(req->req_body);
}

int
replyrun(struct event_base *base, struct config *cfg, struct replyrun *rr)
{
	struct req		 req;
	struct replyrun_far	 rf;
	struct conn		*cn;
	struct timespec		 t0;
	struct timeval		 limit = { REPLYRUN_LIMIT_MS / 1000, 0 };
	int			 sv[2], rc = -1;

	memset(&rf, 0, sizeof(rf));
	rr->rr_ends = 0;
	rr->rr_stage = UST_NONE;
	rr->rr_why[0] = '\0';
	memset(rr->rr_request, 0, sizeof(rr->rr_request));
	if (replyrun_req(&req, base, cfg, rr) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1) {
		replyrun_req_free(&req);
		return (-1);
	}
	rf.rf_rr = rr;
	rf.rf_req = &req;
	rf.rf_fd = sv[1];
	rf.rf_near = sv[0];
	rf.rf_ev = event_new(base, sv[1], EV_READ | EV_PERSIST,
	    replyrun_far_cb, &rf);
	rf.rf_wev = event_new(base, sv[1], EV_WRITE | EV_PERSIST,
	    replyrun_far_wcb, &rf);
	rf.rf_gap = evtimer_new(base, replyrun_gap_cb, &rf);
	rf.rf_limit = evtimer_new(base, replyrun_limit_cb, &rf);
	cn = fakeconn_new(sv[0], rr->rr_rmax);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (rf.rf_ev == NULL || rf.rf_wev == NULL || rf.rf_gap == NULL ||
	    rf.rf_limit == NULL || cn == NULL ||
	    event_add(rf.rf_ev, NULL) == -1)
		goto fail;
	if (upstream_h1_start(&req, cn, &t0, rr->rr_wait_ms,
	    replyrun_done) == -1) {
		cn = NULL;	/* the framer's now */
		goto fail;
	}
	cn = NULL;
	/* Not event_base_loopexit(): its timer would outlive this run. */
	evtimer_add(rf.rf_limit, &limit);
	event_base_dispatch(base);
	rr->rr_head_sent = req.req_head_sent;
	rr->rr_outlen = evbuffer_get_length(req.req_out);
	if ((rr->rr_out = malloc(rr->rr_outlen + 1)) != NULL) {
		evbuffer_remove(req.req_out, rr->rr_out, rr->rr_outlen);
		rr->rr_out[rr->rr_outlen] = '\0';
	}
	rc = rr->rr_ends > 0 ? 0 : -1;
 fail:
	upstream_h1_stop(&req);
	if (cn != NULL)
		conn_close(cn);
	if (rf.rf_ev != NULL)
		event_free(rf.rf_ev);
	if (rf.rf_wev != NULL)
		event_free(rf.rf_wev);
	if (rf.rf_gap != NULL)
		event_free(rf.rf_gap);
	if (rf.rf_limit != NULL)
		event_free(rf.rf_limit);
	close(sv[1]);
	replyrun_req_free(&req);
	return (rc);
}

void
replyrun_clear(struct replyrun *rr)
{
	free(rr->rr_out);
	rr->rr_out = NULL;
	rr->rr_outlen = 0;
}

/* The bot's side: one message, its fields and body decoded. */
struct replyrun_read {
	struct replyrun_bot	*rd_bot;
	struct evbuffer		*rd_text;
	int			 rd_done;
	int			 rd_begun;
	int			 rd_head;	/* a HEAD's: no body */
	int			 rd_fields;
};

static int
replyrun_bot_begin(http_parser *p)
{
	struct replyrun_read	*rd = p->data;

	rd->rd_begun++;
	return (0);
}

static int
replyrun_bot_field(http_parser *p, const char *at, size_t len)
{
	struct replyrun_read	*rd = p->data;

	if (rd->rd_fields++ > 0 && evbuffer_add(rd->rd_text, "\n", 1) == -1)
		return (-1);
	return (evbuffer_add(rd->rd_text, at, len) == 0 &&
	    evbuffer_add(rd->rd_text, ": ", 2) == 0 ? 0 : -1);
}

static int
replyrun_bot_value(http_parser *p, const char *at, size_t len)
{
	struct replyrun_read	*rd = p->data;

	return (evbuffer_add(rd->rd_text, at, len));
}

static int
replyrun_bot_headers(http_parser *p)
{
	struct replyrun_read	*rd = p->data;

	rd->rd_bot->rb_status = p->status_code;
	if (evbuffer_add(rd->rd_text, "\n\n", rd->rd_fields > 0 ? 2 : 1) == -1)
		return (-1);
	return (rd->rd_head ? 1 : 0);
}

static int
replyrun_bot_body(http_parser *p, const char *at, size_t len)
{
	struct replyrun_read	*rd = p->data;

	return (evbuffer_add(rd->rd_text, at, len));
}

static int
replyrun_bot_complete(http_parser *p)
{
	struct replyrun_read	*rd = p->data;

	rd->rd_done = 1;
	http_parser_pause(p, 1);
	return (0);
}

static const http_parser_settings replyrun_bot_settings = {
	.on_message_begin = replyrun_bot_begin,
	.on_header_field = replyrun_bot_field,
	.on_header_value = replyrun_bot_value,
	.on_headers_complete = replyrun_bot_headers,
	.on_body = replyrun_bot_body,
	.on_message_complete = replyrun_bot_complete,
};

/*
 * Read what the bot was handed as the bot would (a GET's reply; the
 * bot's connection stays open, so no EOF).  A HEAD's reply carries no
 * body, so it is read up to its head only.
 */
int
replyrun_bot(const struct replyrun *rr, struct replyrun_bot *rb)
{
	struct replyrun_read	 rd;
	http_parser		 p;
	size_t			 n, rest;

	memset(rb, 0, sizeof(*rb));
	memset(&rd, 0, sizeof(rd));
	rd.rd_bot = rb;
	rd.rd_head = rr->rr_method == HTTP_HEAD;
	if ((rd.rd_text = evbuffer_new()) == NULL)
		return (-1);
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &rd;
	n = http_parser_execute(&p, &replyrun_bot_settings, rr->rr_out,
	    rr->rr_outlen);
	if (rd.rd_done) {
		/* Whatever follows must not begin another message. */
		http_parser_pause(&p, 0);
		rest = http_parser_execute(&p, &replyrun_bot_settings,
		    rr->rr_out + n, rr->rr_outlen - n);
		rb->rb_parsed = rest == rr->rr_outlen - n && rd.rd_begun == 1 &&
		    HTTP_PARSER_ERRNO(&p) == HPE_OK ? 1 : -1;
	} else if (HTTP_PARSER_ERRNO(&p) != HPE_OK)
		rb->rb_parsed = -1;
	else
		rb->rb_parsed = 0;
	rb->rb_len = evbuffer_get_length(rd.rd_text);
	if ((rb->rb_text = malloc(rb->rb_len + 1)) != NULL) {
		evbuffer_remove(rd.rd_text, rb->rb_text, rb->rb_len);
		rb->rb_text[rb->rb_len] = '\0';
	}
	evbuffer_free(rd.rd_text);
	return (rb->rb_text != NULL ? 0 : -1);
}

void
replyrun_bot_clear(struct replyrun_bot *rb)
{
	free(rb->rb_text);
	rb->rb_text = NULL;
}
