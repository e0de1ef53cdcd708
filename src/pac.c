/* SPDX-License-Identifier: ISC */
/*
 * A PAC script's FindProxyForURL(url, host), run in duktape, and its
 * answer ("PROXY a:3128; SOCKS5 b:1080; DIRECT") read into proxies.
 *
 * The engine gets the PAC helpers browsers define and nothing else: no
 * module loader, no file or network access (dnsResolve and myIpAddress
 * are the system resolver and the local address, as in browsers), and
 * at most PAC_HEAP_MAX bytes.  Time is bounded by the caller: pac_run.c
 * runs this in a child process it kills at a deadline, because Debian's
 * duktape is built without an execution timeout.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <duktape.h>

#include "conf.h"
#include "pac.h"
#include "proxy.h"

/* Each block carries its size, so the cap counts what is really held. */
struct pac_heap {
	size_t	 ph_used;
	size_t	 ph_cap;
};

#define PAC_HDR	16	/* keeps the block max_align_t aligned */

static void *
pac_alloc(void *ud, duk_size_t size)
{
	struct pac_heap	*ph = ud;
	unsigned char	*p;

	if (size > ph->ph_cap - ph->ph_used)
		return (NULL);
	if ((p = malloc(size + PAC_HDR)) == NULL)
		return (NULL);
	memcpy(p, &size, sizeof(size));
	ph->ph_used += size;
	return (p + PAC_HDR);
}

static void
pac_free(void *ud, void *ptr)
{
	struct pac_heap	*ph = ud;
	unsigned char	*p = ptr;
	size_t		 size;

	if (p == NULL)
		return;
	memcpy(&size, p - PAC_HDR, sizeof(size));
	ph->ph_used -= size;
	free(p - PAC_HDR);
}

static void *
pac_realloc(void *ud, void *ptr, duk_size_t size)
{
	struct pac_heap	*ph = ud;
	unsigned char	*p = ptr, *q;
	size_t		 old;

	if (p == NULL)
		return (pac_alloc(ud, size));
	if (size == 0) {
		pac_free(ud, ptr);
		return (NULL);
	}
	memcpy(&old, p - PAC_HDR, sizeof(old));
	if (size > old && size - old > ph->ph_cap - ph->ph_used)
		return (NULL);
	if ((q = realloc(p - PAC_HDR, size + PAC_HDR)) == NULL)
		return (NULL);
	memcpy(q, &size, sizeof(size));
	ph->ph_used = ph->ph_used - old + size;
	return (q + PAC_HDR);
}

/* Only in the child pac_run.c made: its parent reads the exit status. */
static void
pac_fatal(void *ud, const char *msg)
{
	(void)ud;
	(void)msg;
	_exit(3);
}

/* dnsResolve(host): its first IPv4 address, or null. */
static duk_ret_t
pac_dns_resolve(duk_context *ctx)
{
	struct addrinfo	 hints, *res = NULL;
	char		 buf[INET_ADDRSTRLEN];
	const char	*host = duk_safe_to_string(ctx, 0);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (strlen(host) > 253 || getaddrinfo(host, NULL, &hints, &res) != 0 ||
	    res == NULL || inet_ntop(AF_INET, &((struct sockaddr_in *)
	    res->ai_addr)->sin_addr, buf, sizeof(buf)) == NULL) {
		if (res != NULL)
			freeaddrinfo(res);
		duk_push_null(ctx);
		return (1);
	}
	freeaddrinfo(res);
	duk_push_string(ctx, buf);
	return (1);
}

/*
 * myIpAddress(): the address this host would send from; a UDP connect
 * picks the route and sends nothing.
 */
static duk_ret_t
pac_my_ip(duk_context *ctx)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	char			 buf[INET_ADDRSTRLEN] = "127.0.0.1";
	int			 s;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(53);
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) != -1) {
		if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    getsockname(s, (struct sockaddr *)&sin, &len) == 0)
			inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof(buf));
		close(s);
	}
	duk_push_string(ctx, buf);
	return (1);
}

/* alert() goes nowhere: the script has no output. */
static duk_ret_t
pac_alert(duk_context *ctx)
{
	(void)ctx;
	return (0);
}

/*
 * The PAC helpers browsers define, written for this project.  Dates and
 * times are local unless the last argument is "GMT"; a range whose start
 * is after its end wraps around (FRI, MON; 22, 6; DEC, FEB).
 */
static const char pac_helpers[] =
"function isPlainHostName(h){return String(h).indexOf('.')<0;}\n"
"function dnsDomainIs(h,d){h=String(h).toLowerCase();"
" d=String(d).toLowerCase();"
" return h.length>=d.length&&h.substring(h.length-d.length)===d;}\n"
"function localHostOrDomainIs(h,f){h=String(h).toLowerCase();"
" f=String(f).toLowerCase();"
" return h===f||(h.indexOf('.')<0&&f.indexOf(h+'.')===0);}\n"
"function isResolvable(h){return dnsResolve(h)!==null;}\n"
"function dnsDomainLevels(h){return String(h).split('.').length-1;}\n"
"function __ip4(s){var m=/^(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\."
"(\\d{1,3})$/.exec(String(s));if(!m)return null;var n=0;"
" for(var i=1;i<5;i++){var b=+m[i];if(b>255)return null;n=n*256+b;}"
" return n;}\n"
"function isInNet(h,p,m){var a=__ip4(h);if(a===null){var r=dnsResolve(h);"
" if(r===null)return false;a=__ip4(r);}var q=__ip4(p),k=__ip4(m);"
" if(a===null||q===null||k===null)return false;"
" return ((a&k)>>>0)===((q&k)>>>0);}\n"
"function shExpMatch(s,p){p=String(p);var r='';"
" for(var i=0;i<p.length;i++){var c=p.charAt(i);"
" r+=c==='*'?'.*':c==='?'?'.':/[\\\\^$.|+(){}\\[\\]\\/]/.test(c)?"
"'\\\\'+c:c;}"
" return new RegExp('^'+r+'$').test(String(s));}\n"
"var __wd=['SUN','MON','TUE','WED','THU','FRI','SAT'];\n"
"var __mo=['JAN','FEB','MAR','APR','MAY','JUN','JUL','AUG','SEP','OCT',"
"'NOV','DEC'];\n"
"function __args(a){a=Array.prototype.slice.call(a);var g=a.length>0&&"
" String(a[a.length-1]).toUpperCase()==='GMT';if(g)a.pop();"
" var d=new Date();return {a:a,y:g?d.getUTCFullYear():d.getFullYear(),"
" mo:g?d.getUTCMonth():d.getMonth(),d:g?d.getUTCDate():d.getDate(),"
" wd:g?d.getUTCDay():d.getDay(),t:g?d.getUTCHours()*3600+"
"d.getUTCMinutes()*60+d.getUTCSeconds():d.getHours()*3600+"
"d.getMinutes()*60+d.getSeconds()};}\n"
"function __in(v,a,b){return a<=b?(v>=a&&v<=b):(v>=a||v<=b);}\n"
"function weekdayRange(){var n=__args(arguments),a=n.a;"
" if(a.length<1||a.length>2)return false;"
" var x=__wd.indexOf(String(a[0]).toUpperCase()),"
" y=a.length>1?__wd.indexOf(String(a[1]).toUpperCase()):x;"
" if(x<0||y<0)return false;return __in(n.wd,x,y);}\n"
"function timeRange(){var n=__args(arguments),a=n.a.map(Number),s,e;"
" for(var i=0;i<a.length;i++)if(isNaN(a[i]))return false;"
" switch(a.length){case 1:return Math.floor(n.t/3600)===a[0];"
" case 2:s=a[0]*3600;e=a[1]*3600-1;break;"
" case 4:s=a[0]*3600+a[1]*60;e=a[2]*3600+a[3]*60-1;break;"
" case 6:s=a[0]*3600+a[1]*60+a[2];e=a[3]*3600+a[4]*60+a[5];break;"
" default:return false;}return __in(n.t,s,e);}\n"
"function dateRange(){var n=__args(arguments),a=n.a,v=[];"
" if(a.length<1||a.length>6||(a.length>1&&a.length%2))return false;"
" for(var i=0;i<a.length;i++){var m=__mo.indexOf(String(a[i])"
".toUpperCase());if(m>=0){v.push(['m',m]);continue;}var x=Number(a[i]);"
" if(isNaN(x))return false;v.push(x>31?['y',x]:['d',x]);}"
" var h=a.length===1?1:a.length/2,s=v.slice(0,h),e=a.length===1?s:"
"v.slice(h),now={y:n.y,m:n.mo,d:n.d},w=1;"
" function key(p,t){var k=0;for(var j=0;j<p.length;j++){var f=p[j][0],"
"q=t?now[f]:p[j][1];k+=f==='y'?q*10000:f==='m'?q*100:q;if(f==='y')w=0;}"
" return k;}"
" for(i=0;i<h;i++)if(s[i][0]!==e[i][0])return false;"
" var ks=key(s,0),ke=key(e,0),kn=key(s,1);"
" return w?__in(kn,ks,ke):(kn>=ks&&kn<=ke);}\n";

static void
pac_err(duk_context *ctx, const char *what, char *err, size_t errlen)
{
	const char	*msg = duk_safe_to_string(ctx, -1);
	size_t		 i;

	snprintf(err, errlen, "%s: %.200s", what, msg);
	for (i = 0; err[i] != '\0'; i++)
		if (!isprint((unsigned char)err[i]))
			err[i] = '?';
}

/* The script's answer for url and host into answer, or -1 with err. */
int
pac_eval(const char *script, size_t len, const char *url, const char *host,
    char *answer, size_t alen, char *err, size_t errlen)
{
	struct pac_heap	 ph = { 0, PAC_HEAP_MAX };
	duk_context	*ctx;
	const char	*s;
	int		 ret = -1;

	ctx = duk_create_heap(pac_alloc, pac_realloc, pac_free, &ph,
	    pac_fatal);
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot start the JavaScript engine");
		return (-1);
	}
	duk_push_c_function(ctx, pac_dns_resolve, 1);
	duk_put_global_string(ctx, "dnsResolve");
	duk_push_c_function(ctx, pac_my_ip, 0);
	duk_put_global_string(ctx, "myIpAddress");
	duk_push_c_function(ctx, pac_alert, DUK_VARARGS);
	duk_put_global_string(ctx, "alert");
	if (duk_peval_string(ctx, pac_helpers) != 0) {
		pac_err(ctx, "PAC helpers", err, errlen);
		goto done;
	}
	duk_pop(ctx);
	if (duk_peval_lstring(ctx, script, len) != 0) {
		pac_err(ctx, "the PAC script failed", err, errlen);
		goto done;
	}
	duk_pop(ctx);
	if (!duk_get_global_string(ctx, "FindProxyForURL") ||
	    !duk_is_function(ctx, -1)) {
		snprintf(err, errlen, "the PAC script defines no "
		    "FindProxyForURL function");
		goto done;
	}
	duk_push_string(ctx, url);
	duk_push_string(ctx, host);
	if (duk_pcall(ctx, 2) != 0) {
		pac_err(ctx, "FindProxyForURL threw", err, errlen);
		goto done;
	}
	if (!duk_is_string(ctx, -1)) {
		snprintf(err, errlen, "FindProxyForURL returned no string");
		goto done;
	}
	s = duk_get_string(ctx, -1);
	if (strlen(s) >= alen) {
		snprintf(err, errlen, "FindProxyForURL returned more than %zu "
		    "bytes", alen - 1);
		goto done;
	}
	snprintf(answer, alen, "%s", s);
	ret = 0;
 done:
	duk_destroy_heap(ctx);
	return (ret);
}

static const struct {
	const char	*pk_word;
	const char	*pk_scheme;
} pac_kinds[] = {
	{ "PROXY",	"http" },
	{ "HTTP",	"http" },
	{ "HTTPS",	"https" },
	/* Browsers let a SOCKS5 proxy resolve names (Chrome does). */
	{ "SOCKS5",	"socks5h" },
	{ "SOCKS",	"socks4a" },
	{ "SOCKS4",	"socks4a" },
};

/* One "KIND host:port" entry into px; 1 if it is a kind we skip. */
static int
pac_parse_one(const char *p, size_t n, struct proxy *px, char *err,
    size_t errlen)
{
	char	 word[16], where[300], url[340], msg[TGS_ERRLEN];
	size_t	 w, i;

	for (w = 0; w < n && !isspace((unsigned char)p[w]); w++)
		;
	if (w == 0 || w >= sizeof(word))
		return (1);
	memcpy(word, p, w);
	word[w] = '\0';
	if (strcasecmp(word, "DIRECT") == 0) {
		memset(px, 0, sizeof(*px));
		return (0);
	}
	while (w < n && isspace((unsigned char)p[w]))
		w++;
	if (n - w == 0 || n - w >= sizeof(where))
		return (1);
	memcpy(where, p + w, n - w);
	where[n - w] = '\0';
	if (strpbrk(where, "/@?# \t") != NULL || strchr(where, ':') == NULL)
		return (1);
	for (i = 0; i < sizeof(pac_kinds) / sizeof(pac_kinds[0]); i++)
		if (strcasecmp(word, pac_kinds[i].pk_word) == 0)
			break;
	if (i == sizeof(pac_kinds) / sizeof(pac_kinds[0]))
		return (1);
	snprintf(url, sizeof(url), "%s://%s", pac_kinds[i].pk_scheme, where);
	if (proxy_parse(px, url, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "PAC answer entry %s: %s", word, msg);
		return (1);
	}
	return (0);
}

/*
 * "PROXY a:3128; SOCKS5 b:1080; DIRECT" into px[0..*n), in order, at most
 * max.  Unknown or malformed entries are skipped, as browsers do; an
 * answer with no usable entry is an error.
 */
int
pac_parse(const char *answer, struct proxy *px, int max, int *n, char *err,
    size_t errlen)
{
	const char	*p = answer, *e;
	size_t		 len;
	int		 skipped = 0;

	*n = 0;
	*err = '\0';
	while (*p != '\0' && *n < max) {
		while (isspace((unsigned char)*p) || *p == ';')
			p++;
		if (*p == '\0')
			break;
		if ((e = strchr(p, ';')) == NULL)
			e = p + strlen(p);
		len = e - p;
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (pac_parse_one(p, len, &px[*n], err, errlen) == 0)
			(*n)++;
		else
			skipped++;
		p = e;
	}
	if (*n > 0)
		return (0);
	if (*err == '\0')
		snprintf(err, errlen, "FindProxyForURL answered no usable "
		    "entry (PROXY, HTTPS, SOCKS5, SOCKS or DIRECT)%s",
		    skipped ? "" : ": empty answer");
	return (-1);
}
