/* SPDX-License-Identifier: ISC */
/*
 * The value setters: each parses one key's value into struct config (or
 * the load state), or says in err what was expected. The message never
 * quotes a value that may hold a secret.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/util.h>
#include <curl/curl.h>

#include "configkeys.h"
#include "log.h"
#include "route.h"

#define CONFIG_MAX_MS		(24L * 60 * 60 * 1000)	/* sanity bound */

/* Quote a value for an error message: bounded, printable only. */
const char *
config_set_quote(const char *val, char *buf, size_t len)
{
	size_t	 i, n = 0;

	for (i = 0; val[i] != '\0' && n + 4 < len; i++)
		buf[n++] = isprint((unsigned char)val[i]) ? val[i] : '?';
	if (val[i] != '\0')
		for (i = 0; i < 3; i++)
			buf[n++] = '.';
	buf[n] = '\0';
	return (buf);
}

static int
config_set_bad(const struct config_key *ck, const char *val, const char *expect,
    char *err, size_t errlen)
{
	char	 q[80];

	snprintf(err, errlen, "bad value for %s: \"%s\" (expected %s)",
	    ck->ck_name, config_set_quote(val, q, sizeof(q)), expect);
	return (-1);
}

int
config_set_str(char **dst, const char *val, char *err, size_t errlen)
{
	char	*s;

	if ((s = strdup(val)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	free(*dst);
	*dst = s;
	return (0);
}

void
config_set_secret_free(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

int
config_set_listen(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config		*cfg = cl->cl_cfg;
	struct sockaddr_storage	 ss;
	int			 len = sizeof(ss), port = 0;

	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(val, (struct sockaddr *)&ss,
	    &len) == 0) {
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (port == 0)
		return (config_set_bad(ck, val, "ADDRESS:PORT, e.g. "
		    "127.0.0.1:8081 or [::1]:8081", err, errlen));
	if (ck->ck_off == CFG(cfg_admin_listen)) {
		if (config_set_str(&cfg->cfg_admin_listen, val, err,
		    errlen) == -1)
			return (-1);
		cfg->cfg_admin_ss = ss;
		cfg->cfg_admin_sslen = len;
		return (0);
	}
	if (config_set_str(&cfg->cfg_listen, val, err, errlen) == -1)
		return (-1);
	cfg->cfg_listen_ss = ss;
	cfg->cfg_listen_sslen = len;
	return (0);
}

int
config_set_logfmt(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	if (strcasecmp(val, "text") == 0)
		cl->cl_cfg->cfg_log_json = 0;
	else if (strcasecmp(val, "json") == 0)
		cl->cl_cfg->cfg_log_json = 1;
	else
		return (config_set_bad(ck, val, "text or json", err, errlen));
	return (0);
}

/*
 * Check a parsed upstream URL; return NULL or what is wrong with it.  Its
 * path, as written (no dot-segment removed), is a prefix for every route:
 * route_prefix_ok() says which are taken.
 */
static const char *
config_set_upstream_why(CURLU *u, const char *val, char **scheme, char **host,
    char **port, char *prefix, size_t plen)
{
	const char	*why = NULL;
	char		*x = NULL, *path = NULL;
	CURLUcode	 rc;
	int		 n;

	if (strstr(val, "://") == NULL)
		return ("needs a scheme, e.g. " TGS_DEFAULT_UPSTREAM);
	if ((rc = curl_url_set(u, CURLUPART_URL, val, CURLU_PATH_AS_IS)) !=
	    CURLUE_OK)
		return (curl_url_strerror(rc));
	if (curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	    (strcmp(*scheme, "http") != 0 && strcmp(*scheme, "https") != 0))
		return ("scheme must be http or https");
	/* libcurl would take "https:///h" as host "h". */
	if (strstr(val, ":///") != NULL ||
	    curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK)
		return ("no host");
	if (curl_url_get(u, CURLUPART_ZONEID, &x, 0) != CURLUE_NO_ZONEID ||
	    curl_url_get(u, CURLUPART_QUERY, &x, 0) != CURLUE_NO_QUERY ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &x, 0) != CURLUE_NO_FRAGMENT)
		why = "no query or fragment allowed";
	else if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		why = "bad path";
	else if ((why = route_prefix_ok(path, prefix, plen)) != NULL)
		;
	else if ((rc = curl_url_get(u, CURLUPART_PORT, port, 0)) !=
	    CURLUE_OK && rc != CURLUE_NO_PORT)
		why = "bad port";
	else if (*port != NULL && ((n = atoi(*port)) < 1 || n > 65535))
		why = "port must be 1..65535";
	curl_free(x);
	curl_free(path);
	return (why);
}

/* A host as libcurl gives it, IPv6 without its brackets, or NULL. */
static char *
config_set_bare(const char *host)
{
	size_t	 hlen = strlen(host);

	if (host[0] == '[' && hlen >= 2)
		return (strndup(host + 1, hlen - 2));
	return (strdup(host));
}

/*
 * Upstream: http(s)://host[:port][/prefix]. Stored without the prefix or
 * a slash; cfg_upstream_host is the bare host (no IPv6 brackets), and
 * cfg_upstream_path the prefix ("/t", or "" for none).
 */
int
config_set_upstream(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	CURLU		*u = NULL;
	char		*scheme = NULL, *host = NULL, *port = NULL;
	char		*url = NULL, *bare = NULL, *pfx = NULL, q[80];
	char		 prefix[ROUTE_PREFIX_MAX + 1];
	const char	*why;
	int		 n, ret = -1;

	if (strchr(val, '@') != NULL) {
		/* Do not echo it: it may hold a password. */
		snprintf(err, errlen, "bad value for %s: credentials are not "
		    "allowed in the upstream URL", ck->ck_name);
		return (-1);
	}
	if ((u = curl_url()) == NULL)
		goto nomem;
	why = config_set_upstream_why(u, val, &scheme, &host, &port, prefix,
	    sizeof(prefix));
	if (why != NULL) {
		snprintf(err, errlen, "bad value for %s: \"%s\" (%s)",
		    ck->ck_name, config_set_quote(val, q, sizeof(q)), why);
		goto done;
	}

	n = port != NULL ? asprintf(&url, "%s://%s:%s", scheme, host, port) :
	    asprintf(&url, "%s://%s", scheme, host);
	if (n == -1) {
		url = NULL;
		goto nomem;
	}
	if ((bare = config_set_bare(host)) == NULL ||
	    (pfx = strdup(prefix)) == NULL)
		goto nomem;
	free(cfg->cfg_upstream);
	free(cfg->cfg_upstream_host);
	free(cfg->cfg_upstream_path);
	cfg->cfg_upstream = url;
	cfg->cfg_upstream_host = bare;
	cfg->cfg_upstream_path = pfx;
	url = bare = pfx = NULL;
	ret = 0;
	goto done;

 nomem:
	snprintf(err, errlen, "out of memory");
 done:
	free(url);
	free(bare);
	free(pfx);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return (ret);
}

/* A pre_proxy is a SOCKS hop; "direct" is no member of a failover list. */
static int
config_set_proxy_check(const struct config_key *ck, const struct proxy *px,
    int n, int list, char *err, size_t errlen)
{
	int	 i;

	if (!list && px[0].px_scheme != PROXY_NONE && !proxy_is_socks(&px[0])) {
		snprintf(err, errlen, "pre_proxy must be a SOCKS proxy "
		    "(socks5://, socks5h:// or socks4a://)");
		return (-1);
	}
	for (i = 0; n > 1 && i < n; i++)
		if (px[i].px_scheme == PROXY_NONE) {
			snprintf(err, errlen, "bad value for %s: \"direct\" "
			    "cannot be part of a proxy list", ck->ck_name);
			return (-1);
		}
	return (0);
}

/*
 * A ',' in a list member's password splits it in two: the part after it
 * ("ss@host:3128") then has an '@' and no scheme.  Say so rather than
 * that a URL has no scheme, without quoting either part.
 */
static int
config_set_proxy_comma(const struct config_key *ck, const char *p,
    const char *e, char *err, size_t errlen)
{
	const char	*next, *end, *at;

	if (*e != ',')
		return (0);
	next = e + 1;
	if ((end = strchr(next, ',')) == NULL)
		end = next + strlen(next);
	at = memchr(next, '@', end - next);
	if (at == NULL || memmem(next, at - next, "://", 3) != NULL ||
	    memmem(p, e - p, "://", 3) == NULL)
		return (0);
	snprintf(err, errlen, "bad value for %s: a ',' in a proxy URL's user "
	    "name or password must be percent-encoded as %%2C (a ',' separates "
	    "proxies), or give the password in proxy_password", ck->ck_name);
	return (-1);
}

/*
 * "pac+file:///path" or "pac+http(s)://host/proxy.pac": the list is the
 * PAC's answer, read in config_finish (pac_run.c).  No credentials in
 * the URL: it is logged.
 */
static int
config_set_pac(struct config_load *cl, const struct config_key *ck,
    const char *url, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	const char	*host;
	size_t		 hl;
	int		 i;

	if (strncasecmp(url, "file:///", 8) == 0)
		host = NULL;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return (config_set_bad(ck, url, "pac+file:///path, "
		    "pac+http://host/path or pac+https://host/path", err,
		    errlen));
	hl = host == NULL ? 0 : strcspn(host, "/?#");
	if (host != NULL && (hl == 0 || memchr(host, '@', hl) != NULL)) {
		snprintf(err, errlen, "bad value for %s: a PAC URL needs a "
		    "host and takes no user or password", ck->ck_name);
		return (-1);
	}
	if (strchr(url, ',') != NULL || strpbrk(url, " \t\r\n") != NULL) {
		snprintf(err, errlen, "bad value for %s: a PAC URL is the "
		    "whole list: no commas or spaces", ck->ck_name);
		return (-1);
	}
	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		proxy_clear(&cfg->cfg_proxy[i]);
	cfg->cfg_nproxy = 0;
	cl->cl_proxy_set = 1;
	return (config_set_str(&cfg->cfg_pac, url, err, errlen));
}

/* One proxy URL, or for "proxy" a comma-separated failover list. */
int
config_set_proxy(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	struct proxy	 px[CONFIG_PROXY_MAX];
	char		 msg[TGS_ERRLEN], *one = NULL;
	const char	*p = val, *e;
	int		 n = 0, i, list = ck->ck_off == CFG(cfg_proxy);

	memset(px, 0, sizeof(px));
	if (list) {
		free(cfg->cfg_pac);
		cfg->cfg_pac = NULL;
	}
	if (list && strncasecmp(val, "pac+", 4) == 0)
		return (config_set_pac(cl, ck, val + 4, err, errlen));
	do {
		e = list ? strchr(p, ',') : NULL;
		if (e == NULL)
			e = p + strlen(p);
		if (n == CONFIG_PROXY_MAX) {
			snprintf(err, errlen, "bad value for %s: at most %d "
			    "proxies", ck->ck_name, CONFIG_PROXY_MAX);
			goto fail;
		}
		if (list && config_set_proxy_comma(ck, p, e, err,
		    errlen) == -1)
			goto fail;
		if ((one = strndup(p, e - p)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		/* The message never quotes the URL, which may hold secrets. */
		if (proxy_parse(&px[n], one, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "bad value for %s: %s",
			    ck->ck_name, msg);
			goto fail;
		}
		config_set_secret_free(&one);
		n++;
		p = *e == ',' ? e + 1 : e;
	} while (*p != '\0');
	if (config_set_proxy_check(ck, px, n, list, err, errlen) == -1)
		goto fail;
	if (!list) {
		proxy_clear(&cfg->cfg_pre_proxy);
		cfg->cfg_pre_proxy = px[0];
		return (0);
	}
	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		proxy_clear(&cfg->cfg_proxy[i]);
	memcpy(cfg->cfg_proxy, px, sizeof(px));
	cfg->cfg_nproxy = n;
	cl->cl_proxy_set = 1;
	return (0);
 fail:
	config_set_secret_free(&one);
	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		proxy_clear(&px[i]);
	return (-1);
}

int
config_set_user(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	(void)ck;
	return (config_set_str(&cl->cl_user, val, err, errlen));
}

/* proxy_password and proxy_password_file share one slot: last wins. */
int
config_set_password(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	char	*s;

	(void)ck;
	if ((s = strdup(val)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	config_set_secret_free(&cl->cl_pass);
	free(cl->cl_pwfile);
	cl->cl_pwfile = NULL;
	cl->cl_pass = s;
	return (0);
}

/* Read at the end, so a file overridden by a stronger source is unused. */
int
config_set_pwfile(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	if (*val == '\0')
		return (config_set_bad(ck, val, "a file name", err, errlen));
	if (config_set_str(&cl->cl_pwfile, val, err, errlen) == -1)
		return (-1);
	config_set_secret_free(&cl->cl_pass);
	return (0);
}

int
config_set_pwfile_read(struct config_load *cl, char *err, size_t errlen)
{
	FILE	*fp;
	char	*line = NULL;
	size_t	 sz = 0;
	ssize_t	 n;

	if ((fp = fopen(cl->cl_pwfile, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot read proxy_password_file "
		    "\"%s\": %s", cl->cl_pwfile_where, cl->cl_pwfile,
		    strerror(errno));
		return (-1);
	}
	if ((n = getline(&line, &sz, fp)) == -1) {
		snprintf(err, errlen, "%s: proxy_password_file \"%s\" is "
		    "empty", cl->cl_pwfile_where, cl->cl_pwfile);
		free(line);
		fclose(fp);
		return (-1);
	}
	fclose(fp);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	config_set_secret_free(&cl->cl_pass);
	cl->cl_pass = line;
	return (0);
}

int
config_set_auth(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	static const struct {
		const char	*a_name;
		unsigned long	 a_mask;
	} auths[] = {
		{ "basic",	CURLAUTH_BASIC },
		{ "digest",	CURLAUTH_DIGEST },
		{ "ntlm",	CURLAUTH_NTLM },
		{ "negotiate",	CURLAUTH_NEGOTIATE },
		{ "any",	CURLAUTH_ANY },
	};
	const char	*p = val, *e;
	unsigned long	 mask = 0;
	size_t		 i, n;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		for (e = p; *e != '\0' && *e != ',' &&
		    !isspace((unsigned char)*e); e++)
			;
		n = e - p;
		for (i = 0; i < sizeof(auths) / sizeof(auths[0]); i++)
			if (strlen(auths[i].a_name) == n &&
			    strncasecmp(auths[i].a_name, p, n) == 0)
				break;
		if (n == 0 || i == sizeof(auths) / sizeof(auths[0]))
			return (config_set_bad(ck, val, "basic, digest, ntlm, "
			    "negotiate or any, comma-separated", err, errlen));
		mask |= auths[i].a_mask;
		while (isspace((unsigned char)*e))
			e++;
		if (*e == '\0')
			break;
		if (*e != ',')
			return (config_set_bad(ck, val, "basic, digest, ntlm, "
			    "negotiate or any, comma-separated", err, errlen));
		p = e + 1;
	}
	cl->cl_cfg->cfg_proxy_auth = (long)mask;
	return (0);
}

int
config_set_cafile(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct stat	 st;
	char		 q[80];
	int		 fd;

	if ((fd = open(val, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot read %s \"%s\": %s", ck->ck_name,
		    config_set_quote(val, q, sizeof(q)), strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "cannot read %s \"%s\": not a regular "
		    "file", ck->ck_name, config_set_quote(val, q, sizeof(q)));
		return (-1);
	}
	close(fd);
	return (config_set_str(&cl->cl_cfg->cfg_ca_file, val, err, errlen));
}

/* Parse leading decimal digits; return the rest, or NULL on overflow. */
static const char *
config_set_number(const char *s, uint64_t *out)
{
	uint64_t	 v = 0;

	if (!isdigit((unsigned char)*s))
		return (NULL);
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - (*s - '0')) / 10)
			return (NULL);
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return (s);
}

/* A size with an optional binary unit; 0 and overflow are no size. */
static int
config_set_bytes(const char *val, uint64_t *out)
{
	static const struct {
		const char	*u_name;
		uint64_t	 u_mult;
	} units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1ULL << 10 }, { "kib", 1ULL << 10 },
		{ "m", 1ULL << 20 }, { "mib", 1ULL << 20 },
		{ "g", 1ULL << 30 }, { "gib", 1ULL << 30 },
	};
	const char	*p;
	uint64_t	 v;
	size_t		 i;

	if ((p = config_set_number(val, &v)) == NULL)
		return (-1);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(p, units[i].u_name) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]) || v == 0 ||
	    v > UINT64_MAX / units[i].u_mult)
		return (-1);
	*out = v * units[i].u_mult;
	return (0);
}

int
config_set_size(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	uint64_t	 v;

	if (config_set_bytes(val, &v) == -1)
		return (config_set_bad(ck, val, "a size like 50M", err,
		    errlen));
	cl->cl_cfg->cfg_max_body = v;
	return (0);
}

/*
 * Every connection may hold a head this large, so it is bounded: below
 * 1K a token and a short text barely fit; above 512K, libcurl 7.88 (1 MiB
 * of request head at most) might not send it on.
 */
int
config_set_headsize(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	uint64_t	 v;

	if (config_set_bytes(val, &v) == -1 || v < CONFIG_HEAD_MIN ||
	    v > CONFIG_HEAD_MAX)
		return (config_set_bad(ck, val, "a size from 1K to 512K, "
		    "like 256K", err, errlen));
	cl->cl_cfg->cfg_max_header_size = (size_t)v;
	return (0);
}

int
config_set_duration(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	static const struct {
		const char	*u_name;
		uint64_t	 u_ms;
	} units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	const char	*p;
	uint64_t	 v;
	size_t		 i;

	if ((p = config_set_number(val, &v)) == NULL)
		goto bad;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].u_name) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]) || v == 0 ||
	    v > CONFIG_MAX_MS / units[i].u_ms)
		goto bad;
	*(long *)((char *)cl->cl_cfg + ck->ck_off) = (long)(v * units[i].u_ms);
	return (0);
 bad:
	return (config_set_bad(ck, val, "a duration like 30s, 500ms or 2m, "
	    "at most 24h", err, errlen));
}

int
config_set_loglevel(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	if (strcasecmp(val, "warn") == 0)
		cl->cl_cfg->cfg_log_level = LOG_LEVEL_WARN;
	else if (strcasecmp(val, "info") == 0)
		cl->cl_cfg->cfg_log_level = LOG_LEVEL_INFO;
	else if (strcasecmp(val, "debug") == 0)
		cl->cl_cfg->cfg_log_level = LOG_LEVEL_DEBUG;
	else
		return (config_set_bad(ck, val, "warn, info or debug", err,
		    errlen));
	return (0);
}

int
config_set_bool(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	int	*dst = (int *)((char *)cl->cl_cfg + ck->ck_off);

	if (strcasecmp(val, "yes") == 0 || strcasecmp(val, "on") == 0 ||
	    strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0)
		*dst = 1;
	else if (strcasecmp(val, "no") == 0 || strcasecmp(val, "off") == 0 ||
	    strcasecmp(val, "false") == 0 || strcmp(val, "0") == 0)
		*dst = 0;
	else
		return (config_set_bad(ck, val, "yes or no", err, errlen));
	return (0);
}

int
config_set_count(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	const char	*p;
	uint64_t	 v;

	if ((p = config_set_number(val, &v)) == NULL || *p != '\0' ||
	    v > 1000000)
		return (config_set_bad(ck, val, "a whole number up to 1000000",
		    err, errlen));
	*(int *)((char *)cl->cl_cfg + ck->ck_off) = (int)v;
	return (0);
}

/* "N/s" or "N/min": stored as the interval between calls, in us. */
int
config_set_rate(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	const char	*p;
	uint64_t	 v, per;

	if ((p = config_set_number(val, &v)) == NULL || v == 0 ||
	    v > 100000)
		goto bad;
	if (strcmp(p, "/s") == 0)
		per = 1000000;
	else if (strcmp(p, "/min") == 0)
		per = 60000000;
	else
		goto bad;
	/* Rounded up: never faster than the rate. */
	*(long *)((char *)cl->cl_cfg + ck->ck_off) = (long)((per + v - 1) / v);
	return (0);
 bad:
	return (config_set_bad(ck, val, "a rate like 30/s or 20/min, "
	    "1 to 100000", err, errlen));
}

/* allow and allow_bots, lists acl.c parses; a bad one leaves none. */
int
config_set_acl(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;

	if (ck->ck_off == CFG(cfg_allow)) {
		if (acl_parse(cfg->cfg_allow, CONFIG_ALLOW_MAX,
		    &cfg->cfg_nallow, val) == 0)
			return (0);
		cfg->cfg_nallow = 0;
		return (config_set_bad(ck, val, "addresses or CIDRs like "
		    "10.0.0.0/8, comma-separated", err, errlen));
	}
	if (acl_bots_parse(cfg->cfg_bots, CONFIG_BOTS_MAX, &cfg->cfg_nbots,
	    val) == 0)
		return (0);
	cfg->cfg_nbots = 0;
	return (config_set_bad(ck, val, "bot ids (the digits before the "
	    "token's colon), comma-separated", err, errlen));
}

int
config_set_runuser(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	if (*val == '\0' || getpwnam(val) == NULL)
		return (config_set_bad(ck, val, "an existing user name", err,
		    errlen));
	return (config_set_str(&cl->cl_cfg->cfg_user, val, err, errlen));
}

/* Apply one value; prefix errors with where it came from. */
int
config_set_apply(struct config_load *cl, const struct config_key *ck,
    const char *val, const char *where, char *err, size_t errlen)
{
	char	 msg[TGS_ERRLEN];

	if (ck->ck_set(cl, ck, val, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", where, msg);
		return (-1);
	}
	if (ck->ck_set == config_set_pwfile)
		snprintf(cl->cl_pwfile_where, sizeof(cl->cl_pwfile_where),
		    "%s", where);
	return (0);
}
