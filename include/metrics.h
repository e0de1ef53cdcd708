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

/* What became of spare connections (spare.c). */
enum metrics_spare {
	METRICS_SPARE_OPENED,		/* ready: proxy step and TLS done */
	METRICS_SPARE_USED,		/* taken by a request */
	METRICS_SPARE_EXPIRED,		/* idle for prewarm_max_idle */
	METRICS_SPARE_FAILED,		/* never ready, or died unused */
	METRICS_SPARE_WAITED,		/* a request waited for it, took it */
	METRICS_SPARE_MISSED,		/* ... it failed or was late: fresh */
	METRICS_SPARE_ADOPTED,		/* a connection its bot left, taken */
	METRICS_SPARE_MAX
};

void	 metrics_spare(enum metrics_spare);
void	 metrics_spares_now(int, int);
/* Why a spare was opened (spare.c): bots active, or a hint alone. */
enum metrics_spare_why {
	METRICS_SPWHY_TARGET,		/* the number kept while bots call */
	METRICS_SPWHY_HINT,		/* beyond it, for a getUpdates hint */
	METRICS_SPWHY_MAX
};
/* A getUpdates hint, judged at its bot's next one (sparehint.c). */
enum metrics_hint {
	METRICS_HINT_USED,		/* a call of that bot followed */
	METRICS_HINT_UNUSED,		/* none did: the next counts less */
	METRICS_HINT_MAX
};
void	 metrics_spare_why(enum metrics_spare_why);
void	 metrics_spare_hint(enum metrics_hint);
/* Long polls through a proxy that forgets idle tunnels (longpoll.c). */
enum metrics_longpoll {
	METRICS_LP_SWALLOWED,		/* no answer by timeout + grace */
	METRICS_LP_SLICED,		/* sent with a shorter timeout */
	METRICS_LP_MAX
};

/* The flood guard (flood.c). */
enum metrics_flood {
	METRICS_FLOOD_UPSTREAM_429,	/* the Bot API said to wait */
	METRICS_FLOOD_HELD,		/* answered 429 here */
	METRICS_FLOOD_PACED,		/* flood_pace made it wait */
	METRICS_FLOOD_REFUSED,		/* ... too long: answered 429 here */
	METRICS_FLOOD_MAX
};

void	 metrics_flood(enum metrics_flood);
void	 metrics_flood_wait(double, int);
/* SIGHUPs and what came of them (server.c). */
enum metrics_reload {
	METRICS_RELOAD_SIGNAL,		/* a SIGHUP delivered */
	METRICS_RELOAD_APPLIED,		/* a reload run, config swapped */
	METRICS_RELOAD_FAILED,		/* a reload run, old config kept */
	METRICS_RELOAD_TRUST,		/* the trust store re-read */
	METRICS_RELOAD_MAX
};
/* Requests refused for room (client.c, admit.c). */
enum metrics_refusal {
	METRICS_REFUSED_INFLIGHT,	/* max_inflight reached */
	METRICS_REFUSED_BOT_SHARE,	/* the bot's max_inflight_per_bot */
	METRICS_REFUSED_MAX
};

void	 metrics_reload(enum metrics_reload);
void	 metrics_refused(enum metrics_refusal);
void	 metrics_request(const struct req *, int, int);
void	 metrics_error(enum metrics_stage);
void	 metrics_failover(void);
void	 metrics_retry(void);
void	 metrics_longpoll(enum metrics_longpoll);
void	 metrics_phases(curl_off_t, curl_off_t, curl_off_t, curl_off_t, int);
int	 metrics_render(struct evbuffer *, int, int);

#endif /* METRICS_H */
