/* SPDX-License-Identifier: ISC */
/*
 * One upstream connection, never used for more than one request.
 * libcurl is the tunnel factory: a CONNECT_ONLY transfer to the
 * upstream's host and port as an http:// URL, so it does TCP, the proxy
 * step (HTTP CONNECT with every proxy_auth scheme, SOCKS4a/5/5h,
 * pre_proxy) and no TLS.  Then the socket is ours and the handle goes
 * (it costs memory for the connection's life, and a handle left in the
 * multi undriven is pruned as dead after CURLOPT_MAXAGE_CONN).  The
 * upstream's TLS is ours (tls.c), under connect_timeout as a whole.
 *
 * An https:// proxy is the exception: its own TLS is inside libcurl, so
 * the handle stays, and our TLS runs over a BIO on curl_easy_send() and
 * curl_easy_recv().
 */
#include "config.h"

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "conn.h"
#include "failover.h"
#include "log.h"
#include "multi.h"
#include "proxy.h"
#include "proxyauth.h"
#include "tls.h"
#include "upstream_fail.h"
#include "util.h"

#define CONN_MAXAGE_S	(365L * 24 * 3600)	/* see the comment above */

enum conn_state { CONN_TUNNEL, CONN_HANDSHAKE, CONN_READY, CONN_FAILED };

struct conn {
	struct event_base	*cn_base;
	struct config		*cn_cfg;	/* a reference */
	int			 cn_proxy;	/* index in cfg_proxy */
	conn_done_fn		 cn_done;
	void			*cn_arg;
	CURL			*cn_easy;	/* the tunnel's, while needed */
	int			 cn_fd;
	int			 cn_taken;	/* the socket is ours to close */
	int			 cn_tunneled;	/* libcurl's part is done */
	SSL			*cn_ssl;	/* NULL: an http:// upstream */
	char			*cn_key;	/* "host:port": TLS sessions */
	struct event		*cn_ev;		/* the handshake's I/O */
	struct event		*cn_timer;	/* ... and its clock */
	int			 cn_state;	/* enum conn_state */
	short			 cn_want;	/* after CONN_AGAIN */
	struct timespec		 cn_t0;
	double			 cn_t_tunnel;	/* ms */
	double			 cn_t_tls;
	long			 cn_tls_clock;	/* the handshake's, ms */
	long			 cn_tls_learned;	/* its base; 0: none */
	/* A failure, for conn_facts(). */
	CURLcode		 cn_rc;
	long			 cn_connect_code;
	long			 cn_pxcode;
	long			 cn_pxauth;
	int			 cn_fds;
	int			 cn_stage;	/* enum upstream_stage */
	char			 cn_why[CURL_ERROR_SIZE];
};

static BIO_METHOD	*conn_bio_method;

/* Only the socket we took stays open; libcurl's others close. */
static int
conn_closesocket(void *arg, curl_socket_t fd)
{
	struct conn	*cn = arg;

	if (cn->cn_taken && fd == cn->cn_fd)
		return (0);
	return (close(fd));
}

/* A pre-proxy has no separate credential options: they go in its URL. */
static char *
conn_proxy_url(const struct proxy *px)
{
	char		*u = NULL, *p = NULL, *url = NULL;
	const char	*sep;
	size_t		 slen;

	if (px->px_user == NULL)
		return (strdup(px->px_url));
	if ((u = curl_easy_escape(NULL, px->px_user, 0)) == NULL ||
	    (p = curl_easy_escape(NULL, px->px_pass ? px->px_pass : "",
	    0)) == NULL)
		goto fail;
	sep = strstr(px->px_url, "://");
	slen = sep - px->px_url + 3;
	if (asprintf(&url, "%.*s%s:%s@%s", (int)slen, px->px_url, u, p,
	    px->px_url + slen) == -1)
		url = NULL;
 fail:
	curl_free(u);
	curl_free(p);
	return (url);
}

/* The way to the upstream: proxy, its auth, pre-proxy, NO_PROXY. */
static int
conn_setproxy(struct conn *cn, CURL *e)
{
	const struct config	*cfg = cn->cn_cfg;
	const struct proxy	*px = &cfg->cfg_proxy[cn->cn_proxy];
	char			*pre;
	int			 rc;

	if (px->px_scheme == PROXY_NONE) {
		/* "" keeps libcurl from reading proxy variables itself. */
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		return (0);
	}
	curl_easy_setopt(e, CURLOPT_PROXY, px->px_url);
	/* An http:// URL through an HTTP proxy: CONNECT, not a GET. */
	if (!proxy_is_socks(px))
		curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	if (px->px_user != NULL) {
		curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, px->px_user);
		curl_easy_setopt(e, CURLOPT_PROXYPASSWORD,
		    px->px_pass != NULL ? px->px_pass : "");
		curl_easy_setopt(e, CURLOPT_PROXYAUTH, cfg->cfg_proxy_auth);
	} else if (proxyauth_userpwd(cfg, px) != NULL) {
		/* GSS-API uses the ticket cache only with a user set. */
		curl_easy_setopt(e, CURLOPT_PROXYUSERPWD,
		    proxyauth_userpwd(cfg, px));
		curl_easy_setopt(e, CURLOPT_PROXYAUTH, cfg->cfg_proxy_auth);
	}
	if (cfg->cfg_noproxy != NULL)
		curl_easy_setopt(e, CURLOPT_NOPROXY, cfg->cfg_noproxy);
	if (cfg->cfg_pre_proxy.px_scheme == PROXY_NONE)
		return (0);
	if ((pre = conn_proxy_url(&cfg->cfg_pre_proxy)) == NULL)
		return (-1);
	rc = curl_easy_setopt(e, CURLOPT_PRE_PROXY, pre) == CURLE_OK ? 0 : -1;
	free(pre);	/* libcurl keeps its own copy */
	return (rc);
}

/*
 * The upstream's host and port as "host:port" (IPv6 in brackets), the
 * default port written out: the tunnel's target and the session key.
 */
static char *
conn_authority(const char *upstream)
{
	const char	*h = strstr(upstream, "://"), *end, *colon, *bracket;
	char		*key;
	int		 https = strncmp(upstream, "https:", 6) == 0;

	h = h != NULL ? h + 3 : upstream;
	if ((end = strchr(h, '/')) == NULL)
		end = h + strlen(h);
	colon = memrchr(h, ':', end - h);
	bracket = memrchr(h, ']', end - h);
	if (colon != NULL && (bracket == NULL || colon > bracket)) {
		if (asprintf(&key, "%.*s", (int)(end - h), h) == -1)
			return (NULL);
	} else if (asprintf(&key, "%.*s:%d", (int)(end - h), h,
	    https ? 443 : 80) == -1)
		return (NULL);
	return (key);
}

static CURL *
conn_easy(struct conn *cn)
{
	const struct config	*cfg = cn->cn_cfg;
	CURL			*e;
	char			*url = NULL;

	if ((e = curl_easy_init()) == NULL ||
	    asprintf(&url, "http://%s/", cn->cn_key) == -1)
		goto fail;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	/* With FORBID_REUSE the connection closes as CONNECT_ONLY ends. */
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 0L);
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, CONN_MAXAGE_S);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cn->cn_why);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->cfg_connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->cfg_connect_timeout_ms);
	/* curl_easy_recv() fills our buffer: libcurl's own holds nothing. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, conn_closesocket);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, cn);
	tls_setopts(e);		/* an https:// proxy's own TLS */
	if (conn_setproxy(cn, e) == -1)
		goto fail;
	free(url);
	return (e);
 fail:
	free(url);
	if (e != NULL)
		curl_easy_cleanup(e);
	return (NULL);
}

static int
conn_https_proxy(const struct conn *cn)
{
	return (cn->cn_cfg->cfg_proxy[cn->cn_proxy].px_scheme == PROXY_HTTPS);
}

/* libcurl's handle goes; with it the connection, unless we took it. */
static void
conn_drop_easy(struct conn *cn)
{
	if (cn->cn_easy == NULL)
		return;
	multi_remove(cn->cn_easy);
	curl_easy_cleanup(cn->cn_easy);
	cn->cn_easy = NULL;
}

static void
conn_stop_clock(struct conn *cn)
{
	if (cn->cn_ev != NULL)
		event_free(cn->cn_ev);
	if (cn->cn_timer != NULL)
		event_free(cn->cn_timer);
	cn->cn_ev = cn->cn_timer = NULL;
}

/* The owner hears of it; it may close cn there. */
static void
conn_finish(struct conn *cn, int ok)
{
	conn_stop_clock(cn);
	cn->cn_state = ok ? CONN_READY : CONN_FAILED;
	cn->cn_done(cn->cn_arg, cn, ok ? 0 : -1);
}

static void
conn_fail(struct conn *cn, int stage, const char *why)
{
	cn->cn_stage = stage;
	if (why != NULL)
		snprintf(cn->cn_why, sizeof(cn->cn_why), "%s", why);
	conn_finish(cn, 0);
}

/* The BIO under our TLS through an https:// proxy: libcurl's tunnel. */
static int
conn_bio_write(BIO *b, const char *buf, int len)
{
	struct conn	*cn = BIO_get_data(b);
	size_t		 n = 0;
	CURLcode	 rc;

	BIO_clear_retry_flags(b);
	rc = curl_easy_send(cn->cn_easy, buf, len, &n);
	if (rc == CURLE_AGAIN) {
		BIO_set_retry_write(b);
		return (-1);
	}
	return (rc == CURLE_OK ? (int)n : -1);
}

static int
conn_bio_read(BIO *b, char *buf, int len)
{
	struct conn	*cn = BIO_get_data(b);
	size_t		 n = 0;
	CURLcode	 rc;

	BIO_clear_retry_flags(b);
	rc = curl_easy_recv(cn->cn_easy, buf, len, &n);
	if (rc == CURLE_AGAIN) {
		BIO_set_retry_read(b);
		return (-1);
	}
	return (rc == CURLE_OK ? (int)n : -1);
}

static long
conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return (cmd == BIO_CTRL_FLUSH ? 1 : 0);
}

static int
conn_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return (1);
}

static BIO *
conn_bio(struct conn *cn)
{
	BIO	*b;

	if (!conn_https_proxy(cn))
		return (BIO_new_socket(cn->cn_fd, BIO_NOCLOSE));
	if (conn_bio_method == NULL) {
		if ((conn_bio_method = BIO_meth_new(BIO_get_new_index() |
		    BIO_TYPE_SOURCE_SINK, "libcurl tunnel")) == NULL)
			return (NULL);
		BIO_meth_set_write(conn_bio_method, conn_bio_write);
		BIO_meth_set_read(conn_bio_method, conn_bio_read);
		BIO_meth_set_ctrl(conn_bio_method, conn_bio_ctrl);
		BIO_meth_set_create(conn_bio_method, conn_bio_create);
	}
	if ((b = BIO_new(conn_bio_method)) != NULL)
		BIO_set_data(b, cn);
	return (b);
}

static void	conn_handshake(struct conn *);

/*
 * The handshake's clock from now: what is left of connect_timeout, or
 * the proxy's learned clock if shorter (failover_tls_clock()).
 */
static int
conn_arm(struct conn *cn)
{
	const struct config	*cfg = cn->cn_cfg;
	struct timeval		 tv;
	long			 left, learned;

	left = cfg->cfg_connect_timeout_ms - (long)util_ms_since(&cn->cn_t0);
	if (left < 1)
		left = 1;
	learned = cfg->cfg_proxy[cn->cn_proxy].px_tls_ms;
	cn->cn_tls_clock = failover_tls_clock(learned, left);
	/* The learned clock, if it is the shorter one, names itself. */
	cn->cn_tls_learned = cn->cn_tls_clock < left ? learned : 0;
	util_ms_timeval(cn->cn_tls_clock, &tv);
	return (evtimer_add(cn->cn_timer, &tv));
}

/*
 * Bytes from the far side are progress: the learned clock starts again
 * (a slow link's full handshake is not a swallowed one); a swallowed
 * handshake never gets here for reading.
 */
static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*cn = arg;

	(void)fd;
	if ((what & EV_READ) && cn->cn_tls_learned > 0 && conn_arm(cn) == -1) {
		conn_fail(cn, UST_LOCAL, "cannot arm the handshake's clock");
		return;
	}
	conn_handshake(cn);
}

/*
 * connect_timeout covers the whole connection, the handshake too; a
 * handshake through a proxy we know has a clock of its own, cut far
 * shorter when nothing comes back (failover_tls_clock(), conn_arm()):
 * either way a timeout of the proxy's.
 */
static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*cn = arg;
	int		 direct;

	(void)fd;
	(void)what;
	direct = cn->cn_cfg->cfg_proxy[cn->cn_proxy].px_scheme == PROXY_NONE;
	conn_fail(cn, direct ? UST_CONNECT_TIMEOUT : UST_PROXY_TIMEOUT, NULL);
}

/* Wait for what OpenSSL wants; -1 if the loop cannot. */
static int
conn_await(struct conn *cn, short what)
{
	if (cn->cn_ev != NULL)
		event_del(cn->cn_ev);
	else if ((cn->cn_ev = event_new(cn->cn_base, -1, 0, NULL,
	    NULL)) == NULL)
		return (-1);
	if (event_assign(cn->cn_ev, cn->cn_base, cn->cn_fd, what,
	    conn_io_cb, cn) == -1 || event_add(cn->cn_ev, NULL) == -1)
		return (-1);
	return (0);
}

static void
conn_handshake(struct conn *cn)
{
	int	 r, err;

	ERR_clear_error();
	if ((r = SSL_do_handshake(cn->cn_ssl)) == 1) {
		cn->cn_t_tls = util_ms_since(&cn->cn_t0) - cn->cn_t_tunnel;
		failover_tls_learned(cn->cn_cfg, cn->cn_proxy,
		    (long)cn->cn_t_tls);
		conn_finish(cn, 1);
		return;
	}
	err = SSL_get_error(cn->cn_ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		if (conn_await(cn, err == SSL_ERROR_WANT_READ ? EV_READ :
		    EV_WRITE) == -1)
			conn_fail(cn, UST_LOCAL, "cannot watch the socket");
		return;
	}
	conn_fail(cn, tls_why(cn->cn_ssl, err, cn->cn_why,
	    sizeof(cn->cn_why)) ? UST_TLS_VERIFY : UST_TLS, NULL);
}

/* The tunnel is up: the upstream's TLS, ours, under what is left. */
static void
conn_tls(struct conn *cn)
{
	const struct config	*cfg = cn->cn_cfg;
	BIO			*bio;

	cn->cn_state = CONN_HANDSHAKE;
	if ((cn->cn_ssl = tls_client(cfg->cfg_upstream_host, cn->cn_key,
	    cfg->cfg_tls_session_resume)) == NULL ||
	    (bio = conn_bio(cn)) == NULL) {
		conn_fail(cn, UST_LOCAL, "cannot set up TLS");
		return;
	}
	SSL_set_bio(cn->cn_ssl, bio, bio);
	if ((cn->cn_timer = evtimer_new(cn->cn_base, conn_timeout_cb,
	    cn)) == NULL || conn_arm(cn) == -1) {
		conn_fail(cn, UST_LOCAL, "cannot arm the handshake's clock");
		return;
	}
	conn_handshake(cn);
}

/* From multi.c: libcurl's CONNECT_ONLY transfer ended. */
static void
conn_tunneled(void *arg, CURLcode rc)
{
	struct conn	*cn = arg;
	curl_socket_t	 fd = CURL_SOCKET_BAD;
	long		 oserr = 0;

	cn->cn_t_tunnel = util_ms_since(&cn->cn_t0);
	if (rc != CURLE_OK) {
		cn->cn_rc = rc;
		curl_easy_getinfo(cn->cn_easy, CURLINFO_HTTP_CONNECTCODE,
		    &cn->cn_connect_code);
		curl_easy_getinfo(cn->cn_easy, CURLINFO_PROXY_ERROR,
		    &cn->cn_pxcode);
		curl_easy_getinfo(cn->cn_easy, CURLINFO_PROXYAUTH_AVAIL,
		    &cn->cn_pxauth);
		curl_easy_getinfo(cn->cn_easy, CURLINFO_OS_ERRNO, &oserr);
		/* Our own socket failed: no proxy or upstream to blame. */
		cn->cn_fds = oserr == EMFILE || oserr == ENFILE;
		conn_drop_easy(cn);
		conn_fail(cn, UST_NONE, NULL);
		return;
	}
	curl_easy_getinfo(cn->cn_easy, CURLINFO_HTTP_CONNECTCODE,
	    &cn->cn_connect_code);
	if (curl_easy_getinfo(cn->cn_easy, CURLINFO_ACTIVESOCKET, &fd) !=
	    CURLE_OK || fd == CURL_SOCKET_BAD) {
		conn_drop_easy(cn);
		conn_fail(cn, UST_LOCAL, "no socket from libcurl");
		return;
	}
	cn->cn_fd = fd;
	cn->cn_tunneled = 1;
	if (!conn_https_proxy(cn)) {
		cn->cn_taken = 1;
		conn_drop_easy(cn);
	}
	if (strncmp(cn->cn_cfg->cfg_upstream, "https:", 6) != 0) {
		conn_finish(cn, 1);
		return;
	}
	conn_tls(cn);
}

/*
 * A new connection to cfg's upstream through its proxy number proxy;
 * done(arg, cn, 0 or -1) from the loop when it is ready or failed.
 */
struct conn *
conn_open(struct event_base *base, struct config *cfg, int proxy,
    conn_done_fn done, void *arg)
{
	struct conn	*cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return (NULL);
	cn->cn_base = base;
	cn->cn_cfg = config_ref(cfg);
	cn->cn_proxy = proxy;
	cn->cn_done = done;
	cn->cn_arg = arg;
	cn->cn_fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &cn->cn_t0);
	if ((cn->cn_key = conn_authority(cfg->cfg_upstream)) == NULL ||
	    (cn->cn_easy = conn_easy(cn)) == NULL)
		goto fail;
	if (multi_add(cn->cn_easy, conn_tunneled, cn) == -1) {
		curl_easy_cleanup(cn->cn_easy);
		cn->cn_easy = NULL;
		goto fail;
	}
	return (cn);
 fail:
	log_warnx("%s: cannot set up an upstream connection", __func__);
	conn_close(cn);
	return (NULL);
}

void
conn_close(struct conn *cn)
{
	if (cn == NULL)
		return;
	conn_stop_clock(cn);
	/*
	 * close_notify, as libcurl sent it: a server may drop the sessions
	 * of a connection that ends without one (OpenSSL's "bad session").
	 */
	if (cn->cn_ssl != NULL && cn->cn_state == CONN_READY &&
	    !(SSL_get_shutdown(cn->cn_ssl) & SSL_SENT_SHUTDOWN)) {
		SSL_shutdown(cn->cn_ssl);
		ERR_clear_error();
	}
	SSL_free(cn->cn_ssl);		/* its BIO too; the socket stays */
	conn_drop_easy(cn);
	if (cn->cn_taken && cn->cn_fd != -1)
		close(cn->cn_fd);
	free(cn->cn_key);
	config_unref(cn->cn_cfg);
	free(cn);
}

/* A connection being made changes hands: a spare waited for. */
void
conn_rehook(struct conn *cn, conn_done_fn done, void *arg)
{
	cn->cn_done = done;
	cn->cn_arg = arg;
}

int
conn_proxy(const struct conn *cn)
{
	return (cn->cn_proxy);
}

struct config *
conn_config(const struct conn *cn)
{
	return (cn->cn_cfg);
}

int
conn_fd(const struct conn *cn)
{
	return (cn->cn_fd);
}

/* An I/O result: CONN_AGAIN with what to wait for, or -1 with why. */
static ssize_t
conn_ssl_result(struct conn *cn, int r, int writing)
{
	int	 err = SSL_get_error(cn->cn_ssl, r);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		cn->cn_want = EV_READ;
		return (CONN_AGAIN);
	case SSL_ERROR_WANT_WRITE:
		cn->cn_want = EV_WRITE;
		return (CONN_AGAIN);
	case SSL_ERROR_ZERO_RETURN:
		if (writing)
			break;
		return (0);
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (errno == 0 && !writing)
				return (0);
			if (errno == 0)
				break;
			snprintf(cn->cn_why, sizeof(cn->cn_why), "%s",
			    strerror(errno));
			return (-1);
		}
		/* FALLTHROUGH */
	default:
		snprintf(cn->cn_why, sizeof(cn->cn_why), "TLS: %s",
		    ERR_reason_error_string(ERR_peek_last_error()) != NULL ?
		    ERR_reason_error_string(ERR_peek_last_error()) :
		    "unknown error");
		ERR_clear_error();
		return (-1);
	}
	snprintf(cn->cn_why, sizeof(cn->cn_why), "closed by the far side");
	return (-1);
}

static ssize_t
conn_sys_result(struct conn *cn, ssize_t n, short want)
{
	if (n >= 0)
		return (n);
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		cn->cn_want = want;
		return (CONN_AGAIN);
	}
	snprintf(cn->cn_why, sizeof(cn->cn_why), "%s", strerror(errno));
	return (-1);
}

/* Bytes of the upstream's answer: > 0, 0 at its end, CONN_AGAIN, -1. */
ssize_t
conn_read(struct conn *cn, void *buf, size_t len)
{
	int	 r;

	if (cn->cn_ssl == NULL)
		return (conn_sys_result(cn, recv(cn->cn_fd, buf, len, 0),
		    EV_READ));
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_read(cn->cn_ssl, buf, len > INT_MAX ? INT_MAX :
	    (int)len)) > 0)
		return (r);
	return (conn_ssl_result(cn, r, 0));
}

/* Bytes of the request taken: > 0, CONN_AGAIN, or -1. */
ssize_t
conn_write(struct conn *cn, const void *buf, size_t len)
{
	int	 r;

	if (cn->cn_ssl == NULL)
		return (conn_sys_result(cn, send(cn->cn_fd, buf, len,
		    MSG_NOSIGNAL), EV_WRITE));
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_write(cn->cn_ssl, buf, len > INT_MAX ? INT_MAX :
	    (int)len)) > 0)
		return (r);
	return (conn_ssl_result(cn, r, 1));
}

/* What the last CONN_AGAIN waits for: EV_READ or EV_WRITE. */
short
conn_wants(const struct conn *cn)
{
	return (cn->cn_want);
}

/* Bytes our side still holds, unacknowledged by the next hop. */
int
conn_unsent(const struct conn *cn)
{
	int	 n = 0;

	if (cn->cn_fd == -1)
		return (0);
#if defined(SIOCOUTQ)
	if (ioctl(cn->cn_fd, SIOCOUTQ, &n) == -1)
		n = 0;
#elif defined(FIONWRITE)
	if (ioctl(cn->cn_fd, FIONWRITE, &n) == -1)
		n = 0;
#endif
	return (n > 0 ? n : 0);
}

/* An idle connection's TLS buffers go back: 1 if they did. */
int
conn_release(struct conn *cn)
{
	return (cn->cn_ssl != NULL ? tls_release_ssl(cn->cn_ssl) : 0);
}

/*
 * Still open with nothing for us (TLS tickets are read and kept)?  0 if
 * so; -1 if the far side closed it or wrote what no request asked for.
 */
int
conn_alive(struct conn *cn)
{
	char	 buf[64];

	return (conn_read(cn, buf, sizeof(buf)) == CONN_AGAIN ? 0 : -1);
}

/* Why the last I/O failed. */
const char *
conn_error(const struct conn *cn)
{
	return (cn->cn_why);
}

/* Where a failed connection got to, for upstream_fail.c. */
void
conn_facts(const struct conn *cn, struct upstream_facts *uf)
{
	const struct config	*cfg = cn->cn_cfg;

	memset(uf, 0, sizeof(*uf));
	uf->uf_rc = cn->cn_rc;
	uf->uf_connect_code = cn->cn_connect_code;
	uf->uf_fds = cn->cn_fds;
	uf->uf_scheme = cfg->cfg_proxy[cn->cn_proxy].px_scheme;
	uf->uf_pxcode = cn->cn_pxcode;
	uf->uf_pxauth = cn->cn_pxauth;
	uf->uf_stage = cn->cn_stage;
	uf->uf_why = cn->cn_why;
	uf->uf_tunnel = cn->cn_tunneled;
	uf->uf_phase = UPH_CONNECT;
	uf->uf_limit_ms = cfg->cfg_connect_timeout_ms;
	if (cn->cn_tls_learned > 0) {
		uf->uf_limit_ms = cn->cn_tls_clock;
		uf->uf_tls_learned_ms = cn->cn_tls_learned;
	}
	uf->uf_down_total = -1;
}

/*
 * What a connection still being made waits on, for a bot that left
 * meanwhile: "the TLS handshake with HOST through proxy URL".
 */
void
conn_waiting(const struct conn *cn, char *buf, size_t len)
{
	const struct config	*cfg = cn->cn_cfg;
	const struct proxy	*px = &cfg->cfg_proxy[cn->cn_proxy];
	const char		*what;
	int			 direct = px->px_scheme == PROXY_NONE;

	if (cn->cn_state == CONN_HANDSHAKE)
		what = "the TLS handshake with";
	else if (direct)
		what = "the connection to";
	else
		what = "the tunnel to";
	snprintf(buf, len, "%s %s%s%s", what, cfg->cfg_upstream_host,
	    direct ? "" : " through proxy ", direct ? "" : px->px_url);
}

/* The tunnel's and the handshake's time, ms. */
void
conn_times(const struct conn *cn, double *tunnel, double *tls)
{
	*tunnel = cn->cn_t_tunnel;
	*tls = cn->cn_t_tls;
}
