/* SPDX-License-Identifier: ISC */
/*
 * Proxy URLs: parsed once at start-up into a struct proxy whose px_url
 * carries no credentials, so it can be logged as is. Error messages never
 * echo the input, which may hold a password.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "conf.h"
#include "envopt.h"
#include "proxy.h"
#include "envopt.h"

#define PROXY_SCHEMES	"http, https, socks5, socks5h or socks4a"

static const struct {
	const char	*ps_name;
	int		 ps_scheme;
	int		 ps_port;	/* libcurl's default for this type */
} proxy_schemes[] = {
	{ "http",	PROXY_HTTP,	1080 },
	{ "https",	PROXY_HTTPS,	443 },
	{ "socks5",	PROXY_SOCKS5,	1080 },
	{ "socks5h",	PROXY_SOCKS5H,	1080 },
	{ "socks4a",	PROXY_SOCKS4A,	1080 },
};

static const char *proxy_env_names[] = {
	"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"
};

/* Find the scheme; say what is wrong without quoting anything secret. */
static int
proxy_scheme(const char *str, size_t *idx, char *err, size_t errlen)
{
	const char	*sep;
	size_t		 i, n;

	if ((sep = strstr(str, "://")) == NULL) {
		snprintf(err, errlen,
		    "proxy URL needs a scheme, e.g. http://host:3128");
		return (-1);
	}
	n = sep - str;
	for (i = 0; i < n; i++)
		if (!isascii((unsigned char)str[i]) ||
		    !(isalnum((unsigned char)str[i]) ||
		    strchr("+-.", str[i]) != NULL) ||
		    (i == 0 && !isalpha((unsigned char)str[i])))
			break;
	if (n == 0 || i < n || n > 16) {
		snprintf(err, errlen,
		    "proxy URL needs a scheme, e.g. http://host:3128");
		return (-1);
	}
	for (i = 0; i < sizeof(proxy_schemes) / sizeof(proxy_schemes[0]); i++)
		if (strlen(proxy_schemes[i].ps_name) == n &&
		    strncasecmp(str, proxy_schemes[i].ps_name, n) == 0) {
			*idx = i;
			return (0);
		}
	snprintf(err, errlen, "unsupported proxy scheme \"%.*s\" (use %s)",
	    (int)n, str, PROXY_SCHEMES);
	return (-1);
}

/*
 * A user name or password pasted raw into the URL: '@', '#', '?' or '/'
 * in it ends the userinfo early, so libcurl reads another URL than meant
 * ("Bad hostname", "Bad fragment", a port of letters), and a space or a
 * control character is refused.  The userinfo is all before the last
 * '@'.  Say which character to percent-encode, never what is around it.
 * bad: whether libcurl refused the URL (then spaces count too).
 */
static int
proxy_userinfo(const char *str, int bad, char *err, size_t errlen)
{
	const char	*info = strstr(str, "://") + 3, *at, *p;
	int		 c = 0;

	if ((at = strrchr(info, '@')) == NULL)
		return (0);
	for (p = info; p < at; p++) {
		c = (unsigned char)*p;
		if (strchr("@#?/", c) != NULL ||
		    (bad && (c <= 0x20 || c == 0x7f)))
			break;
	}
	if (p == at)
		return (0);
	if (c > 0x20 && c != 0x7f)
		snprintf(err, errlen, "a '%c' in the proxy URL's user name or "
		    "password must be percent-encoded as %%%02X (e.g. "
		    "http://user:pa%%%02Xss@host:3128), or give the password "
		    "in proxy_password", c, c, c);
	else
		snprintf(err, errlen, "a space or control character in the "
		    "proxy URL's user name or password must be percent-encoded "
		    "(a space as %%20), or give the password in "
		    "proxy_password");
	return (-1);
}

/* Fetch an optional part; absent parts give NULL and 0. */
static int
proxy_part(CURLU *u, CURLUPart part, unsigned int flags, char **out,
    CURLUcode absent)
{
	CURLUcode	 rc;

	*out = NULL;
	rc = curl_url_get(u, part, out, flags);
	if (rc == CURLUE_OK)
		return (0);
	*out = NULL;
	return (rc == absent ? 0 : -1);
}

int
proxy_parse(struct proxy *px, const char *str, char *err, size_t errlen)
{
	struct proxy	 tmp;
	CURLU		*u = NULL;
	CURLUcode	 rc;
	char		*host = NULL, *port = NULL, *path = NULL;
	char		*query = NULL, *frag = NULL, *zone = NULL;
	char		*user = NULL, *pass = NULL, *ep;
	size_t		 si;
	long		 pnum;
	int		 n;

	memset(&tmp, 0, sizeof(tmp));
	memset(px, 0, sizeof(*px));
	if (str == NULL || *str == '\0') {
		snprintf(err, errlen, "empty proxy URL");
		return (-1);
	}
	if (strcasecmp(str, "direct") == 0)
		return (0);
	if (proxy_scheme(str, &si, err, errlen) == -1)
		return (-1);
	if (str[strlen(proxy_schemes[si].ps_name) + 3] == '/') {
		/* libcurl would take "http:///h" as host "h". */
		snprintf(err, errlen, "proxy URL has no host");
		return (-1);
	}

	if (proxy_userinfo(str, 0, err, errlen) == -1)
		return (-1);
	if ((u = curl_url()) == NULL)
		goto nomem;
	rc = curl_url_set(u, CURLUPART_URL, str, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK) {
		if (proxy_userinfo(str, 1, err, errlen) == 0)
			snprintf(err, errlen, "bad proxy URL: %s",
			    curl_url_strerror(rc));
		goto fail;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		snprintf(err, errlen, "proxy URL has no host");
		goto fail;
	}
	if (proxy_part(u, CURLUPART_ZONEID, 0, &zone, CURLUE_NO_ZONEID) ||
	    zone != NULL) {
		snprintf(err, errlen, "IPv6 zone IDs are not supported in "
		    "proxy URLs");
		goto fail;
	}
	if (proxy_part(u, CURLUPART_PATH, 0, &path, CURLUE_OK) == -1 ||
	    (path != NULL && *path != '\0' && strcmp(path, "/") != 0) ||
	    proxy_part(u, CURLUPART_QUERY, 0, &query, CURLUE_NO_QUERY) ||
	    query != NULL ||
	    proxy_part(u, CURLUPART_FRAGMENT, 0, &frag, CURLUE_NO_FRAGMENT) ||
	    frag != NULL) {
		snprintf(err, errlen, "proxy URL must not have a path, "
		    "query or fragment");
		goto fail;
	}
	if (proxy_part(u, CURLUPART_USER, CURLU_URLDECODE, &user,
	    CURLUE_NO_USER) == -1 ||
	    proxy_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE, &pass,
	    CURLUE_NO_PASSWORD) == -1) {
		snprintf(err, errlen, "bad percent-encoding in proxy "
		    "credentials");
		goto fail;
	}

	pnum = proxy_schemes[si].ps_port;
	if (proxy_part(u, CURLUPART_PORT, 0, &port, CURLUE_NO_PORT) == -1)
		goto nomem;
	if (port != NULL) {
		pnum = strtol(port, &ep, 10);
		if (*port == '\0' || *ep != '\0' || pnum < 1 || pnum > 65535) {
			snprintf(err, errlen, "proxy port must be 1..65535");
			goto fail;
		}
	}

	tmp.px_scheme = proxy_schemes[si].ps_scheme;
	tmp.px_port = (int)pnum;
	n = asprintf(&tmp.px_url, "%s://%s:%ld", proxy_schemes[si].ps_name,
	    host, pnum);
	if (n == -1) {
		tmp.px_url = NULL;
		goto nomem;
	}
	if ((user != NULL && *user != '\0' &&
	    (tmp.px_user = strdup(user)) == NULL) ||
	    (pass != NULL && *pass != '\0' &&
	    (tmp.px_pass = strdup(pass)) == NULL))
		goto nomem;

	*px = tmp;
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(user);
	if (pass != NULL) {
		explicit_bzero(pass, strlen(pass));
		curl_free(pass);
	}
	curl_url_cleanup(u);
	return (0);

 nomem:
	snprintf(err, errlen, "out of memory");
 fail:
	proxy_clear(&tmp);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	curl_free(zone);
	curl_free(user);
	if (pass != NULL) {
		explicit_bzero(pass, strlen(pass));
		curl_free(pass);
	}
	curl_url_cleanup(u);	/* it copied the URL, password and all */
	return (-1);
}

int
proxy_is_socks(const struct proxy *px)
{
	return (px->px_scheme == PROXY_SOCKS5 ||
	    px->px_scheme == PROXY_SOCKS5H || px->px_scheme == PROXY_SOCKS4A);
}

void
proxy_clear(struct proxy *px)
{
	free(px->px_url);
	free(px->px_user);
	if (px->px_pass != NULL) {
		explicit_bzero(px->px_pass, strlen(px->px_pass));
		free(px->px_pass);
	}
	memset(px, 0, sizeof(*px));
}

/* The first non-empty of https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY. */
int
proxy_from_env(struct proxy *px, char **envp, char *err, size_t errlen)
{
	char		 msg[TGS_ERRLEN];
	const char	*name, *val;
	size_t		 i;

	memset(px, 0, sizeof(*px));
	for (i = 0; i < sizeof(proxy_env_names) / sizeof(*proxy_env_names);
	    i++) {
		name = proxy_env_names[i];
		if ((val = envopt_get(envp, name)) == NULL)
			continue;
		if (proxy_parse(px, val, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s: %s", name, msg);
			return (-1);
		}
		return (0);
	}
	return (0);
}
