/* SPDX-License-Identifier: ISC */
/*
 * Admission: whether a request, its head read, may go upstream, under
 * the config it holds.  The order of the checks is what a bot is told
 * first: who asks, how, for what, and whether there is room.
 */
#include "config.h"

#include <stdint.h>

#include <event2/buffer.h>

#include "acl.h"
#include "admit.h"
#include "conf.h"
#include "header.h"
#include "metrics.h"
#include "req.h"
#include "route.h"

/* allow, under the config the request holds: a reload may change it. */
int
admit_peer(const struct req *req, const struct sockaddr *peer)
{
	return (acl_peer_allowed(req->req_cfg, peer));
}

/*
 * Whether a request may go on as HTTP/1.1 despite an Upgrade.  An offer
 * of h2c alone is ignored, as RFC 9113 3.2 lets a server do (the JDK's
 * HttpClient and curl --http2 make it on every plain-http request), and
 * so is any Upgrade in HTTP/1.0 (RFC 9110 7.8); header.c drops Upgrade,
 * HTTP2-Settings and what Connection names as hop-by-hop.  Anything else
 * (websocket) asks for a switch the sidecar cannot make.
 */
static int
admit_upgrade(const struct req *req, const http_parser *p)
{
	if (!p->upgrade || (p->http_major == 1 && p->http_minor == 0))
		return (1);
	return (header_upgrade_h2c(req->req_hdrs));
}

/*
 * Decide what to do with a request once its head is known: 0 to send it
 * upstream, or -1 with the status and words to refuse it with.  inflight
 * is the owner's count of requests started upstream.
 */
int
admit_request(struct req *req, const http_parser *p,
    const struct sockaddr *peer, int inflight, int *status, const char **why)
{
	const struct config	*cfg = req->req_cfg;
	size_t			 len = evbuffer_get_length(req->req_target);
	const char		*target;

	target = (const char *)evbuffer_pullup(req->req_target, -1);
	if (!admit_peer(req, peer)) {
		/* Nothing more to say to this peer: close after the 403. */
		req->req_keepalive = 0;
		*status = 403;
		*why = "Forbidden: this address may not use the sidecar";
		return (-1);
	}
	if (p->http_major != 1) {
		*status = 400;
		*why = "Bad Request: only HTTP/1.0 and HTTP/1.1 are served";
		return (-1);
	}
	if (p->method == HTTP_CONNECT || !admit_upgrade(req, p)) {
		*status = 400;
		*why = "CONNECT and protocol upgrades are not accepted";
		return (-1);
	}
	if (route_parse(&req->req_route, target != NULL ? target : "", len,
	    status, why) == -1)
		return (-1);
	if (route_prefix(&req->req_route, cfg->cfg_upstream_path) == -1) {
		*status = 500;
		*why = "Internal Server Error: out of memory";
		return (-1);
	}
	if (!acl_bot_allowed(cfg, req->req_route.rt_bot)) {
		*status = 403;
		*why = "Forbidden: this bot may not use the sidecar";
		return (-1);
	}
	if (p->method != HTTP_GET && p->method != HTTP_POST) {
		req->req_allow = "GET, POST";
		*status = 405;
		*why = "Method Not Allowed: use GET or POST";
		return (-1);
	}
	if (req->req_route.rt_kind == ROUTE_FILE && req->req_has_body) {
		*status = 400;
		*why = "Bad Request: a file download takes no body";
		return (-1);
	}
	if (req->req_has_body && req->req_clen >= 0 &&
	    (uint64_t)req->req_clen > cfg->cfg_max_body) {
		*status = 413;
		*why = "Request Entity Too Large";
		return (-1);
	}
	if (inflight >= cfg->cfg_max_inflight) {
		metrics_refused(METRICS_REFUSED_INFLIGHT);
		*status = 503;
		*why = "Service Unavailable: too many requests in flight, "
		    "retry after 1";
		return (-1);
	}
	return (0);
}

/*
 * The body's framing, from the headers as the sidecar checked them, must
 * be what lenient http-parser made of it ("chunked\t" is not chunked to
 * it), or the two would read different requests from one stream.
 */
int
admit_framing(const struct req *req, const http_parser *p, const char **why)
{
	int		 chunked = (p->flags & F_CHUNKED) != 0;
	int		 clen = (p->flags & F_CONTENTLENGTH) != 0;

	if (req->req_hte > 1 || (req->req_hte == 1 && (!req->req_hte_chunked ||
	    req->req_hcl > 0)) || chunked != (req->req_hte == 1)) {
		*why = "Bad Request: a Transfer-Encoding other than one "
		    "\"chunked\"";
		return (-1);
	}
	if (req->req_hcl > 1 || (req->req_hcl == 1 && (req->req_hclen < 0 ||
	    !clen || p->content_length != (uint64_t)req->req_hclen)) ||
	    (clen && req->req_hcl == 0)) {
		*why = "Bad Request: a Content-Length that is not one number";
		return (-1);
	}
	return (0);
}
