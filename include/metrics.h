/* SPDX-License-Identifier: ISC */
/*
 * metrics.c: counters and histograms with fixed label sets, rendered in
 * the Prometheus text format.
 */
#ifndef METRICS_H
#define METRICS_H

#include <curl/curl.h>

struct evbuffer;
struct req;

enum metrics_stage {
	METRICS_STAGE_PROXY_CONNECT,
	METRICS_STAGE_PROXY_HANDSHAKE,
	METRICS_STAGE_TLS,
	METRICS_STAGE_UPSTREAM,
	METRICS_STAGE_TIMEOUT,
	METRICS_STAGE_CLIENT_ABORT,
	METRICS_STAGE_REFUSED,		/* answered by us, never sent upstream */
	METRICS_STAGE_MAX
};

/* Long polls through a proxy that forgets idle tunnels (longpoll.c). */
enum metrics_longpoll {
	METRICS_LP_SWALLOWED,		/* no answer by timeout + grace */
	METRICS_LP_SLICED,		/* sent with a shorter timeout */
	METRICS_LP_MAX
};

void	 metrics_request(const struct req *, int, int);
void	 metrics_error(enum metrics_stage);
void	 metrics_failover(void);
void	 metrics_retry(void);
void	 metrics_longpoll(enum metrics_longpoll);
void	 metrics_phases(curl_off_t, curl_off_t, curl_off_t, curl_off_t, int);
int	 metrics_render(struct evbuffer *, int, int);

#endif /* METRICS_H */
