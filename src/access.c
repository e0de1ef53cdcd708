/* SPDX-License-Identifier: ISC */
/*
 * The end of a request as operators see it: one access-log line, in text
 * or JSON, and its count in metrics.  Never the token or the query: the
 * line names the bot by its id and the Bot API method only.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <http_parser.h>

#include "access.h"
#include "apierror.h"
#include "flood.h"
#include "log.h"
#include "metrics.h"
#include "req.h"
#include "util.h"

/* What an access line says, in either format. */
struct access_line {
	const char	*al_method;
	const char	*al_api;
	const char	*al_bot;
	const char	*al_error;	/* or NULL */
	int		 al_status;
	double		 al_ms;
	char		 al_polls[32];	/* " polls=N" for getUpdates, or "" */
	char		 al_polls_json[32];
	char		 al_wait[40];	/* " spare_wait=MS" if it waited */
	char		 al_wait_json[40];
	char		 al_flood[48];	/* " flood=held retry_after=K" or "" */
	char		 al_flood_json[64];
};

static void
access_text(const struct req *req, const char *peer,
    const struct access_line *a, char *line, size_t len)
{
	snprintf(line, len, "access %s %s %s bot=%s status=%d "
	    "in=%" PRIu64 " out=%" PRIu64 " ms=%.1f connect=%.1f tls=%.1f "
	    "ttfb=%.1f retries=%d spare=%d%s%s%s%s%s%s", peer, a->al_method,
	    a->al_api, a->al_bot, a->al_status, req->req_bytes_in,
	    req->req_bytes_out, a->al_ms, req->req_t_connect, req->req_t_tls,
	    req->req_t_ttfb, req->req_attempt, req->req_spare, a->al_wait,
	    a->al_polls, a->al_flood,
	    a->al_error != NULL ? " error=\"" : "",
	    a->al_error != NULL ? a->al_error : "",
	    a->al_error != NULL ? "\"" : "");
}

static void
access_json(const struct req *req, const char *peer,
    const struct access_line *a, char *line, size_t len)
{
	char	 err[1024];

	if (a->al_error == NULL ||
	    apierror_string(err, sizeof(err), a->al_error) == -1)
		snprintf(err, sizeof(err), "null");
	snprintf(line, len, "\"msg\":\"access\",\"peer\":\"%s\","
	    "\"http_method\":\"%s\",\"method\":\"%s\",\"bot\":\"%s\","
	    "\"status\":%d,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	    ",\"ms\":%.1f,\"connect_ms\":%.1f,\"tls_ms\":%.1f,"
	    "\"ttfb_ms\":%.1f,\"retries\":%d,\"spare\":%s%s%s%s%s%s",
	    peer, a->al_method, a->al_api, a->al_bot,
	    a->al_status, req->req_bytes_in, req->req_bytes_out, a->al_ms,
	    req->req_t_connect, req->req_t_tls, req->req_t_ttfb,
	    req->req_attempt, req->req_spare ? "true" : "false",
	    a->al_wait_json, a->al_polls_json, a->al_flood_json,
	    a->al_error != NULL ? ",\"error\":" : "",
	    a->al_error != NULL ? err : "");
}

/* One line per request, however it ended; why: if it ended early. */
void
access_log(const struct req *req, const char *peer, const char *why)
{
	struct access_line	 a;
	char			 line[2048], api[80], left[512];
	/* Probes come every few seconds: keep them out of the way. */
	int			 level = req->req_admin ? LOG_LEVEL_DEBUG :
				    LOG_LEVEL_INFO;

	a.al_status = req->req_status;
	if (a.al_status == 0) {
		a.al_status = 499;	/* the bot left before any reply */
		metrics_error(METRICS_STAGE_CLIENT_ABORT);
	}
	metrics_request(req, a.al_status, req->req_admin);
	if (!log_wants(level))
		return;
	a.al_ms = util_ms_since(&req->req_start);
	a.al_method = req->req_method >= 0 ?
	    http_method_str(req->req_method) : "-";
	a.al_api = req->req_route.rt_method[0] != '\0' ?
	    req->req_route.rt_method : "-";
	/* The test environment's calls read as such: "test/getMe". */
	if (req->req_route.rt_test) {
		snprintf(api, sizeof(api), "test/%s", req->req_route.rt_method);
		a.al_api = api;
	}
	a.al_bot = req->req_route.rt_bot[0] != '\0' ? req->req_route.rt_bot :
	    "-";
	a.al_error = req->req_errdesc[0] != '\0' ? req->req_errdesc : why;
	/* A bot that left: what it was left waiting on (upstream_stop()). */
	if (a.al_error == why && why != NULL &&
	    req->req_left_on[0] != '\0') {
		snprintf(left, sizeof(left), "%s while waiting for %s", why,
		    req->req_left_on);
		a.al_error = left;
	}
	/* How many upstream polls one bot poll took. */
	a.al_polls[0] = a.al_polls_json[0] = '\0';
	if (req->req_route.rt_longpoll) {
		snprintf(a.al_polls, sizeof(a.al_polls), " polls=%d",
		    req->req_lp.lp_polls);
		snprintf(a.al_polls_json, sizeof(a.al_polls_json),
		    ",\"polls\":%d", req->req_lp.lp_polls);
	}
	/* Waited for a spare being built: on it (spare=1) or not. */
	a.al_wait[0] = a.al_wait_json[0] = '\0';
	if (req->req_t_spwait > 0) {
		snprintf(a.al_wait, sizeof(a.al_wait), " spare_wait=%.1f",
		    req->req_t_spwait);
		snprintf(a.al_wait_json, sizeof(a.al_wait_json),
		    ",\"spare_wait_ms\":%.1f", req->req_t_spwait);
	}
	/* Answered 429 here by the flood guard, or paced. */
	flood_access(req, a.al_flood, sizeof(a.al_flood), a.al_flood_json,
	    sizeof(a.al_flood_json));
	if (log_is_json())
		access_json(req, peer, &a, line, sizeof(line));
	else
		access_text(req, peer, &a, line, sizeof(line));
	log_access(level, line);
}
