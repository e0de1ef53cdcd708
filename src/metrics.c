/* SPDX-License-Identifier: ISC */
/*
 * Counters for /metrics, in the Prometheus text exposition format.  All
 * of it is plain memory updated at the end of a request: no locks, one
 * loop.
 */
#include "config.h"

#include <string.h>
#include <strings.h>
#include <event2/buffer.h>

#include "client.h"
#include "metrics.h"
#include "proxy.h"
#include "req.h"
#include "route.h"
#include "tls.h"

#define METRICS_BUCKETS		14

/*
 * The label sets are fixed, so that the series are bounded by
 * construction and every request lands in one: a new status or method
 * can never be turned away by a full table.
 */
enum metrics_class {
	METRICS_CLASS_GETUPDATES, METRICS_CLASS_GET, METRICS_CLASS_SEND,
	METRICS_CLASS_EDIT, METRICS_CLASS_DELETE, METRICS_CLASS_ANSWER,
	METRICS_CLASS_FILE, METRICS_CLASS_OTHER, METRICS_CLASS_ADMIN,
	METRICS_CLASS_MAX
};

static const char *metrics_classes[METRICS_CLASS_MAX] = {
	[METRICS_CLASS_GETUPDATES] = "getUpdates",
	[METRICS_CLASS_GET] = "get",
	[METRICS_CLASS_SEND] = "send",
	[METRICS_CLASS_EDIT] = "edit",
	[METRICS_CLASS_DELETE] = "delete",
	[METRICS_CLASS_ANSWER] = "answer",
	[METRICS_CLASS_FILE] = "file",
	[METRICS_CLASS_OTHER] = "other",
	[METRICS_CLASS_ADMIN] = "admin"
};

/*
 * The statuses the sidecar makes itself or passes on from the Bot API
 * (and 206/304 of a file download, 499 for a bot that left); any other
 * is counted as "other".
 */
enum metrics_status {
	METRICS_S200, METRICS_S206, METRICS_S304, METRICS_S400, METRICS_S401,
	METRICS_S403, METRICS_S404, METRICS_S405, METRICS_S409, METRICS_S413,
	METRICS_S414, METRICS_S429, METRICS_S431, METRICS_S499, METRICS_S500,
	METRICS_S502, METRICS_S503, METRICS_S504, METRICS_SOTHER,
	METRICS_STATUS_MAX
};

static const char *metrics_statuses[METRICS_STATUS_MAX] = {
	[METRICS_S200] = "200", [METRICS_S206] = "206",
	[METRICS_S304] = "304", [METRICS_S400] = "400",
	[METRICS_S401] = "401", [METRICS_S403] = "403",
	[METRICS_S404] = "404", [METRICS_S405] = "405",
	[METRICS_S409] = "409", [METRICS_S413] = "413",
	[METRICS_S414] = "414", [METRICS_S429] = "429",
	[METRICS_S431] = "431", [METRICS_S499] = "499",
	[METRICS_S500] = "500", [METRICS_S502] = "502",
	[METRICS_S503] = "503", [METRICS_S504] = "504",
	[METRICS_SOTHER] = "other"
};

static const char *metrics_stages[METRICS_STAGE_MAX] = {
	[METRICS_STAGE_PROXY_CONNECT] = "proxy_connect",
	[METRICS_STAGE_PROXY_HANDSHAKE] = "proxy_handshake",
	[METRICS_STAGE_TLS] = "tls",
	[METRICS_STAGE_UPSTREAM] = "upstream",
	[METRICS_STAGE_TIMEOUT] = "timeout",
	[METRICS_STAGE_CLIENT_ABORT] = "client_abort",
	[METRICS_STAGE_REFUSED] = "refused"
};

enum metrics_phase {
	METRICS_PHASE_CONNECT, METRICS_PHASE_TLS, METRICS_PHASE_TTFB,
	METRICS_PHASE_TOTAL, METRICS_PHASES
};

static const char *metrics_phase_names[METRICS_PHASES] = {
	[METRICS_PHASE_CONNECT] = "proxy_connect",
	[METRICS_PHASE_TLS] = "tls_handshake",
	[METRICS_PHASE_TTFB] = "first_byte",
	[METRICS_PHASE_TOTAL] = "total"
};

/* Seconds; +Inf is implied. */
static const double metrics_le[METRICS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	10, 60
};

static struct {
	uint64_t	 mt_req[METRICS_CLASS_MAX][METRICS_STATUS_MAX];
	uint64_t	 mt_errors[METRICS_STAGE_MAX];
	uint64_t	 mt_hist[METRICS_PHASES][METRICS_BUCKETS + 1];
	double		 mt_sum[METRICS_PHASES];
	uint64_t	 mt_failovers;
	uint64_t	 mt_retries;
	uint64_t	 mt_spares[METRICS_SPARE_MAX];
	int		 mt_spares_building;
	int		 mt_spares_ready;
	uint64_t	 mt_longpoll[METRICS_LP_MAX];
	uint64_t	 mt_reload[METRICS_RELOAD_MAX];
	uint64_t	 mt_refused[METRICS_REFUSED_MAX];
	uint64_t	 mt_bytes_in;
	uint64_t	 mt_bytes_out;
} mt;

static enum metrics_class
metrics_class(const struct route *rt)
{
	static const struct {
		const char		*mp_prefix;
		enum metrics_class	 mp_class;
	} prefix[] = {
		{ "get", METRICS_CLASS_GET },
		{ "send", METRICS_CLASS_SEND },
		{ "edit", METRICS_CLASS_EDIT },
		{ "delete", METRICS_CLASS_DELETE },
		{ "answer", METRICS_CLASS_ANSWER }
	};
	size_t	 i;

	if (rt->rt_kind == ROUTE_FILE)
		return (METRICS_CLASS_FILE);
	if (rt->rt_kind != ROUTE_METHOD)
		return (METRICS_CLASS_OTHER);
	if (rt->rt_longpoll)
		return (METRICS_CLASS_GETUPDATES);
	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (strncasecmp(rt->rt_method, prefix[i].mp_prefix,
		    strlen(prefix[i].mp_prefix)) == 0)
			return (prefix[i].mp_class);
	return (METRICS_CLASS_OTHER);
}

static enum metrics_status
metrics_status(int status)
{
	switch (status) {
	case 200: return (METRICS_S200);
	case 206: return (METRICS_S206);
	case 304: return (METRICS_S304);
	case 400: return (METRICS_S400);
	case 401: return (METRICS_S401);
	case 403: return (METRICS_S403);
	case 404: return (METRICS_S404);
	case 405: return (METRICS_S405);
	case 409: return (METRICS_S409);
	case 413: return (METRICS_S413);
	case 414: return (METRICS_S414);
	case 429: return (METRICS_S429);
	case 431: return (METRICS_S431);
	case 499: return (METRICS_S499);
	case 500: return (METRICS_S500);
	case 502: return (METRICS_S502);
	case 503: return (METRICS_S503);
	case 504: return (METRICS_S504);
	default: return (METRICS_SOTHER);
	}
}

/* One reply; req is NULL for one made before any request began. */
void
metrics_request(const struct req *req, int status, int admin)
{
	enum metrics_class	 c = METRICS_CLASS_OTHER;

	if (admin)
		c = METRICS_CLASS_ADMIN;
	else if (req != NULL)
		c = metrics_class(&req->req_route);
	if (req != NULL) {
		mt.mt_bytes_in += req->req_bytes_in;
		mt.mt_bytes_out += req->req_bytes_out;
	}
	mt.mt_req[c][metrics_status(status)]++;
}

void
metrics_error(enum metrics_stage stage)
{
	if ((unsigned)stage < METRICS_STAGE_MAX)
		mt.mt_errors[stage]++;
}

void
metrics_failover(void)
{
	mt.mt_failovers++;
}

void
metrics_retry(void)
{
	mt.mt_retries++;
}

static const char *metrics_spares[METRICS_SPARE_MAX] = {
	[METRICS_SPARE_OPENED] = "opened",
	[METRICS_SPARE_USED] = "used",
	[METRICS_SPARE_EXPIRED] = "expired",
	[METRICS_SPARE_FAILED] = "failed",
	[METRICS_SPARE_WAITED] = "waited",
	[METRICS_SPARE_MISSED] = "missed",
	[METRICS_SPARE_ADOPTED] = "adopted"
};

void
metrics_spare(enum metrics_spare what)
{
	mt.mt_spares[what]++;
}

static uint64_t	 mt_spare_why[METRICS_SPWHY_MAX];
static uint64_t	 mt_spare_hints[METRICS_HINT_MAX];

void
metrics_spare_why(enum metrics_spare_why why)
{
	mt_spare_why[why]++;
}

void
metrics_spare_hint(enum metrics_hint what)
{
	mt_spare_hints[what]++;
}

/* Why spares were opened, and how the hints came out. */
static void
metrics_render_sparecost(struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP tgsidecar_spares_why_total Spare "
	    "connections opened, by why: the number kept while bots call "
	    "(target), or for a getUpdates answer's updates (hint).\n"
	    "# TYPE tgsidecar_spares_why_total counter\n"
	    "tgsidecar_spares_why_total{why=\"target\"} %llu\n"
	    "tgsidecar_spares_why_total{why=\"hint\"} %llu\n",
	    (unsigned long long)mt_spare_why[METRICS_SPWHY_TARGET],
	    (unsigned long long)mt_spare_why[METRICS_SPWHY_HINT]);
	evbuffer_add_printf(out, "# HELP tgsidecar_spare_hints_total "
	    "getUpdates hints (n updates, so n calls), judged at the bot's "
	    "next one: a call followed (used) or none (unused: the next "
	    "counts less).\n"
	    "# TYPE tgsidecar_spare_hints_total counter\n"
	    "tgsidecar_spare_hints_total{outcome=\"used\"} %llu\n"
	    "tgsidecar_spare_hints_total{outcome=\"unused\"} %llu\n",
	    (unsigned long long)mt_spare_hints[METRICS_HINT_USED],
	    (unsigned long long)mt_spare_hints[METRICS_HINT_UNUSED]);
}

/* Spares now: spare.c tells, since metrics.c names no one above it. */
void
metrics_spares_now(int building, int ready)
{
	mt.mt_spares_building = building;
	mt.mt_spares_ready = ready;
}

void
metrics_longpoll(enum metrics_longpoll what)
{
	if ((unsigned)what < METRICS_LP_MAX)
		mt.mt_longpoll[what]++;
}

void
metrics_reload(enum metrics_reload what)
{
	if ((unsigned)what < METRICS_RELOAD_MAX)
		mt.mt_reload[what]++;
}

void
metrics_refused(enum metrics_refusal why)
{
	if ((unsigned)why < METRICS_REFUSED_MAX)
		mt.mt_refused[why]++;
}

/* Reloads and refusals for room: fixed labels, nothing from requests. */
static void
metrics_render_limits(struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP tgsidecar_reload_signals_total "
	    "SIGHUPs delivered (reloads coalesce: see reloads_total).\n"
	    "# TYPE tgsidecar_reload_signals_total counter\n"
	    "tgsidecar_reload_signals_total %llu\n"
	    "# HELP tgsidecar_reloads_total Reloads run, by result.\n"
	    "# TYPE tgsidecar_reloads_total counter\n"
	    "tgsidecar_reloads_total{result=\"applied\"} %llu\n"
	    "tgsidecar_reloads_total{result=\"failed\"} %llu\n"
	    "# HELP tgsidecar_trust_reads_total Reloads that read the trust "
	    "store anew (its files changed).\n"
	    "# TYPE tgsidecar_trust_reads_total counter\n"
	    "tgsidecar_trust_reads_total %llu\n"
	    "# HELP tgsidecar_refused_total Requests refused with 503 for "
	    "room, by the limit reached.\n"
	    "# TYPE tgsidecar_refused_total counter\n"
	    "tgsidecar_refused_total{reason=\"max_inflight\"} %llu\n"
	    "tgsidecar_refused_total{reason=\"max_inflight_per_bot\"} %llu\n",
	    (unsigned long long)mt.mt_reload[METRICS_RELOAD_SIGNAL],
	    (unsigned long long)mt.mt_reload[METRICS_RELOAD_APPLIED],
	    (unsigned long long)mt.mt_reload[METRICS_RELOAD_FAILED],
	    (unsigned long long)mt.mt_reload[METRICS_RELOAD_TRUST],
	    (unsigned long long)mt.mt_refused[METRICS_REFUSED_INFLIGHT],
	    (unsigned long long)mt.mt_refused[METRICS_REFUSED_BOT_SHARE]);
}

static void
metrics_observe(enum metrics_phase phase, curl_off_t us)
{
	double	 s = us / 1e6;
	int	 b;

	for (b = 0; b < METRICS_BUCKETS && s > metrics_le[b]; b++)
		;
	mt.mt_hist[phase][b]++;
	mt.mt_sum[phase] += s;
}

/* Phase times of one finished transfer, as libcurl measured them (us). */
void
metrics_phases(curl_off_t conn, curl_off_t app, curl_off_t ttfb,
    curl_off_t total, int proxied)
{
	if (conn > 0 && proxied)
		metrics_observe(METRICS_PHASE_CONNECT, conn);
	if (app > 0)
		metrics_observe(METRICS_PHASE_TLS, app - conn);
	if (ttfb > 0)
		metrics_observe(METRICS_PHASE_TTFB, ttfb);
	if (total > 0)
		metrics_observe(METRICS_PHASE_TOTAL, total);
}

static void
metrics_hist(struct evbuffer *out, int p)
{
	uint64_t	 cum = 0;
	int		 b;

	for (b = 0; b < METRICS_BUCKETS; b++) {
		cum += mt.mt_hist[p][b];
		evbuffer_add_printf(out, "tgsidecar_upstream_phase_seconds_bucket"
		    "{phase=\"%s\",le=\"%g\"} %llu\n", metrics_phase_names[p],
		    metrics_le[b], (unsigned long long)cum);
	}
	cum += mt.mt_hist[p][METRICS_BUCKETS];
	evbuffer_add_printf(out, "tgsidecar_upstream_phase_seconds_bucket"
	    "{phase=\"%s\",le=\"+Inf\"} %llu\n", metrics_phase_names[p],
	    (unsigned long long)cum);
	evbuffer_add_printf(out, "tgsidecar_upstream_phase_seconds_sum"
	    "{phase=\"%s\"} %.6f\n", metrics_phase_names[p], mt.mt_sum[p]);
	evbuffer_add_printf(out, "tgsidecar_upstream_phase_seconds_count"
	    "{phase=\"%s\"} %llu\n", metrics_phase_names[p], (unsigned long long)cum);
}

/* Spares opened ahead and long polls, each family with its help. */
static void
metrics_render_spares(struct evbuffer *out)
{
	size_t	 i;

	evbuffer_add_printf(out, "# HELP tgsidecar_spares_total Spare "
	    "connections opened ahead, and what became of them.\n"
	    "# TYPE tgsidecar_spares_total counter\n");
	for (i = 0; i < METRICS_SPARE_MAX; i++)
		evbuffer_add_printf(out, "tgsidecar_spares_total{event=\"%s\"} "
		    "%llu\n", metrics_spares[i],
		    (unsigned long long)mt.mt_spares[i]);
	evbuffer_add_printf(out, "# HELP tgsidecar_spares Spare connections "
	    "now, being built or ready.\n# TYPE tgsidecar_spares gauge\n"
	    "tgsidecar_spares{state=\"building\"} %d\n"
	    "tgsidecar_spares{state=\"ready\"} %d\n",
	    mt.mt_spares_building, mt.mt_spares_ready);
	evbuffer_add_printf(out, "# HELP tgsidecar_longpoll_swallowed_total "
	    "Upstream getUpdates polls with no answer by their timeout and "
	    "a grace, sent again.\n"
	    "# TYPE tgsidecar_longpoll_swallowed_total counter\n"
	    "tgsidecar_longpoll_swallowed_total %llu\n"
	    "# HELP tgsidecar_longpoll_sliced_total Upstream getUpdates polls "
	    "sent with a shorter timeout than the bot's.\n"
	    "# TYPE tgsidecar_longpoll_sliced_total counter\n"
	    "tgsidecar_longpoll_sliced_total %llu\n",
	    (unsigned long long)mt.mt_longpoll[METRICS_LP_SWALLOWED],
	    (unsigned long long)mt.mt_longpoll[METRICS_LP_SLICED]);
}

/* The flood guard: its own counters, kept apart from mt's. */
static const char *metrics_floods[METRICS_FLOOD_MAX] = {
	[METRICS_FLOOD_UPSTREAM_429] = "upstream_429",
	[METRICS_FLOOD_HELD] = "held",
	[METRICS_FLOOD_PACED] = "paced",
	[METRICS_FLOOD_REFUSED] = "refused",
};
static uint64_t	 metrics_flood_n[METRICS_FLOOD_MAX];
static int	 metrics_flood_queue;		/* paced calls waiting now */
static double	 metrics_flood_wait_s;		/* their waits, summed */

/* A paced call's wait (s) begins (+1), or it leaves the queue (-1). */
void
metrics_flood_wait(double s, int delta)
{
	metrics_flood_wait_s += s;
	metrics_flood_queue += delta;
}

void
metrics_flood(enum metrics_flood what)
{
	if ((unsigned)what < METRICS_FLOOD_MAX)
		metrics_flood_n[what]++;
}

static void
metrics_render_flood(struct evbuffer *out)
{
	size_t	 i;

	evbuffer_add_printf(out, "# HELP tgsidecar_flood_total Bot API 429s "
	    "with retry_after, and calls answered 429 here while one "
	    "holds (flood_guard).\n# TYPE tgsidecar_flood_total counter\n");
	for (i = 0; i < METRICS_FLOOD_MAX; i++)
		evbuffer_add_printf(out, "tgsidecar_flood_total{event=\"%s\"} "
		    "%llu\n", metrics_floods[i],
		    (unsigned long long)metrics_flood_n[i]);
	evbuffer_add_printf(out, "# HELP tgsidecar_flood_queue Calls waiting "
	    "for their paced time now (flood_pace).\n"
	    "# TYPE tgsidecar_flood_queue gauge\ntgsidecar_flood_queue %d\n"
	    "# HELP tgsidecar_flood_wait_seconds_total Time paced calls were "
	    "held, summed (flood_pace).\n"
	    "# TYPE tgsidecar_flood_wait_seconds_total counter\n"
	    "tgsidecar_flood_wait_seconds_total %.3f\n", metrics_flood_queue,
	    metrics_flood_wait_s);
}

int
metrics_render(struct evbuffer *out, int inflight, int clients)
{
	size_t	 i;
	int	 c, s;

	evbuffer_add_printf(out, "# HELP tgsidecar_requests_total Requests "
	    "answered, by Bot API method class and status.\n"
	    "# TYPE tgsidecar_requests_total counter\n");
	/* Pairs never seen are left out, to keep a scrape short. */
	for (c = 0; c < METRICS_CLASS_MAX; c++)
		for (s = 0; s < METRICS_STATUS_MAX; s++)
			if (mt.mt_req[c][s] != 0)
				evbuffer_add_printf(out, "tgsidecar_requests_total"
				    "{class=\"%s\",status=\"%s\"} %llu\n",
				    metrics_classes[c], metrics_statuses[s],
				    (unsigned long long)mt.mt_req[c][s]);
	evbuffer_add_printf(out, "# HELP tgsidecar_errors_total Failures, by "
	    "the stage that failed.\n# TYPE tgsidecar_errors_total counter\n");
	for (i = 0; i < METRICS_STAGE_MAX; i++)
		evbuffer_add_printf(out, "tgsidecar_errors_total{stage=\"%s\"} "
		    "%llu\n", metrics_stages[i],
		    (unsigned long long)mt.mt_errors[i]);
	evbuffer_add_printf(out, "# HELP tgsidecar_upstream_phase_seconds "
	    "Upstream transfer phases: proxy connect, TLS handshake, time to "
	    "first byte, total.\n"
	    "# TYPE tgsidecar_upstream_phase_seconds histogram\n");
	for (i = 0; i < METRICS_PHASES; i++)
		metrics_hist(out, i);
	evbuffer_add_printf(out,
	    "# HELP tgsidecar_inflight Upstream transfers in flight.\n"
	    "# TYPE tgsidecar_inflight gauge\ntgsidecar_inflight %d\n"
	    "# HELP tgsidecar_connections Open bot connections.\n"
	    "# TYPE tgsidecar_connections gauge\ntgsidecar_connections %d\n"
	    "# HELP tgsidecar_proxy_failovers_total Proxies marked failed.\n"
	    "# TYPE tgsidecar_proxy_failovers_total counter\n"
	    "tgsidecar_proxy_failovers_total %llu\n"
	    "# HELP tgsidecar_retries_total Upstream attempts retried.\n"
	    "# TYPE tgsidecar_retries_total counter\n"
	    "tgsidecar_retries_total %llu\n"
	    "# HELP tgsidecar_bytes_total Body bytes, in from bots and out "
	    "to them.\n# TYPE tgsidecar_bytes_total counter\n"
	    "tgsidecar_bytes_total{direction=\"in\"} %llu\n"
	    "tgsidecar_bytes_total{direction=\"out\"} %llu\n",
	    inflight, clients, (unsigned long long)mt.mt_failovers,
	    (unsigned long long)mt.mt_retries,
	    (unsigned long long)mt.mt_bytes_in,
	    (unsigned long long)mt.mt_bytes_out);
	metrics_render_spares(out);
	metrics_render_sparecost(out);
	metrics_render_flood(out);
	metrics_render_limits(out);
	return (0);
}
