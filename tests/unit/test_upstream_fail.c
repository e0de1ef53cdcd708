/* SPDX-License-Identifier: ISC */
/*
 * upstream_fail_stage(): a table of what libcurl got done before a
 * failure, and the stage that must be named for it; upstream_fail_clock():
 * the words of a timeout, from the phase and the bytes each way.
 */
#include <string.h>

#include <curl/curl.h>

#include "proxy.h"
#include "tap.h"
#include "upstream.h"

struct fail_case {
	const char		*fc_name;
	struct upstream_facts	 fc_facts;
	enum upstream_stage	 fc_stage;
};

#define FACTS(rc, code, sent, fds, refused, scheme) \
	{ (rc), (code), (sent), (fds), (refused), (scheme), CURLPX_OK, 0, 0, \
	    0, 0, 0, 0, 0 }
/* A SOCKS step's failure, with CURLINFO_PROXY_ERROR's code. */
#define SOCKS(scheme, pxcode) \
	{ CURLE_PROXY, 0, 0, 0, 0, (scheme), (pxcode), 0, 0, 0, 0, 0, 0, 0 }
/* Timed out by our clocks, in a phase after the connect. */
#define CLOCK(phase, sent, scheme) \
	{ CURLE_OPERATION_TIMEDOUT, 200, (sent), 0, 0, (scheme), CURLPX_OK, \
	    (phase), 0, 0, 0, 0, 0, 0 }

static const struct fail_case cases[] = {
	{ "a reply our callback refused", FACTS(CURLE_WRITE_ERROR, 200, 1, 0,
	    1, PROXY_HTTP), UST_REPLY },
	{ "the bot left mid-write", FACTS(CURLE_WRITE_ERROR, 200, 1, 0, 0,
	    PROXY_HTTP), UST_LOCAL },
	{ "out of memory", FACTS(CURLE_OUT_OF_MEMORY, 0, 0, 0, 0,
	    PROXY_NONE), UST_LOCAL },
	{ "out of descriptors", FACTS(CURLE_COULDNT_CONNECT, 0, 0, 1, 0,
	    PROXY_HTTP), UST_FDS },
	{ "proxy refused TCP", FACTS(CURLE_COULDNT_CONNECT, 0, 0, 0, 0,
	    PROXY_HTTP), UST_PROXY_CONNECT },
	{ "HTTP proxy name unknown", FACTS(CURLE_COULDNT_RESOLVE_PROXY, 0, 0,
	    0, 0, PROXY_HTTP), UST_PROXY_DNS },
	/* libcurl 7.88 reports a SOCKS proxy's unknown name as a host's. */
	{ "SOCKS proxy name unknown", FACTS(CURLE_COULDNT_RESOLVE_HOST, 0, 0,
	    0, 0, PROXY_SOCKS5H), UST_PROXY_DNS },
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
	{ "CONNECT answered 407", FACTS(CURLE_RECV_ERROR, 407, 0, 0, 0,
	    PROXY_HTTP), UST_PROXY_ANSWER },
	{ "CONNECT answered 503", FACTS(CURLE_RECV_ERROR, 503, 0, 0, 0,
	    PROXY_HTTP), UST_PROXY_ANSWER },
	{ "TLS with an https:// proxy", FACTS(CURLE_SSL_CONNECT_ERROR, 0, 0,
	    0, 0, PROXY_HTTPS), UST_PROXY_TLS },
	{ "TLS to upstream through an https:// proxy",
	    FACTS(CURLE_SSL_CONNECT_ERROR, 200, 0, 0, 0, PROXY_HTTPS),
	    UST_TLS },
	{ "SOCKS failed, no code", FACTS(CURLE_PROXY, 0, 0, 0, 0,
	    PROXY_SOCKS5), UST_PROXY_SOCKS },
	{ "https:// proxy certificate refused",
	    FACTS(CURLE_PEER_FAILED_VERIFICATION, 0, 0, 0, 0, PROXY_HTTPS),
	    UST_PROXY_TLS },
	{ "upstream certificate through a proxy",
	    FACTS(CURLE_PEER_FAILED_VERIFICATION, 200, 0, 0, 0, PROXY_HTTP),
	    UST_TLS_VERIFY },
	{ "tunnel stalled", FACTS(CURLE_OPERATION_TIMEDOUT, 0, 0, 0, 0,
	    PROXY_HTTP), UST_PROXY_TIMEOUT },
	{ "TLS through the tunnel stalled", FACTS(CURLE_OPERATION_TIMEDOUT,
	    200, 0, 0, 0, PROXY_HTTP), UST_PROXY_TIMEOUT },
	{ "SOCKS stalled", FACTS(CURLE_OPERATION_TIMEDOUT, 0, 0, 0, 0,
	    PROXY_SOCKS5H), UST_PROXY_TIMEOUT },
	{ "tunnel closed", FACTS(CURLE_RECV_ERROR, 0, 0, 0, 0, PROXY_HTTP),
	    UST_TUNNEL },
	{ "direct: no TCP", FACTS(CURLE_COULDNT_CONNECT, 0, 0, 0, 0,
	    PROXY_NONE), UST_CONNECT },
	{ "direct: upstream name unknown", FACTS(CURLE_COULDNT_RESOLVE_HOST,
	    0, 0, 0, 0, PROXY_NONE), UST_DNS },
	{ "direct: connect timeout", FACTS(CURLE_OPERATION_TIMEDOUT, 0, 0, 0,
	    0, PROXY_NONE), UST_CONNECT_TIMEOUT },
	{ "direct: certificate", FACTS(CURLE_PEER_FAILED_VERIFICATION, 0, 0,
	    0, 0, PROXY_NONE), UST_TLS_VERIFY },
	{ "direct: handshake", FACTS(CURLE_SSL_CONNECT_ERROR, 0, 0, 0, 0,
	    PROXY_NONE), UST_TLS },
	{ "sent, then timed out", FACTS(CURLE_OPERATION_TIMEDOUT, 200, 1, 0,
	    0, PROXY_HTTP), UST_TIMEOUT },
	{ "body stopped moving", CLOCK(UPH_SEND, 1, PROXY_HTTP),
	    UST_SEND_TIMEOUT },
	{ "body stopped before pretransfer showed", CLOCK(UPH_SEND, 0,
	    PROXY_NONE), UST_SEND_TIMEOUT },
	{ "no answer in time", CLOCK(UPH_WAIT, 1, PROXY_SOCKS5),
	    UST_TIMEOUT },
	{ "answer stopped moving", CLOCK(UPH_RECV, 1, PROXY_NONE),
	    UST_RECV_TIMEOUT },
	{ "sent, then nothing", FACTS(CURLE_GOT_NOTHING, 200, 1, 0, 0,
	    PROXY_HTTP), UST_BROKEN },
	{ "sent, then reset", FACTS(CURLE_RECV_ERROR, 0, 1, 0, 0,
	    PROXY_NONE), UST_BROKEN },
	{ "sent, reply cut short", FACTS(CURLE_PARTIAL_FILE, 200, 1, 0, 0,
	    PROXY_SOCKS5), UST_BROKEN },
	{ "sent, other failure", FACTS(CURLE_WEIRD_SERVER_REPLY, 200, 1, 0,
	    0, PROXY_HTTP), UST_UPSTREAM },
};

#define MB	(1024 * 1024)

struct clock_case {
	const char		*cc_name;
	struct upstream_facts	 cc_facts;
	const char		*cc_want;
};

#define WORDS(phase, limit, lp, up, upt, down, downt) \
	{ CURLE_OPERATION_TIMEDOUT, 200, 1, 0, 0, PROXY_HTTP, CURLPX_OK, \
	    (phase), (limit), (lp), (up), (upt), (down), (downt) }

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
