/* SPDX-License-Identifier: ISC */
/*
 * What operators ask the sidecar itself: /healthz (the process serves),
 * /readyz (a proxy was reachable lately, or a cheap probe says so now)
 * and /metrics.  A probe is a request like any other, so a prober that
 * hangs up is cleaned up the same way.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tgsidecar.h"

#define HEALTH_WINDOW_MS	30000	/* "reachable in the last 30 s" */
#define HEALTH_PROBE_MS		3000

enum { HEALTH_NONE, HEALTH_LIVE, HEALTH_READY, HEALTH_METRICS };

int
health_route(const char *target, size_t len)
{
	static const struct {
		const char	*h_path;
		int		 h_which;
	} paths[] = {
		{ "/healthz", HEALTH_LIVE },
		{ "/readyz", HEALTH_READY },
		{ "/metrics", HEALTH_METRICS },
	};
	const char	*q = memchr(target, '?', len);
	size_t		 i, plen = q != NULL ? (size_t)(q - target) : len;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strlen(paths[i].h_path) == plen &&
		    memcmp(paths[i].h_path, target, plen) == 0)
			return paths[i].h_which;
	return HEALTH_NONE;
}

static void
health_text(struct req *req, int status, const char *text)
{
	reply_full(req, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

/* The proxy itself is probed (or, direct, the upstream): a connect only. */
static int
health_probe(struct req *req)
{
	const struct config	*cfg = req->req_cfg;
	const struct proxy	*px;
	CURL			*e;
	const char		*hostport;

	req->req_proxy = failover_pick(cfg);
	px = &cfg->cfg_proxy[req->req_proxy];
	if (px->px_scheme == PROXY_NONE)
		req->req_url = strdup(cfg->cfg_upstream);
	else {
		hostport = strstr(px->px_url, "://") + 3;
		if (asprintf(&req->req_url, "http://%s", hostport) == -1)
			req->req_url = NULL;
	}
	if (req->req_url == NULL || (e = upstream_easy(req)) == NULL)
		return -1;
	curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->cfg_connect_timeout_ms < HEALTH_PROBE_MS ?
	    cfg->cfg_connect_timeout_ms : HEALTH_PROBE_MS);
	req->req_probe = 1;
	if (upstream_add(req, e) == -1) {
		curl_easy_cleanup(e);
		return -1;
	}
	return 0;
}

static const char *
health_name(const struct config *cfg, int i)
{
	if (cfg->cfg_proxy[i].px_scheme == PROXY_NONE)
		return cfg->cfg_upstream;
	return cfg->cfg_proxy[i].px_url;
}

/* Answer now, or start a probe whose end answers; sets req_refused then. */
void
health_serve(struct req *req, int which)
{
	struct evbuffer	*out;
	char		 text[512];
	int		 i;

	req->req_admin = 1;
	switch (which) {
	case HEALTH_LIVE:
		health_text(req, 200, "ok\n");
		break;
	case HEALTH_METRICS:
		if ((out = evbuffer_new()) == NULL) {
			health_text(req, 500, "out of memory\n");
			break;
		}
		metrics_render(out, req->req_clt->clt_srv->srv_inflight,
		    req->req_clt->clt_srv->srv_clients);
		reply_full(req, 200, "text/plain; version=0.0.4",
		    (const char *)evbuffer_pullup(out, -1),
		    evbuffer_get_length(out));
		evbuffer_free(out);
		break;
	case HEALTH_READY:
		if ((i = failover_ready(req->req_cfg, HEALTH_WINDOW_MS)) >= 0) {
			snprintf(text, sizeof(text), "ready: %s reached in the "
			    "last %d s\n", health_name(req->req_cfg, i),
			    HEALTH_WINDOW_MS / 1000);
			health_text(req, 200, text);
			break;
		}
		if (health_probe(req) == 0)
			return;	/* health_done() answers */
		health_text(req, 503, "not ready: cannot start a probe\n");
		break;
	}
	req->req_refused = 1;
}

/* From upstream_done(), when the finished transfer was a probe. */
void
health_done(struct req *req, CURLcode rc)
{
	const struct config	*cfg = req->req_cfg;
	char			 text[CURL_ERROR_SIZE + 1024];
	const char		*name = health_name(cfg, req->req_proxy);

	if (rc == CURLE_OK) {
		failover_ok(cfg, req->req_proxy);
		snprintf(text, sizeof(text), "ready: %s reachable\n", name);
	} else {
		snprintf(req->req_errdesc, sizeof(req->req_errdesc), "%s",
		    upstream_why(req, rc));
		failover_fail(cfg, req->req_proxy, req->req_errdesc);
		snprintf(text, sizeof(text), "not ready: %s unreachable: %s\n",
		    name, req->req_errdesc);
	}
	upstream_stop(req);
	health_text(req, rc == CURLE_OK ? 200 : 503, text);
	client_req_done(req);
}
