/*
 * The upstream side of a request: one libcurl easy handle on a brand-new
 * connection through the configured proxy, streamed both ways, and
 * closed when the transfer ends.  A connection is never reused, since a
 * pooled tunnel is exactly what corporate proxies silently forget.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tgsidecar.h"

#define UPSTREAM_BUFSIZE	(64 * 1024)

static const struct config *
upstream_cfg(struct req *req)
{
	return req->req_clt->clt_srv->srv_cfg;
}

/* Drop the reply headers that its Connection header names as hop-by-hop. */
static int
upstream_unlisted(struct req *req)
{
	struct evbuffer	*kept;
	char		*line, *colon;
	size_t		 len;

	if (req->req_up_connection == NULL)
		return 0;
	if ((kept = evbuffer_new()) == NULL)
		return -1;
	while ((line = evbuffer_readln(req->req_up_head, &len,
	    EVBUFFER_EOL_CRLF_STRICT)) != NULL) {
		colon = strchr(line, ':');
		if (colon == NULL || !header_listed(req->req_up_connection,
		    line, colon - line))
			evbuffer_add_printf(kept, "%s\r\n", line);
		free(line);
	}
	evbuffer_drain(req->req_up_head, evbuffer_get_length(req->req_up_head));
	evbuffer_add_buffer(req->req_up_head, kept);
	evbuffer_free(kept);
	return 0;
}

static size_t
upstream_header(char *line, size_t size, size_t nitems, void *arg)
{
	struct req	*req = arg;
	size_t		 n = size * nitems, len = n, nlen;
	const char	*colon;
	char		*end;
	long long	 clen;

	if (req->req_head_sent)
		return n;	/* trailers */
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new status line: an interim 1xx or the final one. */
		const char *sp = memchr(line, ' ', len);

		req->req_up_status = sp != NULL ? atoi(sp + 1) : 0;
		req->req_up_clen = -1;
		free(req->req_up_connection);
		req->req_up_connection = NULL;
		evbuffer_drain(req->req_up_head,
		    evbuffer_get_length(req->req_up_head));
		return n;
	}
	if (len == 0) {
		if (req->req_up_status < 200)
			return n;
		if (upstream_unlisted(req) == -1)
			return 0;
		if (reply_head(req, req->req_up_status, NULL,
		    req->req_up_head, req->req_up_clen) == -1)
			return 0;
		return n;
	}
	if ((colon = memchr(line, ':', len)) == NULL)
		return n;	/* obsolete line folding: dropped */
	nlen = colon - line;
	if (header_is(line, nlen, "Transfer-Encoding")) {
		/* libcurl decodes chunks; any length sent alongside is void */
		req->req_up_clen = INT64_MIN;
		return n;
	}
	if (header_is(line, nlen, "Connection")) {
		free(req->req_up_connection);
		req->req_up_connection = strndup(colon + 1, len - nlen - 1);
		return n;
	}
	if (header_hop(line, nlen))
		return n;
	if (header_is(line, nlen, "Content-Length")) {
		if (req->req_up_clen == INT64_MIN)
			return n;
		errno = 0;
		clen = strtoll(colon + 1, &end, 10);
		if (errno == 0 && clen >= 0)
			req->req_up_clen = clen;
		return n;
	}
	if (evbuffer_add(req->req_up_head, line, len) == -1 ||
	    evbuffer_add(req->req_up_head, "\r\n", 2) == -1)
		return 0;
	return n;
}

static size_t
upstream_write(char *data, size_t size, size_t nitems, void *arg)
{
	struct req	*req = arg;
	size_t		 n = size * nitems;

	if (!req->req_head_sent && reply_head(req, req->req_up_status ?
	    req->req_up_status : 502, NULL, req->req_up_head, -1) == -1)
		return 0;
	/* The bot reads slower than the upstream sends: hold it. */
	if (reply_pending(req->req_clt) >= CLIENT_OUT_HIGH) {
		req->req_recv_paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (reply_body(req, data, n) == -1)
		return 0;
	return n;
}

static size_t
upstream_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct req	*req = arg;
	int		 n;

	n = evbuffer_remove(req->req_body, buf, size * nitems);
	if (n > 0) {
		/* Room again: let the bot send more. */
		if (evbuffer_get_length(req->req_body) < CLIENT_BODY_HIGH / 2)
			client_schedule(req->req_clt);
		return n;
	}
	if (n == -1)
		return CURL_READFUNC_ABORT;
	if (req->req_body_done)
		return 0;
	req->req_send_paused = 1;
	return CURL_READFUNC_PAUSE;
}

/* Forward the bot's end-to-end headers; libcurl owns the framing ones. */
static int
upstream_headers(struct req *req)
{
	struct curl_slist	*h, *l;
	const char		*line, *colon;
	char			 buf[CLIENT_HEADERS_MAX + 2];
	size_t			 nlen;

	for (h = req->req_hdrs; h != NULL; h = h->next) {
		line = h->data;
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		nlen = colon - line;
		if (header_hop(line, nlen) ||
		    header_listed(req->req_connection, line, nlen) ||
		    header_is(line, nlen, "Host") ||
		    header_is(line, nlen, "Content-Length") ||
		    header_is(line, nlen, "Expect"))
			continue;
		/* libcurl reads "Name:" as "remove"; "Name;" sends it empty. */
		if (colon[1 + strspn(colon + 1, " \t")] == '\0') {
			snprintf(buf, sizeof(buf), "%.*s;", (int)nlen, line);
			line = buf;
		}
		if ((l = curl_slist_append(req->req_uphdrs, line)) == NULL)
			return -1;
		req->req_uphdrs = l;
	}
	/* No 100-continue round trip, and no invented Content-Type. */
	if ((l = curl_slist_append(req->req_uphdrs, "Expect:")) == NULL)
		return -1;
	req->req_uphdrs = l;
	if (!req->req_has_ctype) {
		if ((l = curl_slist_append(req->req_uphdrs, "Content-Type:")) ==
		    NULL)
			return -1;
		req->req_uphdrs = l;
	}
	return 0;
}

/* A pre-proxy has no separate credential options: they go in its URL. */
static char *
upstream_proxy_url(const struct proxy *px)
{
	char	*u = NULL, *p = NULL, *url = NULL;

	if (px->px_user == NULL)
		return strdup(px->px_url);
	if ((u = curl_easy_escape(NULL, px->px_user, 0)) == NULL)
		goto fail;
	if ((p = curl_easy_escape(NULL, px->px_pass ? px->px_pass : "", 0)) ==
	    NULL)
		goto fail;
	{
		const char	*sep = strstr(px->px_url, "://");
		size_t		 slen = sep - px->px_url + 3;

		if (asprintf(&url, "%.*s%s:%s@%s", (int)slen, px->px_url, u, p,
		    px->px_url + slen) == -1)
			url = NULL;
	}
 fail:
	curl_free(u);
	curl_free(p);
	return url;
}

static int
upstream_proxy(struct req *req, CURL *e)
{
	const struct config	*cfg = upstream_cfg(req);
	const struct proxy	*px = &cfg->cfg_proxy;
	char			*pre;
	int			 rc;

	if (px->px_scheme == PROXY_NONE) {
		/* "" keeps libcurl from reading proxy variables itself. */
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		return 0;
	}
	curl_easy_setopt(e, CURLOPT_PROXY, px->px_url);
	if (!proxy_is_socks(px))
		curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	if (px->px_user != NULL) {
		curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, px->px_user);
		curl_easy_setopt(e, CURLOPT_PROXYPASSWORD,
		    px->px_pass != NULL ? px->px_pass : "");
		curl_easy_setopt(e, CURLOPT_PROXYAUTH, cfg->cfg_proxy_auth);
	}
	if (cfg->cfg_noproxy != NULL)
		curl_easy_setopt(e, CURLOPT_NOPROXY, cfg->cfg_noproxy);
	if (cfg->cfg_pre_proxy.px_scheme == PROXY_NONE)
		return 0;
	if ((pre = upstream_proxy_url(&cfg->cfg_pre_proxy)) == NULL)
		return -1;
	rc = curl_easy_setopt(e, CURLOPT_PRE_PROXY, pre) == CURLE_OK ? 0 : -1;
	free(pre);	/* libcurl keeps its own copy */
	return rc;
}

static int
upstream_body(struct req *req, CURL *e)
{
	if (req->req_method == HTTP_GET && !req->req_has_body) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		return 0;
	}
	/* A POST, or a GET that carries a body: stream it from req_body. */
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, upstream_read);
	curl_easy_setopt(e, CURLOPT_READDATA, req);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)(req->req_has_body ? req->req_clen : 0));
	if (req->req_method == HTTP_GET)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
	return 0;
}

int
upstream_start(struct req *req)
{
	const struct config	*cfg = upstream_cfg(req);
	CURL			*e = NULL;
	long			 timeout;

	if ((req->req_up_head = evbuffer_new()) == NULL)
		goto fail;
	req->req_up_clen = -1;
	if (asprintf(&req->req_url, "%s%.*s", cfg->cfg_upstream,
	    (int)evbuffer_get_length(req->req_target),
	    (char *)evbuffer_pullup(req->req_target, -1)) == -1) {
		req->req_url = NULL;
		goto fail;
	}
	if (upstream_headers(req) == -1)
		goto fail;
	if ((e = curl_easy_init()) == NULL)
		goto fail;
	req->req_easy = e;
	curl_easy_setopt(e, CURLOPT_URL, req->req_url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* The cure itself: a brand-new connection, closed afterwards. */
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/* Trust comes from the one shared store, not a file per connection. */
	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, tls_ctx_cb);
	curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->req_uphdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upstream_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->req_errbuf);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)UPSTREAM_BUFSIZE);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)UPSTREAM_BUFSIZE);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->cfg_connect_timeout_ms);
	timeout = cfg->cfg_upstream_timeout_ms;
	if (req->req_route.rt_longpoll)
		timeout += cfg->cfg_poll_timeout_ms;
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
	if (upstream_proxy(req, e) == -1 || upstream_body(req, e) == -1)
		goto fail;
	if (multi_add(e) == -1)
		goto fail;
	req->req_clt->clt_srv->srv_inflight++;
	return 0;
 fail:
	log_warnx("%s: cannot set up the upstream transfer", __func__);
	if (e != NULL)
		curl_easy_cleanup(e);
	req->req_easy = NULL;
	return -1;
}

/* Release the transfer; with FORBID_REUSE this closes its connection. */
static void
upstream_release(struct req *req)
{
	if (req->req_easy == NULL)
		return;
	multi_remove(req->req_easy);
	curl_easy_cleanup(req->req_easy);
	req->req_easy = NULL;
	req->req_clt->clt_srv->srv_inflight--;
}

/* The SOCKS hop is the proxy itself, or the pre-proxy in a chain. */
static const struct proxy *
upstream_socks_hop(const struct config *cfg)
{
	if (proxy_is_socks(&cfg->cfg_proxy))
		return &cfg->cfg_proxy;
	return &cfg->cfg_pre_proxy;
}

/* Name the stage that failed and why, for a bot to read. */
static int
upstream_error(struct req *req, CURLcode rc, char *desc, size_t len)
{
	const struct config	*cfg = upstream_cfg(req);
	const char		*px = cfg->cfg_proxy.px_url;
	const char		*host = cfg->cfg_upstream_host;
	const char		*why = req->req_errbuf;
	long			 connectcode = 0;

	if (*why == '\0')
		why = curl_easy_strerror(rc);
	curl_easy_getinfo(req->req_easy, CURLINFO_HTTP_CONNECTCODE,
	    &connectcode);
	if (connectcode >= 300) {
		snprintf(desc, len, "proxy %s answered %ld to CONNECT", px,
		    connectcode);
		return 502;
	}
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(desc, len, "upstream timeout: %s", why);
		return 504;
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(desc, len, "proxy %s: %s", px, why);
		return 502;
	case CURLE_COULDNT_CONNECT:
		if (cfg->cfg_pre_proxy.px_scheme != PROXY_NONE)
			snprintf(desc, len, "pre_proxy %s: connect failed: %s",
			    cfg->cfg_pre_proxy.px_url, why);
		else if (cfg->cfg_proxy.px_scheme != PROXY_NONE)
			snprintf(desc, len, "proxy %s: connect failed: %s",
			    px, why);
		else
			snprintf(desc, len, "upstream %s: connect failed: %s",
			    host, why);
		return 502;
	case CURLE_PROXY:
		snprintf(desc, len, "proxy %s: SOCKS handshake failed: %s",
		    upstream_socks_hop(cfg)->px_url, why);
		return 502;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
		snprintf(desc, len, "TLS: certificate verify failed for %s: %s",
		    host, why);
		return 502;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(desc, len, "TLS: handshake with %s failed: %s", host,
		    why);
		return 502;
	default:
		snprintf(desc, len, "upstream %s: %s", host, why);
		return 502;
	}
}

/* From multi.c, for every finished transfer. */
void
upstream_done(CURL *e, CURLcode rc)
{
	struct req	*req = NULL;
	int		 status;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&req);
	if (req == NULL)
		return;
	if (rc == CURLE_OK && !req->req_head_sent &&
	    req->req_up_status >= 200) {
		/* A reply with headers only: its end came with no body. */
		reply_head(req, req->req_up_status, NULL, req->req_up_head,
		    req->req_up_clen);
	}
	if (rc == CURLE_OK && !req->req_head_sent) {
		snprintf(req->req_errdesc, sizeof(req->req_errdesc),
		    "upstream %s sent no reply",
		    upstream_cfg(req)->cfg_upstream_host);
		upstream_release(req);
		reply_error(req->req_clt, req, 502, req->req_errdesc);
	} else if (rc == CURLE_OK) {
		upstream_release(req);
		reply_end(req);
	} else if (!req->req_head_sent) {
		status = upstream_error(req, rc, req->req_errdesc,
		    sizeof(req->req_errdesc));
		upstream_release(req);
		reply_error(req->req_clt, req, status, req->req_errdesc);
	} else {
		/* Too late for a status: a cut reply tells the bot instead. */
		snprintf(req->req_errdesc, sizeof(req->req_errdesc),
		    "upstream reply cut: %s", *req->req_errbuf != '\0' ?
		    req->req_errbuf : curl_easy_strerror(rc));
		upstream_release(req);
		req->req_keepalive = 0;
		req->req_chunked = 0;
	}
	client_req_done(req);
}

/* The bot went away: drop the transfer now, closing its connection. */
void
upstream_stop(struct req *req)
{
	upstream_release(req);
}

/* From the loop, never from a libcurl callback on the same handle. */
void
upstream_resume(struct req *req)
{
	int	 send, recv, mask = 0;

	if (req->req_easy == NULL)
		return;
	send = req->req_send_paused &&
	    (evbuffer_get_length(req->req_body) > 0 || req->req_body_done);
	recv = req->req_recv_paused &&
	    reply_pending(req->req_clt) <= CLIENT_OUT_LOW;
	if (!send && !recv)
		return;
	if (send)
		req->req_send_paused = 0;
	if (recv)
		req->req_recv_paused = 0;
	if (req->req_send_paused)
		mask |= CURLPAUSE_SEND;
	if (req->req_recv_paused)
		mask |= CURLPAUSE_RECV;
	curl_easy_pause(req->req_easy, mask);
}
