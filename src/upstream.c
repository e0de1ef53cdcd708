/* SPDX-License-Identifier: ISC */
/*
 * The upstream side of a request: one libcurl easy handle on a brand-new
 * connection through the configured proxy, streamed both ways, and
 * closed when the transfer ends.  A connection is never reused, since a
 * pooled tunnel is exactly what corporate proxies silently forget.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "conf.h"
#include "failover.h"
#include "header.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "multi.h"
#include "proxy.h"
#include "proxyauth.h"
#include "reply.h"
#include "req.h"
#include "spare.h"
#include "tls.h"
#include "trim.h"
#include "upstream.h"
#include "util.h"

#define UPSTREAM_BUFSIZE	(64 * 1024)
#define UPSTREAM_POLL_BUFSIZE	1024	/* a held poll's: libcurl 7.88's minimum */
#define UPSTREAM_UPBUF_MIN	(16 * 1024)	/* libcurl 7.88's minimum */
#define UPSTREAM_REPLAY_MAX	(64 * 1024)
#define UPSTREAM_BACKOFF_MS	50
#define UPSTREAM_BACKOFF_MAX_MS	2000
#define UPSTREAM_HEAD_MAX	(64 * 1024)	/* reply headers kept */

/* The configuration the request started with, even across a reload. */
static const struct config *
upstream_cfg(struct req *req)
{
	return (req->req_cfg);
}

/* Drop the reply headers that its Connection header names as hop-by-hop. */
static int
upstream_unlisted(struct req *req)
{
	struct evbuffer	*kept;
	char		*line, *colon;
	size_t		 len;

	if (req->req_up_connection == NULL)
		return (0);
	if ((kept = evbuffer_new()) == NULL)
		return (-1);
	while ((line = evbuffer_readln(req->req_up_head, &len,
	    EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		colon = strchr(line, ':');
		if (colon == NULL || !header_listed(req->req_up_connection,
		    line, colon - line))
			evbuffer_add_printf(kept, "%s\r\n", line);
		free(line);
	}
	evbuffer_drain(req->req_up_head, evbuffer_get_length(req->req_up_head));
	evbuffer_add_buffer(req->req_up_head, kept);
	evbuffer_free(kept);
	return (0);
}

/*
 * Refuse a reply the sidecar cannot frame for the bot without guessing:
 * libcurl aborts the transfer, and the bot gets a 502 of our own.
 */
static size_t
upstream_refuse(struct req *req, const char *why)
{
	req->req_up_bad = why;
	return (0);
}

/* A status line, interim (1xx) or final: the reply headers start over. */
static size_t
upstream_status(struct req *req, const char *line, size_t len, size_t n)
{
	const char	*sp = memchr(line, ' ', len);

	if (sp == NULL || line + len - sp < 4 || sp[1] < '1' ||
	    sp[1] > '5' || sp[2] < '0' || sp[2] > '9' || sp[3] < '0' ||
	    sp[3] > '9' || (line + len - sp > 4 && sp[4] != ' '))
		return (upstream_refuse(req, "a malformed status line"));
	req->req_up_status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 +
	    (sp[3] - '0');
	if (req->req_up_status >= 200)
		upstream_watch_answer(req);
	req->req_up_clen = -1;
	req->req_up_chunked = 0;
	free(req->req_up_connection);
	req->req_up_connection = NULL;
	evbuffer_drain(req->req_up_head, evbuffer_get_length(req->req_up_head));
	return (n);
}

/* The reply's length, from its framing headers; -1 if it is unsafe. */
static int
upstream_length(struct req *req, int kind, const char *value, size_t vlen)
{
	int64_t		 clen;

	if (kind == HEADER_TRANSFER_ENCODING) {
		/* libcurl decodes chunked, and nothing else is asked of it. */
		if (!header_is(value, vlen, "chunked") || req->req_up_chunked ||
		    req->req_up_clen >= 0)
			return (-1);
		req->req_up_chunked = 1;
		return (0);
	}
	if (req->req_up_chunked || (clen = header_clen(value, vlen)) < 0)
		return (-1);
	if (req->req_up_clen >= 0 && req->req_up_clen != clen)
		return (-1);
	req->req_up_clen = clen;
	return (0);
}

/* The head is complete: hand it to the bot, framed our way. */
static size_t
upstream_head_end(struct req *req, size_t n)
{
	if (req->req_up_status < 200)
		return (n);
	if (upstream_unlisted(req) == -1)
		return (0);
	if (longpoll_hold(req))
		return (n);	/* maybe an empty result, not the bot's */
	if (reply_head(req, req->req_up_status, NULL, req->req_up_head,
	    req->req_up_chunked ? -1 : req->req_up_clen) == -1)
		return (0);
	return (n);
}

/*
 * Each header line of the reply, as libcurl reads it.  Only checked
 * names and values pass, and the framing ones are ours to write.
 */
size_t
upstream_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct req	*req = arg;
	size_t		 n = size * nitems, len = n, nlen, vlen;
	const char	*value;
	int		 kind;

	if (req->req_head_sent)
		return (n);	/* trailers */
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
		return (upstream_status(req, line, len, n));
	if (len == 0)
		return (upstream_head_end(req, n));
	if (header_split(line, len, &nlen, &value, &vlen) == -1)
		return (upstream_refuse(req, "a header that is not a token "
		    "and a clean value"));
	kind = header_kind(line, nlen);
	if (kind == HEADER_TRANSFER_ENCODING ||
	    kind == HEADER_CONTENT_LENGTH) {
		if (upstream_length(req, kind, value, vlen) == -1)
			return (upstream_refuse(req, "a Content-Length or "
			    "Transfer-Encoding that cannot be framed safely"));
		return (n);
	}
	if (kind == HEADER_CONNECTION)
		return (header_list_add(&req->req_up_connection, value,
		    vlen) == -1 ? 0 : n);
	if (kind == HEADER_HOP)
		return (n);
	if (evbuffer_get_length(req->req_up_head) + len > UPSTREAM_HEAD_MAX)
		return (upstream_refuse(req, "more header bytes than the "
		    "sidecar keeps"));
	if (evbuffer_add(req->req_up_head, line, nlen) == -1 ||
	    evbuffer_add_printf(req->req_up_head, ": %.*s\r\n", (int)vlen,
	    value) == -1)
		return (0);
	return (n);
}

static size_t
upstream_write(char *data, size_t size, size_t nitems, void *arg)
{
	struct req	*req = arg;
	size_t		 n = size * nitems;

	switch (longpoll_body(req, data, n)) {
	case 1:
		return (n);	/* held: maybe an empty result */
	case -1:
		return (0);
	}
	if (!req->req_head_sent && reply_head(req, req->req_up_status ?
	    req->req_up_status : 502, NULL, req->req_up_head, -1) == -1)
		return (0);
	/* The bot reads slower than the upstream sends: hold it. */
	if (reply_pending(req) >= REPLY_OUT_HIGH) {
		req->req_recv_paused = 1;
		return (CURL_WRITEFUNC_PAUSE);
	}
	if (reply_body(req, data, n) == -1)
		return (0);
	return (n);
}

static size_t
upstream_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct req	*req = arg;
	int		 n;

	n = evbuffer_remove(req->req_body, buf, size * nitems);
	if (n > 0 && req->req_replay != NULL) {
		/* Keep what a read-only retry would have to send again. */
		if (evbuffer_get_length(req->req_replay) + n >
		    UPSTREAM_REPLAY_MAX) {
			evbuffer_free(req->req_replay);
			req->req_replay = NULL;
		} else
			evbuffer_add(req->req_replay, buf, n);
	}
	if (n > 0) {
		/* Room again: let the bot send more. */
		if (evbuffer_get_length(req->req_body) < REQ_BODY_HIGH / 2)
			req->req_hooks->rh_kick(req);
		return (n);
	}
	if (n == -1)
		return (CURL_READFUNC_ABORT);
	if (req->req_body_done)
		return (0);
	req->req_send_paused = 1;
	return (CURL_READFUNC_PAUSE);
}

/* A pre-proxy has no separate credential options: they go in its URL. */
static char *
upstream_proxy_url(const struct proxy *px)
{
	char	*u = NULL, *p = NULL, *url = NULL;

	if (px->px_user == NULL)
		return (strdup(px->px_url));
	if ((u = curl_easy_escape(NULL, px->px_user, 0)) == NULL)
		goto fail;
	if ((p = curl_easy_escape(NULL, px->px_pass ? px->px_pass : "", 0)) ==
	    NULL)
		goto fail;
	{
		const char	*sep = strstr(px->px_url, "://");
		size_t		 slen = sep - px->px_url + 3;

		if (asprintf(&url, "%.*s%s:%s@%s", (int)slen, px->px_url, u, p,
		    px->px_url + slen) == -1)
			url = NULL;
	}
 fail:
	curl_free(u);
	curl_free(p);
	return (url);
}

static int
upstream_proxy(struct req *req, CURL *e)
{
	const struct config	*cfg = upstream_cfg(req);
	const struct proxy	*px = &cfg->cfg_proxy[req->req_proxy];
	char			*pre;
	int			 rc;

	if (px->px_scheme == PROXY_NONE) {
		/* "" keeps libcurl from reading proxy variables itself. */
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		return (0);
	}
	curl_easy_setopt(e, CURLOPT_PROXY, px->px_url);
	if (!proxy_is_socks(px))
		curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	if (px->px_user != NULL) {
		curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, px->px_user);
		curl_easy_setopt(e, CURLOPT_PROXYPASSWORD,
		    px->px_pass != NULL ? px->px_pass : "");
		curl_easy_setopt(e, CURLOPT_PROXYAUTH, cfg->cfg_proxy_auth);
	} else if (proxyauth_userpwd(cfg, px) != NULL) {
		curl_easy_setopt(e, CURLOPT_PROXYUSERPWD,
		    proxyauth_userpwd(cfg, px));
		curl_easy_setopt(e, CURLOPT_PROXYAUTH, cfg->cfg_proxy_auth);
	}
	if (cfg->cfg_noproxy != NULL)
		curl_easy_setopt(e, CURLOPT_NOPROXY, cfg->cfg_noproxy);
	if (cfg->cfg_pre_proxy.px_scheme == PROXY_NONE)
		return (0);
	if ((pre = upstream_proxy_url(&cfg->cfg_pre_proxy)) == NULL)
		return (-1);
	rc = curl_easy_setopt(e, CURLOPT_PRE_PROXY, pre) == CURLE_OK ? 0 : -1;
	free(pre);	/* libcurl keeps its own copy */
	return (rc);
}

static int
upstream_body(struct req *req, CURL *e)
{
	if (req->req_method == HTTP_GET && !req->req_has_body) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		return (0);
	}
	/* A POST, or a GET that carries a body: stream it from req_body. */
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, upstream_read);
	curl_easy_setopt(e, CURLOPT_READDATA, req);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)(req->req_has_body ? req->req_clen : 0));
	if (req->req_method == HTTP_GET)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
	return (0);
}

/*
 * libcurl allocates both buffers for the whole transfer.  A long poll
 * spends its life waiting, and its answer streams through 1 KiB as well
 * (a 100 KiB answer is 100 reads of a record OpenSSL has decrypted); the
 * upload buffer (which also holds the request head, for TLS) need not
 * be larger than a body of known size.
 */
static void
upstream_bufsizes(struct req *req, CURL *e)
{
	long	 up = UPSTREAM_BUFSIZE;

	if (!req->req_has_body)
		up = UPSTREAM_UPBUF_MIN;
	else if (req->req_clen >= 0 && req->req_clen < UPSTREAM_BUFSIZE)
		up = req->req_clen > UPSTREAM_UPBUF_MIN ? (long)req->req_clen :
		    UPSTREAM_UPBUF_MIN;
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, req->req_route.rt_longpoll ?
	    (long)UPSTREAM_POLL_BUFSIZE : (long)UPSTREAM_BUFSIZE);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, up);
}

/* Per-attempt state goes back to how a fresh request has it. */
static void
upstream_reset(struct req *req)
{
	req->req_up_status = 0;
	req->req_up_clen = -1;
	req->req_up_chunked = 0;
	req->req_up_bad = NULL;
	req->req_send_paused = req->req_recv_paused = 0;
	req->req_h1_sent = 0;
	req->req_upbuf_gone = 0;
	req->req_errbuf[0] = '\0';
	req->req_errdesc[0] = '\0';
	free(req->req_up_connection);
	req->req_up_connection = NULL;
	evbuffer_drain(req->req_up_head, evbuffer_get_length(req->req_up_head));
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

/*
 * A handle for one brand-new connection, closed afterwards, the way to
 * the upstream goes (proxy, pre-proxy, proxy auth, TLS, timeouts): the
 * cure itself, for transfers and /readyz probes alike.
 */
CURL *
upstream_easy(struct req *req)
{
	const struct config	*cfg = upstream_cfg(req);
	CURL			*e;

	if ((e = curl_easy_init()) == NULL)
		return (NULL);
	curl_easy_setopt(e, CURLOPT_URL, req->req_url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->req_errbuf);
	tls_setopts(e);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	if (cfg->cfg_tls_session_resume)
		curl_easy_setopt(e, CURLOPT_SHARE, tls_sessions());
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->cfg_connect_timeout_ms);
	if (upstream_proxy(req, e) == -1) {
		curl_easy_cleanup(e);
		return (NULL);
	}
	return (e);
}

static void	upstream_done(void *, CURLcode);
static void	upstream_expired(struct req *);
static void	upstream_repoll(struct req *);

static const struct upstream_h1_hooks upstream_h1_hooks = {
	.uh_done = upstream_done,
	.uh_header = upstream_header,
};

/* Requests upstream at once, for the number of spares to keep. */
static void
upstream_busy(struct req *req, int on)
{
	if (req->req_probe || req->req_busy == on)
		return;
	req->req_busy = on;
	if (!req->req_route.rt_longpoll)	/* held by design */
		spare_busy(on ? 1 : -1);
}

/*
 * libcurl waits only to read.  Until the answer begins the connection
 * sits idle (a held long poll spends its life here): give back what only
 * sending needed.  The TLS record buffers (about 17 KiB) come back on
 * the next record.  libcurl 7.88 keeps its upload buffer (16 KiB at
 * least; it also carried the request head, for TLS) to the transfer's
 * end, but frees it when the option is set again (lib/setopt.c) and
 * allocates it anew when it has something to send.  With the whole
 * request taken and sending not paused, nothing is left in it.
 */
static void
upstream_reading(void *arg)
{
	struct req	*req = arg;
	int		 freed = 0;

	if (upstream_watch_phase(req) != UPH_WAIT || req->req_send_paused)
		return;
	if (!req->req_upbuf_gone) {
		curl_easy_setopt(req->req_easy, CURLOPT_UPLOAD_BUFFERSIZE,
		    (long)UPSTREAM_UPBUF_MIN);
		req->req_upbuf_gone = freed = 1;
	}
	if (tls_release(req->req_easy) || freed)
		trim_soon(req->req_base);
}

/* Start it; upstream_release() is its other half. */
static int
upstream_add(struct req *req, CURL *e)
{
	if (multi_add(e, upstream_done, req) == -1)
		return (-1);
	multi_reading(e, upstream_reading);
	req->req_easy = e;
	upstream_busy(req, 1);
	return (0);
}

static int	upstream_fresh(struct req *);

/* On the spare e: the request pays one round trip. */
static int
upstream_on_spare(struct req *req, CURL *e)
{
	upstream_busy(req, 1);
	return (upstream_h1_start(req, e, upstream_timeout_ms(req),
	    &upstream_h1_hooks));
}

/* The wait for a spare being built is over: how long, for the log. */
static void
upstream_waited(struct req *req)
{
	req->req_spwait = NULL;
	req->req_t_spwait = util_ms_since(&req->req_spwait_t0);
}

/* An attempt from the loop could not be set up: the bot hears so. */
static void
upstream_unstarted(struct req *req)
{
	reply_error(req, 500, "Internal Server Error: cannot start the "
	    "upstream transfer");
	req->req_hooks->rh_done(req);
}

/* From spare.c: the spare waited for is ready (e), or go fresh (NULL). */
static void
upstream_spare_got(void *arg, CURL *e)
{
	struct req	*req = arg;

	upstream_waited(req);
	if ((e != NULL ? upstream_on_spare(req, e) : upstream_fresh(req)) == -1)
		upstream_unstarted(req);
}

/*
 * A ready spare, if one fits, or one being built that should come
 * sooner than a new connection (1: on it, or waiting for it).
 */
static int
upstream_spare(struct req *req)
{
	CURL	*e;

	if (!upstream_h1_eligible(req))
		return (0);
	if ((e = spare_take(req->req_cfg, req->req_proxy)) != NULL)
		return (upstream_on_spare(req, e) == -1 ? -1 : 1);
	if ((req->req_spwait = spare_wait(req->req_cfg, req->req_proxy,
	    upstream_spare_got, req)) == NULL)
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &req->req_spwait_t0);
	upstream_busy(req, 1);
	return (1);
}

/* One attempt: a new easy handle, so a new connection, every time. */
static int
upstream_attempt(struct req *req)
{
	upstream_reset(req);
	req->req_proxy = failover_pick(upstream_cfg(req));
	if (longpoll_prepare(req) == -1)
		goto fail;
	switch (upstream_spare(req)) {
	case 1:
		return (0);
	case -1:
		goto fail;
	}
	return (upstream_fresh(req));
 fail:
	log_warnx("%s: cannot set up the upstream transfer", __func__);
	upstream_watch_stop(req);
	return (-1);
}

/* A fresh connection through libcurl, the way every retry goes. */
static int
upstream_fresh(struct req *req)
{
	CURL	*e = NULL;

	if ((e = upstream_easy(req)) == NULL)
		goto fail;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->req_uphdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upstream_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	upstream_bufsizes(req, e);
	/* No total cap: the phases have their clocks (upstream_watch.c). */
	if (upstream_watch_start(req, e, upstream_timeout_ms(req),
	    upstream_expired) == -1 || upstream_body(req, e) == -1 ||
	    upstream_add(req, e) == -1)
		goto fail;
	return (0);
 fail:
	log_warnx("%s: cannot set up the upstream transfer", __func__);
	upstream_watch_stop(req);
	if (e != NULL)
		curl_easy_cleanup(e);
	return (-1);
}

int
upstream_start(struct req *req)
{
	const struct config	*cfg = upstream_cfg(req);
	const char		*t, *q;
	size_t			 len;

	if ((req->req_up_head = evbuffer_new()) == NULL)
		return (-1);
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
	spare_begin(req->req_cfg);
	return (upstream_attempt(req));
}

/* Release the transfer; with FORBID_REUSE this closes its connection. */
static void
upstream_release(struct req *req)
{
	longpoll_stop(req);
	upstream_h1_stop(req);
	if (req->req_spwait != NULL) {
		spare_unwait(req->req_spwait);
		upstream_waited(req);
	}
	upstream_busy(req, 0);
	if (req->req_easy == NULL)
		return;
	multi_remove(req->req_easy);
	curl_easy_cleanup(req->req_easy);
	req->req_easy = NULL;
	upstream_watch_stop(req);
}

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

/*
 * The facts only this attempt's path knows: its clocks, or on a spare,
 * what our own framing sent (libcurl sent nothing there).
 */
static void
upstream_facts(struct req *req, struct upstream_facts *uf)
{
	upstream_watch_facts(req, uf);
	if (req->req_h1 != NULL)
		upstream_h1_facts(req, uf);
}

/* A failed attempt: count it against the proxy, then retry or answer. */
static void
upstream_failed(struct req *req, CURLcode rc)
{
	enum upstream_stage	 st;
	int			 status, retry;

	status = upstream_fail_judge(req, rc, upstream_facts, &st);
	retry = upstream_fail_retryable(req, st);
	upstream_release(req);
	if (retry && upstream_retry(req, req->req_errdesc) == 0)
		return;
	if (req->req_head_sent) {
		/* Too late for a status: a cut reply tells the bot instead. */
		char	 why[sizeof(req->req_errdesc)];

		/* A timeout's words name its phase and bytes: keep them. */
		snprintf(why, sizeof(why), "%s",
		    rc == CURLE_OPERATION_TIMEDOUT ? req->req_errdesc :
		    upstream_fail_why(req, rc));
		snprintf(req->req_errdesc, sizeof(req->req_errdesc),
		    "upstream %s: reply cut after its head: %.400s",
		    upstream_cfg(req)->cfg_upstream_host, why);
		req->req_keepalive = 0;
	} else
		reply_error(req, status, req->req_errdesc);
	req->req_hooks->rh_done(req);
}

/* Phase times for the access log and /metrics, before the handle goes. */
static void
upstream_times(struct req *req)
{
	curl_off_t	 conn = 0, app = 0, ttfb = 0, total = 0;

	curl_easy_getinfo(req->req_easy, CURLINFO_CONNECT_TIME_T, &conn);
	curl_easy_getinfo(req->req_easy, CURLINFO_APPCONNECT_TIME_T, &app);
	curl_easy_getinfo(req->req_easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
	curl_easy_getinfo(req->req_easy, CURLINFO_TOTAL_TIME_T, &total);
	req->req_t_connect = conn / 1000.0;
	req->req_t_tls = app > conn ? (app - conn) / 1000.0 : 0;
	req->req_t_ttfb = ttfb / 1000.0;
	metrics_phases(conn, app, ttfb, total, upstream_cfg(req)->cfg_proxy[
	    req->req_proxy].px_scheme != PROXY_NONE);
}

/* A clock of upstream_watch.c ran out: end as libcurl would. */
static void
upstream_expired(struct req *req)
{
	upstream_times(req);
	upstream_failed(req, CURLE_OPERATION_TIMEDOUT);
}

/* From multi.c, through the hook upstream_add() gave it. */
static void
upstream_done(void *arg, CURLcode rc)
{
	struct req		*req = arg;
	enum upstream_stage	 st;

	if (req->req_probe) {
		/* Judged as a transfer would be; the probe's owner answers. */
		req->req_outcome = upstream_fail_judge(req, rc, upstream_facts,
		    &st);
		upstream_release(req);
		req->req_hooks->rh_done(req);
		return;
	}
	if (req->req_h1 == NULL)
		upstream_times(req);
	if (rc != CURLE_OK) {
		upstream_failed(req, rc);
		return;
	}
	failover_ok(req->req_cfg, req->req_proxy);
	spare_ok();	/* the way works: spares may go it */
	/* n updates: n calls follow, whichever path the poll took. */
	if (req->req_route.rt_longpoll)
		spare_hint(longpoll_updates(req));
	if (longpoll_again(req)) {
		upstream_repoll(req);
		return;
	}
	if (longpoll_unhold(req) == -1)
		req->req_keepalive = 0;
	/* A reply with headers only: its end came with no body. */
	if (!req->req_head_sent && req->req_up_status >= 200 &&
	    reply_head(req, req->req_up_status, NULL, req->req_up_head,
	    req->req_up_clen) == -1)
		req->req_keepalive = 0;	/* whatever went out, end there */
	if (!req->req_head_sent) {
		snprintf(req->req_errdesc, sizeof(req->req_errdesc),
		    "upstream %s sent no reply",
		    upstream_cfg(req)->cfg_upstream_host);
		upstream_release(req);
		reply_error(req, 502, req->req_errdesc);
	} else {
		upstream_release(req);
		reply_end(req);
	}
	req->req_hooks->rh_done(req);
}

/*
 * The /readyz probe goes the way a transfer goes (pre-proxy, proxy and
 * its auth, the CONNECT, TLS with the upstream) and stops before a
 * request.  Its end sets req_outcome and calls its rh_done hook.
 */
int
upstream_probe(struct req *req)
{
	const struct config	*cfg = upstream_cfg(req);
	CURL			*e;

	req->req_proxy = failover_pick(cfg);
	if ((e = upstream_easy(req)) == NULL)
		return (-1);
	curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->cfg_connect_timeout_ms);
	if (upstream_add(req, e) == -1) {
		curl_easy_cleanup(e);
		return (-1);
	}
	return (0);
}

/* The bot went away: drop the transfer now, closing its connection. */
void
upstream_stop(struct req *req)
{
	upstream_release(req);
}

/* From the loop, never from a libcurl callback on the same handle. */
void
upstream_resume(struct req *req)
{
	int	 send, recv, mask = 0;

	if (req->req_easy == NULL)
		return;
	if (req->req_h1 != NULL) {
		upstream_h1_resume(req);
		return;
	}
	send = req->req_send_paused &&
	    (evbuffer_get_length(req->req_body) > 0 || req->req_body_done);
	recv = req->req_recv_paused &&
	    reply_pending(req) <= REPLY_OUT_LOW;
	if (!send && !recv)
		return;
	if (send)
		req->req_send_paused = 0;
	if (recv)
		req->req_recv_paused = 0;
	if (req->req_send_paused)
		mask |= CURLPAUSE_SEND;
	if (req->req_recv_paused)
		mask |= CURLPAUSE_RECV;
	curl_easy_pause(req->req_easy, mask);
}
