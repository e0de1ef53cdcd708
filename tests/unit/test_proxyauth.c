/* SPDX-License-Identifier: ISC */
/*
 * proxyauth_userpwd(): ":" exactly when libcurl needs it for Negotiate
 * from the ticket cache; proxyauth_hint(): the words a 407 under
 * Negotiate gets, and none for other answers or methods.
 */
#include <string.h>

#include <curl/curl.h>

#include "conf.h"
#include "proxy.h"
#include "proxyauth.h"
#include "tap.h"

static const struct {
	const char	*pc_name;
	int		 pc_scheme;
	const char	*pc_user;
	long		 pc_auth;
	const char	*pc_want;
} cases[] = {
	{ "negotiate, no user", PROXY_HTTP, NULL, CURLAUTH_NEGOTIATE, ":" },
	{ "negotiate over https://", PROXY_HTTPS, NULL, CURLAUTH_NEGOTIATE,
	    ":" },
	{ "any, no user", PROXY_HTTP, NULL, CURLAUTH_ANY, ":" },
	{ "negotiate,basic, no user", PROXY_HTTP, NULL,
	    CURLAUTH_NEGOTIATE | CURLAUTH_BASIC, ":" },
	{ "negotiate with a user: the user goes", PROXY_HTTP, "alice",
	    CURLAUTH_NEGOTIATE, NULL },
	{ "basic, no user", PROXY_HTTP, NULL, CURLAUTH_BASIC, NULL },
	{ "ntlm, no user", PROXY_HTTP, NULL, CURLAUTH_NTLM, NULL },
	{ "direct", PROXY_NONE, NULL, CURLAUTH_NEGOTIATE, NULL },
	{ "socks5h", PROXY_SOCKS5H, NULL, CURLAUTH_NEGOTIATE, NULL },
};

int
main(void)
{
	struct config	 cfg;
	struct proxy	 px;
	char		 desc[512];
	const char	*got;
	size_t		 i;

	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&px, 0, sizeof(px));
		px.px_scheme = cases[i].pc_scheme;
		px.px_user = (char *)cases[i].pc_user;
		cfg.cfg_proxy_auth = cases[i].pc_auth;
		got = proxyauth_userpwd(&cfg, &px);
		ok(got == cases[i].pc_want || (got != NULL &&
		    cases[i].pc_want != NULL && strcmp(got,
		    cases[i].pc_want) == 0), "%s: %s", cases[i].pc_name,
		    got ? got : "none");
	}

	cfg.cfg_proxy_auth = CURLAUTH_NEGOTIATE;
	strcpy(desc, "proxy http://p:3128 answered 407 to CONNECT for "
	    "upstream api.telegram.org");
	proxyauth_hint(&cfg, 0, 407, desc, sizeof(desc));
	like(desc, "answered 407 to CONNECT for upstream api.telegram.org: "
	    "the proxy asked for Kerberos (Negotiate) and no valid ticket "
	    "was found: run kinit", "407 under negotiate says kinit");
	like(desc, "KRB5CCNAME", "and names KRB5CCNAME");
	strcpy(desc, "x answered 403");
	proxyauth_hint(&cfg, 0, 403, desc, sizeof(desc));
	is_str(desc, "x answered 403", "a 403 gets no Kerberos words");
	cfg.cfg_proxy_auth = CURLAUTH_BASIC;
	strcpy(desc, "x answered 407");
	proxyauth_hint(&cfg, 0, 407, desc, sizeof(desc));
	is_str(desc, "x answered 407", "a 407 under basic gets none");
	cfg.cfg_proxy_auth = CURLAUTH_NEGOTIATE;
	memset(desc, 'x', 20);
	desc[20] = '\0';
	proxyauth_hint(&cfg, 0, 407, desc, 21);
	is_int((int)strlen(desc), 20, "a full buffer stays as it is");
	return (done_testing());
}
