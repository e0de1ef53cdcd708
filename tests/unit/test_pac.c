/* SPDX-License-Identifier: ISC */
/*
 * PAC files: the answer read into a failover list (a table), the helpers
 * browsers define (a table of expressions and their values), and hostile
 * scripts run the way the sidecar runs them (a child with a deadline),
 * each ending in a clear error, never a crash or a hang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "pac.h"
#include "proxy.h"
#include "tap.h"

static const struct {
	const char	*pa_answer;
	int		 pa_n;		/* -1: an error */
	const char	*pa_urls;	/* px_url of each, "|"-joined */
} answers[] = {
	{ "PROXY a.corp:3128; SOCKS5 b:1080; DIRECT", 3,
	    "http://a.corp:3128|socks5h://b:1080|direct" },
	{ "DIRECT", 1, "direct" },
	{ "  proxy  10.0.0.1:8080 ;;; ", 1, "http://10.0.0.1:8080" },
	{ "HTTPS secure.example:443; HTTP plain:80", 2,
	    "https://secure.example:443|http://plain:80" },
	{ "SOCKS c:1080; SOCKS4 d:1081", 2,
	    "socks4a://c:1080|socks4a://d:1081" },
	{ "PROXY [::1]:3128", 1, "http://[::1]:3128" },
	/* Browsers skip what they do not know; so do we. */
	{ "QUIC q:443; PROXY ok:3128", 1, "http://ok:3128" },
	{ "PROXY nohostport; PROXY ok:3128", 1, "http://ok:3128" },
	{ "PROXY user:pw@evil:1; DIRECT", 1, "direct" },
	{ "PROXY a:99999; DIRECT", 1, "direct" },
	{ "PROXY a:1/path; DIRECT", 1, "direct" },
	{ "", -1, NULL },
	{ ";;", -1, NULL },
	{ "FOO bar", -1, NULL },
	{ "PROXY a:1; PROXY b:2; PROXY c:3; PROXY d:4; PROXY e:5; "
	    "PROXY f:6; PROXY g:7; PROXY h:8; PROXY i:9; DIRECT", 8,
	    "http://a:1|http://b:2|http://c:3|http://d:4|http://e:5|"
	    "http://f:6|http://g:7|http://h:8" },
};

static void
test_parse(void)
{
	struct proxy	 px[CONFIG_PROXY_MAX];
	char		 err[TGS_ERRLEN], urls[1024];
	size_t		 i, off;
	int		 n, j, rc;

	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		rc = pac_parse(answers[i].pa_answer, px, CONFIG_PROXY_MAX, &n,
		    err, sizeof(err));
		if (answers[i].pa_n == -1) {
			ok(rc == -1 && strstr(err, "no usable entry") != NULL,
			    "answer \"%s\" is refused: %s",
			    answers[i].pa_answer, err);
			continue;
		}
		urls[0] = '\0';
		for (j = 0, off = 0; rc == 0 && j < n; j++) {
			off += snprintf(urls + off, sizeof(urls) - off, "%s%s",
			    j ? "|" : "", px[j].px_scheme == PROXY_NONE ?
			    "direct" : px[j].px_url);
			proxy_clear(&px[j]);
		}
		ok(rc == 0 && n == answers[i].pa_n &&
		    strcmp(urls, answers[i].pa_urls) == 0,
		    "answer \"%.40s\" -> %s", answers[i].pa_answer, urls);
	}
	rc = pac_parse("PROXY user:secret@x:1", px, CONFIG_PROXY_MAX, &n, err,
	    sizeof(err));
	unlike(err, "secret", "a refused entry's password is not echoed");
}

/* Each expression, run as FindProxyForURL's answer, gives want. */
static const struct {
	const char	*he_expr;
	const char	*he_want;
} helpers[] = {
	{ "isPlainHostName('www')", "true" },
	{ "isPlainHostName('www.example.com')", "false" },
	{ "dnsDomainIs('www.Example.com', '.example.com')", "true" },
	{ "dnsDomainIs('www.example.org', '.example.com')", "false" },
	{ "localHostOrDomainIs('www', 'www.example.com')", "true" },
	{ "localHostOrDomainIs('www.example.com', 'www.example.com')",
	    "true" },
	{ "localHostOrDomainIs('www.example.org', 'www.example.com')",
	    "false" },
	{ "dnsDomainLevels('www.example.com')", "2" },
	{ "dnsDomainLevels('www')", "0" },
	{ "shExpMatch('http://home.netscape.com/people/ari/index.html', "
	    "'*/ari/*')", "true" },
	{ "shExpMatch('http://home.netscape.com/people/montulli/index.html',"
	    " '*/ari/*')", "false" },
	{ "shExpMatch('api.telegram.org', '*.telegram.\?\?\?')", "true" },
	{ "shExpMatch('a+b(c)', 'a+b(c)')", "true" },
	{ "shExpMatch('axb', 'a.b')", "false" },
	{ "isInNet('10.1.2.3', '10.0.0.0', '255.0.0.0')", "true" },
	{ "isInNet('11.1.2.3', '10.0.0.0', '255.0.0.0')", "false" },
	{ "isInNet('192.168.1.200', '192.168.1.128', '255.255.255.128')",
	    "true" },
	{ "isInNet('localhost', '127.0.0.0', '255.0.0.0')", "true" },
	{ "isInNet('no.such.host.invalid', '0.0.0.0', '0.0.0.0')", "false" },
	{ "dnsResolve('localhost')", "127.0.0.1" },
	{ "dnsResolve('no.such.host.invalid')", "null" },
	{ "isResolvable('localhost')", "true" },
	{ "isResolvable('no.such.host.invalid')", "false" },
	{ "/^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(myIpAddress())", "true" },
	{ "weekdayRange('SUN', 'SAT')", "true" },
	{ "weekdayRange('SUN', 'SAT', 'GMT')", "true" },
	{ "weekdayRange('XYZ')", "false" },
	{ "timeRange(0, 24)", "true" },
	{ "timeRange(0, 0, 0, 23, 59, 59, 'GMT')", "true" },
	{ "timeRange(new Date().getHours())", "true" },
	{ "dateRange('JAN', 'DEC')", "true" },
	{ "dateRange(1, 31)", "true" },
	{ "dateRange(1995, 1996)", "false" },
	{ "dateRange(1, 'JAN', 1995, 31, 'DEC', 2999, 'GMT')", "true" },
	{ "dateRange(1, 2, 3)", "false" },
	{ "typeof require + typeof print + typeof XMLHttpRequest",
	    "undefinedundefinedundefined" },
};

static void
test_helpers(void)
{
	char	 script[512], answer[PAC_ANSWER_MAX], err[TGS_ERRLEN];
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++) {
		snprintf(script, sizeof(script), "function FindProxyForURL"
		    "(url, host) { return String(%s); }", helpers[i].he_expr);
		rc = pac_eval(script, strlen(script), "https://x/", "x",
		    answer, sizeof(answer), err, sizeof(err));
		ok(rc == 0 && strcmp(answer, helpers[i].he_want) == 0,
		    "%s = %s%s%s", helpers[i].he_expr, rc == 0 ? answer : err,
		    rc == 0 ? "" : " (error)", "");
	}
	rc = pac_eval("function FindProxyForURL(u, h) { return u + ' ' + h; }",
	    54, "https://api.telegram.org/", "api.telegram.org", answer,
	    sizeof(answer), err, sizeof(err));
	is_str(rc == 0 ? answer : err,
	    "https://api.telegram.org/ api.telegram.org",
	    "FindProxyForURL gets the URL and the host");
}

/* Run through a file, in a child with a short deadline, as the sidecar. */
static int
run_file(const char *js, char *answer, char *err)
{
	struct pac_job	 pj;
	char		 path[] = "/tmp/test_pac.XXXXXX", url[64];
	int		 fd, rc;

	if ((fd = mkstemp(path)) == -1)
		return (-2);
	if (write(fd, js, strlen(js)) != (ssize_t)strlen(js)) {
		close(fd);
		return (-2);
	}
	close(fd);
	snprintf(url, sizeof(url), "file://%s", path);
	memset(&pj, 0, sizeof(pj));
	pj.pj_url = url;
	pj.pj_upstream = "https://api.telegram.org";
	pj.pj_host = "api.telegram.org";
	pj.pj_eval_ms = 500;
	rc = pac_run_sync(&pj, answer, PAC_ANSWER_MAX, err, TGS_ERRLEN);
	unlink(path);
	return (rc);
}

static const struct {
	const char	*hs_name;
	const char	*hs_js;
	const char	*hs_err;
} hostile[] = {
	{ "an endless loop", "function FindProxyForURL(u,h){for(;;){}}",
	    "did not finish in 500 ms" },
	{ "an endless loop at load", "while(true){}",
	    "did not finish in 500 ms" },
	{ "a string doubling forever",
	    "function FindProxyForURL(u,h){var s='x';for(;;)s+=s;}",
	    "alloc failed|did not finish" },
	{ "an array growing forever", "function FindProxyForURL(u,h)"
	    "{var a=[];for(;;)a.push({n:a.length,s:'abcdefgh'+a.length});}",
	    "alloc failed|did not finish" },
	{ "endless recursion", "function f(){return f()+1}"
	    "function FindProxyForURL(u,h){return f();}", "RangeError" },
	{ "a syntax error", "function FindProxyForURL(u,h){ return \"PROXY",
	    "SyntaxError" },
	{ "a throw", "function FindProxyForURL(u,h){throw new Error('nope')}",
	    "threw: Error: nope" },
	{ "a throw of a non-error", "function FindProxyForURL(u,h){throw 7}",
	    "threw: 7" },
	{ "no FindProxyForURL", "var x = 1;", "defines no FindProxyForURL" },
	{ "a number returned", "function FindProxyForURL(u,h){return 42}",
	    "returned no string" },
	{ "a huge answer", "function FindProxyForURL(u,h){var s='PROXY a:1;';"
	    "while(s.length<100000)s+=s;return s;}", "more than" },
	{ "control bytes in an error", "function FindProxyForURL(u,h)"
	    "{throw '\\x1b[31mred\\n'}", "threw: ?[31mred?" },
};

/* One of the "|"-separated words is in err. */
static int
has_any(const char *err, const char *words)
{
	char	 w[64], *p;

	snprintf(w, sizeof(w), "%s", words);
	for (p = strtok(w, "|"); p != NULL; p = strtok(NULL, "|"))
		if (strstr(err, p) != NULL)
			return (1);
	return (0);
}

static void
test_hostile(void)
{
	char	 answer[PAC_ANSWER_MAX], err[TGS_ERRLEN];
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		err[0] = '\0';
		rc = run_file(hostile[i].hs_js, answer, err);
		ok(rc == -1 && has_any(err, hostile[i].hs_err),
		    "%s: %s", hostile[i].hs_name, err);
	}
	rc = run_file("function FindProxyForURL(u,h){return 'PROXY a:1; "
	    "DIRECT'}", answer, err);
	ok(rc == 0 && strcmp(answer, "PROXY a:1; DIRECT") == 0,
	    "a good script through a file and a child: %s",
	    rc == 0 ? answer : err);
}

static void
test_fetch(void)
{
	struct pac_job	 pj;
	char		 answer[PAC_ANSWER_MAX], err[TGS_ERRLEN];

	memset(&pj, 0, sizeof(pj));
	pj.pj_url = "file:///nonexistent/proxy.pac";
	pj.pj_upstream = "https://api.telegram.org";
	pj.pj_host = "api.telegram.org";
	ok(pac_run_sync(&pj, answer, sizeof(answer), err, sizeof(err)) == -1 &&
	    strstr(err, "No such file") != NULL, "a missing file: %s", err);
	pj.pj_url = "file:///tmp";
	ok(pac_run_sync(&pj, answer, sizeof(answer), err, sizeof(err)) == -1 &&
	    strstr(err, "not a regular file") != NULL, "a directory: %s", err);
	pj.pj_url = "http://127.0.0.1:1/proxy.pac";
	ok(pac_run_sync(&pj, answer, sizeof(answer), err, sizeof(err)) == -1 &&
	    strstr(err, "http://127.0.0.1:1/proxy.pac") != NULL,
	    "a PAC server that is down: %s", err);
}

int
main(void)
{
	test_parse();
	test_helpers();
	test_hostile();
	test_fetch();
	return (done_testing());
}
