/* SPDX-License-Identifier: ISC */
/*
 * Configuration from four sources, strongest first: command-line flags,
 * TGSIDECAR_* environment variables, the config file, built-in defaults.
 * One table of keys drives all three parsers; each source is applied in
 * turn (file, env, flags) so the last writer wins.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/util.h>

#include "tgsidecar.h"

#define CONFIG_ENV_PREFIX	"TGSIDECAR_"
#define CONFIG_NAMELEN		64
#define CONFIG_MAX_MS		(24L * 60 * 60 * 1000)	/* sanity bound */
#define CONFIG_OPT_KEY		1000	/* getopt val for table keys */

/* State of one config_load() beyond what struct config holds. */
struct config_load {
	struct config	*cl_cfg;
	int		 cl_proxy_set;	/* by any source, "direct" too */
	char		*cl_user;
	char		*cl_pass;
	char		*cl_pwfile;
	char		 cl_pwfile_where[TGS_ERRLEN];
};

struct config_key;
typedef int (*config_setter)(struct config_load *, const struct config_key *,
    const char *, char *, size_t);

struct config_key {
	const char	*ck_name;	/* file key; env and flag derive */
	int		 ck_short;	/* short flag, or 0 */
	config_setter	 ck_set;
	size_t		 ck_off;	/* field of struct config, if any */
	const char	*ck_arg;	/* for config_usage() */
	const char	*ck_help;
};

static int	config_set_listen(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_upstream(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_proxy(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_user(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_password(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_pwfile(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_auth(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_cafile(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_size(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_duration(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_loglevel(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_logfmt(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_bool(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_count(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_allow(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_bots(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_runuser(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);

#define CFG(f)	offsetof(struct config, f)

static const struct config_key config_keys[] = {
	{ "listen", 'l', config_set_listen, 0, "ADDR:PORT",
	    "address to listen on (" TGS_DEFAULT_LISTEN ")" },
	{ "upstream", 'u', config_set_upstream, 0, "URL",
	    "Bot API server (" TGS_DEFAULT_UPSTREAM ")" },
	{ "proxy", 'x', config_set_proxy, CFG(cfg_proxy), "URLS",
	    "proxies for upstream connections, in failover order (direct)" },
	{ "pre_proxy", 0, config_set_proxy, CFG(cfg_pre_proxy), "URL",
	    "SOCKS proxy to reach the proxy through" },
	{ "proxy_user", 0, config_set_user, 0, "USER",
	    "proxy user name (overrides the URL)" },
	{ "proxy_password", 0, config_set_password, 0, "PASS",
	    "proxy password (overrides the URL)" },
	{ "proxy_password_file", 0, config_set_pwfile, 0, "FILE",
	    "its first line is the proxy password" },
	{ "proxy_auth", 0, config_set_auth, 0, "LIST",
	    "basic,digest,ntlm,negotiate,any (basic)" },
	{ "ca_file", 0, config_set_cafile, 0, "FILE",
	    "extra CA certificates (PEM)" },
	{ "tls_session_resume", 0, config_set_bool,
	    CFG(cfg_tls_session_resume), "yes|no",
	    "resume TLS sessions on fresh connections (yes)" },
	{ "max_body", 0, config_set_size, 0, "SIZE",
	    "largest request body (50M)" },
	{ "connect_timeout", 0, config_set_duration,
	    CFG(cfg_connect_timeout_ms), "TIME",
	    "connecting, TLS included (30s)" },
	{ "upstream_timeout", 0, config_set_duration,
	    CFG(cfg_upstream_timeout_ms), "TIME",
	    "whole upstream request (120s)" },
	{ "poll_timeout", 0, config_set_duration,
	    CFG(cfg_poll_timeout_ms), "TIME",
	    "extra for getUpdates long polls (60s)" },
	{ "idle_timeout", 0, config_set_duration,
	    CFG(cfg_idle_timeout_ms), "TIME",
	    "close idle bot connections (300s)" },
	{ "shutdown_timeout", 0, config_set_duration,
	    CFG(cfg_shutdown_timeout_ms), "TIME",
	    "drain time on SIGTERM (10s)" },
	{ "proxy_fail_timeout", 0, config_set_duration,
	    CFG(cfg_proxy_fail_timeout_ms), "TIME",
	    "skip a failed proxy this long (30s)" },
	{ "retries", 0, config_set_count, CFG(cfg_retries), "N",
	    "retries of a failed upstream attempt (2)" },
	{ "max_inflight", 0, config_set_count, CFG(cfg_max_inflight), "N",
	    "upstream requests at once; 503 beyond (1024)" },
	{ "allow", 0, config_set_allow, 0, "CIDRS",
	    "peers allowed in (loopback only)" },
	{ "allow_bots", 0, config_set_bots, 0, "IDS",
	    "bot ids allowed (any)" },
	{ "user", 0, config_set_runuser, 0, "NAME",
	    "drop root to this user after binding" },
	{ "admin_listen", 0, config_set_listen, CFG(cfg_admin_listen),
	    "ADDR:PORT", "serve /healthz, /readyz, /metrics here only" },
	{ "log_format", 0, config_set_logfmt, 0, "text|json",
	    "access and other log lines (text)" },
	{ "syslog", 0, config_set_bool, CFG(cfg_syslog), "yes|no",
	    "log to syslog instead of stderr (no)" },
	{ "log_level", 0, config_set_loglevel, 0, "LEVEL",
	    "warn, info or debug (info)" },
};
#define CONFIG_NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))

static const struct config_key *
config_key_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].ck_name, name) == 0)
			return (&config_keys[i]);
	return (NULL);
}

/* "max_body" -> "TGSIDECAR_MAX_BODY" (env) or "max-body" (flag). */
static void
config_key_name(const struct config_key *ck, int env, char *buf, size_t len)
{
	const char	*p = env ? CONFIG_ENV_PREFIX : "";
	size_t		 n = 0;

	for (; *p != '\0' && n + 1 < len; p++)
		buf[n++] = *p;
	for (p = ck->ck_name; *p != '\0' && n + 1 < len; p++) {
		if (env)
			buf[n++] = toupper((unsigned char)*p);
		else
			buf[n++] = *p == '_' ? '-' : *p;
	}
	buf[n] = '\0';
}

/* Quote a value for an error message: bounded, printable only. */
static const char *
config_quote(const char *val, char *buf, size_t len)
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
config_bad(const struct config_key *ck, const char *val, const char *expect,
    char *err, size_t errlen)
{
	char	 q[80];

	snprintf(err, errlen, "bad value for %s: \"%s\" (expected %s)",
	    ck->ck_name, config_quote(val, q, sizeof(q)), expect);
	return (-1);
}

static int
config_strset(char **dst, const char *val, char *err, size_t errlen)
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

static void
config_secret_free(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static int
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
		return (config_bad(ck, val, "ADDRESS:PORT, e.g. "
		    "127.0.0.1:8081 or [::1]:8081", err, errlen));
	if (ck->ck_off == CFG(cfg_admin_listen)) {
		if (config_strset(&cfg->cfg_admin_listen, val, err,
		    errlen) == -1)
			return (-1);
		cfg->cfg_admin_ss = ss;
		cfg->cfg_admin_sslen = len;
		return (0);
	}
	if (config_strset(&cfg->cfg_listen, val, err, errlen) == -1)
		return (-1);
	cfg->cfg_listen_ss = ss;
	cfg->cfg_listen_sslen = len;
	return (0);
}

static int
config_set_logfmt(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	if (strcasecmp(val, "text") == 0)
		cl->cl_cfg->cfg_log_json = 0;
	else if (strcasecmp(val, "json") == 0)
		cl->cl_cfg->cfg_log_json = 1;
	else
		return (config_bad(ck, val, "text or json", err, errlen));
	return (0);
}

/* Check a parsed upstream URL; return NULL or what is wrong with it. */
static const char *
config_upstream_why(CURLU *u, const char *val, char **scheme, char **host,
    char **port)
{
	const char	*why = NULL;
	char		*x = NULL, *path = NULL;
	CURLUcode	 rc;
	int		 n;

	if (strstr(val, "://") == NULL)
		return ("needs a scheme, e.g. " TGS_DEFAULT_UPSTREAM);
	if ((rc = curl_url_set(u, CURLUPART_URL, val, 0)) != CURLUE_OK)
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
	    curl_url_get(u, CURLUPART_FRAGMENT, &x, 0) != CURLUE_NO_FRAGMENT ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
	    (strcmp(path, "/") != 0 && *path != '\0'))
		why = "no path, query or fragment allowed";
	else if ((rc = curl_url_get(u, CURLUPART_PORT, port, 0)) !=
	    CURLUE_OK && rc != CURLUE_NO_PORT)
		why = "bad port";
	else if (*port != NULL && ((n = atoi(*port)) < 1 || n > 65535))
		why = "port must be 1..65535";
	curl_free(x);
	curl_free(path);
	return (why);
}

/*
 * Upstream: http(s)://host[:port] with nothing after it but "/". Stored
 * without the slash; cfg_upstream_host is the bare host (no IPv6
 * brackets), like px_host.
 */
static int
config_set_upstream(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	CURLU		*u = NULL;
	char		*scheme = NULL, *host = NULL, *port = NULL;
	char		*url = NULL, *bare = NULL, q[80];
	const char	*why;
	size_t		 hlen;
	int		 n, ret = -1;

	if (strchr(val, '@') != NULL) {
		/* Do not echo it: it may hold a password. */
		snprintf(err, errlen, "bad value for %s: credentials are not "
		    "allowed in the upstream URL", ck->ck_name);
		return (-1);
	}
	if ((u = curl_url()) == NULL)
		goto nomem;
	why = config_upstream_why(u, val, &scheme, &host, &port);
	if (why != NULL) {
		snprintf(err, errlen, "bad value for %s: \"%s\" (%s)",
		    ck->ck_name, config_quote(val, q, sizeof(q)), why);
		goto done;
	}

	n = port != NULL ? asprintf(&url, "%s://%s:%s", scheme, host, port) :
	    asprintf(&url, "%s://%s", scheme, host);
	if (n == -1) {
		url = NULL;
		goto nomem;
	}
	hlen = strlen(host);
	if (host[0] == '[' && hlen >= 2)
		bare = strndup(host + 1, hlen - 2);
	else
		bare = strdup(host);
	if (bare == NULL)
		goto nomem;
	free(cfg->cfg_upstream);
	free(cfg->cfg_upstream_host);
	cfg->cfg_upstream = url;
	cfg->cfg_upstream_host = bare;
	url = bare = NULL;
	ret = 0;
	goto done;

 nomem:
	snprintf(err, errlen, "out of memory");
 done:
	free(url);
	free(bare);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return (ret);
}

/* One proxy URL, or for "proxy" a comma-separated failover list. */
static int
config_set_proxy(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	struct proxy	 px[CONFIG_PROXY_MAX];
	char		 msg[TGS_ERRLEN], *one = NULL;
	const char	*p = val, *e;
	int		 n = 0, i, list = ck->ck_off == CFG(cfg_proxy);

	memset(px, 0, sizeof(px));
	do {
		e = list ? strchr(p, ',') : NULL;
		if (e == NULL)
			e = p + strlen(p);
		if (n == CONFIG_PROXY_MAX) {
			snprintf(err, errlen, "bad value for %s: at most %d "
			    "proxies", ck->ck_name, CONFIG_PROXY_MAX);
			goto fail;
		}
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
		config_secret_free(&one);
		n++;
		p = *e == ',' ? e + 1 : e;
	} while (*p != '\0');
	if (!list && px[0].px_scheme != PROXY_NONE && !proxy_is_socks(&px[0])) {
		snprintf(err, errlen, "pre_proxy must be a SOCKS proxy "
		    "(socks5://, socks5h:// or socks4a://)");
		goto fail;
	}
	for (i = 0; n > 1 && i < n; i++)
		if (px[i].px_scheme == PROXY_NONE) {
			snprintf(err, errlen, "bad value for %s: \"direct\" "
			    "cannot be part of a proxy list", ck->ck_name);
			goto fail;
		}
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
	config_secret_free(&one);
	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		proxy_clear(&px[i]);
	return (-1);
}

static int
config_set_user(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	(void)ck;
	return (config_strset(&cl->cl_user, val, err, errlen));
}

/* proxy_password and proxy_password_file share one slot: last wins. */
static int
config_set_password(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	char	*s;

	(void)ck;
	if ((s = strdup(val)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	config_secret_free(&cl->cl_pass);
	free(cl->cl_pwfile);
	cl->cl_pwfile = NULL;
	cl->cl_pass = s;
	return (0);
}

/* Read at the end, so a file overridden by a stronger source is unused. */
static int
config_set_pwfile(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	if (*val == '\0')
		return (config_bad(ck, val, "a file name", err, errlen));
	if (config_strset(&cl->cl_pwfile, val, err, errlen) == -1)
		return (-1);
	config_secret_free(&cl->cl_pass);
	return (0);
}

static int
config_read_pwfile(struct config_load *cl, char *err, size_t errlen)
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
	config_secret_free(&cl->cl_pass);
	cl->cl_pass = line;
	return (0);
}

static int
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
			return (config_bad(ck, val, "basic, digest, ntlm, "
			    "negotiate or any, comma-separated", err, errlen));
		mask |= auths[i].a_mask;
		while (isspace((unsigned char)*e))
			e++;
		if (*e == '\0')
			break;
		if (*e != ',')
			return (config_bad(ck, val, "basic, digest, ntlm, "
			    "negotiate or any, comma-separated", err, errlen));
		p = e + 1;
	}
	cl->cl_cfg->cfg_proxy_auth = (long)mask;
	return (0);
}

static int
config_set_cafile(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct stat	 st;
	char		 q[80];
	int		 fd;

	if ((fd = open(val, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot read %s \"%s\": %s", ck->ck_name,
		    config_quote(val, q, sizeof(q)), strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "cannot read %s \"%s\": not a regular "
		    "file", ck->ck_name, config_quote(val, q, sizeof(q)));
		return (-1);
	}
	close(fd);
	return (config_strset(&cl->cl_cfg->cfg_ca_file, val, err, errlen));
}

/* Parse leading decimal digits; return the rest, or NULL on overflow. */
static const char *
config_number(const char *s, uint64_t *out)
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

static int
config_set_size(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
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

	if ((p = config_number(val, &v)) == NULL)
		goto bad;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(p, units[i].u_name) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]) || v == 0 ||
	    v > UINT64_MAX / units[i].u_mult)
		goto bad;
	cl->cl_cfg->cfg_max_body = v * units[i].u_mult;
	return (0);
 bad:
	return (config_bad(ck, val, "a size like 50M", err, errlen));
}

static int
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

	if ((p = config_number(val, &v)) == NULL)
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
	return (config_bad(ck, val, "a duration like 30s, 500ms or 2m, "
	    "at most 24h", err, errlen));
}

static int
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
		return (config_bad(ck, val, "warn, info or debug", err,
		    errlen));
	return (0);
}

static int
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
		return (config_bad(ck, val, "yes or no", err, errlen));
	return (0);
}

static int
config_set_count(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	const char	*p;
	uint64_t	 v;

	if ((p = config_number(val, &v)) == NULL || *p != '\0' ||
	    v > 1000000)
		return (config_bad(ck, val, "a whole number up to 1000000",
		    err, errlen));
	*(int *)((char *)cl->cl_cfg + ck->ck_off) = (int)v;
	return (0);
}

static int
config_set_allow(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;

	if (acl_parse(cfg->cfg_allow, CONFIG_ALLOW_MAX, &cfg->cfg_nallow,
	    val) == -1) {
		cfg->cfg_nallow = 0;
		return (config_bad(ck, val, "addresses or CIDRs like "
		    "10.0.0.0/8, comma-separated", err, errlen));
	}
	return (0);
}

static int
config_set_bots(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;

	if (acl_bots_parse(cfg->cfg_bots, CONFIG_BOTS_MAX, &cfg->cfg_nbots,
	    val) == -1) {
		cfg->cfg_nbots = 0;
		return (config_bad(ck, val, "bot ids (the digits before the "
		    "token's colon), comma-separated", err, errlen));
	}
	return (0);
}

static int
config_set_runuser(struct config_load *cl, const struct config_key *ck,
    const char *val, char *err, size_t errlen)
{
	if (*val == '\0' || getpwnam(val) == NULL)
		return (config_bad(ck, val, "an existing user name", err,
		    errlen));
	return (config_strset(&cl->cl_cfg->cfg_user, val, err, errlen));
}

/* Apply one value; prefix errors with where it came from. */
static int
config_apply(struct config_load *cl, const struct config_key *ck,
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

void
config_init(struct config *cfg)
{
	struct config_load	 cl;
	char			 err[TGS_ERRLEN];
	int			 refs = cfg->cfg_refs;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cfg_refs = refs;	/* a config_new() one keeps its owner */
	memset(&cl, 0, sizeof(cl));
	cl.cl_cfg = cfg;
	/* On allocation failure these stay NULL; config_load() checks. */
	(void)config_set_listen(&cl, &config_keys[0], TGS_DEFAULT_LISTEN,
	    err, sizeof(err));
	(void)config_set_upstream(&cl, &config_keys[1], TGS_DEFAULT_UPSTREAM,
	    err, sizeof(err));
	/* Basic: curl's "any" costs a 407 round trip per fresh connection. */
	cfg->cfg_proxy_auth = CURLAUTH_BASIC;
	cfg->cfg_max_body = 50ULL << 20;
	cfg->cfg_nproxy = 1;	/* [0] zeroed: direct */
	cfg->cfg_proxy_fail_timeout_ms = 30 * 1000L;
	cfg->cfg_retries = 2;
	cfg->cfg_max_inflight = 1024;
	cfg->cfg_tls_session_resume = 1;
	cfg->cfg_connect_timeout_ms = 30 * 1000L;
	cfg->cfg_upstream_timeout_ms = 120 * 1000L;
	cfg->cfg_poll_timeout_ms = 60 * 1000L;
	cfg->cfg_idle_timeout_ms = 300 * 1000L;
	cfg->cfg_shutdown_timeout_ms = 10 * 1000L;
	cfg->cfg_log_level = LOG_LEVEL_INFO;
}

/* A heap config with one reference, for the server and reloads. */
struct config *
config_new(void)
{
	struct config	*cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return (NULL);
	cfg->cfg_refs = 1;
	return (cfg);
}

struct config *
config_ref(struct config *cfg)
{
	cfg->cfg_refs++;
	return (cfg);
}

/* The last user of a replaced config frees it. */
void
config_unref(struct config *cfg)
{
	if (cfg == NULL || --cfg->cfg_refs > 0)
		return;
	config_free(cfg);
	free(cfg);
}

void
config_free(struct config *cfg)
{
	int	 i;

	free(cfg->cfg_listen);
	free(cfg->cfg_admin_listen);
	free(cfg->cfg_upstream);
	free(cfg->cfg_upstream_host);
	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		proxy_clear(&cfg->cfg_proxy[i]);
	proxy_clear(&cfg->cfg_pre_proxy);
	free(cfg->cfg_user);
	free(cfg->cfg_noproxy);
	free(cfg->cfg_ca_file);
	memset(cfg, 0, sizeof(*cfg));
}

static const char *
config_getenv(char **envp, const char *name)
{
	size_t	 i, n = strlen(name);

	if (envp == NULL)
		return (NULL);
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return (envp[i] + n + 1);
	return (NULL);
}

/* Is the rest of a line blank or a comment? */
static int
config_line_end(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return (*p == '\0' || *p == '#');
}

/*
 * Split "key = value" in place. A quoted value ends at the first quote
 * followed only by blanks or a comment, so it may hold '"' and '#'; an
 * unquoted one ends at a '#' after a blank. Return NULL or a message.
 */
static const char *
config_line(char *line, char **key, char **val)
{
	char	*p, *e, *q;

	for (p = line; isspace((unsigned char)*p); p++)
		;
	if (*p == '\0' || *p == '#') {
		*key = NULL;
		return (NULL);
	}
	if ((e = strchr(p, '=')) == NULL)
		return ("expected \"key = value\"");
	*key = p;
	for (q = e; q > p && isspace((unsigned char)q[-1]); q--)
		;
	*q = '\0';
	if (**key == '\0')
		return ("expected \"key = value\"");
	for (p = e + 1; isspace((unsigned char)*p); p++)
		;
	if (*p == '"') {
		for (q = p + 1; (q = strchr(q, '"')) != NULL; q++)
			if (config_line_end(q + 1))
				break;
		if (q == NULL)
			return ("unterminated quoted value");
		*q = '\0';
		*val = p + 1;
		return (NULL);
	}
	for (q = p; *q != '\0'; q++)
		if (*q == '#' && q > p && isspace((unsigned char)q[-1]))
			break;
	while (q > p && isspace((unsigned char)q[-1]))
		q--;
	*q = '\0';
	*val = p;
	return (NULL);
}

/* A password in a file others can read is worth a warning, not a stop. */
static void
config_file_mode(struct config_load *cl, FILE *fp, const char *path)
{
	struct stat	 st;
	int		 i, secret = cl->cl_pass != NULL ||
			    cl->cl_cfg->cfg_pre_proxy.px_pass != NULL;

	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		if (cl->cl_cfg->cfg_proxy[i].px_pass != NULL)
			secret = 1;
	if (secret && fstat(fileno(fp), &st) == 0 && (st.st_mode & 077))
		log_warnx("%s holds a proxy password but is readable by "
		    "group or others (mode %03o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 0777));
}

static int
config_file(struct config_load *cl, const char *path, char *err,
    size_t errlen)
{
	const struct config_key	*ck;
	FILE			*fp;
	char			*line = NULL, *key, *val, where[TGS_ERRLEN];
	const char		*msg;
	size_t			 sz = 0;
	ssize_t			 n;
	int			 lineno = 0, ret = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return (-1);
	}
	while ((n = getline(&line, &sz, fp)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if ((msg = config_line(line, &key, &val)) != NULL) {
			snprintf(err, errlen, "%s: %s", where, msg);
			goto done;
		}
		if (key == NULL)
			continue;
		if ((ck = config_key_find(key)) == NULL) {
			char	 q[80];

			snprintf(err, errlen, "%s: unknown key \"%s\"", where,
			    config_quote(key, q, sizeof(q)));
			goto done;
		}
		if (config_apply(cl, ck, val, where, err, errlen) == -1)
			goto done;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", path,
		    strerror(errno));
		goto done;
	}
	config_file_mode(cl, fp, path);
	ret = 0;
 done:
	if (line != NULL) {
		/* It may have held a password. */
		explicit_bzero(line, sz);
		free(line);
	}
	fclose(fp);
	return (ret);
}

/* An empty variable counts as unset, as with HTTPS_PROXY. */
static int
config_env(struct config_load *cl, char **envp, char *err, size_t errlen)
{
	char		 name[CONFIG_NAMELEN];
	const char	*val;
	size_t		 i;

	for (i = 0; i < CONFIG_NKEYS; i++) {
		config_key_name(&config_keys[i], 1, name, sizeof(name));
		if ((val = config_getenv(envp, name)) == NULL || *val == '\0')
			continue;
		if (config_apply(cl, &config_keys[i], val, name, err,
		    errlen) == -1)
			return (-1);
	}
	return (0);
}

struct config_flag {
	const struct config_key	*cf_key;
	const char		*cf_val;
};

/* Flags that are not config keys, and the terminator. */
static const struct option config_cli_opts[] = {
	{ "config",		required_argument,	NULL,	'c' },
	{ "check-config",	no_argument,		NULL,	't' },
	{ "version",		no_argument,		NULL,	'V' },
	{ "help",		no_argument,		NULL,	'h' },
	{ NULL,			0,			NULL,	0 },
};
#define CONFIG_NCLI	(sizeof(config_cli_opts) / sizeof(config_cli_opts[0]))

/* Name the bad option; of "--opt=value" only the "--opt" part. */
static void
config_getopt_err(int c, int argc, char **argv, const struct option *lo,
    char *err, size_t errlen)
{
	const char	*opt, *eq, *what;
	size_t		 n;

	what = c == ':' ? "missing argument for option" : "unknown option";
	opt = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
	if (strncmp(opt, "--", 2) != 0 && optopt > 0 && optopt < 256 &&
	    isprint(optopt)) {
		snprintf(err, errlen, "%s -%c", what, optopt);
		return;
	}
	n = (eq = strchr(opt, '=')) != NULL ? (size_t)(eq - opt) : strlen(opt);
	for (; eq != NULL && lo->name != NULL; lo++)
		if (lo->has_arg == no_argument && n > 2 &&
		    strncmp(lo->name, opt + 2, n - 2) == 0 &&
		    lo->name[n - 2] == '\0')
			what = "no argument allowed for option";
	snprintf(err, errlen, "%s %.*s", what, (int)(n > 64 ? 64 : n), opt);
}

/*
 * Parse argv into cli, the config file path and the key flags, which are
 * applied later, after the file and the environment.
 */
static int
config_getopt(struct config_cli *cli, int argc, char **argv,
    const char **path, struct config_flag *flags, size_t *nflags,
    char *err, size_t errlen)
{
	char		 names[CONFIG_NKEYS][CONFIG_NAMELEN];
	struct option	 longopts[CONFIG_NKEYS + CONFIG_NCLI];
	char		 optstr[64] = "+:c:tVh";
	size_t		 i, n;
	int		 c;

	n = strlen(optstr);
	for (i = 0; i < CONFIG_NKEYS; i++) {
		config_key_name(&config_keys[i], 0, names[i], sizeof(names[i]));
		longopts[i].name = names[i];
		longopts[i].has_arg = required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = CONFIG_OPT_KEY + (int)i;
		if (config_keys[i].ck_short != 0 && n + 3 < sizeof(optstr)) {
			optstr[n++] = (char)config_keys[i].ck_short;
			optstr[n++] = ':';
			optstr[n] = '\0';
		}
	}
	memcpy(&longopts[i], config_cli_opts, sizeof(config_cli_opts));

	/* optind = 0 makes glibc start over, so we can be called again. */
#ifdef __GLIBC__
	optind = 0;
#else
	optind = 1;
#endif
	opterr = 0;
	*nflags = 0;
	while ((c = getopt_long(argc, argv, optstr, longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			continue;
		case 't':
			cli->cli_check = 1;
			continue;
		case 'V':
			cli->cli_version = 1;
			continue;
		case 'h':
			cli->cli_help = 1;
			continue;
		case '?':
		case ':':
			break;
		default:
			if (c >= CONFIG_OPT_KEY)
				flags[*nflags].cf_key =
				    &config_keys[c - CONFIG_OPT_KEY];
			else
				for (i = 0; i < CONFIG_NKEYS; i++)
					if (config_keys[i].ck_short == c)
						flags[*nflags].cf_key =
						    &config_keys[i];
			flags[(*nflags)++].cf_val = optarg;
			continue;
		}
		config_getopt_err(c, argc, argv, longopts, err, errlen);
		return (-1);
	}
	if (optind < argc) {
		/* Not quoted: a misplaced password could end up here. */
		snprintf(err, errlen, "unexpected argument #%d (see --help)",
		    optind);
		return (-1);
	}
	return (0);
}

static int
config_flags(struct config_load *cl, struct config_flag *flags,
    size_t nflags, char *err, size_t errlen)
{
	const struct config_key	*ck;
	char			 where[CONFIG_NAMELEN + 2];
	size_t			 i;

	for (i = 0; i < nflags; i++) {
		ck = flags[i].cf_key;
		where[0] = where[1] = '-';
		config_key_name(ck, 0, where + 2, sizeof(where) - 2);
		if (config_apply(cl, ck, flags[i].cf_val, where, err,
		    errlen) == -1)
			return (-1);
	}
	return (0);
}

static int
config_secret(const char *pass, char *err, size_t errlen)
{
	char	*esc;

	if (pass == NULL)
		return (0);
	log_secret(pass);
	/* The URL form too, should a proxy URL ever get logged whole. */
	if ((esc = curl_easy_escape(NULL, pass, 0)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	log_secret(esc);
	curl_free(esc);
	return (0);
}

/* Cross-key rules and fallbacks, once every source has been applied. */
static int
config_finish(struct config_load *cl, char **envp, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	struct proxy	*px;
	const char	*np;
	int		 i;

	if (!cl->cl_proxy_set &&
	    proxy_from_env(&cfg->cfg_proxy[0], envp, err, errlen) == -1)
		return (-1);
	/* NO_PROXY belongs with the proxy variables; a configured proxy wins. */
	if (!cl->cl_proxy_set &&
	    (((np = config_getenv(envp, "no_proxy")) != NULL && *np != '\0') ||
	    ((np = config_getenv(envp, "NO_PROXY")) != NULL && *np != '\0')))
		if (config_strset(&cfg->cfg_noproxy, np, err, errlen) == -1)
			return (-1);
	if (cl->cl_pwfile != NULL && config_read_pwfile(cl, err, errlen) == -1)
		return (-1);

	/* Credentials apply to every proxy of the list; "direct" has none. */
	for (i = 0; i < cfg->cfg_nproxy; i++) {
		px = &cfg->cfg_proxy[i];
		if (px->px_scheme == PROXY_NONE)
			continue;
		if (cl->cl_user != NULL) {
			free(px->px_user);
			if ((px->px_user = strdup(cl->cl_user)) == NULL)
				goto nomem;
		}
		if (cl->cl_pass != NULL) {
			config_secret_free(&px->px_pass);
			if ((px->px_pass = strdup(cl->cl_pass)) == NULL)
				goto nomem;
		}
		if (config_secret(px->px_pass, err, errlen) == -1)
			return (-1);
	}
	if (cfg->cfg_pre_proxy.px_scheme != PROXY_NONE &&
	    cfg->cfg_proxy[0].px_scheme == PROXY_NONE) {
		snprintf(err, errlen, "pre_proxy is set but there is no proxy "
		    "to chain it with");
		return (-1);
	}
	if (config_secret(cfg->cfg_pre_proxy.px_pass, err, errlen) == -1)
		return (-1);
	if (cfg->cfg_max_inflight < 1) {
		snprintf(err, errlen, "max_inflight must be at least 1");
		return (-1);
	}
	/* No authentication of its own: strangers must be named, not guessed. */
	if (cfg->cfg_nallow == 0 && cfg->cfg_admin_listen != NULL &&
	    !acl_loopback((struct sockaddr *)&cfg->cfg_admin_ss)) {
		snprintf(err, errlen, "admin_listen %s is not a loopback "
		    "address: set allow to the addresses or CIDRs that may use "
		    "it (e.g. allow = 10.0.0.0/8)", cfg->cfg_admin_listen);
		return (-1);
	}
	if (cfg->cfg_nallow == 0 &&
	    !acl_loopback((struct sockaddr *)&cfg->cfg_listen_ss)) {
		snprintf(err, errlen, "listen %s is not a loopback address: "
		    "set allow to the addresses or CIDRs that may use the "
		    "sidecar (e.g. allow = 10.0.0.0/8)", cfg->cfg_listen);
		return (-1);
	}
	return (0);
 nomem:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

/*
 * Load cfg from flags, environment, file and defaults. -h and -V return
 * early with the defaults, so they work even with a broken config. On
 * failure cfg is freed already (config_free() on it again is harmless).
 */
int
config_load(struct config *cfg, struct config_cli *cli, int argc,
    char **argv, char **envp, char *err, size_t errlen)
{
	struct config_load	 cl;
	struct config_flag	*flags = NULL;
	const char		*path;
	size_t			 nflags = 0;
	int			 ret = -1;

	memset(&cl, 0, sizeof(cl));
	memset(cli, 0, sizeof(*cli));
	config_init(cfg);
	cl.cl_cfg = cfg;
	if (cfg->cfg_listen == NULL || cfg->cfg_upstream == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if ((flags = calloc(argc > 0 ? argc : 1, sizeof(*flags))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	path = config_getenv(envp, CONFIG_ENV_PREFIX "CONFIG");
	if (config_getopt(cli, argc, argv, &path, flags, &nflags, err,
	    errlen) == -1)
		goto done;
	if (cli->cli_help || cli->cli_version) {
		ret = 0;
		goto done;
	}
	if (path != NULL && *path != '\0' &&
	    config_file(&cl, path, err, errlen) == -1)
		goto done;
	if (config_env(&cl, envp, err, errlen) == -1 ||
	    config_flags(&cl, flags, nflags, err, errlen) == -1 ||
	    config_finish(&cl, envp, err, errlen) == -1)
		goto done;
	ret = 0;
 done:
	free(flags);
	free(cl.cl_user);
	config_secret_free(&cl.cl_pass);
	free(cl.cl_pwfile);
	if (ret == -1)
		config_free(cfg);
	return (ret);
}

/* "--some-key ARG" for the usage; returns its length. */
static int
config_usage_flag(const struct config_key *ck, char *flag, size_t len)
{
	size_t	n;

	n = (size_t)snprintf(flag, len, "--");
	config_key_name(ck, 0, flag + n, len - n);
	n = strlen(flag);
	snprintf(flag + n, len - n, " %s", ck->ck_arg);
	return ((int)strlen(flag));
}

static void
config_usage_row(FILE *fp, int sc, const char *flag, int width,
    const char *help)
{
	if (sc != 0)
		fprintf(fp, "  -%c, %-*s  %s\n", sc, width, flag, help);
	else
		fprintf(fp, "      %-*s  %s\n", width, flag, help);
}

void
config_usage(FILE *fp)
{
	const struct config_key	*ck;
	char			 flag[CONFIG_NAMELEN + 24];
	size_t			 i;
	int			 n, width;

	/* One column for every description, however long a new key is. */
	width = (int)strlen("--check-config");
	for (i = 0; i < CONFIG_NKEYS; i++) {
		n = config_usage_flag(&config_keys[i], flag, sizeof(flag));
		if (n > width)
			width = n;
	}
	fprintf(fp, "usage: tgsidecar [-htV] [-c FILE] [--KEY VALUE ...]\n\n");
	config_usage_row(fp, 'c', "--config FILE", width,
	    "config file (or TGSIDECAR_CONFIG)");
	config_usage_row(fp, 't', "--check-config", width,
	    "check the configuration and exit");
	config_usage_row(fp, 'V', "--version", width,
	    "print the version and exit");
	config_usage_row(fp, 'h', "--help", width, "print this help and exit");
	fprintf(fp, "\n"
	    "Settings (defaults in parentheses). Each --some-key is also\n"
	    "TGSIDECAR_SOME_KEY in the environment and some_key in the file;\n"
	    "flags beat the environment, which beats the file.\n\n");
	for (i = 0; i < CONFIG_NKEYS; i++) {
		ck = &config_keys[i];
		config_usage_flag(ck, flag, sizeof(flag));
		config_usage_row(fp, ck->ck_short, flag, width, ck->ck_help);
	}
	fprintf(fp, "\n"
	    "Proxy URL: {http|https|socks5|socks5h|socks4a}://[user:pass@]"
	    "host[:port]\n"
	    "Sizes: 512K, 50M; durations: 500ms, 30s, 2m.\n"
	    "Without a proxy setting, https_proxy, HTTPS_PROXY, all_proxy or "
	    "ALL_PROXY\nis used; \"direct\" ignores them.\n");
}
