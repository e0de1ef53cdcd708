/* SPDX-License-Identifier: ISC */
/*
 * The flood guard: Telegram's 429 with parameters.retry_after, learned
 * from one caller of a bot and honoured for all of them.  Every process
 * of a bot calls through the sidecar, so this is the one place that can
 * see the bot's whole flood state.
 *
 * The table is keyed by bot id (never the token) and chat ("" for calls
 * that name none).  It is module state: a reload keeps it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "conf.h"
#include "flood.h"
#include "floodchat.h"
#include "floodpace.h"
#include "header.h"
#include "log.h"
#include "metrics.h"
#include "req.h"
#include "route.h"

struct flood_entry {
	uint64_t	 fe_bot;
	uint64_t	 fe_made;	/* ms: the oldest goes first */
	uint64_t	 fe_until;	/* ms; past: the slot is free */
	char		 fe_chat[FLOODCHAT_MAX];	/* "": no chat */
};

static struct {
	struct flood_entry	 ft_e[FLOOD_TABLE_MAX];
	uint64_t		 ft_last;	/* no entry holds past this */
} flood;

/* One request's part in the guard. */
struct flood_req {
	struct req	*fr_req;
	void		(*fr_go)(struct req *);	/* the wait ran out */
	struct event	*fr_timer;
	uint64_t	 fr_bot;
	int		 fr_chat;	/* enum floodchat_result */
	char		 fr_key[FLOODCHAT_MAX];
	size_t		 fr_scanned;	/* body bytes at the last look */
	int		 fr_sent;	/* went upstream: learn its reply */
	int		 fr_held;	/* answered here */
	int		 fr_refused;	/* ... since pacing would wait too long */
	int		 fr_queued;	/* waits for its paced time */
	double		 fr_wait_ms;	/* paced: how long it waited */
	long		 fr_retry;	/* its retry_after, s */
	struct evbuffer	*fr_reply;	/* a 429's body so far */
	int		 fr_learned;
};

static void	 flood_timer_cb(evutil_socket_t, short, void *);

uint64_t
flood_now(void)
{
	return (flood_now_us() / 1000);
}

uint64_t
flood_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

static struct flood_entry *
flood_table_find(uint64_t bot, const char *chat)
{
	size_t	 i;

	for (i = 0; i < FLOOD_TABLE_MAX; i++)
		if (flood.ft_e[i].fe_bot == bot && flood.ft_e[i].fe_until != 0 &&
		    strcmp(flood.ft_e[i].fe_chat, chat) == 0)
			return (&flood.ft_e[i]);
	return (NULL);
}

/* Hold (bot, chat) until until; a full table loses its oldest entry. */
void
flood_table_hold(uint64_t bot, const char *chat, uint64_t now, uint64_t until)
{
	struct flood_entry	*fe, *old = NULL;
	size_t			 i;

	if ((fe = flood_table_find(bot, chat)) != NULL) {
		if (fe->fe_until < until)
			fe->fe_until = until;
	} else {
		for (i = 0; i < FLOOD_TABLE_MAX && fe == NULL; i++) {
			if (flood.ft_e[i].fe_until <= now)
				fe = &flood.ft_e[i];
			else if (old == NULL ||
			    flood.ft_e[i].fe_made < old->fe_made)
				old = &flood.ft_e[i];
		}
		if (fe == NULL)
			fe = old;
		fe->fe_bot = bot;
		fe->fe_until = until;
		snprintf(fe->fe_chat, sizeof(fe->fe_chat), "%s", chat);
	}
	fe->fe_made = now;
	if (flood.ft_last < until)
		flood.ft_last = until;
}

/* Milliseconds (bot, chat) is still held, or 0. */
uint64_t
flood_table_left(uint64_t bot, const char *chat, uint64_t now)
{
	struct flood_entry	*fe;

	if (now >= flood.ft_last)
		return (0);	/* nothing is held: the usual case */
	if ((fe = flood_table_find(bot, chat)) == NULL || fe->fe_until <= now)
		return (0);
	return (fe->fe_until - now);
}

int
flood_table_count(uint64_t now)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < FLOOD_TABLE_MAX; i++)
		if (flood.ft_e[i].fe_until > now)
			n++;
	return (n);
}

void
flood_table_clear(void)
{
	memset(&flood, 0, sizeof(flood));
}

/*
 * flood_pace: the call waits for its time (its timer then calls the
 * owner's hook), or, if that is beyond flood_max_wait, is answered 429
 * with the wait as retry_after.
 */
static int
flood_pace(struct req *req)
{
	const struct config	*cfg = req->req_cfg;
	struct flood_req	*fr = req->req_flood;
	struct floodpace_rates	 r;
	struct timeval		 tv;
	uint64_t		 wait;

	r.fp_chat_us = (uint64_t)cfg->cfg_flood_chat_us;
	r.fp_group_us = (uint64_t)cfg->cfg_flood_group_us;
	r.fp_bot_us = (uint64_t)cfg->cfg_flood_bot_us;
	r.fp_burst = cfg->cfg_flood_burst;
	if (floodpace_reserve(&r, fr->fr_bot, fr->fr_key, flood_now_us(),
	    (uint64_t)cfg->cfg_flood_max_wait_ms * 1000, &wait) == -1) {
		fr->fr_held = fr->fr_refused = 1;
		fr->fr_retry = (long)((wait + 999999) / 1000000);
		metrics_flood(METRICS_FLOOD_REFUSED);
		return (FLOOD_HOLD);
	}
	fr->fr_sent = 1;
	if (wait == 0)
		return (FLOOD_GO);
	tv.tv_sec = (time_t)(wait / 1000000);
	tv.tv_usec = (suseconds_t)(wait % 1000000);
	if ((fr->fr_timer == NULL && (fr->fr_timer = evtimer_new(req->req_base,
	    flood_timer_cb, req)) == NULL) || evtimer_add(fr->fr_timer,
	    &tv) == -1)
		return (FLOOD_GO);	/* best effort: it goes now */
	fr->fr_queued = 1;
	fr->fr_wait_ms = (double)wait / 1000.0;
	metrics_flood(METRICS_FLOOD_PACED);
	metrics_flood_wait(fr->fr_wait_ms / 1000.0, 1);
	return (FLOOD_WAIT);
}

/* The call is sent, or answered here. */
static int
flood_decide(struct req *req)
{
	struct flood_req	*fr = req->req_flood;
	uint64_t		 left = 0;

	if (fr->fr_timer != NULL)
		evtimer_del(fr->fr_timer);
	if (req->req_cfg->cfg_flood_guard && (fr->fr_chat == FLOODCHAT_FOUND ||
	    fr->fr_chat == FLOODCHAT_NONE))
		left = flood_table_left(fr->fr_bot, fr->fr_chat ==
		    FLOODCHAT_FOUND ? fr->fr_key : "", flood_now());
	if (left > 0) {
		fr->fr_held = 1;
		fr->fr_retry = (long)((left + 999) / 1000);
		metrics_flood(METRICS_FLOOD_HELD);
		return (FLOOD_HOLD);
	}
	if (req->req_cfg->cfg_flood_pace && fr->fr_chat == FLOODCHAT_FOUND)
		return (flood_pace(req));
	fr->fr_sent = 1;
	return (FLOOD_GO);
}

static void
flood_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct req		*req = arg;
	struct flood_req	*fr = req->req_flood;

	(void)fd;
	(void)what;
	if (fr->fr_queued) {
		/* Its paced time came. */
		fr->fr_queued = 0;
		metrics_flood_wait(0, -1);
	} else {
		/* Bytes too slow to tell: the call goes unguarded. */
		fr->fr_chat = FLOODCHAT_UNKNOWN;
		flood_decide(req);
	}
	fr->fr_go(req);
}

/* The request's Content-Type value, or NULL. */
static const char *
flood_ctype(const struct req *req)
{
	const struct curl_slist	*h;
	const char		*value;
	size_t			 nlen, vlen;

	for (h = req->req_hdrs; h != NULL; h = h->next)
		if (header_split(h->data, strlen(h->data), &nlen, &value,
		    &vlen) == 0 &&
		    header_kind(h->data, nlen) == HEADER_CONTENT_TYPE)
			return (value);
	return (NULL);
}

/*
 * Once the head is admitted: a call that may send to a chat is looked
 * at; read-only ones (get*, getUpdates, downloads) never are.
 */
int
flood_head(struct req *req, void (*go)(struct req *))
{
	struct flood_req	*fr;
	struct timeval		 tv = { FLOOD_WAIT_MS / 1000,
				    (FLOOD_WAIT_MS % 1000) * 1000 };
	const char		*t;

	if ((!req->req_cfg->cfg_flood_guard && !req->req_cfg->cfg_flood_pace) ||
	    req->req_route.rt_kind != ROUTE_METHOD ||
	    req->req_route.rt_readonly)
		return (FLOOD_GO);
	/* Best effort: without memory the call goes unguarded. */
	if ((fr = calloc(1, sizeof(*fr))) == NULL)
		return (FLOOD_GO);
	req->req_flood = fr;
	fr->fr_req = req;
	fr->fr_go = go;
	fr->fr_bot = strtoull(req->req_route.rt_bot, NULL, 10);
	t = (const char *)evbuffer_pullup(req->req_target, -1);
	fr->fr_chat = floodchat_query(t, evbuffer_get_length(req->req_target),
	    fr->fr_key, sizeof(fr->fr_key));
	if (fr->fr_chat != FLOODCHAT_NONE || !req->req_has_body)
		return (flood_decide(req));
	fr->fr_chat = FLOODCHAT_MORE;
	if ((fr->fr_timer = evtimer_new(req->req_base, flood_timer_cb,
	    req)) == NULL || evtimer_add(fr->fr_timer, &tv) == -1) {
		fr->fr_chat = FLOODCHAT_UNKNOWN;
		return (flood_decide(req));
	}
	return (FLOOD_WAIT);
}

/* Is the whole body in hand (its end may not be parsed yet)? */
int
flood_body_all(const struct req *req)
{
	return (!req->req_has_body || req->req_body_done ||
	    (req->req_clen >= 0 &&
	    req->req_bytes_in >= (uint64_t)req->req_clen));
}

int
flood_waiting(const struct req *req)
{
	return (req->req_flood != NULL &&
	    req->req_flood->fr_chat == FLOODCHAT_MORE);
}

/*
 * Body bytes came, or the body ended.  Looked at again only once 1 KiB
 * more came (a body sent a byte at a time costs no more than 64 looks).
 */
int
flood_body(struct req *req)
{
	struct flood_req	*fr = req->req_flood;
	size_t			 len = evbuffer_get_length(req->req_body);
	int			 all = flood_body_all(req);
	int			 last = all || len >= FLOOD_BODY_MAX;

	if (!last && fr->fr_scanned != 0 && len < fr->fr_scanned + 1024)
		return (FLOOD_WAIT);
	fr->fr_scanned = len;
	fr->fr_chat = floodchat_body(flood_ctype(req),
	    (const char *)evbuffer_pullup(req->req_body, -1), len, all,
	    fr->fr_key, sizeof(fr->fr_key));
	if (fr->fr_chat == FLOODCHAT_MORE && !last)
		return (FLOOD_WAIT);
	if (fr->fr_chat == FLOODCHAT_MORE)
		fr->fr_chat = FLOODCHAT_UNKNOWN;	/* not within 64 KiB */
	return (flood_decide(req));
}

long
flood_retry_after(const struct req *req)
{
	return (req->req_flood != NULL ? req->req_flood->fr_retry : 0);
}

/* For the access log: "held", "refused", "paced", or NULL. */
const char *
flood_event(const struct req *req)
{
	const struct flood_req	*fr = req->req_flood;

	if (fr == NULL)
		return (NULL);
	if (fr->fr_refused)
		return ("refused");
	if (fr->fr_held)
		return ("held");
	if (fr->fr_wait_ms > 0)
		return ("paced");
	return (NULL);
}

/* The access log's words: " flood=E retry_after=K|wait=MS", and JSON. */
void
flood_access(const struct req *req, char *text, size_t tlen, char *json,
    size_t jlen)
{
	const struct flood_req	*fr = req->req_flood;
	const char		*e = flood_event(req);

	text[0] = json[0] = '\0';
	if (e == NULL)
		return;
	if (fr->fr_held) {
		snprintf(text, tlen, " flood=%s retry_after=%ld", e,
		    fr->fr_retry);
		snprintf(json, jlen, ",\"flood\":\"%s\",\"retry_after\":%ld", e,
		    fr->fr_retry);
	} else {
		snprintf(text, tlen, " flood=%s wait=%.1f", e, fr->fr_wait_ms);
		snprintf(json, jlen, ",\"flood\":\"%s\",\"wait_ms\":%.1f", e,
		    fr->fr_wait_ms);
	}
}

/* The 429's retry_after, for the chat the call named. */
static void
flood_learn(struct flood_req *fr)
{
	json_t		*o, *v;
	json_error_t	 err;
	json_int_t	 secs = 0;
	uint64_t	 now;
	const char	*chat = fr->fr_chat == FLOODCHAT_FOUND ? fr->fr_key : "";

	fr->fr_learned = 1;
	if ((o = json_loadb((const char *)evbuffer_pullup(fr->fr_reply, -1),
	    evbuffer_get_length(fr->fr_reply), 0, &err)) == NULL)
		return;
	if ((v = json_object_get(o, "parameters")) != NULL &&
	    (v = json_object_get(v, "retry_after")) != NULL &&
	    json_is_integer(v))
		secs = json_integer_value(v);
	json_decref(o);
	if (secs <= 0 || (fr->fr_chat != FLOODCHAT_FOUND &&
	    fr->fr_chat != FLOODCHAT_NONE))
		return;
	if (secs > FLOOD_RETRY_MAX)
		secs = FLOOD_RETRY_MAX;
	now = flood_now();
	flood_table_hold(fr->fr_bot, chat, now, now + (uint64_t)secs * 1000);
	log_info("flood: bot %" PRIu64 " %s%s held %lld s (Bot API 429)",
	    fr->fr_bot, *chat != '\0' ? "chat " : "calls with no chat",
	    chat, (long long)secs);
}

/* reply.c: a reply's head went to the bot. */
void
flood_reply_head(struct req *req, int status)
{
	struct flood_req	*fr = req->req_flood;

	if (fr == NULL || !fr->fr_sent || status != 429 ||
	    fr->fr_reply != NULL || fr->fr_learned ||
	    !req->req_cfg->cfg_flood_guard)
		return;
	metrics_flood(METRICS_FLOOD_UPSTREAM_429);
	if ((fr->fr_reply = evbuffer_new()) == NULL)
		fr->fr_learned = 1;
}

/* reply.c: body bytes; learned as soon as the declared length came. */
void
flood_reply_body(struct req *req, const char *data, size_t len)
{
	struct flood_req	*fr = req->req_flood;

	if (fr == NULL || fr->fr_reply == NULL || fr->fr_learned)
		return;
	if (evbuffer_get_length(fr->fr_reply) + len > FLOOD_REPLY_MAX ||
	    evbuffer_add(fr->fr_reply, data, len) == -1) {
		fr->fr_learned = 1;	/* no Bot API 429 is that long */
		return;
	}
	if (req->req_clen_out >= 0 &&
	    req->req_bytes_out >= (uint64_t)req->req_clen_out)
		flood_learn(fr);
}

/* reply.c: the reply ended (a chunked one is learned here). */
void
flood_reply_end(struct req *req)
{
	struct flood_req	*fr = req->req_flood;

	if (fr != NULL && fr->fr_reply != NULL && !fr->fr_learned)
		flood_learn(fr);
}

void
flood_req_free(struct req *req)
{
	struct flood_req	*fr = req->req_flood;

	if (fr == NULL)
		return;
	flood_reply_end(req);
	if (fr->fr_queued)
		metrics_flood_wait(0, -1);	/* its bot left: out of the queue */
	if (fr->fr_timer != NULL)
		event_free(fr->fr_timer);
	if (fr->fr_reply != NULL)
		evbuffer_free(fr->fr_reply);
	free(fr);
	req->req_flood = NULL;
}
