/* SPDX-License-Identifier: ISC */
/*
 * upstream_fail_stage(): a table of what libcurl got done before a
 * failure making the tunnel, and the stage that must be named for it (a
 * stage the failing layer named stands); upstream_fail_clock(): the words
 * of a timeout, from the phase and the bytes each way.
 */
#include <string.h>

#include <curl/curl.h>

#include "proxy.h"
#include "tap.h"
#include "upstream_fail.h"

struct fail_case {
	const char		*fc_name;
	struct upstream_facts	 fc_facts;
	enum upstream_stage	 fc_stage;
};

#define FACTS(rc, code, fds, scheme) \
	{ .uf_rc = (rc), .uf_connect_code = (code), .uf_fds = (fds), \
	    .uf_scheme = (scheme) }
/* A SOCKS step's failure, with CURLINFO_PROXY_ERROR's code. */
#define SOCKS(scheme, pxcode) \
	{ .uf_rc = CURLE_PROXY, .uf_scheme = (scheme), .uf_pxcode = (pxcode) }
/* A stage our TLS or framer named: it stands. */
#define NAMED(stage, scheme) \
	{ .uf_stage = (stage), .uf_tunnel = 1, .uf_scheme = (scheme) }

static const struct fail_case cases[] = {
	{ "out of memory", FACTS(CURLE_OUT_OF_MEMORY, 0, 0, PROXY_NONE), UST_LOCAL },
	{ "out of descriptors", FACTS(CURLE_COULDNT_CONNECT, 0, 1, PROXY_HTTP), UST_FDS },
	{ "proxy refused TCP", FACTS(CURLE_COULDNT_CONNECT, 0, 0, PROXY_HTTP), UST_PROXY_CONNECT },
	{ "HTTP proxy name unknown", FACTS(CURLE_COULDNT_RESOLVE_PROXY, 0, 0, PROXY_HTTP), UST_PROXY_DNS },
	/* libcurl 7.88 reports a SOCKS proxy's unknown name as a host's. */
	{ "SOCKS proxy name unknown", FACTS(CURLE_COULDNT_RESOLVE_HOST, 0, 0, PROXY_SOCKS5H), UST_PROXY_DNS },
	{ "socks5://: upstream name unknown here", SOCKS(PROXY_SOCKS5,
	    CURLPX_RESOLVE_HOST), UST_SOCKS_DNS },
	{ "socks5h://: proxy answered host unreachable", SOCKS(PROXY_SOCKS5H,
	    CURLPX_REPLY_HOST_UNREACHABLE), UST_SOCKS_REPLY },
	{ "socks5h://: proxy answered general failure", SOCKS(PROXY_SOCKS5H,
	    CURLPX_REPLY_GENERAL_SERVER_FAILURE), UST_SOCKS_REPLY },
	{ "socks5h://: proxy answered connection refused",
	    SOCKS(PROXY_SOCKS5H, CURLPX_REPLY_CONNECTION_REFUSED),
	    UST_SOCKS_REPLY },
	{ "socks5h://: proxy answered not allowed", SOCKS(PROXY_SOCKS5H,
	    CURLPX_REPLY_NOT_ALLOWED), UST_SOCKS_REPLY },
	{ "socks4a://: request rejected (91)", SOCKS(PROXY_SOCKS4A,
	    CURLPX_REQUEST_FAILED), UST_SOCKS_REPLY },
	{ "SOCKS: credentials refused", SOCKS(PROXY_SOCKS5,
	    CURLPX_USER_REJECTED), UST_PROXY_SOCKS },
	{ "SOCKS: proxy closed the handshake", SOCKS(PROXY_SOCKS4A,
	    CURLPX_CLOSED), UST_PROXY_SOCKS },
	/* libcurl 7.88 ends a refused CONNECT with CURLE_RECV_ERROR. */
	{ "CONNECT answered 407", FACTS(CURLE_RECV_ERROR, 407, 0, PROXY_HTTP), UST_PROXY_ANSWER },
	{ "CONNECT answered 503", FACTS(CURLE_RECV_ERROR, 503, 0, PROXY_HTTP), UST_PROXY_ANSWER },
	{ "TLS with an https:// proxy", FACTS(CURLE_SSL_CONNECT_ERROR, 0, 0, PROXY_HTTPS), UST_PROXY_TLS },
	{ "TLS to upstream through an https:// proxy",
	    FACTS(CURLE_SSL_CONNECT_ERROR, 200, 0, PROXY_HTTPS),
	    UST_TLS },
	{ "SOCKS failed, no code", FACTS(CURLE_PROXY, 0, 0, PROXY_SOCKS5), UST_PROXY_SOCKS },
	{ "https:// proxy certificate refused",
	    FACTS(CURLE_PEER_FAILED_VERIFICATION, 0, 0, PROXY_HTTPS),
	    UST_PROXY_TLS },
	{ "upstream certificate through a proxy",
	    FACTS(CURLE_PEER_FAILED_VERIFICATION, 200, 0, PROXY_HTTP),
	    UST_TLS_VERIFY },
	{ "tunnel stalled", FACTS(CURLE_OPERATION_TIMEDOUT, 0, 0, PROXY_HTTP), UST_PROXY_TIMEOUT },
	{ "TLS through the tunnel stalled", FACTS(CURLE_OPERATION_TIMEDOUT, 200, 0, PROXY_HTTP), UST_PROXY_TIMEOUT },
	{ "SOCKS stalled", FACTS(CURLE_OPERATION_TIMEDOUT, 0, 0, PROXY_SOCKS5H), UST_PROXY_TIMEOUT },
	{ "tunnel closed", FACTS(CURLE_RECV_ERROR, 0, 0, PROXY_HTTP),
	    UST_TUNNEL },
	{ "direct: no TCP", FACTS(CURLE_COULDNT_CONNECT, 0, 0, PROXY_NONE), UST_CONNECT },
	{ "direct: upstream name unknown", FACTS(CURLE_COULDNT_RESOLVE_HOST, 0, 0, PROXY_NONE), UST_DNS },
	{ "direct: connect timeout", FACTS(CURLE_OPERATION_TIMEDOUT, 0, 0, PROXY_NONE), UST_CONNECT_TIMEOUT },
	{ "direct: certificate", FACTS(CURLE_PEER_FAILED_VERIFICATION, 0, 0, PROXY_NONE), UST_TLS_VERIFY },
	{ "direct: handshake", FACTS(CURLE_SSL_CONNECT_ERROR, 0, 0, PROXY_NONE), UST_TLS },
	/* Stages named by our TLS (conn.c) and the framer stand as named. */
	{ "our TLS: a certificate refused", NAMED(UST_TLS_VERIFY,
	    PROXY_HTTP), UST_TLS_VERIFY },
	{ "our TLS: a handshake failed", NAMED(UST_TLS, PROXY_NONE),
	    UST_TLS },
	{ "a reply the framer refused", NAMED(UST_REPLY, PROXY_HTTP),
	    UST_REPLY },
	{ "a spare closed before the request went", NAMED(UST_UNSENT,
	    PROXY_SOCKS5H), UST_UNSENT },
	{ "sent, then the connection broke", NAMED(UST_BROKEN, PROXY_NONE),
	    UST_BROKEN },
	{ "body stopped moving", NAMED(UST_SEND_TIMEOUT, PROXY_HTTP),
	    UST_SEND_TIMEOUT },
	{ "no answer in time", NAMED(UST_TIMEOUT, PROXY_SOCKS5),
	    UST_TIMEOUT },
	{ "answer stopped moving", NAMED(UST_RECV_TIMEOUT, PROXY_NONE),
	    UST_RECV_TIMEOUT },
	/* libcurl's CONNECT_ONLY ends with its own code: the tunnel's. */
	{ "a named stage over libcurl's code", { .uf_rc =
	    CURLE_COULDNT_CONNECT, .uf_stage = UST_LOCAL }, UST_LOCAL },
};

#define MB	(1024 * 1024)

struct clock_case {
	const char		*cc_name;
	struct upstream_facts	 cc_facts;
	const char		*cc_want;
};

#define WORDS(phase, limit, lp, up, upt, down, downt) \
	{ .uf_scheme = PROXY_HTTP, .uf_phase = (phase), .uf_limit_ms = (limit), \
	    .uf_longpoll = (lp), .uf_up = (up), .uf_up_total = (upt), \
	    .uf_down = (down), .uf_down_total = (downt) }

static const struct clock_case clock_cases[] = {
	{ "the issue's upload", WORDS(UPH_SEND, 60000, 0, 35 * MB, 40 * MB, 0,
	    -1), "no progress for 60 s (stall_timeout) after sending 35.0 MB "
	    "of 40.0 MB, 0 bytes received" },
	{ "a chunked upload", WORDS(UPH_SEND, 60000, 0, 1536, -1, 0, -1),
	    "no progress for 60 s (stall_timeout) after sending 1.5 KB, "
	    "0 bytes received" },
	{ "all sent, no answer", WORDS(UPH_WAIT, 120000, 0, 40 * MB, 40 * MB,
	    0, -1), "no answer in 120 s (upstream_timeout) after sending "
	    "40.0 MB of 40.0 MB, 0 bytes received" },
	{ "a long poll", WORDS(UPH_WAIT, 110000, 1, 0, 0, 0, -1),
	    "no answer in 110 s (getUpdates timeout + poll_timeout) after "
	    "sending the request (no body), 0 bytes received" },
	{ "a download", WORDS(UPH_RECV, 2500, 0, 0, 0, 5 * MB + MB / 2,
	    20 * MB), "no progress for 2500 ms (stall_timeout) after sending "
	    "the request (no body), 5.5 MB of 20.0 MB received" },
	{ "a chunked answer", WORDS(UPH_RECV, 60000, 0, 1, 1, 1, -1),
	    "no progress for 60 s (stall_timeout) after sending 1 byte of "
	    "1 byte, 1 byte received" },
	{ "connecting", WORDS(UPH_CONNECT, 30000, 0, 0, 5 * MB, 0, -1),
	    "not connected in 30 s (connect_timeout), nothing sent or "
	    "received" },
	/* The TLS handshake's own clock, learned through the proxy. */
	{ "a handshake, 4 x learned", { .uf_scheme = PROXY_HTTP,
	    .uf_phase = UPH_CONNECT, .uf_limit_ms = 2000,
	    .uf_tls_learned_ms = 500 }, "no progress in 2 s (4 x the 500 ms "
	    "a TLS handshake through it takes, 1 s at least)" },
	{ "a handshake, the floor", { .uf_scheme = PROXY_HTTP,
	    .uf_phase = UPH_CONNECT, .uf_limit_ms = 1000,
	    .uf_tls_learned_ms = 3 }, "no progress in 1 s (4 x the 3 ms a "
	    "TLS handshake through it takes, 1 s at least)" },
	{ "a direct handshake", { .uf_scheme = PROXY_NONE,
	    .uf_phase = UPH_CONNECT, .uf_limit_ms = 1200,
	    .uf_tls_learned_ms = 300 }, "no progress in 1200 ms (4 x the "
	    "300 ms a TLS handshake with it takes, 1 s at least)" },
};

int
main(void)
{
	char	 buf[512];
	size_t	 i, ncases = sizeof(cases) / sizeof(cases[0]);
	size_t	 nclock = sizeof(clock_cases) / sizeof(clock_cases[0]);

	plan(ncases + nclock + 1);
	for (i = 0; i < ncases; i++)
		is_int(upstream_fail_stage(&cases[i].fc_facts),
		    cases[i].fc_stage, "%s", cases[i].fc_name);
	for (i = 0; i < nclock; i++) {
		upstream_fail_clock(&clock_cases[i].cc_facts, buf,
		    sizeof(buf));
		is_str(buf, clock_cases[i].cc_want, "words: %s",
		    clock_cases[i].cc_name);
	}
	is_int(upstream_fail_clock(&clock_cases[0].cc_facts, buf, 20), -1,
	    "words: cut to the buffer, and said so");
	return (done_testing());
}
