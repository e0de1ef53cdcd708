/* SPDX-License-Identifier: ISC */
/*
 * Requests a bot connection answers without the upstream, or holds back
 * from it: the admin routes (/healthz, /readyz, /metrics) and the flood
 * guard's (flood.c) 429s and waits.  Part of client.c, through
 * clientint.h.
 */
#include "config.h"

#include <stdio.h>

#include <event2/buffer.h>

#include "admit.h"
#include "client.h"
#include "clientint.h"
#include "conf.h"
#include "flood.h"
#include "health.h"
#include "reply.h"
#include "req.h"

/*
 * /healthz, /readyz and /metrics: on admin_listen when it is set, on the
 * one listener otherwise.  Returns 1 if the request was taken.
 */
int
client_admin(struct client *clt)
{
	struct req	*req = clt->clt_req;
	const char	*t = (const char *)evbuffer_pullup(req->req_target, -1);
	size_t		 len = evbuffer_get_length(req->req_target);
	int		 which = t != NULL ? health_route(t, len) : 0;

	if (!admit_peer(req, (struct sockaddr *)&clt->clt_ss))
		return (0);	/* admit_request() refuses it */
	if (which == 0 || (req->req_cfg->cfg_admin_listen != NULL &&
	    !clt->clt_admin)) {
		if (!clt->clt_admin)
			return (0);
		client_refuse(clt, 404, "Not Found: this is the admin listener");
		return (1);
	}
	if (req->req_method != HTTP_GET) {
		req->req_allow = "GET";
		client_refuse(clt, 405, "Method Not Allowed: use GET");
	} else if (req->req_has_body)
		client_refuse(clt, 400, "Bad Request: no body expected");
	else
		health_serve(req, which, clt->clt_pool->cp_inflight,
		    clt->clt_pool->cp_clients);
	return (1);
}

/*
 * The flood guard holds the call's chat: the Bot API's 429, made here.
 * With its body read the connection goes on; with a body still coming
 * it closes, as any refusal does.
 */
static void
client_flood_hold(struct client *clt)
{
	struct req	*req = clt->clt_req;
	long		 secs = flood_retry_after(req);
	char		 desc[64];

	snprintf(desc, sizeof(desc), "Too Many Requests: retry after %ld",
	    secs);
	if (!flood_body_all(req)) {
		client_fail(clt, 429, desc);
		return;
	}
	snprintf(req->req_errdesc, sizeof(req->req_errdesc), "%s", desc);
	reply_retry(req, secs);
	req->req_refused = 1;
	if (req->req_body_done)
		client_req_done(req);
}

/* Body bytes came, or its end, while the guard looks for the chat. */
void
client_flood_step(struct client *clt)
{
	switch (flood_body(clt->clt_req)) {
	case FLOOD_HOLD:
		client_flood_hold(clt);
		break;
	case FLOOD_GO:
		client_start(clt);
		break;
	}
}

/* The guard's hook: the chat's bytes were too slow, the call goes on. */
static void
client_flood_go(struct req *req)
{
	client_start(req->req_clt);
	client_schedule(req->req_clt);
}

/*
 * Once the head is admitted: 1 if the flood guard took the request (held
 * here, or waiting for the body bytes that name its chat, or for its
 * paced time), 0 if it goes upstream now.
 */
int
client_flood_head(struct client *clt)
{
	struct req	*req = clt->clt_req;

	switch (flood_head(req, client_flood_go)) {
	case FLOOD_HOLD:
		client_flood_hold(clt);
		return (1);
	case FLOOD_WAIT:
		if (req->req_expect && req->req_http11)
			reply_continue(req);
		return (1);
	}
	return (0);
}
