/* SPDX-License-Identifier: ISC */
/*
 * upstream_fail_stage(): a table of what libcurl got done before a
 * failure, and the stage that must be named for it.
 */
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
	{ (rc), (code), (sent), (fds), (refused), (scheme), CURLPX_OK }
/* A SOCKS step's failure, with CURLINFO_PROXY_ERROR's code. */
#define SOCKS(scheme, pxcode) \
	{ CURLE_PROXY, 0, 0, 0, 0, (scheme), (pxcode) }

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
	    PROXY_HTTP), UST_TUNNEL },
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
	{ "sent, then nothing", FACTS(CURLE_GOT_NOTHING, 200, 1, 0, 0,
	    PROXY_HTTP), UST_BROKEN },
	{ "sent, then reset", FACTS(CURLE_RECV_ERROR, 0, 1, 0, 0,
	    PROXY_NONE), UST_BROKEN },
	{ "sent, reply cut short", FACTS(CURLE_PARTIAL_FILE, 200, 1, 0, 0,
	    PROXY_SOCKS5), UST_BROKEN },
	{ "sent, other failure", FACTS(CURLE_WEIRD_SERVER_REPLY, 200, 1, 0,
	    0, PROXY_HTTP), UST_UPSTREAM },
};

int
main(void)
{
	size_t	 i;

	plan(sizeof(cases) / sizeof(cases[0]));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(upstream_fail_stage(&cases[i].fc_facts),
		    cases[i].fc_stage, "%s", cases[i].fc_name);
	return (done_testing());
}
