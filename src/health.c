/* SPDX-License-Identifier: ISC */
/*
 * What operators ask the sidecar itself: /healthz (the process serves),
 * /readyz (a proxy was reachable lately, or a probe says so now) and
 * /metrics.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "conf.h"
#include "conn.h"
#include "failover.h"
#include "health.h"
#include "metrics.h"
#include "procstat.h"
#include "proxy.h"
#include "reply.h"
#include "req.h"
#include "upstream_fail.h"
#include "util.h"

#define HEALTH_WINDOW_MS	30000	/* "reachable in the last 30 s" */

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
			return (paths[i].h_which);
	return (HEALTH_NONE);
}

static void
health_text(struct req *req, int status, const char *text)
{
	reply_full(req, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

/*
 * One probe at a time, whatever the number of /readyz callers: they all
 * wait for it and get its answer, which then stands for HEALTH_CACHE_MS
 * unless a transfer, the probe or a reload changed what we know of a
 * proxy.  2 s: a burst of probers (kubelet, a load balancer, monitoring)
 * shares one connection, a /readyz flood costs the proxy at most one
 * connection per 2 s, and an answer is still fresher than the shortest
 * period a prober would sensibly use (Kubernetes defaults to 10 s).
 */
#define HEALTH_CACHE_MS		2000

static struct {
	struct conn		*hp_probe;	/* in flight, or NULL */
	TAILQ_HEAD(, req)	 hp_waiting;	/* /readyz requests for it */
	int			 hp_status;	/* cached answer; 0: none */
	char			 hp_text[CURL_ERROR_SIZE + 1024];
	struct timespec		 hp_when;
	unsigned long		 hp_gen;	/* failover_generation() then */
} health = { .hp_waiting = TAILQ_HEAD_INITIALIZER(health.hp_waiting) };

static void	health_done(void *, struct conn *, int);

/*
 * The probe is a connection made the way a request's is (pre-proxy,
 * proxy and its auth, the tunnel, TLS with the upstream), closed before
 * a request: it has no bot, and does not count against max_inflight.
 */
static int
health_probe(struct event_base *base, struct config *cfg)
{
	if ((health.hp_probe = conn_open(base, cfg, failover_pick(cfg),
	    health_done, NULL)) == NULL)
		return (-1);
	return (0);
}

static const char *
health_name(const struct config *cfg, int i)
{
	if (cfg->cfg_proxy[i].px_scheme == PROXY_NONE)
		return (cfg->cfg_upstream);
	return (cfg->cfg_proxy[i].px_url);
}

/* The last probe's answer, if nothing we know of changed since. */
static int
health_cached(void)
{
	struct timespec	 now;

	if (health.hp_status == 0 || health.hp_gen != failover_generation())
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (util_ms_between(&health.hp_when, &now) < HEALTH_CACHE_MS);
}

/*
 * tgsidecar_ready: what /readyz would answer from what is known, without
 * probing (a scrape must not cost the proxy a connection): reached in the
 * window, else the last probe's answer while no verdict changed since,
 * else 0 only once the last verdict on every proxy was a failure.
 */
static void
health_render_ready(struct evbuffer *out, const struct config *cfg)
{
	const struct timespec	*f;
	int			 i, ready = 0;

	if (failover_ready(cfg, HEALTH_WINDOW_MS) >= 0)
		ready = 1;
	else if (health.hp_status != 0 &&
	    health.hp_gen == failover_generation())
		ready = health.hp_status == 200;
	else
		for (i = 0; i < cfg->cfg_nproxy; i++) {
			f = &cfg->cfg_proxy[i].px_failed;
			if (f->tv_sec == 0 && f->tv_nsec == 0)
				ready = 1;
		}
	evbuffer_add_printf(out, "# HELP tgsidecar_ready 1 while /readyz would "
	    "answer 200 from what is known (a scrape never probes), 0 once "
	    "it would answer 503.\n# TYPE tgsidecar_ready gauge\n"
	    "tgsidecar_ready %d\n", ready);
}

/* Wait for the probe in flight, or start one; -1 if neither can be. */
static int
health_wait(struct req *req)
{
	if (health.hp_probe == NULL &&
	    health_probe(req->req_base, req->req_cfg) == -1)
		return (-1);
	TAILQ_INSERT_TAIL(&health.hp_waiting, req, req_wait);
	req->req_waiting = 1;
	return (0);
}

/*
 * Answer now, or join the probe whose end answers (through the request's
 * rh_done hook); sets req_refused then.  inflight and clients are the
 * owner's figures for /metrics.
 */
void
health_serve(struct req *req, int which, int inflight, int clients)
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
		metrics_render(out, inflight, clients);
		health_render_ready(out, req->req_cfg);
		procstat_render(out);
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
		if (health_cached()) {
			health_text(req, health.hp_status, health.hp_text);
			break;
		}
		if (health_wait(req) == 0)
			return;	/* health_done() answers */
		health_text(req, 503, "not ready: cannot start a probe\n");
		break;
	}
	req->req_refused = 1;
}

/* A waiting /readyz request goes away before the probe ends. */
void
health_forget(struct req *req)
{
	if (!req->req_waiting)
		return;
	TAILQ_REMOVE(&health.hp_waiting, req, req_wait);
	req->req_waiting = 0;
}

/* From conn.c: the probe's connection is ready (0) or failed; answer all. */
static void
health_done(void *arg, struct conn *cn, int rc)
{
	struct config		*cfg = conn_config(cn);
	int			 proxy = conn_proxy(cn), status = 200;
	const char		*name = health_name(cfg, proxy);
	struct upstream_facts	 uf;
	enum upstream_stage	 st;
	struct req		*req;
	char			 desc[CURL_ERROR_SIZE + 256];

	(void)arg;
	if (rc == 0) {
		failover_ok(cfg, proxy);
		snprintf(health.hp_text, sizeof(health.hp_text),
		    "ready: %s reachable\n", name);
	} else {
		conn_facts(cn, &uf);
		upstream_fail_judge(cfg, proxy, &uf, 0, desc, sizeof(desc),
		    &st);
		status = 503;
		snprintf(health.hp_text, sizeof(health.hp_text),
		    "not ready: probe via %s failed: %s\n", name, desc);
	}
	health.hp_status = status;
	health.hp_gen = failover_generation();
	clock_gettime(CLOCK_MONOTONIC, &health.hp_when);
	while ((req = TAILQ_FIRST(&health.hp_waiting)) != NULL) {
		health_forget(req);
		if (status != 200)
			snprintf(req->req_errdesc, sizeof(req->req_errdesc),
			    "%s", desc);
		health_text(req, status, health.hp_text);
		req->req_hooks->rh_done(req);
	}
	health.hp_probe = NULL;
	conn_close(cn);
}

/* At exit: the probe in flight, if any. */
void
health_free(void)
{
	conn_close(health.hp_probe);
	health.hp_probe = NULL;
}
