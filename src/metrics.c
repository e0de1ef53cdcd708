/* SPDX-License-Identifier: ISC */
/*
 * Counters for /metrics, in the Prometheus text exposition format.  All
 * of it is plain memory updated at the end of a request: no locks, one
 * loop.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "tgsidecar.h"

#define METRICS_STATUS_MAX	64
#define METRICS_BUCKETS		14

static const char *metrics_classes[] = {
	"getUpdates", "get", "send", "edit", "delete", "answer", "file",
	"other", "admin"
};
#define METRICS_CLASSES	(sizeof(metrics_classes) / sizeof(metrics_classes[0]))

static const char *metrics_stages[] = {
	"proxy_connect", "proxy_handshake", "tls", "upstream", "timeout",
	"client_abort", "refused"
};
#define METRICS_STAGES	(sizeof(metrics_stages) / sizeof(metrics_stages[0]))

static const char *metrics_phase_names[] = {
	"proxy_connect", "tls_handshake", "first_byte", "total"
};
#define METRICS_PHASES	((int)(sizeof(metrics_phase_names) / sizeof(metrics_phase_names[0])))

/* Seconds; +Inf is implied. */
static const double metrics_le[METRICS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	10, 60
};

static struct {
	struct {
		int		 ms_class;
		int		 ms_status;
		uint64_t	 ms_count;
	}		 mt_req[METRICS_STATUS_MAX];
	int		 mt_nreq;
	uint64_t	 mt_errors[METRICS_STAGES];
	uint64_t	 mt_hist[METRICS_PHASES][METRICS_BUCKETS + 1];
	double		 mt_sum[METRICS_PHASES];
	uint64_t	 mt_failovers;
	uint64_t	 mt_retries;
	uint64_t	 mt_bytes_in;
	uint64_t	 mt_bytes_out;
} mt;

static int
metrics_class(const struct route *rt)
{
	static const char *prefix[] = { "get", "send", "edit", "delete",
	    "answer" };
	size_t	 i;

	if (rt->rt_kind == ROUTE_FILE)
		return 6;
	if (rt->rt_kind != ROUTE_METHOD)
		return 7;
	if (rt->rt_longpoll)
		return 0;
	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (strncasecmp(rt->rt_method, prefix[i], strlen(prefix[i])) == 0)
			return 1 + i;
	return 7;
}

void
metrics_request(const struct req *req, int status, int admin)
{
	int	 c = admin ? (int)METRICS_CLASSES - 1 :
		    metrics_class(&req->req_route), i;

	mt.mt_bytes_in += req->req_bytes_in;
	mt.mt_bytes_out += req->req_bytes_out;
	for (i = 0; i < mt.mt_nreq; i++)
		if (mt.mt_req[i].ms_class == c && mt.mt_req[i].ms_status == status)
			break;
	if (i == mt.mt_nreq) {
		if (mt.mt_nreq == METRICS_STATUS_MAX)
			return;	/* a bounded set of series */
		mt.mt_req[i].ms_class = c;
		mt.mt_req[i].ms_status = status;
		mt.mt_nreq++;
	}
	mt.mt_req[i].ms_count++;
}

void
metrics_error(const char *stage)
{
	size_t	 i;

	for (i = 0; i < METRICS_STAGES; i++)
		if (strcmp(metrics_stages[i], stage) == 0)
			mt.mt_errors[i]++;
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

static void
metrics_observe(int phase, curl_off_t us)
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
		metrics_observe(0, conn);
	if (app > 0)
		metrics_observe(1, app - conn);
	if (ttfb > 0)
		metrics_observe(2, ttfb);
	if (total > 0)
		metrics_observe(3, total);
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

int
metrics_render(struct evbuffer *out, int inflight, int clients)
{
	size_t	 i;
	int	 r;

	evbuffer_add_printf(out, "# HELP tgsidecar_requests_total Requests "
	    "answered, by Bot API method class and status.\n"
	    "# TYPE tgsidecar_requests_total counter\n");
	for (r = 0; r < mt.mt_nreq; r++)
		evbuffer_add_printf(out, "tgsidecar_requests_total{class=\"%s\","
		    "status=\"%d\"} %llu\n",
		    metrics_classes[mt.mt_req[r].ms_class],
		    mt.mt_req[r].ms_status,
		    (unsigned long long)mt.mt_req[r].ms_count);
	evbuffer_add_printf(out, "# HELP tgsidecar_errors_total Failures, by "
	    "the stage that failed.\n# TYPE tgsidecar_errors_total counter\n");
	for (i = 0; i < METRICS_STAGES; i++)
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
	return 0;
}
