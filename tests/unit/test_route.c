/* SPDX-License-Identifier: ISC */
/*
 * route_parse(): a table of request-targets and what they must become.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route.h"
#include "tap.h"

struct route_case {
	const char	*rc_target;
	int		 rc_rv;
	int		 rc_status;	/* when rc_rv == -1 */
	int		 rc_kind;
	const char	*rc_bot;
	const char	*rc_method;
	int		 rc_longpoll;
	const char	*rc_path;	/* rt_path, if not NULL */
	int		 rc_test;	/* /bot<token>/test/<method> */
};

#define M(t, bot, m, lp)	{ (t), 0, 0, ROUTE_METHOD, (bot), (m), (lp), NULL, 0 }
#define MP(t, bot, m, path)	{ (t), 0, 0, ROUTE_METHOD, (bot), (m), 0, (path), 0 }
#define F(t, bot, path)		{ (t), 0, 0, ROUTE_FILE, (bot), "file", 0, (path), 0 }
#define E(t, status)		{ (t), -1, (status), ROUTE_NONE, "", "", 0, NULL, 0 }
#define T(t, bot, m, lp, path)	{ (t), 0, 0, ROUTE_METHOD, (bot), (m), (lp), \
				    (path), 1 }

static const struct route_case cases[] = {
	M("/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe",
	    "123456", "getMe", 0),
	M("/bot1:a/getMe", "1", "getMe", 0),
	M("/bot1:a/sendMessage?chat_id=1&text=hi%20there",
	    "1", "sendMessage", 0),
	M("/bot1:a/getMe?", "1", "getMe", 0),
	M("/bot1:a/getMe?x=../../etc&y=%2F", "1", "getMe", 0),
	M("/bot1:a/get_me_2", "1", "get_me_2", 0),
	M("/bot1:a-b_C/getMe", "1", "getMe", 0),
	M("/bot42:x/getUpdates", "42", "getUpdates", 1),
	M("/bot42:x/getupdates", "42", "getupdates", 1),
	M("/bot42:x/GETUPDATES?timeout=50", "42", "GETUPDATES", 1),
	M("/bot42:x/getUpdate", "42", "getUpdate", 0),
	M("/bot42:x/getUpdatesX", "42", "getUpdatesX", 0),
	F("/file/bot123:AAH-x_y/photos/file_0.jpg?x=1", "123",
	    "/file/bot123:AAH-x_y/photos/file_0.jpg"),
	F("/file/bot1:a/a.b~c-d_e", "1", "/file/bot1:a/a.b~c-d_e"),
	F("/file/bot1%3Aa/documents/file_1.pdf", "1",
	    "/file/bot1:a/documents/file_1.pdf"),
	F("/file/bot1:a/.hidden", "1", "/file/bot1:a/.hidden"),
	F("/file/bot1:a/a/...b", "1", "/file/bot1:a/a/...b"),

	/* A file path goes upstream as sent, escapes and all (issue 12). */
	F("/file/bot1:a/animations/clip%20(1).mp4", "1",
	    "/file/bot1:a/animations/clip%20(1).mp4"),
	F("/file/bot1:a/documents/%D0%BE%D1%82%D1%87%D0%B5%D1%82.pdf", "1",
	    "/file/bot1:a/documents/%D0%BE%D1%82%D1%87%D0%B5%D1%82.pdf"),
	F("/file/bot1:a/documents/%d0%be.pdf", "1",
	    "/file/bot1:a/documents/%d0%be.pdf"),
	F("/file/bot1:a//var/lib/telegram-bot-api/1:a/documents/file_3.p12",
	    "1", "/file/bot1:a//var/lib/telegram-bot-api/1:a/documents/"
	    "file_3.p12"),
	F("/file/bot1%3Aa//var/lib/telegram-bot-api/1%3Aa/documents/f.p12?x=1",
	    "1", "/file/bot1:a//var/lib/telegram-bot-api/1%3Aa/documents/f.p12"),
	F("/file/bot1:a/a//b", "1", "/file/bot1:a/a//b"),
	F("/file/bot1:a/docs/", "1", "/file/bot1:a/docs/"),
	F("/file/bot1:a/a:b@c", "1", "/file/bot1:a/a:b@c"),
	F("/file/bot1:a/a+b=c,d;e!$&'*", "1", "/file/bot1:a/a+b=c,d;e!$&'*"),
	F("/file/bot1:a/100%25%3F%23.txt", "1", "/file/bot1:a/100%25%3F%23.txt"),
	F("/file/bot1:a/q\"<>{}|^`[]x", "1", "/file/bot1:a/q\"<>{}|^`[]x"),
	F("/file/bot1:a/...", "1", "/file/bot1:a/..."),
	F("/file/bot1:a/..x/x../.%2e.", "1", "/file/bot1:a/..x/x../.%2e."),
	F("/file/bot1:a/%2e%2ex", "1", "/file/bot1:a/%2e%2ex"),
	F("/file/bot1:a/a;..", "1", "/file/bot1:a/a;.."),
	F("/file/bot1:a/;../x", "1", "/file/bot1:a/;../x"),
	F("/fil%65/bot1:a/a%20b", "1", "/file/bot1:a/a%20b"),
	/* Raw bytes past ASCII are escaped, as libcurl would. */
	F("/file/bot1:a/documents/\xd0\xbe\xd1\x82.pdf?q=\xd0\xbe", "1",
	    "/file/bot1:a/documents/%D0%BE%D1%82.pdf"),
	F("/file/bot1:a/\x80\xff", "1", "/file/bot1:a/%80%FF"),
	MP("/bot1:a/get%4De?x=%2F", "1", "getMe", "/bot1:a/getMe"),
	MP("/bot123456%3Aabc/getMe", "123456", "getMe", "/bot123456:abc/getMe"),

	/* What could leave /file/bot<token>/, however it is written. */
	E("/file/bot1:a/..", 400),
	E("/file/bot1:a/.", 400),
	E("/file/bot1:a/%2e%2e", 400),
	E("/file/bot1:a/%2E%2e/x", 400),
	E("/file/bot1:a/.%2E/x", 400),
	E("/file/bot1:a/%2e./x", 400),
	E("/file/bot1:a/%2e/x", 400),
	E("/file/bot1:a/a/../b", 400),
	E("/file/bot1:a/a/./b", 400),
	E("/file/bot1:a/a/.", 400),
	E("/file/bot1:a//../x", 400),
	E("/file/bot1:a//..", 400),
	E("/file/bot1:a/..?x=1", 400),
	E("/file/bot1:a/..;/x", 400),
	E("/file/bot1:a/docs/..;x/y", 400),
	E("/file/bot1:a/%2e%2e;x", 400),
	E("/file/bot1:a/..%3Bx/y", 400),
	E("/file/bot1:a/.%3b", 400),
	E("/file/bot1:a/a%2f..%2f..%2fbot2:b/getMe", 400),
	E("/file/bot1:a/documents%2Ffile_1.bin", 400),
	E("/file/bot1:a/a%5c..%5cb", 400),
	E("/file/bot1:a/a%5Cb", 400),
	E("/file/bot1:a/..\\x", 400),
	E("/file/bot1:a/a%00.pdf", 400),
	E("/file/bot1:a/a%0d%0aHost:%20evil", 400),
	E("/file/bot1:a/a%0A", 400),
	E("/file/bot1:a/a%0D", 400),
	E("/file/bot1:a/a%09b", 400),
	E("/file/bot1:a/a%7Fb", 400),
	E("/file/bot1:a/a%1fb", 400),
	E("/file/bot1:a/a%", 400),
	E("/file/bot1:a/a%2", 400),
	E("/file/bot1:a/a%zz", 400),
	E("/file/bot1:a/a%g0", 400),
	E("/file/bot1:a/a%%41", 400),
	E("/file/bot1:a/a b.pdf", 400),
	E("/file/bot1:a/a\tb", 400),
	E("/file/bot1:a/a\rb", 400),
	E("/file/bot1:a/clip(1).mp4#t=1", 400),
	E("/file/bot1:a/x?a=%20 b", 400),
	E("/file/bot1%2Fa/x", 400),
	E("/file/bot1:a%2Fx/y", 400),
	E("/file/%2e%2e/bot1:a/getMe", 400),
	E("/file/bot1:a/?x=1", 404),
	E("/file/bot1:a?x=/y", 404),
	E("/file/bot1/x", 404),
	E("/file/bot1:a\\/x", 400),
	E("/bot123:abc/../x", 400),
	E("/bot123:abc/./getMe", 400),
	E("/bot123:abc/%2e%2e/x", 400),
	E("/bot123:abc/getMe/..", 400),
	E("/file/bot1:a/../../etc/passwd", 400),
	E("/file/bot1:a/docs/../../../etc/passwd", 400),
	E("/file/bot1:a/.", 400),
	E("/file/bot1:a/", 404),
	E("/file/bot1:a", 404),
	E("/file/bot1:a/a b", 400),
	E("/file/bot1:a/a\\b", 400),
	E("/bot1:a/getMe/", 404),
	E("/bot1:a/getMe/x", 404),
	E("/bot1:a/get.Me", 404),
	E("/bot1:a/get-Me", 404),
	E("/bot1:a/", 404),
	E("/bot1:a", 404),
	E("/bot1:a//getMe", 404),
	E("//bot1:a/getMe", 404),
	E("/Bot1:a/getMe", 404),
	E("/file/Bot1:a/x", 404),
	E("/files/bot1:a/x", 404),
	E("http://api.telegram.org/bot1:a/getMe", 400),
	E("HTTPS://evil.example/bot1:a/getMe", 400),
	E("*", 400),
	E("api.telegram.org:443", 400),
	E("bot1:a/getMe", 400),
	E("/bot1:a/getMe%2F..%2Fx", 400),
	E("/bot1:a%2FgetMe", 400),
	E("/bot1:a/get%00Me", 400),
	M("/bot1:a/get%4De", "1", "getMe", 0),
	M("/bot123456%3Aabc/getMe", "123456", "getMe", 0),
	M("/bot123456%3aabc/getUpdates?timeout=5", "123456", "getUpdates", 1),
	E("/bot1:a/get%25Me", 400),
	E("/bot1:a/get%5CMe", 400),
	E("/bot1:a/get%2", 400),
	E("/bot1:a/get%zzMe", 400),
	E("/bot1:a\\getMe", 400),
	E("/bot1:a/getMe#frag", 400),
	E("/bot1:a/getMe?a=1#frag", 400),
	E("/bot1:a/get Me", 400),
	E("/bot1:a/getMe\r\nHost: evil", 400),
	E("/bot1:a/getMe\n", 400),
	E("/bot1:a/getMe\t", 400),
	E("/bot1:a/getMe\x7f", 400),
	E("/bot1:a/getMe?q=a b", 400),
	E("/bot1:a/g\xc3\xa9tMe", 404),
	E("/botabc:def/getMe", 404),
	E("/bot:abc/getMe", 404),
	E("/bot123/getMe", 404),
	E("/bot123:/getMe", 404),
	E("/bot123:a.b/getMe", 404),
	E("/bot123:a:b/getMe", 404),
	E("/bot-1:a/getMe", 404),
	E("/bot", 404),
	E("/", 404),
	E("/getMe", 404),
	E("/?bot1:a/getMe", 404),
	E("/file/", 404),
	E("", 400),

	/*
	 * The Bot API test environment (issue 19): forwarded as sent; the
	 * method, for retries, long polls and metrics, is the last segment.
	 */
	T("/bot1:a/test/getMe", "1", "getMe", 0, "/bot1:a/test/getMe"),
	T("/bot42:x/test/getUpdates?timeout=50", "42", "getUpdates", 1,
	    "/bot42:x/test/getUpdates"),
	T("/bot42:x/test/getupdates", "42", "getupdates", 1,
	    "/bot42:x/test/getupdates"),
	T("/bot1:a/test/sendMessage?chat_id=1", "1", "sendMessage", 0,
	    "/bot1:a/test/sendMessage"),
	T("/bot1%3Aa/test/getMe", "1", "getMe", 0, "/bot1:a/test/getMe"),
	T("/bot1:a/t%65st/getMe", "1", "getMe", 0, "/bot1:a/test/getMe"),
	T("/bot1:a/test/test", "1", "test", 0, "/bot1:a/test/test"),
	MP("/bot1:a/test", "1", "test", "/bot1:a/test"),
	MP("/bot1:a/testMethod", "1", "testMethod", "/bot1:a/testMethod"),
	F("/file/bot1:a/test/photos/file_0.jpg", "1",
	    "/file/bot1:a/test/photos/file_0.jpg"),
	E("/bot1:a/test/", 404),
	E("/bot1:a/test//getMe", 404),
	E("/bot1:a/test/test/getMe", 404),
	E("/bot1:a/Test/getMe", 404),
	E("/bot1:a/TEST/getMe", 404),
	E("/bot1:a/test/getMe/", 404),
	E("/bot1:a/test/get.Me", 404),
	E("/bot1:a/test/../getMe", 400),
	E("/bot1:a/test/%2e%2e/getMe", 400),
	E("/bot1:a/test%2FgetMe", 400),
	E("/bot1:a/test\\getMe", 400),
	E("/bot1:a/prod/getMe", 404),
};

static const struct route_case bad_request = E("", 400);
static const struct route_case not_found = E("", 404);

static void
check(const char *name, const char *target, size_t len,
    const struct route_case *c)
{
	struct route	 rt;
	const char	*why = NULL;
	char		*copy;
	int		 status = 0, rv;

	/* An exact-size copy with no NUL, so ASan catches reads past len. */
	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memcpy(copy, target, len);
	memset(&rt, 0x5a, sizeof(rt));
	rv = route_parse(&rt, copy, len, &status, &why);
	free(copy);
	if (!is_int(rv, c->rc_rv, "%s: rc", name))
		return;
	if (rv == -1) {
		is_int(status, c->rc_status, "%s: status", name);
		ok(why != NULL && *why != '\0', "%s: why \"%s\"", name,
		    why ? why : "");
		is_int(rt.rt_kind, ROUTE_NONE, "%s: kind none", name);
		ok(rt.rt_path == NULL, "%s: no path", name);
		return;
	}
	is_int(rt.rt_kind, c->rc_kind, "%s: kind", name);
	is_str(rt.rt_bot, c->rc_bot, "%s: bot", name);
	is_str(rt.rt_method, c->rc_method, "%s: method", name);
	is_int(rt.rt_longpoll, c->rc_longpoll, "%s: longpoll", name);
	is_int(rt.rt_test, c->rc_test, "%s: test environment", name);
	is_int(rt.rt_readonly, c->rc_kind == ROUTE_FILE ||
	    strncasecmp(c->rc_method, "get", 3) == 0, "%s: readonly", name);
	if (c->rc_path != NULL)
		is_str(rt.rt_path, c->rc_path, "%s: path upstream", name);
	route_clear(&rt);
}

/*
 * Targets at and past the length limits: fmt gets n copies of fill, and
 * a want of "=" means that same run of characters.  A status of 0 means
 * it routes.
 */
static void
check_length(const char *name, const char *fmt, int fill, int n, int status,
    const char *bot, const char *method)
{
	struct route_case	 c = { "", status ? -1 : 0, status, ROUTE_NONE,
				    "", "", 0, NULL, 0 };
	char			 rep[8192], target[8192 + 64];
	int			 len;

	memset(rep, fill, n);
	rep[n] = '\0';
	len = snprintf(target, sizeof(target), fmt, rep);
	if (status == 0) {
		c.rc_kind = strcmp(method, "file") == 0 ? ROUTE_FILE :
		    ROUTE_METHOD;
		c.rc_bot = strcmp(bot, "=") == 0 ? rep : bot;
		c.rc_method = strcmp(method, "=") == 0 ? rep : method;
	}
	check(name, target, len, &c);
}

/*
 * route_prefix_ok(): an upstream URL's path (as libcurl hands it over,
 * not normalised) into a prefix, or why not; then route_prefix() puts it
 * in front of a method's and a file's path (issue 19).
 */
struct prefix_case {
	const char	*pf_path;
	const char	*pf_want;	/* the prefix, or NULL: refused */
	const char	*pf_why;	/* a substring of the refusal */
};

static const struct prefix_case prefix_cases[] = {
	{ "", "", NULL },
	{ "/", "", NULL },
	{ "/t", "/t", NULL },
	{ "/t/", "/t", NULL },
	{ "/api/tg-1.0_x~y", "/api/tg-1.0_x~y", NULL },
	{ "/a/b/c/", "/a/b/c", NULL },
	{ "/...", "/...", NULL },
	{ "/bots", "/bots", NULL },
	{ "/robot/x", "/robot/x", NULL },
	{ "//", NULL, "empty segment" },
	{ "/a//b", NULL, "empty segment" },
	{ "/a//", NULL, "empty segment" },
	{ "/..", NULL, "\"..\" segment" },
	{ "/../t", NULL, "\"..\" segment" },
	{ "/t/..", NULL, "\"..\" segment" },
	{ "/t/../", NULL, "\"..\" segment" },
	{ "/./t", NULL, "\"..\" segment" },
	{ "/t/.", NULL, "\"..\" segment" },
	{ "/%2e%2e/t", NULL, "only letters" },
	{ "/a%2Fb", NULL, "only letters" },
	{ "/t%00", NULL, "only letters" },
	{ "/a\\b", NULL, "only letters" },
	{ "/..;x/t", NULL, "only letters" },
	{ "/t?x", NULL, "only letters" },
	{ "/t#x", NULL, "only letters" },
	{ "/a b", NULL, "only letters" },
	{ "/a:b", NULL, "only letters" },
	{ "/a@b", NULL, "only letters" },
	{ "/t\xc3\xa9", NULL, "only letters" },
	{ "/bot", NULL, "does not end in /bot" },
	{ "/x/BoT/", NULL, "does not end in /bot" },
};

static void
check_prefixes(void)
{
	const struct prefix_case	*c;
	struct route			 rt;
	const char			*why;
	char				 out[ROUTE_PREFIX_MAX + 1], big[600];
	int				 status;
	size_t				 i;

	for (i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++) {
		c = &prefix_cases[i];
		why = route_prefix_ok(c->pf_path, out, sizeof(out));
		if (c->pf_want != NULL) {
			ok(why == NULL, "prefix \"%s\": taken (%s)", c->pf_path,
			    why ? why : "");
			is_str(out, c->pf_want, "prefix \"%s\": as", c->pf_path);
		} else
			like(why ? why : "", c->pf_why, "prefix \"%s\": refused",
			    c->pf_path);
	}
	/* At most ROUTE_PREFIX_MAX bytes, a trailing slash not counted. */
	big[0] = '/';
	memset(big + 1, 'a', ROUTE_PREFIX_MAX - 1);
	strcpy(big + ROUTE_PREFIX_MAX, "/");
	ok(route_prefix_ok(big, out, sizeof(out)) == NULL &&
	    strlen(out) == ROUTE_PREFIX_MAX, "prefix of 256 bytes taken");
	big[ROUTE_PREFIX_MAX] = 'a';
	big[ROUTE_PREFIX_MAX + 1] = '\0';
	like(route_prefix_ok(big, out, sizeof(out)), "at most 256",
	    "prefix of 257 bytes refused");

	/* Every route goes under it; no prefix leaves the path alone. */
	if (route_parse(&rt, "/bot1:a/getMe?x=1", 17, &status, &why) == 0) {
		is_int(route_prefix(&rt, "/t"), 0, "route_prefix: method");
		is_str(rt.rt_path, "/t/bot1:a/getMe", "method under /t");
		is_str(rt.rt_method, "getMe", "method under /t: method");
		route_clear(&rt);
	} else
		ok(0, "route_parse getMe");
	if (route_parse(&rt, "/bot1%3Aa/test/getUpdates", 25, &status,
	    &why) == 0) {
		is_int(route_prefix(&rt, "/a/b"), 0, "route_prefix: test env");
		is_str(rt.rt_path, "/a/b/bot1:a/test/getUpdates",
		    "test environment under /a/b");
		ok(rt.rt_longpoll && rt.rt_test, "under /a/b: a test long poll");
		route_clear(&rt);
	} else
		ok(0, "route_parse test getUpdates");
	if (route_parse(&rt, "/file/bot1:a/docs/a%20b.pdf", 27, &status,
	    &why) == 0) {
		is_int(route_prefix(&rt, "/t"), 0, "route_prefix: file");
		is_str(rt.rt_path, "/t/file/bot1:a/docs/a%20b.pdf",
		    "file under /t");
		route_clear(&rt);
	} else
		ok(0, "route_parse file");
	if (route_parse(&rt, "/bot1:a/getMe", 13, &status, &why) == 0) {
		is_int(route_prefix(&rt, ""), 0, "route_prefix: none");
		is_str(rt.rt_path, "/bot1:a/getMe", "no prefix: as it was");
		is_int(route_prefix(&rt, NULL), 0, "route_prefix: NULL");
		is_str(rt.rt_path, "/bot1:a/getMe", "NULL prefix: as it was");
		route_clear(&rt);
	} else
		ok(0, "route_parse plain");
}

/* route_token_valid(): the one token shape, for the daemon and the bot. */
struct token_case {
	const char	*tk_token;
	int		 tk_valid;
};

static const struct token_case token_cases[] = {
	{ "123456:ABC-def_123", 1 },
	{ "1:a", 1 },
	{ "12345678901234567890:a", 1 },	/* 20 digits */
	{ "123456789012345678901:a", 0 },	/* 21 */
	{ "", 0 },
	{ ":abc", 0 },
	{ "123456", 0 },
	{ "123456:", 0 },
	{ "abc:def", 0 },
	{ "123456:ab cd", 0 },
	{ "123456:abc!", 0 },
	{ "123456:abc/", 0 },
	{ "123456:abc\n", 0 },
	{ "123456:ab\xc3\xa9", 0 },
	{ "123456:abc:def", 0 },
};

static void
check_tokens(void)
{
	char	 big[200];
	size_t	 i;

	for (i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++)
		is_int(route_token_valid(token_cases[i].tk_token),
		    token_cases[i].tk_valid, "token #%zu is %svalid", i,
		    token_cases[i].tk_valid ? "" : "in");
	/* The secret's limit is the router's: 128 works, 129 does not. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "1:", 2);
	big[2 + 128] = '\0';
	is_int(route_token_valid(big), 1, "secret of 128 is valid");
	big[2 + 128] = 'a';
	big[2 + 129] = '\0';
	is_int(route_token_valid(big), 0, "secret of 129 is invalid");
}

int
main(void)
{
	char	 name[64], buf[4096];
	size_t	 i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "%.48s", cases[i].rc_target);
		/* Keep TAP lines whole. */
		for (n = 0; name[n] != '\0'; n++)
			if ((unsigned char)name[n] < 0x20 ||
			    (unsigned char)name[n] >= 0x7f)
				name[n] = '?';
		n = strlen(cases[i].rc_target);
		check(name, cases[i].rc_target, n, &cases[i]);
	}

	/* Limits: exactly at the limit works, one more is Not Found. */
	check_length("20 digits", "/bot%s:a/getMe", '1', 20, 0, "=", "getMe");
	check_length("21 digits", "/bot%s:a/getMe", '1', 21, 404, "", "");
	check_length("secret of 128", "/bot1:%s/getMe", 'a', 128, 0, "1",
	    "getMe");
	check_length("secret of 129", "/bot1:%s/getMe", 'a', 129, 404, "", "");
	check_length("method of 63", "/bot1:a/%s", 'm', 63, 0, "1", "=");
	check_length("method of 64", "/bot1:a/%s", 'm', 64, 404, "", "");
	/* A file path is measured as it goes upstream, escapes and all. */
	check_length("file path of 4096", "/file/bot1:a/%s", 'f', 4096, 0,
	    "1", "file");
	check_length("file path of 4097", "/file/bot1:a/%s", 'f', 4097, 414,
	    "", "");
	check_length("local path of 4096", "/file/bot1:a//var/%s", 'f',
	    4096 - 5, 0, "1", "file");
	check_length("file path of 4096 escaped", "/file/bot1:a/%sa", 0xd0,
	    1365, 0, "1", "file");
	check_length("file path of 4097 escaped", "/file/bot1:a/%sab", 0xd0,
	    1365, 414, "", "");
	check_length("file path of 2731 raw UTF-8", "/file/bot1:a/%s", 0xd0,
	    2731, 414, "", "");
	check_length("long query", "/bot1:a/getMe?q=%s", 'q', 2000, 0, "1",
	    "getMe");

	/* Not NUL-terminated: only len bytes count. */
	memcpy(buf, "/bot1:a/getMeXYZ", 16);
	check("len stops before XYZ", buf, 13, &cases[1]);

	/* An embedded NUL is refused, not treated as the end. */
	memcpy(buf, "/bot1:a/getMe\0/../x", 19);
	check("embedded NUL", buf, 19, &bad_request);

	/* A huge target must not overflow anything. */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "/bot1:a/", 8);
	check("huge method", buf, sizeof(buf), &not_found);

	check_tokens();
	check_prefixes();
	return (done_testing());
}
