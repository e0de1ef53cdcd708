/* SPDX-License-Identifier: ISC */
/*
 * What a failed upstream attempt means: the facts the failing layer
 * gathered (struct upstream_facts), one stage picked from them, and one
 * table that maps the stage to the bot's status and words, the metrics
 * stage, proxy blame and whether to try again.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "failover.h"
#include "metrics.h"
#include "proxy.h"
#include "proxyauth.h"
#include "req.h"
#include "upstream_fail.h"

/*
 * Where an attempt failed, and all that follows from it, in one table.
 * Up to pretransfer nothing of the request can have reached the Bot API,
 * so any method may go again, and through a proxy every failure there
 * that is not our own is the proxy's: its TCP, CONNECT or SOCKS, TLS
 * with an https:// proxy, the tunnel, the TLS handshake through it.
 * After pretransfer only the upstream is left to blame.
 */
enum upstream_who { WHO_NONE, WHO_UPSTREAM, WHO_HOST, WHO_PROXY, WHO_HOP,
	WHO_SOCKS, WHO_TARGET };
/*
 * RETRY_OTHER: again only through another proxy than the one that failed
 * (a certificate is the same on every try: an intercepting proxy's is
 * not the upstream's, and the next proxy may not intercept).
 */
enum upstream_retry { RETRY_NEVER, RETRY_ANY, RETRY_READONLY, RETRY_OTHER };

/*
 * ur_fmt gets three strings: 1 whom ur_who names, 2 why, 3 whom ur_what
 * names (the host a hop was asked to reach); a format that needs the
 * third numbers all three.
 */
static const struct upstream_rule {
	int		 ur_metric;	/* enum metrics_stage, -1: not counted */
	const char	*ur_fmt;	/* for the bot: who, why, what */
	int		 ur_who;	/* enum upstream_who */
	int		 ur_status;	/* a timeout is 504 at any stage */
	int		 ur_proxy;	/* marks the proxy in use failed */
	int		 ur_retry;	/* enum upstream_retry */
	int		 ur_what;	/* enum upstream_who, for %3$s */
	int		 ur_clock;	/* a timeout: why is the clock's */
} upstream_rules[] = {
	[UST_LOCAL] = { -1, "%s: transfer stopped by the sidecar (the bot "
	    "left, or memory ran out): %s", WHO_UPSTREAM, 502, 0, RETRY_NEVER },
	[UST_FDS] = { METRICS_STAGE_UPSTREAM,
	    "Service Unavailable: the sidecar is out of file descriptors, "
	    "retry after 1", WHO_NONE, 503, 0, RETRY_NEVER },
	[UST_PROXY_CONNECT] = { METRICS_STAGE_PROXY_CONNECT,
	    "%s: connect failed: %s", WHO_HOP, 502, 1, RETRY_ANY },
	[UST_PROXY_TLS] = { METRICS_STAGE_PROXY_HANDSHAKE,
	    "%s: TLS with the proxy failed: %s", WHO_PROXY, 502, 1,
	    RETRY_ANY },
	[UST_PROXY_ANSWER] = { METRICS_STAGE_PROXY_HANDSHAKE,
	    "%1$s answered %2$s to CONNECT for %3$s", WHO_PROXY, 502, 1,
	    RETRY_ANY, WHO_UPSTREAM },
	[UST_PROXY_SOCKS] = { METRICS_STAGE_PROXY_HANDSHAKE,
	    "%s: SOCKS handshake failed: %s", WHO_SOCKS, 502, 1, RETRY_ANY },
	[UST_TUNNEL] = { METRICS_STAGE_PROXY_HANDSHAKE,
	    "%s: no working tunnel through it: %s", WHO_PROXY, 502, 1,
	    RETRY_ANY },
	[UST_CONNECT] = { METRICS_STAGE_UPSTREAM,
	    "%s: connect failed: %s", WHO_UPSTREAM, 502, 0, RETRY_ANY },
	[UST_PROXY_TIMEOUT] = { METRICS_STAGE_PROXY_HANDSHAKE,
	    "upstream timeout in the proxy handshake with %s: %s", WHO_PROXY,
	    504, 1, RETRY_ANY, WHO_NONE, 1 },
	[UST_CONNECT_TIMEOUT] = { METRICS_STAGE_TIMEOUT,
	    "upstream timeout connecting to %s: %s", WHO_HOST, 504, 0,
	    RETRY_ANY, WHO_NONE, 1 },
	[UST_TLS_VERIFY] = { METRICS_STAGE_TLS,
	    "%s: TLS certificate verify failed: %s", WHO_UPSTREAM, 502, 1,
	    RETRY_OTHER },
	[UST_TLS] = { METRICS_STAGE_TLS,
	    "%s: TLS handshake failed: %s", WHO_UPSTREAM, 502, 1, RETRY_ANY },
	[UST_SEND_TIMEOUT] = { METRICS_STAGE_TIMEOUT,
	    "upstream timeout sending the body to %s: %s", WHO_HOST, 504, 0,
	    RETRY_NEVER, WHO_NONE, 1 },
	[UST_TIMEOUT] = { METRICS_STAGE_TIMEOUT,
	    "upstream timeout waiting for the answer from %s: %s", WHO_HOST,
	    504, 0, RETRY_NEVER, WHO_NONE, 1 },
	[UST_RECV_TIMEOUT] = { METRICS_STAGE_TIMEOUT,
	    "upstream timeout receiving the answer from %s: %s", WHO_HOST, 504,
	    0, RETRY_NEVER, WHO_NONE, 1 },
	/* A spare the far side closed unseen: nothing of it was sent. */
	[UST_UNSENT] = { METRICS_STAGE_UPSTREAM,
	    "%s: the connection closed before the request was sent: %s",
	    WHO_UPSTREAM, 502, 0, RETRY_ANY },
	[UST_BROKEN] = { METRICS_STAGE_UPSTREAM,
	    "%s: connection broke after the request was sent: %s",
	    WHO_UPSTREAM, 502, 0, RETRY_READONLY },
	[UST_REPLY] = { METRICS_STAGE_UPSTREAM,
	    "%s sent a reply the sidecar cannot frame: %s", WHO_UPSTREAM, 502,
	    0, RETRY_NEVER },
	[UST_DNS] = { METRICS_STAGE_UPSTREAM,
	    "%s: DNS lookup failed on this machine: %s", WHO_UPSTREAM, 502, 0,
	    RETRY_ANY },
	[UST_PROXY_DNS] = { METRICS_STAGE_PROXY_CONNECT,
	    "%s: DNS lookup of the proxy's name failed on this machine: %s",
	    WHO_HOP, 502, 1, RETRY_ANY },
	/*
	 * A local lookup for socks5://, not the handshake: say the cure.
	 * The proxy is marked: another in the list may resolve for us.
	 */
	[UST_SOCKS_DNS] = { METRICS_STAGE_PROXY_HANDSHAKE,
	    "%3$s: DNS lookup failed on this machine: %2$s (%1$s leaves name "
	    "lookups to the sidecar; socks5h:// lets the proxy resolve them)",
	    WHO_SOCKS, 502, 1, RETRY_ANY, WHO_TARGET },
	[UST_SOCKS_REPLY] = { METRICS_STAGE_PROXY_HANDSHAKE,
	    "%1$s could not reach %3$s: %2$s", WHO_SOCKS, 502, 1, RETRY_ANY,
	    WHO_TARGET },
};

/* The SOCKS hop's own reply codes (RFC 1928 6, SOCKS4's 91) by name. */
static const struct upstream_socks_reply {
	long		 usr_pxcode;	/* CURLproxycode */
	const char	*usr_text;
} upstream_socks_replies[] = {
	{ CURLPX_REPLY_GENERAL_SERVER_FAILURE, "SOCKS reply 1, general "
	    "failure" },
	{ CURLPX_REPLY_NOT_ALLOWED, "SOCKS reply 2, not allowed by the "
	    "proxy's rules" },
	{ CURLPX_REPLY_NETWORK_UNREACHABLE, "SOCKS reply 3, network "
	    "unreachable" },
	{ CURLPX_REPLY_HOST_UNREACHABLE, "SOCKS reply 4, host unreachable" },
	{ CURLPX_REPLY_CONNECTION_REFUSED, "SOCKS reply 5, connection "
	    "refused" },
	{ CURLPX_REPLY_TTL_EXPIRED, "SOCKS reply 6, TTL expired" },
	{ CURLPX_REPLY_COMMAND_NOT_SUPPORTED, "SOCKS reply 7, command not "
	    "supported" },
	{ CURLPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED, "SOCKS reply 8, address "
	    "type not supported" },
	{ CURLPX_REQUEST_FAILED, "SOCKS4 reply 91, request rejected or "
	    "failed" },
};

/* The SOCKS reply in words, or NULL if the failure was no such reply. */
static const char *
upstream_fail_socks_reply(long pxcode)
{
	size_t	 i;

	for (i = 0; i < sizeof(upstream_socks_replies) /
	    sizeof(upstream_socks_replies[0]); i++)
		if (upstream_socks_replies[i].usr_pxcode == pxcode)
			return (upstream_socks_replies[i].usr_text);
	return (NULL);
}

/*
 * The stage of a failed attempt: the one its layer named, or for the
 * tunnel, read from what libcurl got done.
 */
enum upstream_stage
upstream_fail_stage(const struct upstream_facts *uf)
{
	CURLcode	 rc = uf->uf_rc;
	long		 code = uf->uf_connect_code;
	int		 verify, tls;

	if (uf->uf_stage != UST_NONE)
		return (uf->uf_stage);
	if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_ABORTED_BY_CALLBACK)
		return (UST_LOCAL);
	if (uf->uf_fds)
		return (UST_FDS);
	verify = rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
	    rc == CURLE_SSL_ISSUER_ERROR;
	tls = verify || rc == CURLE_SSL_CONNECT_ERROR;
	if (uf->uf_scheme == PROXY_NONE) {
		if (tls)
			return (verify ? UST_TLS_VERIFY : UST_TLS);
		if (rc == CURLE_COULDNT_RESOLVE_HOST)
			return (UST_DNS);
		return (rc == CURLE_OPERATION_TIMEDOUT ? UST_CONNECT_TIMEOUT :
		    UST_CONNECT);
	}
	/*
	 * libcurl 7.88 reports a SOCKS proxy's unknown name as the host's;
	 * the upstream's name, if we resolve it, fails inside the SOCKS step.
	 */
	if (rc == CURLE_COULDNT_RESOLVE_PROXY ||
	    rc == CURLE_COULDNT_RESOLVE_HOST)
		return (UST_PROXY_DNS);
	if (rc == CURLE_COULDNT_CONNECT)
		return (UST_PROXY_CONNECT);
	if (code != 0 && (code < 200 || code > 299))
		return (UST_PROXY_ANSWER);
	/* No CONNECT answer yet: the TLS was the https:// proxy's own. */
	if (tls && uf->uf_scheme == PROXY_HTTPS && code == 0)
		return (UST_PROXY_TLS);
	if (rc == CURLE_PROXY && uf->uf_pxcode == CURLPX_RESOLVE_HOST)
		return (UST_SOCKS_DNS);
	if (rc == CURLE_PROXY &&
	    upstream_fail_socks_reply(uf->uf_pxcode) != NULL)
		return (UST_SOCKS_REPLY);
	if (rc == CURLE_PROXY)
		return (UST_PROXY_SOCKS);
	if (tls)
		return (verify ? UST_TLS_VERIFY : UST_TLS);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return (UST_PROXY_TIMEOUT);
	return (UST_TUNNEL);
}

/*
 * Whom a stage's message names: never with credentials.  The SOCKS hop
 * is the proxy, or the pre-proxy of a chain, which is then asked for the
 * proxy; else the SOCKS hop is asked for the upstream.
 */
static const char *
upstream_fail_who(const struct config *cfg, int proxy, int who, char *buf,
    size_t len)
{
	const struct proxy	*px = &cfg->cfg_proxy[proxy];
	int			 prehop;

	prehop = cfg->cfg_pre_proxy.px_scheme != PROXY_NONE &&
	    !proxy_is_socks(px);

	switch (who) {
	case WHO_UPSTREAM:
		snprintf(buf, len, "upstream %s", cfg->cfg_upstream_host);
		break;
	case WHO_HOST:
		snprintf(buf, len, "%s", cfg->cfg_upstream_host);
		break;
	case WHO_HOP:
		if (cfg->cfg_pre_proxy.px_scheme != PROXY_NONE) {
			snprintf(buf, len, "pre_proxy %s",
			    cfg->cfg_pre_proxy.px_url);
			break;
		}
		/* FALLTHROUGH */
	case WHO_PROXY:
		snprintf(buf, len, "proxy %s", px->px_url);
		break;
	case WHO_SOCKS:
		snprintf(buf, len, "%s %s", prehop ? "pre_proxy" : "proxy",
		    prehop ? cfg->cfg_pre_proxy.px_url : px->px_url);
		break;
	case WHO_TARGET:
		if (prehop)
			snprintf(buf, len, "proxy %s", px->px_url);
		else
			snprintf(buf, len, "upstream %s", cfg->cfg_upstream_host);
		break;
	default:
		*buf = '\0';
		break;
	}
	return (buf);
}

/* libcurl's words, or the failing layer's own. */
static const char *
upstream_fail_why(const struct upstream_facts *uf)
{
	return (uf->uf_why != NULL && *uf->uf_why != '\0' ? uf->uf_why :
	    curl_easy_strerror(uf->uf_rc));
}

/* Name the stage that failed and why, for a bot to read; its status. */
static int
upstream_fail_error(const struct config *cfg, int proxy,
    const struct upstream_facts *uf, enum upstream_stage st, char *desc,
    size_t len)
{
	const struct upstream_rule	*ur = &upstream_rules[st];
	char				 who[512], what[512], num[16];
	const char			*why = upstream_fail_why(uf);

	if (st == UST_PROXY_ANSWER) {
		snprintf(num, sizeof(num), "%ld", uf->uf_connect_code);
		why = num;
	} else if (st == UST_SOCKS_REPLY) {
		why = upstream_fail_socks_reply(uf->uf_pxcode);
	}
	snprintf(desc, len, ur->ur_fmt, upstream_fail_who(cfg, proxy,
	    ur->ur_who, who, sizeof(who)), why, upstream_fail_who(cfg, proxy,
	    ur->ur_what, what, sizeof(what)));
	return (ur->ur_status);
}

/* "35.0 MB": what a person reads in a description. */
static void
upstream_fail_size(uint64_t n, char *buf, size_t len)
{
	if (n < 1024)
		snprintf(buf, len, "%" PRIu64 " byte%s", n, n == 1 ? "" : "s");
	else if (n < 1024 * 1024)
		snprintf(buf, len, "%.1f KB", n / 1024.0);
	else
		snprintf(buf, len, "%.1f MB", n / (1024.0 * 1024.0));
}

static void
upstream_fail_ms(long ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%ld s", ms / 1000);
	else
		snprintf(buf, len, "%ld ms", ms);
}

/*
 * A timeout's why: the clock that ran out and the bytes that had gone
 * each way, e.g. "no progress for 60 s (stall_timeout) after sending
 * 35.0 MB of 40.0 MB, 0 bytes received".  -1 if it was cut.
 */
int
upstream_fail_clock(const struct upstream_facts *uf, char *buf, size_t len)
{
	char	 limit[32], up[32], upt[32], down[32], downt[32];
	char	 sent[96], got[96];
	int	 n;

	upstream_fail_ms(uf->uf_limit_ms, limit, sizeof(limit));
	if (uf->uf_phase == UPH_CONNECT && uf->uf_tls_learned_ms > 0) {
		upstream_fail_ms(uf->uf_tls_learned_ms, up, sizeof(up));
		upstream_fail_ms(FAILOVER_TLS_FLOOR_MS, down, sizeof(down));
		n = snprintf(buf, len, "no progress in %s (%d x the %s a TLS "
		    "handshake %s takes, %s at least)", limit,
		    FAILOVER_TLS_TIMES, up, uf->uf_scheme == PROXY_NONE ?
		    "with it" : "through it", down);
		return (n < 0 || (size_t)n >= len ? -1 : 0);
	}
	if (uf->uf_phase == UPH_CONNECT) {
		n = snprintf(buf, len, "not connected in %s (connect_timeout), "
		    "nothing sent or received", limit);
		return (n < 0 || (size_t)n >= len ? -1 : 0);
	}
	upstream_fail_size(uf->uf_up, up, sizeof(up));
	upstream_fail_size(uf->uf_up_total, upt, sizeof(upt));
	upstream_fail_size(uf->uf_down, down, sizeof(down));
	upstream_fail_size(uf->uf_down_total, downt, sizeof(downt));
	if (uf->uf_up_total == 0)
		snprintf(sent, sizeof(sent), "the request (no body)");
	else if (uf->uf_up_total < 0)
		snprintf(sent, sizeof(sent), "%s", up);
	else
		snprintf(sent, sizeof(sent), "%s of %s", up, upt);
	if (uf->uf_down_total < 0)
		snprintf(got, sizeof(got), "%s", down);
	else
		snprintf(got, sizeof(got), "%s of %s", down, downt);
	if (uf->uf_phase == UPH_WAIT)
		n = snprintf(buf, len, "no answer in %s (%s) after sending "
		    "%s, %s received", limit, uf->uf_longpoll ?
		    "getUpdates timeout + poll_timeout" : "upstream_timeout",
		    sent, got);
	else
		n = snprintf(buf, len, "no progress for %s (stall_timeout) "
		    "after sending %s, %s received", limit, sent, got);
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

/* A timeout's words: its phase, whom it names, and upstream_fail_clock(). */
static int
upstream_fail_timeout(const struct config *cfg, int proxy,
    const struct upstream_facts *uf, enum upstream_stage st, char *desc,
    size_t len)
{
	const struct upstream_rule	*ur = &upstream_rules[st];
	const char			*fmt = ur->ur_fmt, *whom;
	char				 who[512], via[600], clock[384];

	whom = upstream_fail_who(cfg, proxy, ur->ur_who, who, sizeof(who));
	upstream_fail_clock(uf, clock, sizeof(clock));
	/* The tunnel was made: it was the TLS handshake through it. */
	if (st == UST_PROXY_TIMEOUT && (uf->uf_tunnel ||
	    (uf->uf_connect_code >= 200 && uf->uf_connect_code <= 299))) {
		snprintf(via, sizeof(via), "%s through %s",
		    cfg->cfg_upstream_host, who);
		whom = via;
		fmt = "upstream timeout in the TLS handshake with %s: %s";
	}
	snprintf(desc, len, fmt, whom, clock);
	return (ur->ur_status);
}

int
upstream_fail_retryable(struct req *req, enum upstream_stage st)
{
	int	 retry = upstream_rules[st].ur_retry;

	if (req->req_attempt >= req->req_cfg->cfg_retries ||
	    req->req_head_sent)
		return (0);
	if (retry == RETRY_OTHER)	/* the proxy is blamed by now */
		return (failover_pick(req->req_cfg) != req->req_proxy);
	return (retry == RETRY_ANY || (retry == RETRY_READONLY &&
	    req->req_route.rt_readonly && req->req_replay != NULL));
}

/*
 * Judge a failed connection or attempt through proxy of cfg: its stage,
 * the bot's status and words in desc, and the proxy blamed if the
 * stage's row says so.  count: a bot's attempt, counted in the metrics
 * (a spare's or the /readyz probe's failure is not).
 */
int
upstream_fail_judge(struct config *cfg, int proxy,
    const struct upstream_facts *uf, int count, char *desc, size_t len,
    enum upstream_stage *st)
{
	int	 status;

	*st = upstream_fail_stage(uf);
	if (upstream_rules[*st].ur_clock)
		status = upstream_fail_timeout(cfg, proxy, uf, *st, desc, len);
	else
		status = upstream_fail_error(cfg, proxy, uf, *st, desc, len);
	if (*st == UST_PROXY_ANSWER)
		proxyauth_hint(cfg, uf->uf_pxauth, uf->uf_connect_code, desc,
		    len);
	if (upstream_rules[*st].ur_metric >= 0 && count)
		metrics_error(upstream_rules[*st].ur_metric);
	if (upstream_rules[*st].ur_proxy && uf->uf_scheme != PROXY_NONE)
		failover_fail(cfg, proxy, desc);
	return (status);
}
