/* SPDX-License-Identifier: ISC */
/*
 * proxy_parse() and proxy_from_env(): a table of URLs and what they must
 * become, or the error they must give.
 */
#include <string.h>

#include "conf.h"
#include "proxy.h"
#include "tap.h"

struct proxy_case {
	const char	*pc_in;
	int		 pc_scheme;	/* -1: expect an error */
	const char	*pc_url;	/* or the error substring */
	int		 pc_port;
	const char	*pc_user;
	const char	*pc_pass;
};

#define PERR(in, sub)	{ (in), -1, (sub), 0, NULL, NULL }

static const struct proxy_case cases[] = {
	{ "http://proxy.example:3128", PROXY_HTTP,
	    "http://proxy.example:3128", 3128, NULL, NULL },
	{ "http://proxy.example", PROXY_HTTP,
	    "http://proxy.example:1080", 1080, NULL, NULL },
	{ "http://proxy.example/", PROXY_HTTP,
	    "http://proxy.example:1080", 1080, NULL, NULL },
	{ "http://proxy.example:", PROXY_HTTP,
	    "http://proxy.example:1080", 1080, NULL, NULL },
	{ "HTTP://Proxy.Example:8080", PROXY_HTTP,
	    "http://Proxy.Example:8080", 8080, NULL, NULL },
	{ "https://p:8443", PROXY_HTTPS, "https://p:8443", 8443,
	    NULL, NULL },
	{ "https://p", PROXY_HTTPS, "https://p:443", 443, NULL, NULL },
	{ "socks5://127.0.0.1:9050", PROXY_SOCKS5,
	    "socks5://127.0.0.1:9050", 9050, NULL, NULL },
	{ "socks5h://h", PROXY_SOCKS5H, "socks5h://h:1080", 1080,
	    NULL, NULL },
	{ "SOCKS5H://h:1", PROXY_SOCKS5H, "socks5h://h:1", 1, NULL, NULL },
	{ "socks4a://h:65535", PROXY_SOCKS4A, "socks4a://h:65535", 65535,
	    NULL, NULL },
	{ "http://[::1]:3128", PROXY_HTTP, "http://[::1]:3128", 3128,
	    NULL, NULL },
	{ "socks5h://[2001:db8::1]", PROXY_SOCKS5H,
	    "socks5h://[2001:db8::1]:1080", 1080, NULL, NULL },
	{ "http://user:pass@h:1", PROXY_HTTP, "http://h:1", 1,
	    "user", "pass" },
	{ "http://us%40er:p%3Ass@h:1", PROXY_HTTP, "http://h:1", 1,
	    "us@er", "p:ss" },
	{ "http://user@h:1", PROXY_HTTP, "http://h:1", 1, "user", NULL },
	{ "http://user:@h:1", PROXY_HTTP, "http://h:1", 1, "user", NULL },
	{ "socks5://u:p%20w@h", PROXY_SOCKS5, "socks5://h:1080", 1080,
	    "u", "p w" },
	{ "direct", PROXY_NONE, NULL, 0, NULL, NULL },
	{ "DIRECT", PROXY_NONE, NULL, 0, NULL, NULL },

	PERR("", "empty"),
	PERR("127.0.0.1:3128", "needs a scheme, e.g. http://host:3128"),
	PERR("proxy.example:3128", "needs a scheme"),
	PERR("u:secretpw@proxy.example:3128", "needs a scheme"),
	PERR("://h:1", "needs a scheme"),
	PERR("1http://h:1", "needs a scheme"),
	PERR("ftp://h:21", "unsupported proxy scheme \"ftp\" (use http, "
	    "https, socks5, socks5h or socks4a)"),
	PERR("socks4://h:1080", "unsupported proxy scheme \"socks4\""),
	PERR("socks://h:1080", "unsupported proxy scheme \"socks\""),
	PERR("FTP://u:secretpw@h", "unsupported proxy scheme \"FTP\""),
	PERR("http://", "bad proxy URL"),
	PERR("http:///h", "no host"),
	PERR("http://u:secretpw@", "bad proxy URL"),
	PERR("http://h:0", "port must be 1..65535"),
	PERR("http://h:65536", "bad proxy URL"),
	PERR("http://h:99999999999", "bad proxy URL"),
	PERR("http://h:x", "bad proxy URL"),
	PERR("http://h/path", "must not have a path, query or fragment"),
	PERR("http://h:1/?", "must not have a path"),
	PERR("http://h:1?a=b", "must not have a path"),
	PERR("http://h:1#frag", "must not have a path"),
	PERR("http://u:secretpw@h:1/x", "must not have a path"),
	PERR("http://u:secret%00pw@h:1", "percent-encoding"),
	PERR("http://h h:1", "bad proxy URL"),
	PERR("http://[fe80::1%25eth0]:1", "zone"),

	/* Issue 19: a raw reserved character in the credentials. */
	PERR("http://user:se#cret@h:3128", "a '#' in the proxy URL's user "
	    "name or password must be percent-encoded as %23 (e.g. "
	    "http://user:pa%23ss@host:3128), or give the password in "
	    "proxy_password"),
	PERR("http://user:se@cret@h:3128", "a '@' in the proxy URL's user "
	    "name or password must be percent-encoded as %40"),
	PERR("socks5h://user:se/cret@h:1080", "a '/' in the proxy URL's "
	    "user name or password must be percent-encoded as %2F"),
	PERR("https://user:se?cret@h:443", "a '?' in the proxy URL's "
	    "user name or password must be percent-encoded as %3F"),
	PERR("http://us#er:secret@h:3128", "a '#' in the proxy URL's user "
	    "name or password"),
	PERR("http://user:se cret@h:3128", "a space or control character "
	    "in the proxy URL's user name or password must be "
	    "percent-encoded (a space as %20)"),
	PERR("http://user:se\tcret@h:3128", "a space or control character"),
	PERR("http://user:#@secret@h:3128", "a '#' in the proxy URL's"),
	{ "http://user:se%23cr%40et@h:3128", PROXY_HTTP, "http://h:3128",
	    3128, "user", "se#cr@et" },
	{ "http://user:se%2Fc%3Fr%20et@h:3128", PROXY_HTTP, "http://h:3128",
	    3128, "user", "se/c?r et" },
	{ "http://user:{se!cr$et}@h:3128", PROXY_HTTP, "http://h:3128",
	    3128, "user", "{se!cr$et}" },
};

static void
check(const struct proxy_case *c)
{
	struct proxy	 px;
	char		 err[TGS_ERRLEN] = "";
	int		 rv;

	memset(&px, 0x5a, sizeof(px));
	rv = proxy_parse(&px, c->pc_in, err, sizeof(err));
	if (c->pc_scheme == -1) {
		is_int(rv, -1, "\"%s\": fails", c->pc_in);
		like(err, c->pc_url, "\"%s\": error", c->pc_in);
		unlike(err, "secret", "\"%s\": error hides the password",
		    c->pc_in);
		ok(px.px_url == NULL && px.px_pass == NULL &&
		    px.px_scheme == PROXY_NONE, "\"%s\": px cleared", c->pc_in);
		return;
	}
	if (!is_int(rv, 0, "\"%s\": parses", c->pc_in)) {
		diag("error: %s", err);
		return;
	}
	is_int(px.px_scheme, c->pc_scheme, "\"%s\": scheme", c->pc_in);
	is_str(px.px_url, c->pc_url, "\"%s\": url", c->pc_in);
	is_int(px.px_port, c->pc_port, "\"%s\": port", c->pc_in);
	is_str(px.px_user, c->pc_user, "\"%s\": user", c->pc_in);
	is_str(px.px_pass, c->pc_pass, "\"%s\": pass", c->pc_in);
	is_int(proxy_is_socks(&px), c->pc_scheme == PROXY_SOCKS5 ||
	    c->pc_scheme == PROXY_SOCKS5H || c->pc_scheme == PROXY_SOCKS4A,
	    "\"%s\": is_socks", c->pc_in);
	proxy_clear(&px);
	ok(px.px_url == NULL && px.px_scheme == 0,
	    "\"%s\": cleared", c->pc_in);
}

struct env_case {
	const char	*ec_name;
	char		*ec_env[6];
	int		 ec_rv;
	int		 ec_scheme;
	const char	*ec_url;	/* or the error substring */
};

static const struct env_case env_cases[] = {
	{ "empty environment", { NULL }, 0, PROXY_NONE, NULL },
	{ "unrelated", { "PATH=/bin", "http_proxy=http://h:1", NULL },
	    0, PROXY_NONE, NULL },
	{ "HTTPS_PROXY", { "HTTPS_PROXY=http://h:3128", NULL },
	    0, PROXY_HTTP, "http://h:3128" },
	{ "https_proxy first", { "HTTPS_PROXY=http://b:2",
	    "https_proxy=http://a:1", NULL }, 0, PROXY_HTTP, "http://a:1" },
	{ "empty https_proxy skipped", { "https_proxy=",
	    "HTTPS_PROXY=http://b:2", NULL }, 0, PROXY_HTTP, "http://b:2" },
	{ "HTTPS_PROXY before all_proxy", { "all_proxy=socks5://c:3",
	    "HTTPS_PROXY=http://b:2", NULL }, 0, PROXY_HTTP, "http://b:2" },
	{ "all_proxy before ALL_PROXY", { "ALL_PROXY=socks5://d:4",
	    "all_proxy=socks5h://c:3", NULL }, 0, PROXY_SOCKS5H,
	    "socks5h://c:3" },
	{ "ALL_PROXY", { "ALL_PROXY=socks5://d:4", NULL }, 0, PROXY_SOCKS5,
	    "socks5://d:4" },
	{ "prefix is not a match", { "HTTPS_PROXYX=http://x:1", NULL },
	    0, PROXY_NONE, NULL },
	{ "bad HTTPS_PROXY", { "HTTPS_PROXY=ftp://u:secretpw@h", NULL }, -1,
	    0, "HTTPS_PROXY: unsupported proxy scheme \"ftp\"" },
	{ "bad all_proxy", { "all_proxy=h:3128", NULL }, -1, 0,
	    "all_proxy: proxy URL needs a scheme" },
	{ "raw '#' in https_proxy",
	    { "https_proxy=http://u:se#cretpw@h:3128", NULL }, -1, 0,
	    "https_proxy: a '#' in the proxy URL's user name or password "
	    "must be percent-encoded as %23" },
	{ "raw '@' in ALL_PROXY",
	    { "ALL_PROXY=socks5h://u:se@cretpw@h:1080", NULL }, -1, 0,
	    "ALL_PROXY: a '@' in the proxy URL's user name or password "
	    "must be percent-encoded as %40" },
};

static void
check_env(const struct env_case *c)
{
	struct proxy	 px;
	char		 err[TGS_ERRLEN] = "";
	int		 rv;

	rv = proxy_from_env(&px, (char **)c->ec_env, err, sizeof(err));
	is_int(rv, c->ec_rv, "env %s: rc", c->ec_name);
	if (rv == -1) {
		like(err, c->ec_url, "env %s: error", c->ec_name);
		unlike(err, "secret", "env %s: error hides the password",
		    c->ec_name);
		return;
	}
	is_int(px.px_scheme, c->ec_scheme, "env %s: scheme", c->ec_name);
	is_str(px.px_url, c->ec_url, "env %s: url", c->ec_name);
	proxy_clear(&px);
}

int
main(void)
{
	struct proxy	 px;
	char		 err[TGS_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
	for (i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++)
		check_env(&env_cases[i]);

	is_int(proxy_from_env(&px, NULL, err, sizeof(err)), 0,
	    "env NULL: no proxy");
	is_int(px.px_scheme, PROXY_NONE, "env NULL: direct");

	/* A tiny error buffer truncates safely. */
	is_int(proxy_parse(&px, "ftp://h", err, 8), -1, "tiny err buffer");
	is_int((long long)strlen(err), 7, "tiny err buffer: truncated");
	return (done_testing());
}
