/* SPDX-License-Identifier: ISC */
/*
 * What a failed upstream attempt means: libcurl's facts read once into a
 * struct upstream_facts, one stage picked from them, and one table that
 * maps the stage to the bot's status and words, the metrics stage, proxy
 * blame and whether to try again.
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
#include "upstream.h"

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
enum upstream_retry { RETRY_NEVER, RETRY_ANY, RETRY_READONLY };

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
	    RETRY_ANY },
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
	[UST_BROKEN] = { METRICS_STAGE_UPSTREAM,
	    "%s: connection broke after the request was sent: %s",
	    WHO_UPSTREAM, 502, 0, RETRY_READONLY },
	[UST_UPSTREAM] = { METRICS_STAGE_UPSTREAM,
	    "%s: failed after the request was sent: %s", WHO_UPSTREAM, 502, 0,
	    RETRY_NEVER },
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

/*
 * What libcurl got done before the failure, read once; more, the path
 * that ran the attempt adds (its clocks, or a spare's own framing).
 */
static void
upstream_fail_facts(struct req *req, CURLcode rc, upstream_facts_fn more,
    struct upstream_facts *uf)
{
	curl_off_t	 pre = 0;
	long		 oserr = 0;

	memset(uf, 0, sizeof(*uf));
	uf->uf_rc = rc;
	curl_easy_getinfo(req->req_easy, CURLINFO_HTTP_CONNECTCODE,
	    &uf->uf_connect_code);
	curl_easy_getinfo(req->req_easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
	curl_easy_getinfo(req->req_easy, CURLINFO_OS_ERRNO, &oserr);
	uf->uf_sent = pre != 0;
	/* Creating our own socket failed: no proxy or upstream is to blame. */
	uf->uf_fds = oserr == EMFILE || oserr == ENFILE;
	uf->uf_refused = req->req_up_bad != NULL;
	uf->uf_scheme = req->req_cfg->cfg_proxy[req->req_proxy].px_scheme;
	curl_easy_getinfo(req->req_easy, CURLINFO_PROXY_ERROR, &uf->uf_pxcode);
	if (more != NULL)
		more(req, uf);
}

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

/* The stage of a failed attempt, from what libcurl got done. */
enum upstream_stage
upstream_fail_stage(const struct upstream_facts *uf)
{
	CURLcode	 rc = uf->uf_rc;
	long		 code = uf->uf_connect_code;
	int		 verify, tls;

	/* Our write callback refused it: the upstream's doing, not ours. */
	if (uf->uf_refused)
		return (UST_REPLY);
	if (rc == CURLE_WRITE_ERROR || rc == CURLE_READ_ERROR ||
	    rc == CURLE_ABORTED_BY_CALLBACK || rc == CURLE_OUT_OF_MEMORY)
		return (UST_LOCAL);
	if (uf->uf_fds)
		return (UST_FDS);
	/* Our clocks run from the request on: it may have gone out. */
	if (uf->uf_sent || uf->uf_phase != UPH_CONNECT) {
		if (rc == CURLE_OPERATION_TIMEDOUT)
			return (uf->uf_phase == UPH_SEND ? UST_SEND_TIMEOUT :
			    uf->uf_phase == UPH_RECV ? UST_RECV_TIMEOUT :
			    UST_TIMEOUT);
		return ((rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
		    rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE) ?
		    UST_BROKEN : UST_UPSTREAM);
	}
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
upstream_fail_who(struct req *req, int who, char *buf, size_t len)
{
	const struct config	*cfg = req->req_cfg;
	const struct proxy	*px = &cfg->cfg_proxy[req->req_proxy];
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

/* Name the stage that failed and why, for a bot to read; its status. */
static int
upstream_fail_error(struct req *req, const struct upstream_facts *uf,
    enum upstream_stage st, char *desc, size_t len)
{
	const struct upstream_rule	*ur = &upstream_rules[st];
	char				 who[512], what[512], num[16];
	const char			*why = upstream_fail_why(req, uf->uf_rc);

	if (st == UST_PROXY_ANSWER) {
		snprintf(num, sizeof(num), "%ld", uf->uf_connect_code);
		why = num;
	} else if (st == UST_REPLY) {
		why = req->req_up_bad;
	} else if (st == UST_SOCKS_REPLY) {
		why = upstream_fail_socks_reply(uf->uf_pxcode);
	}
	snprintf(desc, len, ur->ur_fmt, upstream_fail_who(req, ur->ur_who, who,
	    sizeof(who)), why, upstream_fail_who(req, ur->ur_what, what,
	    sizeof(what)));
	if (uf->uf_rc == CURLE_OPERATION_TIMEDOUT)
		return (504);
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
upstream_fail_timeout(struct req *req, const struct upstream_facts *uf,
    enum upstream_stage st, char *desc, size_t len)
{
	const struct upstream_rule	*ur = &upstream_rules[st];
	const char			*fmt = ur->ur_fmt, *whom;
	char				 who[512], via[600], clock[384];

	whom = upstream_fail_who(req, ur->ur_who, who, sizeof(who));
	upstream_fail_clock(uf, clock, sizeof(clock));
	/* CONNECT answered: it was the TLS handshake through the tunnel. */
	if (st == UST_PROXY_TIMEOUT && uf->uf_connect_code >= 200 &&
	    uf->uf_connect_code <= 299) {
		snprintf(via, sizeof(via), "%s through %s",
		    req->req_cfg->cfg_upstream_host, who);
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
	return (retry == RETRY_ANY || (retry == RETRY_READONLY &&
	    req->req_route.rt_readonly && req->req_replay != NULL));
}

/*
 * Count a finished attempt for or against its proxy; for a failure, the
 * bot's status and req_errdesc.  A /readyz probe is judged the same way.
 */
int
upstream_fail_judge(struct req *req, CURLcode rc, upstream_facts_fn more,
    enum upstream_stage *st)
{
	struct upstream_facts	 uf;
	int			 status;

	if (rc == CURLE_OK) {
		failover_ok(req->req_cfg, req->req_proxy);
		return (200);
	}
	upstream_fail_facts(req, rc, more, &uf);
	*st = upstream_fail_stage(&uf);
	if (upstream_rules[*st].ur_clock)
		status = upstream_fail_timeout(req, &uf, *st, req->req_errdesc,
		    sizeof(req->req_errdesc));
	else
		status = upstream_fail_error(req, &uf, *st, req->req_errdesc,
		    sizeof(req->req_errdesc));
	if (*st == UST_PROXY_ANSWER)
		proxyauth_hint(req->req_cfg, req->req_easy,
		    uf.uf_connect_code, req->req_errdesc,
		    sizeof(req->req_errdesc));
	if (upstream_rules[*st].ur_metric >= 0 && !req->req_probe)
		metrics_error(upstream_rules[*st].ur_metric);
	if (upstream_rules[*st].ur_proxy &&
	    uf.uf_scheme != PROXY_NONE)
		failover_fail(req->req_cfg, req->req_proxy, req->req_errdesc);
	return (status);
}


/* libcurl's own words for a failure, or its generic ones. */
const char *
upstream_fail_why(struct req *req, CURLcode rc)
{
	return (*req->req_errbuf != '\0' ? req->req_errbuf :
	    curl_easy_strerror(rc));
}
