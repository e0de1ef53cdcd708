/* SPDX-License-Identifier: ISC */
/*
 * Long polls through a proxy that forgets idle tunnels.  A held
 * getUpdates is an idle tunnel: behind a proxy with a short idle limit the
 * server answers into a tunnel the proxy has forgotten, and nothing comes
 * back.  So:
 *
 * - an upstream poll with no answer byte a grace (longpoll_grace_ms())
 *   after its own timeout ran out is swallowed: it is dropped and sent
 *   again at once on a fresh connection (same offset: only the bot's next
 *   offset confirms updates, so an empty getUpdates is safe to repeat);
 * - the proxy it went through gets a slice: the longest timeout an
 *   upstream poll through it may have, half the swallowed one, at least
 *   LONGPOLL_SLICE_MIN; a longer bot poll is then sent as polls of a
 *   slice each, and an empty answer before the bot's own timeout ends is
 *   kept from the bot and followed by the next slice.  Updates, errors and
 *   the last empty answer go to the bot as they came;
 * - after LONGPOLL_PROBE_POLLS full slices and LONGPOLL_PROBE_MS, the
 *   slice is doubled, up to no slicing at all: a limit that went away (or
 *   a false alarm) costs polls for a while, never updates.
 *
 * A proxy that keeps tunnels never gets a slice: one upstream poll per bot
 * poll, with the bot's own timeout.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "proxy.h"
#include "reply.h"
#include "req.h"
#include "route.h"
#include "util.h"

/*
 * The Bot API answers a poll within a few ms of its timeout.  5 s covers a
 * busy machine or a slow proxy; a false alarm costs one repeated poll, and
 * a slice that is probed back up later.  Half of poll_timeout if that is
 * shorter, so the check comes before the transfer's own timeout.
 */
#define LONGPOLL_GRACE_MS	5000
#define LONGPOLL_SLICE_MIN	1	/* s: a Bot API timeout is whole s */
#define LONGPOLL_SLICE_MAX	50	/* s: the Bot API holds no longer */
#define LONGPOLL_PROBE_POLLS	20	/* full slices, then twice as long */
#define LONGPOLL_PROBE_MS	(5 * 60 * 1000)	/* and no sooner than this */

/* What may follow a timeout's digits for them to be the whole value. */
static int
longpoll_value_end(int c)
{
	return (c != '\0' && strchr("&;,}\" \t\r\n", c) != NULL);
}

/*
 * Every getUpdates timeout in p[0..len) (a query, an urlencoded or a JSON
 * body) set to secs, in a new string in *out.  With out NULL only checks.
 * The number of them, or -1 if one is not a plain number we can replace.
 */
int
longpoll_rewrite(const char *p, size_t len, long secs, char **out,
    size_t *outlen)
{
	char	 num[24], *o;
	size_t	 at, n, from, k, nlen;
	int	 count = 0;

	nlen = snprintf(num, sizeof(num), "%ld", secs);
	for (at = 0; route_timeout_span(p, len, &at, &n) != -1; at += n) {
		if (at + n < len && !longpoll_value_end(p[at + n]))
			return (-1);
		count++;
	}
	if (out == NULL)
		return (count);
	if ((o = malloc(len + count * nlen + 1)) == NULL)
		return (-1);
	for (at = from = k = 0; route_timeout_span(p, len, &at, &n) != -1;
	    at += n) {
		memcpy(o + k, p + from, at - from);
		k += at - from;
		memcpy(o + k, num, nlen);
		k += nlen;
		from = at + n;
	}
	memcpy(o + k, p + from, len - from);
	k += len - from;
	o[k] = '\0';
	*out = o;
	*outlen = k;
	return (count);
}

/* {"ok":true,"result":[]}, in either order, with any white space. */
int
longpoll_is_empty(const char *p, size_t len)
{
	char	 s[LONGPOLL_HELD_MAX];
	size_t	 i, k = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\0')
			return (0);
		if (strchr(" \t\r\n", p[i]) != NULL)
			continue;
		if (k == sizeof(s) - 1)
			return (0);
		s[k++] = p[i];
	}
	s[k] = '\0';
	return (strcmp(s, "{\"ok\":true,\"result\":[]}") == 0 ||
	    strcmp(s, "{\"result\":[],\"ok\":true}") == 0);
}

/*
 * The "update_id" keys in a piece of a getUpdates answer, *state carrying
 * a key cut between pieces.  One per update: the key must be followed by
 * a colon, so a text that is "update_id" (a value) does not count, and
 * one that holds it in quotes is written \"update_id\" and breaks the
 * match.  No JSON parse: an answer of 100 updates is counted as it
 * streams by.
 */
int
longpoll_count(int *state, const char *p, size_t len)
{
	static const char	 key[] = "\"update_id\"";
	const int		 klen = sizeof(key) - 1;
	size_t			 i;
	int			 s = *state, n = 0;

	for (i = 0; i < len; i++) {
		if (s == klen) {
			if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
			    p[i] == '\n')
				continue;
			if (p[i] == ':')
				n++;
			s = 0;
		}
		if (p[i] == key[s])
			s++;
		else
			s = p[i] == '"';
	}
	*state = s;
	return (n);
}

/* A poll of secs went unanswered: half of it from now on.  1 if changed. */
int
longpoll_learn_swallowed(struct proxy_slice *ps, long secs,
    const struct timespec *now)
{
	long	 s = secs / 2;

	if (s < LONGPOLL_SLICE_MIN)
		s = LONGPOLL_SLICE_MIN;
	ps->ps_ok = 0;
	if (ps->ps_secs != 0 && ps->ps_secs <= s)
		return (0);
	ps->ps_secs = s;
	ps->ps_since = *now;
	return (1);
}

/* A full slice of secs came back: maybe try twice as long.  1 if changed. */
int
longpoll_learn_ok(struct proxy_slice *ps, long secs,
    const struct timespec *now)
{
	if (ps->ps_secs == 0 || secs != ps->ps_secs)
		return (0);
	if (++ps->ps_ok < LONGPOLL_PROBE_POLLS ||
	    util_ms_between(&ps->ps_since, now) < LONGPOLL_PROBE_MS)
		return (0);
	ps->ps_secs *= 2;
	if (ps->ps_secs >= LONGPOLL_SLICE_MAX)
		ps->ps_secs = 0;
	ps->ps_ok = 0;
	ps->ps_since = *now;
	return (1);
}

static struct proxy *
longpoll_proxy(struct req *req)
{
	return (&req->req_cfg->cfg_proxy[req->req_proxy]);
}

static const char *
longpoll_proxy_name(struct req *req)
{
	const char	*url = longpoll_proxy(req)->px_url;

	return (url != NULL ? url : "direct");
}

static void
longpoll_learned(struct req *req)
{
	long	 s = longpoll_proxy(req)->px_slice.ps_secs;

	if (s == 0)
		log_info("long polls through %s: no slicing from now on",
		    longpoll_proxy_name(req));
	else
		log_info("long polls through %s: upstream polls of at most "
		    "%ld s from now on", longpoll_proxy_name(req), s);
}

static long
longpoll_grace_ms(struct req *req)
{
	long	 half = req->req_cfg->cfg_poll_timeout_ms / 2;

	return (half < LONGPOLL_GRACE_MS ? half : LONGPOLL_GRACE_MS);
}

/* ms left of the bot's own timeout, which runs from its request. */
static long
longpoll_left(struct req *req, const struct timespec *now)
{
	return (req->req_lp.lp_bot * 1000 -
	    util_ms_between(&req->req_start, now));
}

/* Nothing came back in time: the proxy forgot the tunnel. */
static void
longpoll_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct req	*req = arg;
	struct longpoll	*lp = &req->req_lp;
	struct timespec	 now;

	(void)fd;
	(void)what;
	if (req->req_up_status != 0)
		return;		/* its answer has begun */
	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_longpoll(METRICS_LP_SWALLOWED);
	log_info("getUpdates of bot %s: no answer %ld ms after its %ld s "
	    "upstream poll through %s ended; polling again",
	    req->req_route.rt_bot, longpoll_grace_ms(req), lp->lp_secs,
	    longpoll_proxy_name(req));
	if (longpoll_learn_swallowed(&longpoll_proxy(req)->px_slice,
	    lp->lp_secs, &now))
		longpoll_learned(req);
	lp->lp_swallowed = 1;
	lp->lp_again(req);
}

/*
 * A long poll we can send again: every timeout in it can be rewritten,
 * and its body (if any) is all here.  again is the owner's way to drop
 * the running attempt and start the next one.
 */
int
longpoll_start(struct req *req, void (*again)(struct req *))
{
	struct longpoll	*lp = &req->req_lp;
	const char	*q;
	size_t		 len;

	if (!req->req_route.rt_longpoll || req->req_poll_secs <= 0)
		return (0);
	if (req->req_has_body) {
		len = evbuffer_get_length(req->req_body);
		if (!req->req_body_done || req->req_replay == NULL ||
		    req->req_clen < 0 || len != (size_t)req->req_clen ||
		    longpoll_rewrite((const char *)evbuffer_pullup(
		    req->req_body, -1), len, 0, NULL, NULL) == -1)
			return (0);
	}
	if ((q = strchr(req->req_url, '?')) != NULL &&
	    longpoll_rewrite(q, strlen(q), 0, NULL, NULL) == -1)
		return (0);
	if (event_assign(&lp->lp_ev, req->req_base, -1, 0, longpoll_check_cb,
	    req) == -1)
		return (-1);
	lp->lp_on = 1;
	lp->lp_bot = req->req_poll_secs;
	lp->lp_again = again;
	return (0);
}

/* The request's URL and body with the timeout set to secs. */
static int
longpoll_set(struct req *req, long secs)
{
	char	*q, *s, *url;
	size_t	 len, n;

	if (secs == req->req_poll_secs)
		return (0);
	if ((q = strchr(req->req_url, '?')) != NULL) {
		if (longpoll_rewrite(q, strlen(q), secs, &s, &n) == -1)
			return (-1);
		if (asprintf(&url, "%.*s%s", (int)(q - req->req_url),
		    req->req_url, s) == -1) {
			free(s);
			return (-1);
		}
		free(s);
		free(req->req_url);
		req->req_url = url;
	}
	if (req->req_has_body) {
		len = evbuffer_get_length(req->req_body);
		if (longpoll_rewrite((const char *)evbuffer_pullup(
		    req->req_body, -1), len, secs, &s, &n) == -1)
			return (-1);
		evbuffer_drain(req->req_body, len);
		if (evbuffer_add(req->req_body, s, n) == -1) {
			free(s);
			return (-1);
		}
		free(s);
		req->req_clen = n;
	}
	req->req_poll_secs = secs;
	return (0);
}

/*
 * The timeout an upstream poll gets: the bot's own (bot s), unless the
 * proxy slices or a poll of this request was swallowed: then what is left
 * of the bot's (left ms), at most a slice.  The first poll of a sliced
 * request takes the bot's whole timeout as what is left.  *hold: an empty
 * answer is kept from the bot, since its timeout outlasts this poll by a
 * second or more.
 */
long
longpoll_secs(long bot, long left, long slice, int swallowed, int first,
    int *hold)
{
	long	 secs = bot;

	if (left < 0)
		left = 0;
	if (swallowed || (slice > 0 && !first))
		secs = left / 1000;
	if (slice > 0 && secs > slice)
		secs = slice;
	*hold = left - secs * 1000 >= 1000;
	return (secs);
}

/* Before an attempt: set its timeout in the request it sends. */
int
longpoll_prepare(struct req *req)
{
	struct longpoll	*lp = &req->req_lp;
	long		 secs;

	lp->lp_polls++;
	lp->lp_hold = 0;
	lp->lp_heldlen = 0;
	lp->lp_updates = lp->lp_key = 0;
	if (!lp->lp_on)
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &lp->lp_begun);
	secs = longpoll_secs(lp->lp_bot, longpoll_left(req, &lp->lp_begun),
	    longpoll_proxy(req)->px_slice.ps_secs, lp->lp_swallowed,
	    lp->lp_polls == 1, &lp->lp_hold);
	if (longpoll_set(req, secs) == -1) {
		lp->lp_hold = 0;
		return (-1);
	}
	if (secs < lp->lp_bot)
		metrics_longpoll(METRICS_LP_SLICED);
	lp->lp_secs = secs;
	return (0);
}

/* The request went out: its answer is due by its timeout and the grace. */
void
longpoll_sent(struct req *req)
{
	struct longpoll	*lp = &req->req_lp;
	struct timeval	 tv;

	if (!lp->lp_on || lp->lp_secs <= 0)
		return;
	util_ms_timeval(lp->lp_secs * 1000 + longpoll_grace_ms(req), &tv);
	evtimer_add(&lp->lp_ev, &tv);
}

/* The attempt is dropped or done. */
void
longpoll_stop(struct req *req)
{
	if (req->req_lp.lp_on)
		evtimer_del(&req->req_lp.lp_ev);
}

/* At the end of the reply's head: keep it from the bot for now? */
int
longpoll_hold(struct req *req)
{
	if (req->req_up_status != 200)
		req->req_lp.lp_hold = 0;
	return (req->req_lp.lp_hold);
}

/* A held answer the bot gets after all: its head and body as they came. */
int
longpoll_unhold(struct req *req)
{
	struct longpoll	*lp = &req->req_lp;

	if (!lp->lp_hold)
		return (0);
	lp->lp_hold = 0;
	if (req->req_up_status < 200)
		return (0);	/* no head came: nothing to pass on */
	if (reply_head(req, req->req_up_status, NULL, req->req_up_head,
	    req->req_up_chunked ? -1 : req->req_up_clen) == -1)
		return (-1);
	return (reply_body(req, lp->lp_held, lp->lp_heldlen));
}

/*
 * A piece of the answer's body: 1 if held, 0 if the caller passes it on
 * (not holding, or too long to be empty: what was held is sent first),
 * -1 on error.
 */
int
longpoll_body(struct req *req, const char *data, size_t n)
{
	struct longpoll	*lp = &req->req_lp;

	if (req->req_route.rt_longpoll)
		lp->lp_updates += longpoll_count(&lp->lp_key, data, n);
	if (!lp->lp_hold)
		return (0);
	if (n <= sizeof(lp->lp_held) - lp->lp_heldlen) {
		memcpy(lp->lp_held + lp->lp_heldlen, data, n);
		lp->lp_heldlen += n;
		return (1);
	}
	return (longpoll_unhold(req));
}

/*
 * The answer is complete: 1 if it was held, an empty result the bot need
 * not see, and there is time for another poll.  One answered at once comes
 * from a server that does not hold polls: it goes to the bot, no spin.
 */
int
longpoll_again(struct req *req)
{
	struct longpoll	*lp = &req->req_lp;
	struct timespec	 now;

	if (!lp->lp_hold || req->req_up_status != 200 ||
	    !longpoll_is_empty(lp->lp_held, lp->lp_heldlen))
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (util_ms_between(&lp->lp_begun, &now) < lp->lp_secs * 500)
		return (0);
	if (longpoll_learn_ok(&longpoll_proxy(req)->px_slice, lp->lp_secs,
	    &now))
		longpoll_learned(req);
	return (longpoll_left(req, &now) >= 1000);
}

/* The updates the answer carried (libcurl's path or a spare's alike). */
int
longpoll_updates(const struct req *req)
{
	return (req->req_lp.lp_updates);
}
