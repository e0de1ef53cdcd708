/* SPDX-License-Identifier: ISC */
/*
 * The upstream side of a request: each attempt on a brand-new connection
 * through the configured proxy (a spare made ahead, or one made for it:
 * conn.c), framed by upstream_h1.c, and closed when the attempt ends.  A
 * connection is never reused, since a pooled tunnel is exactly what
 * corporate proxies silently forget.  Here: which connection, the clock
 * for the answer, retries, long polls sent again, and the bot's answer
 * when an attempt fails.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf.h"
#include "conn.h"
#include "failover.h"
#include "header.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "proxy.h"
#include "reply.h"
#include "req.h"
#include "spare.h"
#include "upstream.h"
#include "upstream_fail.h"
#include "upstream_h1.h"
#include "util.h"

#define UPSTREAM_BACKOFF_MS	50
#define UPSTREAM_BACKOFF_MAX_MS	2000

/* The configuration the request started with, even across a reload. */
static struct config *
upstream_cfg(struct req *req)
{
	return (req->req_cfg);
}

/* Per-attempt state goes back to how a fresh request has it. */
static void
upstream_reset(struct req *req)
{
	req->req_spare = 0;
	req->req_errdesc[0] = '\0';
	if (req->req_replay != NULL)
		evbuffer_prepend_buffer(req->req_body, req->req_replay);
}

static long
upstream_timeout_ms(struct req *req)
{
	const struct config	*cfg = upstream_cfg(req);

	if (!req->req_route.rt_longpoll)
		return (cfg->cfg_upstream_timeout_ms);
	/* A long poll is held by design: its own timeout, plus a margin. */
	if (req->req_poll_secs >= 0)
		return (req->req_poll_secs * 1000L + cfg->cfg_poll_timeout_ms);
	return (cfg->cfg_upstream_timeout_ms + cfg->cfg_poll_timeout_ms);
}

/* Requests upstream at once, for the number of spares to keep. */
static void
upstream_busy(struct req *req, int on)
{
	if (req->req_busy == on)
		return;
	req->req_busy = on;
	if (!req->req_route.rt_longpoll)	/* held by design */
		spare_busy(on ? 1 : -1);
}

/* Phase times for /metrics, as the attempt ends. */
static void
upstream_times(struct req *req)
{
	double	 total = util_ms_since(&req->req_attempt_t0);

	metrics_phases(req->req_t_connect * 1000, (req->req_t_connect +
	    req->req_t_tls) * 1000, req->req_t_ttfb * 1000, total * 1000,
	    upstream_cfg(req)->cfg_proxy[req->req_proxy].px_scheme !=
	    PROXY_NONE);
}

/* The attempt and its connection go; a long poll's check too. */
static void
upstream_release(struct req *req)
{
	longpoll_stop(req);
	upstream_h1_stop(req);
	conn_close(req->req_conn);
	req->req_conn = NULL;
	if (req->req_spwait != NULL) {
		spare_unwait(req->req_spwait);
		req->req_spwait = NULL;
		req->req_t_spwait = util_ms_since(&req->req_spwait_t0);
	}
	upstream_busy(req, 0);
}

/* An attempt from the loop could not be set up: the bot hears so. */
static void
upstream_unstarted(struct req *req)
{
	reply_error(req, 500, "Internal Server Error: cannot start the "
	    "upstream transfer");
	req->req_hooks->rh_done(req);
}

static int	upstream_attempt(struct req *);

static void
upstream_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct req	*req = arg;

	(void)fd;
	(void)what;
	if (upstream_attempt(req) == -1)
		upstream_unstarted(req);
}

/* A long poll sent again at once: its last answer was empty, or lost. */
static void
upstream_repoll(struct req *req)
{
	upstream_release(req);
	upstream_retry_cb(-1, 0, req);
}

/* Try again after a jittered, growing pause; 0 if the retry is set. */
static int
upstream_retry(struct req *req, const char *why)
{
	struct timeval	 tv;
	long		 ms;

	if (req->req_retry_ev == NULL &&
	    (req->req_retry_ev = evtimer_new(req->req_base,
	    upstream_retry_cb, req)) == NULL)
		return (-1);
	ms = UPSTREAM_BACKOFF_MS << req->req_attempt;
	if (ms > UPSTREAM_BACKOFF_MAX_MS)
		ms = UPSTREAM_BACKOFF_MAX_MS;
	ms = ms / 2 + random() % (ms / 2 + 1);
	req->req_attempt++;
	metrics_retry();
	log_info("retry %d/%d of %s for bot %s in %ld ms: %s",
	    req->req_attempt, upstream_cfg(req)->cfg_retries,
	    req->req_route.rt_method, req->req_route.rt_bot, ms, why);
	util_ms_timeval(ms, &tv);
	return (evtimer_add(req->req_retry_ev, &tv));
}

/* A failed attempt: count it against the proxy, then retry or answer. */
static void
upstream_failed(struct req *req, const struct upstream_facts *uf)
{
	enum upstream_stage	 st;
	int			 status, retry;
	char			 why[sizeof(req->req_errdesc)];

	status = upstream_fail_judge(upstream_cfg(req), req->req_proxy, uf, 1,
	    req->req_errdesc, sizeof(req->req_errdesc), &st);
	retry = upstream_fail_retryable(req, st);
	/* A timeout's words name its phase and bytes: keep them. */
	snprintf(why, sizeof(why), "%s", uf->uf_why != NULL &&
	    *uf->uf_why != '\0' ? uf->uf_why : req->req_errdesc);
	upstream_times(req);
	upstream_release(req);	/* uf goes with the attempt */
	if (retry && upstream_retry(req, req->req_errdesc) == 0)
		return;
	if (req->req_head_sent) {
		/* Too late for a status: a cut reply tells the bot instead. */
		snprintf(req->req_errdesc, sizeof(req->req_errdesc),
		    "upstream %s: reply cut after its head: %.400s",
		    upstream_cfg(req)->cfg_upstream_host, why);
		req->req_keepalive = 0;
	} else
		reply_error(req, status, req->req_errdesc);
	req->req_hooks->rh_done(req);
}

/* From upstream_h1.c: the attempt ended, answered (uf NULL) or not. */
static void
upstream_done(struct req *req, const struct upstream_facts *uf)
{
	if (uf != NULL) {
		upstream_failed(req, uf);
		return;
	}
	upstream_times(req);
	failover_ok(req->req_cfg, req->req_proxy);
	spare_ok();	/* the way works: spares may go it */
	/* n updates: n calls follow, as far as its bot's hints came true. */
	if (req->req_route.rt_longpoll)
		spare_hint_from(req->req_route.rt_bot, longpoll_updates(req));
	if (longpoll_again(req)) {
		upstream_repoll(req);
		return;
	}
	if (longpoll_unhold(req) == -1)
		req->req_keepalive = 0;
	upstream_release(req);
	reply_end(req);
	req->req_hooks->rh_done(req);
}

/* On the connection cn, the attempt's own from here. */
static int
upstream_on(struct req *req, struct conn *cn)
{
	upstream_busy(req, 1);
	return (upstream_h1_start(req, cn, &req->req_attempt_t0,
	    upstream_timeout_ms(req), upstream_done));
}

/* From conn.c: the connection made for this attempt, or its failure. */
static void
upstream_conn_done(void *arg, struct conn *cn, int rc)
{
	struct req		*req = arg;
	struct upstream_facts	 uf;

	req->req_conn = NULL;
	if (rc == -1) {
		conn_facts(cn, &uf);
		upstream_failed(req, &uf);
		conn_close(cn);
		return;
	}
	conn_times(cn, &req->req_t_connect, &req->req_t_tls);
	if (upstream_on(req, cn) == -1) {
		upstream_release(req);
		upstream_unstarted(req);
	}
}

/* A new connection for this attempt: the way every retry goes. */
static int
upstream_fresh(struct req *req)
{
	upstream_busy(req, 1);
	if ((req->req_conn = conn_open(req->req_base, upstream_cfg(req),
	    req->req_proxy, upstream_conn_done, req)) == NULL)
		return (-1);
	return (0);
}

/* From spare.c: the spare waited for is ready (cn), or go fresh (NULL). */
static void
upstream_spare_got(void *arg, struct conn *cn)
{
	struct req	*req = arg;

	req->req_spwait = NULL;
	req->req_t_spwait = util_ms_since(&req->req_spwait_t0);
	req->req_spare = cn != NULL;
	if ((cn != NULL ? upstream_on(req, cn) : upstream_fresh(req)) == -1) {
		upstream_release(req);
		upstream_unstarted(req);
	}
}

/*
 * A ready spare, if one fits, or one being built that should come
 * sooner than a new connection (1: on it, or waiting for it).  Retries
 * never wait: their first attempt found none.
 */
static int
upstream_spare(struct req *req)
{
	struct conn	*cn;

	if ((cn = spare_take(req->req_cfg, req->req_proxy)) != NULL) {
		req->req_spare = 1;
		return (upstream_on(req, cn) == -1 ? -1 : 1);
	}
	if (req->req_attempt > 0 ||
	    (req->req_spwait = spare_wait(req->req_cfg, req->req_proxy,
	    upstream_spare_got, req)) == NULL)
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &req->req_spwait_t0);
	upstream_busy(req, 1);
	return (1);
}

/* One attempt: a new connection, every time. */
static int
upstream_attempt(struct req *req)
{
	upstream_reset(req);
	req->req_proxy = failover_pick_for(upstream_cfg(req), FAILOVER_REQUEST);
	req->req_t_connect = req->req_t_tls = req->req_t_ttfb = 0;
	clock_gettime(CLOCK_MONOTONIC, &req->req_attempt_t0);
	if (longpoll_prepare(req) == -1)
		goto fail;
	switch (upstream_spare(req)) {
	case 1:
		return (0);
	case -1:
		goto fail;
	}
	if (upstream_fresh(req) == -1)
		goto fail;
	return (0);
 fail:
	log_warnx("%s: cannot set up the upstream attempt", __func__);
	upstream_release(req);
	return (-1);
}

int
upstream_start(struct req *req)
{
	const struct config	*cfg = upstream_cfg(req);
	const char		*t, *q;
	size_t			 len;

	if (req->req_route.rt_readonly &&
	    (req->req_replay = evbuffer_new()) == NULL)
		return (-1);
	/* The checked, decoded path, and the query exactly as it came. */
	t = (const char *)evbuffer_pullup(req->req_target, -1);
	len = evbuffer_get_length(req->req_target);
	q = memchr(t, '?', len);
	if (asprintf(&req->req_url, "%s%s%.*s", cfg->cfg_upstream,
	    req->req_route.rt_path, q != NULL ? (int)(len - (q - t)) : 0,
	    q != NULL ? q : "") == -1) {
		req->req_url = NULL;
		return (-1);
	}
	if (header_upstream(req) == -1 ||
	    longpoll_start(req, upstream_repoll) == -1)
		return (-1);
	spare_request(req->req_cfg, req->req_route.rt_bot,
	    req->req_route.rt_longpoll);
	return (upstream_attempt(req));
}

/* An attempt or a wait for one is under way. */
int
upstream_running(const struct req *req)
{
	return (req->req_h1 != NULL || req->req_conn != NULL ||
	    req->req_spwait != NULL);
}

/*
 * The bot went away: drop the attempt now.  A connection still being
 * made runs on to its verdict in the spare pool (spare_adopt()), so a
 * proxy is judged whatever the bot's patience; the access line says
 * what the bot was left waiting on.
 */
void
upstream_stop(struct req *req)
{
	if (req->req_conn != NULL) {
		conn_waiting(req->req_conn, req->req_left_on,
		    sizeof(req->req_left_on));
		if (spare_adopt(req->req_conn) == 0)
			req->req_conn = NULL;
	} else if (req->req_spwait != NULL)
		spare_waiting(req->req_spwait, req->req_left_on,
		    sizeof(req->req_left_on));
	upstream_release(req);
}

/* From the loop: upload bytes came, or the bot read its reply down. */
void
upstream_resume(struct req *req)
{
	upstream_h1_resume(req);
}
