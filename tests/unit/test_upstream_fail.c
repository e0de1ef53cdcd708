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
	{ (rc), (code), (sent), (fds), (refused), (scheme) }

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
	{ "proxy name unknown", FACTS(CURLE_COULDNT_RESOLVE_PROXY, 0, 0, 0, 0,
	    PROXY_SOCKS5H), UST_PROXY_CONNECT },
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
	{ "SOCKS refused", FACTS(CURLE_PROXY, 0, 0, 0, 0, PROXY_SOCKS5),
	    UST_PROXY_SOCKS },
	{ "upstream certificate through a proxy",
	    FACTS(CURLE_PEER_FAILED_VERIFICATION, 200, 0, 0, 0, PROXY_HTTP),
	    UST_TLS_VERIFY },
	{ "tunnel stalled", FACTS(CURLE_OPERATION_TIMEDOUT, 0, 0, 0, 0,
	    PROXY_HTTP), UST_TUNNEL },
	{ "direct: no TCP", FACTS(CURLE_COULDNT_CONNECT, 0, 0, 0, 0,
	    PROXY_NONE), UST_CONNECT },
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
